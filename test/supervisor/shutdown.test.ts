// Shutdown against OTP's supervisor documentation: children are terminated
// "in reverse start order"; `shutdown: <time>` sends exit(Child, shutdown) and
// waits, then exit(Child, kill) when the time is up; `brutal_kill` is
// exit(Child, kill) at once (untrappable); a worker's default is 5000 ms, a
// supervisor's infinity (its subtree is stopped completely first).
//
// The order is proven twice: by a shared file each child appends to when it
// gets its exit signal (in a step, so exactly once), and by the journal's
// commit order of the exits.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tmpdir } from '../helpers.js';
import { closeNodes, exitsInOrder, fileLines, runTree, supIn, worker, workerIn } from '../fixtures/supervisor/support.js';

afterEach(closeNodes);

describe('shutdown order', () => {
  it("stops children in reverse start order, a nested supervisor's subtree in its place", async () => {
    const dir = tmpdir();
    const file = path.join(dir, 'events.log');
    const trap = { trap: true, file };
    const t = await runTree(
      {
        strategy: 'one_for_one',
        children: [
          worker('a', trap),
          worker('b', trap),
          { id: 'inner', supervisor: { strategy: 'one_for_one', children: [worker('x', trap), worker('y', trap)] } },
          worker('c', trap),
        ],
      },
      { dir },
    );
    for (const id of ['a', 'b', 'x', 'y', 'c']) await t.logged(new RegExp(`^start ${id} run 1$`));
    const view = t.view();
    const pid = (id: string) => workerIn(view, id).pid!;
    const inner = supIn(view, 'inner').pid;

    await t.node.supervision.shutdownAll();

    expect(fileLines(file).filter((l) => l.startsWith('stop'))).toEqual(['stop c 1', 'stop y 1', 'stop x 1', 'stop b 1', 'stop a 1']);
    // Log lines are printed once their round commits.
    await t.logged(/^exit-signal a /);
    const signals = t.logs.filter((l) => l.line.startsWith('exit-signal')).map((l) => l.line);
    expect(signals).toEqual([
      `exit-signal c "shutdown" from ${t.root}`,
      `exit-signal y "shutdown" from ${inner}`,
      `exit-signal x "shutdown" from ${inner}`,
      `exit-signal b "shutdown" from ${t.root}`,
      `exit-signal a "shutdown" from ${t.root}`,
    ]);
    // Each returned within its grace: a normal exit, committed in the same order.
    await t.node.kernel.flush();
    expect(exitsInOrder(t.db)).toEqual(['c', 'y', 'x', 'b', 'a'].map((id) => ({ pid: pid(id), run: 1, reason: 'normal' })));
    expect(t.node.supervision.roots()).toEqual([]);
    // A clean stop is not an escalation.
    expect(t.rootExits).toEqual([{ pid: t.root, reason: 'shutdown', escalated: false, failure: null }]);
  });
});

describe('grace period', () => {
  it("kills a child that ignores 'shutdown' once its grace is over, and only then stops the next one", async () => {
    const t = await runTree({
      strategy: 'one_for_one',
      children: [worker('first', { trap: true }), worker('stubborn', { trap: true, ignoreShutdown: true }, { shutdown: '800ms' })],
    });
    await t.logged(/^start first run 1$/);
    await t.logged(/^start stubborn run 1$/);
    const view = t.view();
    const first = workerIn(view, 'first').pid!;
    const stubborn = workerIn(view, 'stubborn').pid!;

    const t0 = Date.now();
    await t.node.supervision.shutdownAll();

    // It got the trappable 'shutdown' first (and ignored it) ...
    const asked = await t.logged(/^exit-signal stubborn "shutdown"/);
    expect(asked.pid).toBe(stubborn);
    // ... then the untrappable kill after the grace; 'first' was asked only after that.
    const firstAsked = await t.logged(/^exit-signal first "shutdown"/);
    expect(firstAsked.at - t0).toBeGreaterThanOrEqual(800);
    await t.node.kernel.flush();
    expect(exitsInOrder(t.db)).toEqual([
      { pid: stubborn, run: 1, reason: 'killed' },
      { pid: first, run: 1, reason: 'normal' },
    ]);
  });

  it('gives a worker 5000 ms by default', async () => {
    const t = await runTree({ strategy: 'one_for_one', children: [worker('after'), worker('stubborn', { trap: true, ignoreShutdown: true })] });
    await t.logged(/^start stubborn run 1$/);
    const view = t.view();
    const stubborn = workerIn(view, 'stubborn').pid!;
    const t0 = Date.now();
    const killed = t.node.waitExit(stubborn);
    const done = t.node.supervision.shutdownAll();
    await t.logged(/^exit-signal stubborn "shutdown"/);
    expect(await killed).toMatchObject({ reason: 'killed' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5000);
    await done;
  }, 30_000);

  it('brutal_kill kills at once: a trapping child never sees a shutdown signal', async () => {
    const t = await runTree({
      strategy: 'one_for_one',
      children: [worker('polite'), worker('brutal', { trap: true, ignoreShutdown: true }, { shutdown: 'brutal_kill' })],
    });
    await t.logged(/^start polite run 1$/);
    await t.logged(/^start brutal run 1$/);
    const view = t.view();
    const polite = workerIn(view, 'polite').pid!;
    const brutal = workerIn(view, 'brutal').pid!;

    await t.node.supervision.shutdownAll();
    await t.node.kernel.flush();
    expect(exitsInOrder(t.db)).toEqual([
      { pid: brutal, run: 1, reason: 'killed' },
      // Not trapping: the 'shutdown' signal itself is its exit reason.
      { pid: polite, run: 1, reason: 'shutdown' },
    ]);
    expect(t.logs.some((l) => l.line.startsWith('exit-signal brutal'))).toBe(false);
  });

  it("waits for a nested supervisor's whole subtree, graces included, before stopping earlier siblings", async () => {
    const t = await runTree({
      strategy: 'one_for_one',
      children: [
        worker('early', { trap: true }),
        { id: 'inner', supervisor: { strategy: 'one_for_one', children: [worker('slow', { trap: true, ignoreShutdown: true }, { shutdown: '600ms' })] } },
      ],
    });
    await t.logged(/^start early run 1$/);
    await t.logged(/^start slow run 1$/);
    const view = t.view();
    const t0 = Date.now();
    await t.node.supervision.shutdownAll();
    const early = await t.logged(/^exit-signal early "shutdown"/);
    expect(early.at - t0).toBeGreaterThanOrEqual(600);
    await t.node.kernel.flush();
    const slow = workerIn(supIn(view, 'inner'), 'slow').pid;
    expect(exitsInOrder(t.db).map((e) => [e.pid, e.reason])).toEqual([
      [slow, 'killed'],
      [workerIn(view, 'early').pid, 'normal'],
    ]);
  });
});
