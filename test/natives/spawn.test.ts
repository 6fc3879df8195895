// spawn on the thread that spawns: a thread that has spawned through the
// kernel once gets a range of pids, and its processes' spawns return at once
// from it (recorded inline, like a step's result); the kernel learns of each
// child from the slice's report, before the mail the slice sends it.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Node } from '../../dist/runtime/node.js';
import { fixture, nodesPerTest, query, readRows, REPLAY_MODES, tmpdir, type Row } from '../helpers.js';

const node = nodesPerTest();

interface Answer {
  type: 'answer';
  i: number;
  self: string;
}

/** [step, how it ended (0 parked, 1 inline), pid] of every spawn command in `rows`, with the kernel's answers to parked ones. */
function spawnsOf(rows: Row[]): Array<{ step: number; inline: boolean; pid: string }> {
  const out = new Map<number, { step: number; inline: boolean; pid: string }>();
  for (const row of rows) {
    for (const [step, ok, value] of row.r) {
      const parked = out.get(step);
      if (parked !== undefined && parked.pid === '' && ok) parked.pid = value as string;
    }
    for (const [step, name, , , done, result] of row.c) {
      if (name === 'spawn') out.set(step, { step, inline: done === 1, pid: done === 1 ? (result as string) : '' });
    }
  }
  return [...out.values()];
}

describe.each(REPLAY_MODES)('spawn (%s)', (_label, opts) => {
  it('300 spawns in a loop return their pids without a round each, and a message sent in the spawning round reaches every child', async () => {
    const n = await node(opts);
    const pid = await n.spawn(fixture('natives/spawn-many.js'), [300]);
    const exit = await n.waitExit(pid);
    expect(exit.reason).toBe('normal');
    const { pids, answers } = exit.result as { pids: string[]; answers: Answer[] };
    expect(new Set(pids).size).toBe(300);
    expect(answers.map((a) => a.i).sort((a, b) => a - b)).toEqual([...Array(300).keys()]);
    // Each child answered with its own pid: the pid its parent's call returned.
    for (const a of answers) expect(a.self).toBe(pids[a.i]);
    const children = query<{ pid: string }>(n.db, 'SELECT pid FROM processes WHERE parent = ?', pid).map((r) => r.pid);
    expect(children.sort()).toEqual([...pids].sort());
    const spawns = spawnsOf(readRows(n.db, pid));
    expect(spawns.map((s) => s.pid)).toEqual(pids);
    // The first spawn waits for the kernel (the thread has no range yet); once
    // the thread has one, spawns return inline. Ranges grow (64, 128, ...), so
    // only a few of 300 wait.
    expect(spawns[0]!.inline).toBe(false);
    expect(spawns.filter((s) => !s.inline).length).toBeLessThanOrEqual(4);
    // The loop did not stop at each spawn: all 300 took a handful of rounds (rows).
    const rows = readRows(n.db, pid);
    const spawning = rows.findIndex((row) => row.c.some(([, name, , , , result]) => name === 'spawn' && result === pids.at(-1))) + 1;
    expect(spawning).toBeGreaterThan(0);
    expect(spawning).toBeLessThanOrEqual(6);
  }, 60_000);

  it('link, monitor and name keep their meaning on a spawn the thread gives a pid to; a named spawn still goes through the kernel', async () => {
    const n = await node(opts);
    const pid = await n.spawn(fixture('natives/spawn-options.js'));
    const exit = await n.waitExit(pid);
    expect(exit.reason).toBe('normal');
    const r = exit.result as Record<string, unknown>;
    expect(r.exit).toBe('child failed');
    expect(r.down).toBe('normal');
    expect(r.refused).toBe('BL_NAME_TAKEN');
    const spawns = spawnsOf(readRows(n.db, pid));
    const inline = new Map(spawns.map((s) => [s.pid, s.inline]));
    expect(inline.get(r.first as string)).toBe(false);
    expect(inline.get(r.linked as string)).toBe(true);
    expect(inline.get(r.monitored as string)).toBe(true);
    expect(inline.get(r.named as string)).toBe(false);
  }, 60_000);
});

describe('spawn: pids given by threads', () => {
  it('are never given twice, across a restart on the same journal, and spawns under --max-processes all go through the kernel', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const all: string[] = [];
    for (let i = 0; i < 2; i++) {
      const n = await Node.open({ db, threads: 2, log: () => {} });
      try {
        const pid = await n.spawn(fixture('natives/spawn-quiet.js'), [200]);
        const exit = await n.waitExit(pid);
        expect(exit.reason).toBe('normal');
        all.push(pid, ...(exit.result as string[]));
      } finally {
        await n.close();
      }
    }
    expect(new Set(all).size).toBe(402);
    expect(query<{ n: number }>(db, 'SELECT count(*) AS n FROM processes')[0]!.n).toBe(402);
    // Under a bound every spawn must be counted where it can still be refused.
    const n = await node({ maxProcesses: 1000 });
    const pid = await n.spawn(fixture('natives/spawn-many.js'), [20]);
    expect((await n.waitExit(pid)).reason).toBe('normal');
    expect(spawnsOf(readRows(n.db, pid)).every((s) => !s.inline)).toBe(true);
  }, 60_000);
});
