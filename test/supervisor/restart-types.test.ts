// Restart types against OTP's supervisor documentation:
//
// - permanent: "always restarted".
// - transient: "restarted only if it terminates abnormally, that is, with
//   another exit reason than normal, shutdown, or {shutdown,Term}".
// - temporary: "never restarted (even when the supervisor's restart strategy
//   is rest_for_one or one_for_all and a sibling's death causes the temporary
//   process to be terminated)"; its child spec is deleted when it ends.
//
// One tree per restart type, one child per way of ending; each child's fate
// is read from the tree view, the kernel and the journal.

import { afterEach, describe, expect, it } from 'vitest';
import { readRows, until } from '../helpers.js';
import { closeNodes, exitsInOrder, expectDead, runTree, worker, workerIn, type TreeNode } from '../fixtures/supervisor/support.js';

afterEach(closeNodes);

/** How each child ends, and the exit reason that leaves in the journal. */
const endings: Record<string, { end: (t: TreeNode, pid: string) => void; reason: unknown }> = {
  normal: { end: (t, pid) => t.node.send(pid, { cmd: 'return', value: 1 }), reason: 'normal' },
  shutdown: { end: (t, pid) => t.node.send(pid, { cmd: 'exit', reason: 'shutdown' }), reason: 'shutdown' },
  'shutdown-term': { end: (t, pid) => t.node.send(pid, { cmd: 'exit', reason: { shutdown: 'done' } }), reason: { shutdown: 'done' } },
  'shutdown-signal': { end: (t, pid) => t.node.kill(pid, 'shutdown'), reason: 'shutdown' },
  crash: { end: (t, pid) => t.node.send(pid, { cmd: 'crash' }), reason: expect.objectContaining({ error: 'Error', message: expect.stringMatching(/^crash /) }) },
  killed: { end: (t, pid) => t.node.kill(pid, 'kill'), reason: 'killed' },
  custom: { end: (t, pid) => t.node.send(pid, { cmd: 'exit', reason: 'oops' }), reason: 'oops' },
};

const restarted: Record<string, Record<string, boolean>> = {
  permanent: { normal: true, shutdown: true, 'shutdown-term': true, 'shutdown-signal': true, crash: true, killed: true, custom: true },
  transient: { normal: false, shutdown: false, 'shutdown-term': false, 'shutdown-signal': false, crash: true, killed: true, custom: true },
  temporary: { normal: false, shutdown: false, 'shutdown-term': false, 'shutdown-signal': false, crash: false, killed: false, custom: false },
};

describe.each(Object.keys(restarted))('%s children', (type) => {
  it('are restarted, or not, as OTP decides for each exit reason', async () => {
    const ids = Object.keys(endings);
    const t = await runTree({
      strategy: 'one_for_one',
      intensity: 50,
      period: '30s',
      children: ids.map((id) => worker(id, {}, { restart: type })),
    });
    for (const id of ids) await t.logged(new RegExp(`^start ${id} run 1$`));
    const view0 = t.view();
    const pids = Object.fromEntries(ids.map((id) => [id, workerIn(view0, id).pid!]));

    for (const id of ids) endings[id]!.end(t, pids[id]!);
    await until(() => ids.every((id) => exitsInOrder(t.db).some((e) => e.pid === pids[id] && e.run === 1)), 15_000, 'every first run to end');
    const expectRestart = ids.filter((id) => restarted[type]![id]);
    for (const id of expectRestart) await t.logged(new RegExp(`^start ${id} run 2$`));
    // Let any wrong restart happen before looking for its absence.
    await until(() => t.view().children.every((c) => c.kind !== 'worker' || c.state === 'running' || c.state === 'stopped'));

    const view = t.view();
    const exits = exitsInOrder(t.db);
    for (const id of ids) {
      const pid = pids[id]!;
      // Every run 1 ended with the reason its ending gives.
      expect(exits.find((e) => e.pid === pid && e.run === 1), `${type} ${id} exit`).toEqual({ pid, run: 1, reason: endings[id]!.reason });
      if (restarted[type]![id]) {
        expect(workerIn(view, id), `${type} ${id}`).toMatchObject({ pid, run: 2, state: 'running' });
        expect(t.node.kernel.process(pid)?.run).toBe(2);
      } else {
        expectDead(t, pid, `${type} ${id} should stay dead`);
        expect(readRows(t.db, pid).some((r) => r.run === 2), `${type} ${id} has no second run`).toBe(false);
        if (type === 'temporary') {
          // A temporary child's spec goes with it.
          expect(view.children.map((c) => c.id)).not.toContain(id);
        } else {
          expect(workerIn(view, id)).toMatchObject({ state: 'stopped' });
        }
      }
    }
    // Only restarts count towards intensity.
    expect(view.restarts).toBe(expectRestart.length);
  });
});

describe('temporary siblings', () => {
  it('are terminated but never restarted when a sibling failure restarts the others (one_for_all)', async () => {
    const t = await runTree({
      strategy: 'one_for_all',
      intensity: 5,
      period: '10s',
      children: [worker('a'), worker('tmp', {}, { restart: 'temporary' }), worker('b')],
    });
    for (const id of ['a', 'tmp', 'b']) await t.logged(new RegExp(`^start ${id} run 1$`));
    const v0 = t.view();
    const [a, tmp, b] = ['a', 'tmp', 'b'].map((id) => workerIn(v0, id).pid!);
    t.node.send(a!, { cmd: 'crash' });
    await t.logged(/^start a run 2$/);
    await t.logged(/^start b run 2$/);
    expect(exitsInOrder(t.db).map((e) => [e.pid, e.reason])).toEqual([
      [a, expect.objectContaining({ message: 'crash a' })],
      [b, 'shutdown'],
      [tmp, 'shutdown'],
    ]);
    const view = t.view();
    expect(view.children.map((c) => c.id)).toEqual(['a', 'b']);
    expect(readRows(t.db, tmp!).some((r) => r.run === 2)).toBe(false);
    expect(t.logs.some((l) => l.line === 'start tmp run 2')).toBe(false);
  });

  it('are terminated but never restarted by rest_for_one either', async () => {
    const t = await runTree({
      strategy: 'rest_for_one',
      intensity: 5,
      period: '10s',
      children: [worker('a'), worker('b'), worker('tmp', {}, { restart: 'temporary' }), worker('c')],
    });
    for (const id of ['a', 'b', 'tmp', 'c']) await t.logged(new RegExp(`^start ${id} run 1$`));
    const v0 = t.view();
    const [a, b, tmp, c] = ['a', 'b', 'tmp', 'c'].map((id) => workerIn(v0, id).pid!);
    t.node.send(b!, { cmd: 'crash' });
    await t.logged(/^start c run 2$/);
    expect(exitsInOrder(t.db).map((e) => [e.pid, e.reason])).toEqual([
      [b, expect.objectContaining({ message: 'crash b' })],
      [c, 'shutdown'],
      [tmp, 'shutdown'],
    ]);
    const view = t.view();
    expect(view.children.map((x) => x.id)).toEqual(['a', 'b', 'c']);
    expect(workerIn(view, 'a')).toMatchObject({ pid: a, run: 1 });
    expect(workerIn(view, 'b')).toMatchObject({ pid: b, run: 2 });
    expect(t.logs.some((l) => l.line === 'start tmp run 2')).toBe(false);
  });
});
