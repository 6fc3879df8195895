// The four restart strategies against OTP's supervisor documentation, on a
// real node (SQLite journal, worker threads):
//
// - one_for_one: "If a child process terminates, only that process is restarted."
// - one_for_all: "all other child processes are terminated and then all child
//   processes are restarted" — terminated in reverse start order, restarted in start order.
// - rest_for_one: "the 'rest' of the child processes (that is, the child
//   processes after the terminated child process in the start order) are
//   terminated. Then the terminated child process and all child processes after
//   it are restarted."
// - simple_one_for_one: no children at start; all children are dynamically
//   added instances of the one template; start_child appends its arguments to
//   the template's.
//
// Orders are read from the journal: a run's exit is its last row, and a run's
// start its first, both in commit order. Restarts in beamline are
// asynchronous (no init handshake), so the tests that check the order in
// which runs begin use one worker thread, where runs begin in the order the
// supervisor started them.

import { afterEach, describe, expect, it } from 'vitest';
import { BeamlineError } from '../../dist/runtime/errors.js';
import { readRows, settled, until } from '../helpers.js';
import { closeNodes, exitsInOrder, runStarts, runTree, script, supIn, worker, workerIn, type TreeNode } from '../fixtures/supervisor/support.js';

afterEach(closeNodes);

const serial = (pid: string) => Number(pid.slice(pid.lastIndexOf('.') + 1));

/** Wait until every id in `ids` has logged `start <id> run <run>`. */
async function started(t: TreeNode, ids: string[], run = 1): Promise<void> {
  for (const id of ids) await t.logged(new RegExp(`^start ${id} run ${run}$`));
}

function pids(t: TreeNode, ids: string[]): Record<string, string> {
  const view = t.view();
  return Object.fromEntries(ids.map((id) => [id, workerIn(view, id).pid!]));
}

const crash = (id: string) => ({ error: 'Error', message: `crash ${id}` });

describe('one_for_one', () => {
  it('restarts only the failed child, in place, and leaves its siblings running', async () => {
    const t = await runTree({ strategy: 'one_for_one', intensity: 5, period: '10s', children: ['a', 'b', 'c'].map((id) => worker(id)) });
    await started(t, ['a', 'b', 'c']);
    const p = pids(t, ['a', 'b', 'c']);
    // Children start in list order: their pids come from the node's sequence in that order.
    expect(serial(p.a!)).toBeLessThan(serial(p.b!));
    expect(serial(p.b!)).toBeLessThan(serial(p.c!));
    t.node.send(p.a!, 'remember me');
    t.node.send(p.c!, 'me too');

    t.node.send(p.b!, { cmd: 'crash' });
    await started(t, ['b'], 2);

    const view = t.view();
    expect(view.restarts).toBe(1);
    expect(workerIn(view, 'a')).toMatchObject({ pid: p.a, run: 1, state: 'running' });
    expect(workerIn(view, 'b')).toMatchObject({ pid: p.b, run: 2, state: 'running' });
    expect(workerIn(view, 'c')).toMatchObject({ pid: p.c, run: 1, state: 'running' });
    // The siblings were never stopped: they kept their in-memory state.
    expect(await t.node.kernel.query(p.a!, 'state')).toMatchObject({ run: 1, got: ['remember me'] });
    expect(await t.node.kernel.query(p.c!, 'state')).toMatchObject({ run: 1, got: ['me too'] });
    expect(await t.node.kernel.query(p.b!, 'state')).toMatchObject({ self: p.b, run: 2 });
    // The only run that ended is b's first, with the error as its reason.
    expect(exitsInOrder(t.db)).toEqual([{ pid: p.b, run: 1, reason: expect.objectContaining(crash('b')) }]);
  });
});

describe('one_for_all', () => {
  it('stops the others in reverse start order, then restarts all of them in start order', async () => {
    const t = await runTree(
      { strategy: 'one_for_all', intensity: 5, period: '10s', children: ['a', 'b', 'c', 'd'].map((id) => worker(id)) },
      { threads: 1 },
    );
    await started(t, ['a', 'b', 'c', 'd']);
    const p = pids(t, ['a', 'b', 'c', 'd']);
    expect(runStarts(t.db, 1)).toEqual([p.a, p.b, p.c, p.d]);

    t.node.send(p.b!, { cmd: 'crash' });
    await started(t, ['a', 'b', 'c', 'd'], 2);

    // b failed; then d, c, a were told to shut down, one after the other, last started first.
    expect(exitsInOrder(t.db)).toEqual([
      { pid: p.b, run: 1, reason: expect.objectContaining(crash('b')) },
      { pid: p.d, run: 1, reason: 'shutdown' },
      { pid: p.c, run: 1, reason: 'shutdown' },
      { pid: p.a, run: 1, reason: 'shutdown' },
    ]);
    // All four restarted, in list order, each keeping its pid.
    expect(runStarts(t.db, 2)).toEqual([p.a, p.b, p.c, p.d]);
    const view = t.view();
    for (const id of ['a', 'b', 'c', 'd']) expect(workerIn(view, id)).toMatchObject({ pid: p[id], run: 2, state: 'running' });
    // One failure is one restart of the supervisor, however many children it touched.
    expect(view.restarts).toBe(1);
  });

  it("sends the siblings a trappable 'shutdown' exit signal from the supervisor", async () => {
    const t = await runTree({
      strategy: 'one_for_all',
      intensity: 5,
      period: '10s',
      children: [worker('a', { trap: true }), worker('b'), worker('c', { trap: true })],
    });
    await started(t, ['a', 'b', 'c']);
    const p = pids(t, ['a', 'b', 'c']);
    t.node.send(p.b!, { cmd: 'crash' });
    await started(t, ['a', 'b', 'c'], 2);
    // Trapping children saw {type: 'exit', from: <supervisor>, reason: 'shutdown'} and returned.
    const signals = t.logs.filter((l) => l.line.startsWith('exit-signal')).map((l) => l.line);
    expect(signals).toEqual([`exit-signal c "shutdown" from ${t.root}`, `exit-signal a "shutdown" from ${t.root}`]);
    expect(exitsInOrder(t.db).map((e) => [e.pid, e.reason])).toEqual([
      [p.b, expect.objectContaining(crash('b'))],
      [p.c, 'normal'],
      [p.a, 'normal'],
    ]);
  });

  it('restarts every child when a permanent child exits normally', async () => {
    const t = await runTree({ strategy: 'one_for_all', intensity: 5, period: '10s', children: ['a', 'b'].map((id) => worker(id)) });
    await started(t, ['a', 'b']);
    const p = pids(t, ['a', 'b']);
    t.node.send(p.a!, { cmd: 'return', value: 'done' });
    await started(t, ['a', 'b'], 2);
    expect(exitsInOrder(t.db)).toEqual([
      { pid: p.a, run: 1, reason: 'normal' },
      { pid: p.b, run: 1, reason: 'shutdown' },
    ]);
  });
});

describe('rest_for_one', () => {
  it('restarts the failed child and the ones after it; the ones before keep running', async () => {
    const t = await runTree(
      { strategy: 'rest_for_one', intensity: 5, period: '10s', children: ['a', 'b', 'c', 'd'].map((id) => worker(id)) },
      { threads: 1 },
    );
    await started(t, ['a', 'b', 'c', 'd']);
    const p = pids(t, ['a', 'b', 'c', 'd']);
    t.node.send(p.a!, 'kept by a');

    t.node.send(p.b!, { cmd: 'crash' });
    await started(t, ['b', 'c', 'd'], 2);

    expect(exitsInOrder(t.db)).toEqual([
      { pid: p.b, run: 1, reason: expect.objectContaining(crash('b')) },
      { pid: p.d, run: 1, reason: 'shutdown' },
      { pid: p.c, run: 1, reason: 'shutdown' },
    ]);
    expect(runStarts(t.db, 2)).toEqual([p.b, p.c, p.d]);
    let view = t.view();
    expect(workerIn(view, 'a')).toMatchObject({ pid: p.a, run: 1 });
    for (const id of ['b', 'c', 'd']) expect(workerIn(view, id)).toMatchObject({ pid: p[id], run: 2 });
    expect(await t.node.kernel.query(p.a!, 'state')).toMatchObject({ run: 1, got: ['kept by a'] });

    // The last child has no "rest": only it restarts.
    t.node.send(p.d!, { cmd: 'crash' });
    await started(t, ['d'], 3);
    view = t.view();
    expect([workerIn(view, 'a').run, workerIn(view, 'b').run, workerIn(view, 'c').run, workerIn(view, 'd').run]).toEqual([1, 2, 2, 3]);
    expect(exitsInOrder(t.db)).toHaveLength(4);
    expect(view.restarts).toBe(2);
  });
});

describe('simple_one_for_one', () => {
  const poolTree = (restart = 'permanent') => ({
    strategy: 'one_for_one',
    intensity: 5,
    period: '10s',
    children: [
      worker('other'),
      {
        id: 'pool',
        name: 'pool',
        supervisor: {
          strategy: 'simple_one_for_one',
          intensity: 5,
          period: '10s',
          children: [{ id: 'job', script: script('child.js'), args: ['job', {}], restart }],
        },
      },
    ],
  });

  it('starts with no children, then starts template instances from the API and from a process', async () => {
    const t = await runTree(poolTree());
    await started(t, ['other']);
    const pool = supIn(t.view(), 'pool');
    expect(pool.strategy).toBe('simple_one_for_one');
    expect(pool.children).toEqual([]);

    // By the supervisor's registered name through the API, and by its pid from a process.
    const fromApi = t.node.supervision.startChild('pool', [7, 'x']);
    const starter = await t.node.spawn(script('starter.js'), [pool.pid, 8]);
    const exit = await t.node.waitExit(starter);
    expect(exit.normal).toBe(true);
    const fromProcess = (exit.result as { pid: string }).pid;
    expect(fromProcess).toMatch(/\.\d+$/);
    expect(fromProcess).not.toBe(fromApi);

    // Each runs the template's script with the template's args followed by its own.
    await t.logged(/^start job run 1$/);
    await until(async () => (await t.node.kernel.query(fromProcess, 'state').catch(() => null)) !== null);
    expect(await t.node.kernel.query(fromApi, 'state')).toMatchObject({ self: fromApi, run: 1, args: ['job', {}, 7, 'x'] });
    expect(await t.node.kernel.query(fromProcess, 'state')).toMatchObject({ self: fromProcess, run: 1, args: ['job', {}, 8] });
    const children = supIn(t.view(), 'pool').children;
    expect(children.map((c) => c.pid)).toEqual([fromApi, fromProcess]);
    for (const c of children) expect(c).toMatchObject({ kind: 'worker', state: 'running', restart: 'permanent' });
  });

  it('restarts a failed dynamic child with the same pid and arguments, alone', async () => {
    const t = await runTree(poolTree());
    await started(t, ['other']);
    const one = t.node.supervision.startChild('pool', [1]);
    const two = t.node.supervision.startChild('pool', [2]);
    await until(async () => (await t.node.kernel.query(two, 'state').catch(() => null)) !== null);
    t.node.send(one, { cmd: 'crash' });
    await until(async () => ((await t.node.kernel.query(one, 'state').catch(() => null)) as { run?: number } | null)?.run === 2);
    expect(await t.node.kernel.query(one, 'state')).toMatchObject({ self: one, run: 2, args: ['job', {}, 1] });
    expect(await t.node.kernel.query(two, 'state')).toMatchObject({ self: two, run: 1 });
    expect(exitsInOrder(t.db).map((e) => e.pid)).toEqual([one]);
    expect(supIn(t.view(), 'pool').restarts).toBe(1);
    expect(t.view().restarts).toBe(0);
  });

  it('forgets a transient dynamic child that exits normally', async () => {
    const t = await runTree(poolTree('transient'));
    await started(t, ['other']);
    const one = t.node.supervision.startChild('pool', [1]);
    const two = t.node.supervision.startChild('pool', [2]);
    await until(async () => (await t.node.kernel.query(two, 'state').catch(() => null)) !== null);
    t.node.send(one, { cmd: 'return', value: 'finished' });
    expect(await t.node.waitExit(one)).toMatchObject({ normal: true, result: 'finished' });
    await until(() => supIn(t.view(), 'pool').children.length === 1);
    expect(supIn(t.view(), 'pool').children.map((c) => c.pid)).toEqual([two]);
    expect(t.node.kernel.process(one)).toBeUndefined();
    await settled(t.node);
    expect(readRows(t.db, one).filter((r) => r.run === 2)).toEqual([]);
  });

  it('refuses startChild on a supervisor that is not simple_one_for_one, and on no supervisor', async () => {
    const t = await runTree(poolTree());
    await started(t, ['other']);
    const wrong = (() => {
      try {
        t.node.supervision.startChild(t.root, []);
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(wrong).toBeInstanceOf(BeamlineError);
    expect((wrong as BeamlineError).code).toBe('BL_ARG_INVALID');
    let missing: unknown = null;
    try {
      t.node.supervision.startChild('no-such-pool', []);
    } catch (err) {
      missing = err;
    }
    expect((missing as BeamlineError).code).toBe('BL_NOPROC');

    // A process asking gets the same errors, as rejections it can catch.
    const a = await t.node.spawn(script('starter.js'), [t.root]);
    expect((await t.node.waitExit(a)).result).toEqual({ error: 'BeamlineError', code: 'BL_ARG_INVALID' });
    const b = await t.node.spawn(script('starter.js'), ['no-such-pool']);
    expect((await t.node.waitExit(b)).result).toEqual({ error: 'BeamlineError', code: 'BL_NOPROC' });
    expect(supIn(t.view(), 'pool').children).toEqual([]);
  });
});
