// Hibernation under real SIGKILLs: a counter server (ctx.serve) is driven in
// batches with pauses long enough for it to hibernate and leave the kernel's
// table between them, while the node is killed with SIGKILL at random
// moments and started again on the same journal. Whether a kill lands while
// the server is out, coming back, or handling a batch, the count must come
// out exact: nothing lost, nothing handled twice.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, sleep, tmpdir, until } from '../helpers.js';
import { cli, cliRun, kill9, killLeftovers, lastProgress, runToTheEnd } from '../fixtures/failure/cli.js';

afterEach(async () => {
  await killLeftovers();
});

const BATCHES = 10;
const BATCH = 50;
const PAUSE_MS = 2500; // hibernate-after 100 ms, then a sweep to evict and one to page out (1 s apart)
const KILLS = 3;

describe('a hibernating server under SIGKILL', () => {
  it(`ends at exactly ${BATCHES * BATCH} increments across ${KILLS} random kills, paged out and back between batches`, async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const args = ['spawn', '--db', db, '--hibernate-after', '100ms', fixture('server/driver.js'), String(BATCHES * BATCH), String(BATCH), '10', JSON.stringify({ pauseMs: PAUSE_MS, interval: '100ms' })];
    let seen = -1;
    let kills = 0;
    for (; kills < KILLS; kills++) {
      const run = cli(args);
      await until(() => lastProgress(run.stderr) > seen || run.child.exitCode !== null, 60_000, `progress after kill ${kills}`);
      if (run.child.exitCode !== null) break;
      if (kills === 0) {
        // The setting does what it is for: between batches the server leaves the node's memory (ps through the node's control socket).
        await until(async () => /\bcounter\.js\s+hibernated\b/.test((await cliRun(['ps', '--db', db])).stdout), 30_000, 'ps to show the server hibernated');
      }
      // Anywhere in the next batch's cycle: while the server is idle, out, or back.
      await sleep(Math.floor(Math.random() * (PAUSE_MS + 1000)));
      seen = Math.max(seen, lastProgress(run.stderr));
      if (run.child.exitCode !== null) throw new Error(`run ${kills} exited ${run.child.exitCode} before its kill: ${run.stderr.slice(-600)}`);
      expect(await kill9(run)).toBe('SIGKILL');
    }
    const last = await runToTheEnd(args);
    expect(kills).toBe(KILLS);
    expect((JSON.parse(last.stdout) as { count: number }).count).toBe(BATCHES * BATCH);
  }, 300_000);
});
