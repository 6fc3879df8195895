// Restart intensity against OTP's supervisor documentation: "If more than
// MaxR number of restarts occur in the last MaxT seconds, the supervisor
// terminates all the child processes and then itself. The termination reason
// for the supervisor itself in that case will be shutdown." A nested
// supervisor that gives up is, to its parent, a child that exited with
// reason shutdown, handled by the parent's own strategy and intensity.

import { afterEach, describe, expect, it } from 'vitest';
import { readRows, settled, sleep, until } from '../helpers.js';
import { closeNodes, exitsInOrder, expectDead, runTree, supIn, worker, workerIn, type TreeNode } from '../fixtures/supervisor/support.js';

afterEach(closeNodes);

const count = (t: TreeNode, line: string) => t.logs.filter((l) => l.line === line).length;

describe('intensity and period', () => {
  it('allows `intensity` restarts within the period; one more stops every child, then the supervisor', async () => {
    const t = await runTree({ strategy: 'one_for_one', intensity: 2, period: '30s', children: [worker('a'), worker('b'), worker('c')] });
    for (const id of ['a', 'b', 'c']) await t.logged(new RegExp(`^start ${id} run 1$`));
    const v = t.view();
    const [a, b, c] = ['a', 'b', 'c'].map((id) => workerIn(v, id).pid!);

    t.node.send(a!, { cmd: 'crash' });
    await t.logged(/^start a run 2$/);
    t.node.send(a!, { cmd: 'crash' });
    await t.logged(/^start a run 3$/);
    expect(t.view().restarts).toBe(2);
    expect(t.rootExits).toEqual([]);

    t.node.send(a!, { cmd: 'crash' });
    await until(() => t.rootExits.length > 0, 15_000, 'the root to give up');
    expect(t.rootExits).toEqual([
      {
        pid: t.root,
        reason: 'shutdown',
        escalated: true,
        failure: { id: 'a', pid: a, reason: expect.objectContaining({ error: 'Error', message: 'crash a' }) },
      },
    ]);
    // The third failure is not restarted; the others stop last-started first.
    await until(() => exitsInOrder(t.db).length >= 5, 15_000, 'every exit to be committed');
    expect(exitsInOrder(t.db).map((e) => [e.pid, e.run, e.reason])).toEqual([
      [a, 1, expect.objectContaining({ message: 'crash a' })],
      [a, 2, expect.objectContaining({ message: 'crash a' })],
      [a, 3, expect.objectContaining({ message: 'crash a' })],
      [c, 1, 'shutdown'],
      [b, 1, 'shutdown'],
    ]);
    expect(t.node.supervision.roots()).toEqual([]);
    for (const pid of [a, b, c]) expectDead(t, pid!);
    await settled(t.node);
    expect(readRows(t.db, a!).some((r) => r.run === 4)).toBe(false);
  });

  it('a shutdown that reaches a restarted child before its new run has started still ends it: the supervisor gives up at once', async () => {
    // One thread, so both crashes land in one slice: the supervisor restarts
    // a, then b's crash exceeds the intensity and it stops a's new run before
    // that run has started. The run must end on the signal and say so — an
    // end unreported left the supervisor waiting for ever.
    const t = await runTree({ strategy: 'one_for_one', intensity: 1, period: '60s', children: [worker('a'), worker('b')] }, { threads: 1 });
    for (const id of ['a', 'b']) await t.logged(new RegExp(`^start ${id} run 1$`));
    const v = t.view();
    const [a, b] = ['a', 'b'].map((id) => workerIn(v, id).pid!);
    t.node.send(a!, { cmd: 'crash' });
    t.node.send(b!, { cmd: 'crash' });
    await until(() => t.rootExits.length > 0, 15_000, 'the root to give up');
    expect(t.rootExits[0]).toMatchObject({ reason: 'shutdown', escalated: true });
    await until(() => exitsInOrder(t.db).length >= 3, 15_000, 'every exit to be committed');
    expect(exitsInOrder(t.db).map((e) => [e.pid, e.run, e.reason])).toEqual([
      [a, 1, expect.objectContaining({ message: 'crash a' })],
      [b, 1, expect.objectContaining({ message: 'crash b' })],
      [a, 2, 'shutdown'],
    ]);
  });

  it('forgets restarts older than the period', async () => {
    const t = await runTree({ strategy: 'one_for_one', intensity: 1, period: '1s', children: [worker('a')] });
    await t.logged(/^start a run 1$/);
    const a = workerIn(t.view(), 'a').pid!;
    t.node.send(a, { cmd: 'crash' });
    await t.logged(/^start a run 2$/);
    // Past the period the first restart no longer counts: one more is allowed.
    await sleep(1300);
    t.node.send(a, { cmd: 'crash' });
    await t.logged(/^start a run 3$/);
    expect(t.rootExits).toEqual([]);
    expect(t.view().restarts).toBe(1);
    // Two within the period are one too many.
    t.node.send(a, { cmd: 'crash' });
    await until(() => t.rootExits.length > 0, 15_000, 'the root to give up');
    expect(t.rootExits[0]).toMatchObject({ escalated: true, failure: { id: 'a' } });
  });

  it('counts only exits that are restarted (intensity 0 tolerates transient and temporary ends)', async () => {
    const t = await runTree({
      strategy: 'one_for_one',
      intensity: 0,
      period: '30s',
      children: [worker('trans', {}, { restart: 'transient' }), worker('temp', {}, { restart: 'temporary' }), worker('perm')],
    });
    for (const id of ['trans', 'temp', 'perm']) await t.logged(new RegExp(`^start ${id} run 1$`));
    const v = t.view();
    const [trans, temp, perm] = ['trans', 'temp', 'perm'].map((id) => workerIn(v, id).pid!);
    t.node.send(trans!, { cmd: 'return', value: 'ok' });
    t.node.send(temp!, { cmd: 'crash' });
    await until(() => exitsInOrder(t.db).length === 2, 15_000, 'two exits');
    await settled(t.node);
    expect(t.rootExits).toEqual([]);
    expect(t.view()).toMatchObject({ status: 'running', restarts: 0 });
    // With intensity 0, the first restart is already too many.
    t.node.send(perm!, { cmd: 'crash' });
    await until(() => t.rootExits.length > 0, 15_000, 'the root to give up');
    expect(t.rootExits[0]).toMatchObject({ escalated: true, failure: { id: 'perm', pid: perm } });
    expect(readRows(t.db, perm!).some((r) => r.run === 2)).toBe(false);
  });
});

describe('escalation through two levels', () => {
  it('restarts a nested supervisor that gave up, then gives up itself and reports the worker that caused it', async () => {
    const t = await runTree({
      strategy: 'one_for_one',
      intensity: 1,
      period: '60s',
      children: [
        worker('s'),
        {
          id: 'inner',
          supervisor: { strategy: 'one_for_one', intensity: 1, period: '60s', children: [worker('w', {}, { name: 'w' }), worker('v')] },
        },
      ],
    });
    for (const id of ['s', 'w', 'v']) await t.logged(new RegExp(`^start ${id} run 1$`));
    const v0 = t.view();
    const s = workerIn(v0, 's').pid!;
    const w0 = workerIn(v0, 'w').pid!;
    const vPid0 = workerIn(v0, 'v').pid!;

    // 1st failure of w: the inner supervisor restarts it.
    t.node.send('w', { cmd: 'crash' });
    await t.logged(/^start w run 2$/);
    expect(supIn(t.view(), 'inner').restarts).toBe(1);
    expect(t.view().restarts).toBe(0);

    // 2nd failure: inner gives up (v stopped), and the root restarts inner.
    t.node.send('w', { cmd: 'crash' });
    await until(() => count(t, 'start v run 1') + count(t, 'start v run 2') === 2, 15_000, 'v to start again');
    await until(() => t.node.kernel.whereis('w') !== undefined && supIn(t.view(), 'inner').status === 'running');
    expect(exitsInOrder(t.db).map((e) => [e.pid, e.run, e.reason])).toEqual([
      [w0, 1, expect.objectContaining({ message: 'crash w' })],
      [w0, 2, expect.objectContaining({ message: 'crash w' })],
      [vPid0, 1, 'shutdown'],
    ]);
    const v1 = t.view();
    expect(v1.restarts).toBe(1);
    const inner1 = supIn(v1, 'inner');
    expect(inner1).toMatchObject({ status: 'running', restarts: 0 });
    expect(inner1.children.map((c) => [c.id, (c as { state: string }).state])).toEqual([
      ['w', 'running'],
      ['v', 'running'],
    ]);
    expect(workerIn(v1, 's')).toMatchObject({ pid: s, run: 1 });
    expect(t.rootExits).toEqual([]);

    // Two more failures of w: inner gives up again; a 2nd restart within the period is too many for the root.
    t.node.send('w', { cmd: 'crash' });
    await until(() => supIn(t.view(), 'inner').restarts === 1, 15_000, 'inner to restart w');
    await until(() => t.node.kernel.whereis('w') !== undefined);
    t.node.send('w', { cmd: 'crash' });
    await until(() => t.rootExits.length > 0, 15_000, 'the root to give up');

    // The root stopped its remaining child, s, and nothing is left running.
    await until(() => exitsInOrder(t.db).some((e) => e.pid === s), 15_000, "s's exit to be committed");
    expect(exitsInOrder(t.db).at(-1)).toEqual({ pid: s, run: 1, reason: 'shutdown' });
    expect(t.node.supervision.roots()).toEqual([]);
    expect(t.node.kernel.processes().filter((p) => p.state !== 'dead')).toEqual([]);
    expect(t.rootExits).toEqual([
      {
        pid: t.root,
        reason: 'shutdown',
        escalated: true,
        // The exit that started it all, followed down through the nested supervisor.
        failure: { id: 'w', pid: expect.any(String), reason: expect.objectContaining({ error: 'Error', message: 'crash w' }) },
      },
    ]);
  });
});
