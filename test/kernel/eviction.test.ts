// Eviction against work a thread still holds. Real threads, real journal.

import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, ON_PG, sleep, until } from '../helpers.js';

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
