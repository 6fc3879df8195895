// A restart keeps the pid and the unconsumed mailbox and starts a new run
// (beamline's departure from OTP, where a restarted child is a new process
// with an empty mailbox): whatever was sent to the child and not yet received
// — before it crashed, or while it was dead awaiting its restart — is
// received by the next run, in arrival order, and `ctx.run` counts the runs.

import { afterEach, describe, expect, it } from 'vitest';
import { query, until } from '../helpers.js';
import { closeNodes, exitsInOrder, runTree, script, worker, workerIn } from '../fixtures/supervisor/support.js';

afterEach(closeNodes);

const mailboxRows = (db: string, pid: string) => query<{ n: number }>(db, 'SELECT count(*) AS n FROM mailbox WHERE pid = ?', pid)[0]!.n;

describe('restart keeps the mailbox', () => {
  it('hands messages sent before the crash and not yet received to the next run, same pid', async () => {
    const t = await runTree({
      strategy: 'one_for_one',
      intensity: 3,
      period: '10s',
      children: [{ id: 'm', script: script('mailbox.js'), restart: 'transient' }],
    });
    await t.logged(/^run 1$/);
    const m = workerIn(t.view(), 'm').pid!;
    t.node.send(m, 'from-node-1');
    t.node.send(m, { n: 2 });
    const sender = await t.node.spawn(script('sender.js'), [m, ['from-process-1', 'from-process-2']]);
    expect((await t.node.waitExit(sender)).result).toBe(2);
    await until(() => mailboxRows(t.db, m) === 4, 10_000, 'four messages to wait, journaled, in the mailbox');

    const crashed = t.node.waitExit(m);
    t.node.send(m, { cmd: 'crash' });
    expect(await crashed).toMatchObject({ pid: m, run: 1, normal: false, reason: { error: 'Error', message: 'crash on purpose' } });
    await t.logged(/^run 2$/);
    expect(workerIn(t.view(), 'm')).toMatchObject({ pid: m, run: 2 });

    t.node.send(m, 'done');
    const exit = await t.node.waitExit(m);
    expect(exit).toMatchObject({ pid: m, run: 2, normal: true });
    // In arrival order; the message it crashed on was consumed and is not handed over again.
    expect(exit.result).toEqual({ run: 2, self: m, got: ['from-node-1', { n: 2 }, 'from-process-1', 'from-process-2'] });
    expect(mailboxRows(t.db, m)).toBe(0);
  });

  it('hands messages sent while the child was dead, awaiting its restart, to the next run', async () => {
    // rest_for_one: after m fails, `slow` (after it) is stopped first; it
    // ignores 'shutdown', so m stays dead for slow's whole grace period.
    const t = await runTree({
      strategy: 'rest_for_one',
      intensity: 3,
      period: '10s',
      children: [
        { id: 'm', script: script('mailbox.js'), restart: 'transient' },
        worker('slow', { trap: true, ignoreShutdown: true }, { shutdown: '1500ms' }),
      ],
    });
    await t.logged(/^run 1$/);
    await t.logged(/^start slow run 1$/);
    const m = workerIn(t.view(), 'm').pid!;
    t.node.send(m, 'before');
    t.node.send(m, { cmd: 'crash' });
    await t.logged(/^exit-signal slow "shutdown"/);
    // slow is ignoring its shutdown: m is dead and held for its restart.
    expect(t.node.kernel.process(m)?.state).toBe('dead');
    expect(workerIn(t.view(), 'm').state).toBe('restarting');

    const accepted = t.node.send(m, 'while-dead-from-node');
    const sender = await t.node.spawn(script('sender.js'), [m, ['while-dead-from-process']]);
    await t.node.waitExit(sender);
    expect(t.node.kernel.process(m)?.state).toBe('dead');

    await t.logged(/^run 2$/, 20_000);
    t.node.send(m, 'done');
    const exit = await t.node.waitExit(m);
    expect(exit.result).toEqual({ run: 2, self: m, got: ['before', 'while-dead-from-node', 'while-dead-from-process'] });
    expect(accepted).toBe(true);
    const slow = workerIn(t.view(), 'slow').pid;
    // m's first run ended, slow was killed after its grace, and m's second run ended on 'done'.
    expect(
      exitsInOrder(t.db)
        .filter((e) => e.pid === m || e.pid === slow)
        .map((e) => [e.pid, e.run, e.reason]),
    ).toEqual([
      [m, 1, expect.objectContaining({ message: 'crash on purpose' })],
      [slow, 1, 'killed'],
      [m, 2, 'normal'],
    ]);
  });

  it('counts runs in ctx.run across repeated restarts, keeping the pid', async () => {
    const t = await runTree({ strategy: 'one_for_one', intensity: 5, period: '10s', children: [worker('a')] });
    await t.logged(/^start a run 1$/);
    const a = workerIn(t.view(), 'a').pid!;
    for (const run of [2, 3, 4]) {
      t.node.send(a, { cmd: 'crash' });
      await t.logged(new RegExp(`^start a run ${run}$`));
      expect(await t.node.kernel.query(a, 'state')).toMatchObject({ self: a, run });
    }
    expect(query<{ run: number; status: string }>(t.db, 'SELECT run, status FROM processes WHERE pid = ?', a)).toEqual([{ run: 4, status: 'live' }]);
    expect(exitsInOrder(t.db).map((e) => e.run)).toEqual([1, 2, 3]);
  });
});
