// Eviction against work a thread still holds. Real threads, real journal.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, ON_PG, sleep, tmpdir, until } from '../helpers.js';

const node = nodesPerTest();

describe('eviction', () => {
  // Not on PostgreSQL (the second pass): it stalls commits by holding the SQLite journal's write lock from a second connection.
  it.skipIf(ON_PG)('never drops wake markers a thread has not applied yet (evicting a process still runnable on its thread)', async () => {
    // A 1 ms slice budget leaves woken processes unrun at the end of most
    // slices; evictIdleMs 0 makes every wake a cold start (so the slot often
    // waits for a commit with no slice in flight) and lets the eviction
    // sweep take any resident process the kernel thinks is parked.
    const n = await node({ threads: 1, budgetMs: 1, evictIdleMs: 0 });
    const count = 1001;
    const naps = 10;
    const pids: string[] = [];
    // One process that keeps going on as a new run: a rebuild waits for the
    // commit of the run it rebuilds, so the slot often waits with no slice in flight.
    pids.push(await n.spawn(fixture('kernel/churner.js'), [300]));
    for (let i = 1; i < count; i++) pids.push(await n.spawn(fixture('kernel/dozer.js'), [naps, i]));
    let done = 0;
    for (const pid of pids) void n.waitExit(pid).then(() => done++);
    // A slow disk: another connection holds the journal's write lock for a
    // while, so commits stall and the slot waits for one with no slice in
    // flight, which is when the once-a-second eviction sweep runs.
    const blocker = new Database(n.db, { timeout: 50 });
    try {
      for (let i = 0; i < 3 && done < count; i++) {
        await sleep(300);
        // The writer commits back to back: take the lock between two commits.
        for (;;) {
          try {
            blocker.exec('BEGIN IMMEDIATE');
            break;
          } catch {
            await sleep(1);
          }
        }
        await sleep(2500);
        blocker.exec('COMMIT');
      }
    } finally {
      blocker.close();
    }
    // Every process ends within a few seconds unless one lost a wake and
    // waits for ever: then the count stops short.
    await until(() => done === count, 60_000, `all ${count} processes to exit`).catch((err: Error) => {
      throw new Error(`${err.message}: ${count - done} still wait for a wake (stats ${JSON.stringify(n.kernel.stats())})`);
    });
    expect(done).toBe(count);
  }, 120_000);
});

// The idle rule evicts a process parked for evictIdleMs; one whose every wait
// is a timer due later than that would be evicted before any of them fires,
// so it leaves its thread when it parks (see README, Idle eviction).
describe('a process parked on timers only, all due after the idle time', () => {
  const FAR = fixture('kernel/far-sleeper.js');
  const counter = () => path.join(tmpdir(), 'count');
  /** Spawn far-sleeper (sent the message it takes first, with `mail`) and wait until its timer is armed: its parking report has been applied. */
  async function parked(n: Awaited<ReturnType<typeof node>>, ms: number, opts: { mail?: boolean; query?: boolean } = {}): Promise<string> {
    const pid = await n.spawn(FAR, [counter(), ms, opts]);
    if (opts.mail === true) n.send(pid, 'hello');
    await until(() => n.kernel.stats().timers === 1, 10_000, `${pid}'s timer to be armed`);
    return pid;
  }

  it('leaves its thread as it parks, not after the idle time', async () => {
    const n = await node({ threads: 1, evictIdleMs: 60_000 });
    await parked(n, 3_600_000);
    // The report that armed the timer parked the process and let it go.
    expect(n.kernel.stats().resident).toBe(0);
    // The drop reaches the thread with the next slice.
    await until(() => n.kernel.stats().threads[0]!.live === 0, 10_000, 'the thread to drop it');
  });

  it('stays when a timer is due within the idle time', async () => {
    const n = await node({ threads: 1, evictIdleMs: 60_000 });
    await parked(n, 30_000);
    await sleep(100);
    expect(n.kernel.stats().resident).toBe(1);
    expect(n.kernel.stats().threads[0]!.live).toBe(1);
  });

  it('stays when it takes mail (each message would rebuild it)', async () => {
    const n = await node({ threads: 1, evictIdleMs: 60_000 });
    await parked(n, 3_600_000, { mail: true });
    await sleep(100);
    expect(n.kernel.stats().resident).toBe(1);
  });

  it('stays when it answers queries (each query would rebuild it)', async () => {
    const n = await node({ threads: 1, evictIdleMs: 60_000 });
    const pid = await parked(n, 3_600_000, { query: true });
    await sleep(100);
    expect(n.kernel.stats().resident).toBe(1);
    expect(await n.query(pid, 'status')).toBe('asleep');
  });

  it('wakes by replay when the timer fires, its step not run again', async () => {
    const n = await node({ threads: 1, evictIdleMs: 1500 });
    const file = counter();
    const pid = await n.spawn(FAR, [file, 2000]);
    await until(() => n.kernel.stats().timers === 1, 10_000, 'the timer to be armed');
    expect(n.kernel.stats().resident).toBe(0);
    const exit = await n.waitExit(pid);
    expect(exit).toMatchObject({ normal: true, result: 1 });
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });
});
