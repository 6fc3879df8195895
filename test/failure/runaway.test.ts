// Failure model, row "stuck past the slice budget": a process that
// busy-loops past --slice-ms is failed with reason 'killed' (its monitor
// sees 'killed'); only it; the others on its thread finish.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, query, tmpdir } from '../helpers.js';
import { within } from '../fixtures/natives/http-server.js';
import { cliRun, killLeftovers, lines } from '../fixtures/failure/cli.js';

const node = nodesPerTest();
afterEach(async () => {
  await killLeftovers();
});

const STEADY = 3;
const expectedSum = 15;

describe('a process busy-loops past the slice budget', () => {
  it("is killed with reason 'killed', its monitor sees 'killed', and the processes sharing its thread finish", async () => {
    const dir = tmpdir();
    const logs: string[] = [];
    const n = await node({ threads: 1, sliceMs: 300, log: (_pid, line) => logs.push(line) });
    const root = await n.spawn(fixture('failure/crowd.js'), [dir, './spinner.js', null, STEADY]);
    const exit = await within(n.waitExit(root), 30_000, 'the crowd to finish');
    expect(exit.reason).toBe('normal');
    const r = exit.result as { steady: string[]; culprit: string; done: Record<string, number>; downs: Record<string, unknown> };

    expect(r.downs[r.culprit]).toBe('killed');
    const spun = await n.waitExit(r.culprit);
    expect(spun.reason).toBe('killed');
    const [row] = query<{ status: string }>(n.db, 'SELECT status FROM processes WHERE pid = ?', r.culprit);
    expect(row!.status).toBe('exited');

    expect(Object.fromEntries(r.steady.map((pid) => [pid, r.downs[pid]]))).toEqual(Object.fromEntries(r.steady.map((pid) => [pid, 'normal'])));
    for (const pid of r.steady) expect((await n.waitExit(pid)).reason).toBe('normal');
    expect(r.done).toEqual(Object.fromEntries(Array.from({ length: STEADY }, (_, i) => [`s${i}`, expectedSum])));
    for (let i = 0; i < STEADY; i++) {
      expect(logs.filter((l) => l.startsWith(`s${i}:`))).toEqual([1, 2, 3, 4, 5].map((k) => `s${i}:${k}`));
      // Rebuilt by replay on the replacement thread.
      const threads = fs.readFileSync(path.join(dir, `s${i}.threads`), 'utf8').split('\n').filter(Boolean);
      expect(threads.length).toBeGreaterThanOrEqual(2);
      expect(threads.at(-1)).not.toBe(threads[0]);
    }
  });

  it('under `runtime spawn --slice-ms 300`: the root finishes and reports the runaway killed', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const out = await cliRun(['spawn', '--db', db, '--threads', '1', '--slice-ms', '300', fixture('failure/crowd.js'), dir, './spinner.js', 'null', String(STEADY)], 40_000);
    expect(out.hung).toBe(false);
    expect(out.code).toBe(0);
    const r = JSON.parse(out.stdout) as { culprit: string; done: Record<string, number>; downs: Record<string, unknown> };
    expect(r.downs[r.culprit]).toBe('killed');
    expect(r.done).toEqual({ s0: expectedSum, s1: expectedSum, s2: expectedSum });
    // Every step's log line printed once (the JSON lines on stderr).
    const logged = lines(out.stderr)
      .filter((l) => l.startsWith('{') && !l.startsWith('{"crash"')) // log lines, not crash reports
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(logged.sort()).toEqual(['s0', 's1', 's2'].flatMap((s) => [1, 2, 3, 4, 5].map((k) => `${s}:${k}`)).sort());
  });
});
