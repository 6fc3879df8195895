// Spawning under real SIGKILLs. A parent spawns thousands of children one
// `await ctx.spawn` at a time, most of them with pids its thread gives
// (natives/spawn.ts), while the node is killed at random moments and started
// again on the same journal. A child and the parent's round that spawned it
// are committed together or not at all, so at the end the journal's children
// of the parent are exactly the pids its history says its spawns returned:
// none missing, none extra, none twice; every one ran, answered once and
// ended.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, fixture, query, readRows, sleep, tmpdir, until } from '../helpers.js';
import { cli, kill9, killLeftovers, lastProgress, runToTheEnd } from '../fixtures/failure/cli.js';

afterEach(async () => {
  await killLeftovers();
});

const N = 50_000;
const KILLS = 3;

describe('spawning under SIGKILL', () => {
  it(`a parent spawning ${N} children across ${KILLS} random kills: the journal's children are exactly the pids its history returned`, async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const args = ['spawn', '--db', db, '--threads', '2', fixture('failure/spawn-count.js'), String(N)];
    let kills = 0;
    let seen = -1;
    for (; kills < KILLS; kills++) {
      const run = cli(args);
      await until(() => lastProgress(run.stderr) > seen || run.child.exitCode !== null, 60_000, `progress after kill ${kills}`);
      if (run.child.exitCode !== null) break;
      await sleep(Math.floor(Math.random() * 800));
      seen = Math.max(seen, lastProgress(run.stderr));
      if (run.child.exitCode !== null) break;
      expect(await kill9(run)).toBe('SIGKILL');
    }
    expect(kills, 'the loop ended before every kill landed: raise N').toBe(KILLS);
    const last = await runToTheEnd(args);
    expect(JSON.parse(last.stdout), 'answers taken until every child had answered').toBe(N);

    const root = query<{ pid: string }>(db, 'SELECT pid FROM processes WHERE parent IS NULL');
    expect(root).toHaveLength(1);
    const parent = root[0]!.pid;
    // What the parent's spawns returned: inline (its thread gave the pid) or the kernel's answer to a parked call.
    const parked = new Set<number>();
    const returned: string[] = [];
    for (const row of readRows(db, parent)) {
      for (const [step, ok, value] of row.r) if (parked.delete(step) && ok) returned.push(value as string);
      for (const [step, name, , , done, result] of row.c) {
        if (name !== 'spawn') continue;
        if (done === 1) returned.push(result as string);
        else parked.add(step);
      }
    }
    expect(parked.size).toBe(0);
    expect(returned).toHaveLength(N);
    expect(new Set(returned).size).toBe(N);
    const children = query<{ pid: string; status: string; reason: Buffer | null }>(db, 'SELECT pid, status, reason FROM processes WHERE parent = ?', parent);
    expect(children.map((c) => c.pid).sort()).toEqual([...returned].sort());
    expect(children.filter((c) => c.status !== 'exited')).toEqual([]);
    expect(children.every((c) => c.reason !== null && decode(c.reason) === 'normal')).toBe(true);
  }, 300_000);
});
