// Hibernation: a server idle for hibernateAfterMs, its history cut short by
// its idle snapshot, leaves its thread's memory; the next message brings it
// back from the snapshot (not by replaying what it handled before).

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, ON_PG, query, readRows, ROOT, runCli, tmpdir, until } from '../helpers.js';

const node = nodesPerTest();

describe('hibernation', () => {
  it('an idle server leaves its thread and wakes from its snapshot on the next call', async () => {
    const n = await node({ hibernateAfterMs: 300 });
    const server = await n.spawn(fixture('server/counter.js'), [1000, '100ms']);
    const first = await n.spawn(fixture('server/caller.js'), [server, 40]);
    expect((await n.waitExit(first)).result).toMatchObject({ ok: { count: 40 } });

    // Quiet: the interval snapshot ends the run, then the next run (one or two rows) hibernates.
    await until(() => (query<{ run: number }>(n.db, 'SELECT run FROM processes WHERE pid = ?', server)[0]?.run ?? 0) > 1, 10_000, 'the interval snapshot');
    await until(() => n.kernel.process(server)?.state === 'parked' && n.kernel.process(server)?.residency === 'journal' && n.kernel.stats().threads.every((t) => t.live === 0), 10_000, 'the server to leave its thread');
    const [{ run }] = query<{ run: number }>(n.db, 'SELECT run FROM processes WHERE pid = ?', server) as [{ run: number }];
    expect(run).toBeGreaterThan(1);
    expect(readRows(n.db, server).every((r) => r.run === run)).toBe(true);
    expect(readRows(n.db, server).length).toBeLessThanOrEqual(2);

    // A message wakes it: the count comes from the snapshot, in the same run (a wake is not a snapshot).
    const second = await n.spawn(fixture('server/caller.js'), [server, 2]);
    expect((await n.waitExit(second)).result).toEqual({ ok: { count: 42, run, args: [1000, '100ms'] } });
  });

  it('a process with a long current run does not hibernate', async () => {
    const n = await node({ hibernateAfterMs: 200 });
    const server = await n.spawn(fixture('server/counter.js'), [1000, '1h']);
    const caller = await n.spawn(fixture('server/caller.js'), [server, 0]);
    await n.waitExit(caller);
    // Ten single-message rounds: more rows than a hibernating run may have, and no idle snapshot for an hour.
    for (let i = 0; i < 10; i++) {
      const c = await n.spawn(fixture('server/caller.js'), [server, 0]);
      await n.waitExit(c);
    }
    await new Promise((r) => setTimeout(r, 1500));
    expect(n.kernel.process(server)?.residency).toBe('resident');
  });
});

describe('--hibernate-after', () => {
  // Not on PostgreSQL (the second pass): it drives `runtime spawn --db FILE` children, a SQLite journal — the first pass runs it.
  it.skipIf(ON_PG)('a bad duration is one line naming the option, exit 2, and no journal written', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const run = await runCli(['spawn', '--db', db, '--hibernate-after', '5 secs', path.join(ROOT, 'scripts', 'hello.js'), 'ada']);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('--hibernate-after');
    expect(run.stderr).toContain('BL_ARG_INVALID');
    expect(fs.existsSync(db)).toBe(false);
  });
});

describe('hibernation after a restart of the node', () => {
  it('a recovered plain loop with a long run does not hibernate (its rows are counted in the journal, not only those this node wrote)', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const first = await node({ db });
    const pid = await first.spawn(fixture('server/quiet.js'), []);
    // Ten rounds, one message each: ten rows in run 1.
    for (let i = 0; i < 10; i++) {
      first.send(pid, { i });
      await until(() => query(db, 'SELECT 1 FROM journal WHERE pid = ?', pid).length >= i + 2, 10_000, `row ${i + 2}`);
    }
    await first.close();
    const second = await node({ db, hibernateAfterMs: 200 });
    await until(() => second.kernel.process(pid)?.residency === 'resident', 10_000, 'the loop rebuilt');
    await new Promise((r) => setTimeout(r, 2500)); // two sweeps past hibernate-after
    expect(second.kernel.process(pid)?.residency).toBe('resident');
  });
});
