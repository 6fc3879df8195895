// Failure model, row "worker thread dies": process.exit(1) inside a script,
// and an uncaught error thrown from a setTimeout callback inside a script.
// The thread is replaced; the other processes that were live on it resume
// by replay (on the new thread) and finish correctly.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, tmpdir } from '../helpers.js';
import { within } from '../fixtures/natives/http-server.js';

const node = nodesPerTest();

const STEADY = 8;
const ROUNDS = 5;
const expectedSum = (ROUNDS * (ROUNDS + 1)) / 2;

describe.each([
  ['process.exit(1) inside a script', 'exit'],
  ['an uncaught error thrown from a setTimeout callback', 'timer'],
])('a worker thread dies: %s', (_label, how) => {
  it('replaces the thread; the other processes on it resume by replay and finish correctly', async () => {
    const dir = tmpdir();
    const logs: string[] = [];
    // One thread: every process shares it with the troublemaker.
    const n = await node({ threads: 1, log: (_pid, line) => logs.push(line) });
    const root = await n.spawn(fixture('failure/crowd.js'), [dir, './thread-killer.js', how, STEADY]);
    const exit = await within(n.waitExit(root), 30_000, 'the crowd to finish');
    expect(fs.readFileSync(path.join(dir, 'killer.fired'), 'utf8')).toBe(how);
    expect(exit.reason).toBe('normal');
    const r = exit.result as { steady: string[]; culprit: string; done: Record<string, number>; downs: Record<string, unknown> };

    // Every steady process finished normally (none was blamed for the thread) with the right result...
    expect(Object.fromEntries(r.steady.map((pid) => [pid, r.downs[pid]]))).toEqual(Object.fromEntries(r.steady.map((pid) => [pid, 'normal'])));
    for (const pid of r.steady) expect((await n.waitExit(pid)).reason).toBe('normal');
    expect(r.done).toEqual(Object.fromEntries(Array.from({ length: STEADY }, (_, i) => [`s${i}`, expectedSum])));
    // ... each committed step logged exactly once ...
    for (let i = 0; i < STEADY; i++) {
      expect(logs.filter((l) => l.startsWith(`s${i}:`))).toEqual(Array.from({ length: ROUNDS }, (_, k) => `s${i}:${k + 1}`));
    }
    // ... and was rebuilt on a different (replacement) thread.
    for (let i = 0; i < STEADY; i++) {
      const threads = fs.readFileSync(path.join(dir, `s${i}.threads`), 'utf8').split('\n').filter(Boolean);
      expect(threads.length).toBeGreaterThanOrEqual(2);
      expect(threads.at(-1)).not.toBe(threads[0]);
    }
    // The troublemaker ended one way or the other (blamed, or rebuilt and done).
    expect(r.downs[r.culprit]).toBeDefined();
    const culprit = await n.waitExit(r.culprit);
    if (!culprit.normal) expect(culprit.reason).toMatchObject({ code: 'BL_INTERNAL' });
    else expect(culprit.result).toBe('survived');

    // The node still works on the replacement thread.
    const later = await n.spawn(fixture('sleeper.js'), ['nobody', 0, 10]);
    expect((await within(n.waitExit(later), 10_000, 'a new process to run')).reason).toBe('normal');
  });
});
