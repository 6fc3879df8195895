// step(name, fn): fn runs once; its result or error is journaled under the
// step's name; replay returns the record without calling fn. A file the fns
// append to is the side-effect counter; another counts the script body's
// (re)starts, proving that replay really happened.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, openNode, readRows, REPLAY_MODES, tmpdir } from '../helpers.js';
import { within } from '../fixtures/natives/http-server.js';

const node = nodesPerTest();

const linesOf = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

describe('step(name, fn)', () => {
  it('runs each fn once on the hot path and returns its value', async () => {
    const dir = tmpdir();
    const n = await node({ evictIdleMs: 1e9 });
    const pid = await n.spawn(fixture('natives/step-once.js'), [dir]);
    const exit = await within(n.waitExit(pid), 20_000, 'the process to exit');
    expect(exit.result).toEqual({ a: { charged: 42 }, b: 'sent', c: [1, 2, 3] });
    expect(linesOf(path.join(dir, 'effects'))).toEqual(['charge-card', 'send-email', 'write-row']);
    expect(linesOf(path.join(dir, 'invocations'))).toHaveLength(1);
    // Each step journaled under its name, with its value.
    const steps = readRows(n.db, pid).flatMap((r) => r.c.filter((c) => c[1] === 'step'));
    expect(steps.map((c) => c[2])).toEqual(['charge-card', 'send-email', 'write-row']);
  });

  it('replays recorded steps without calling fn again (every wake replays)', async () => {
    const dir = tmpdir();
    const n = await node({ evictIdleMs: 0 });
    const pid = await n.spawn(fixture('natives/step-once.js'), [dir]);
    const exit = await within(n.waitExit(pid), 20_000, 'the process to exit');
    expect(exit.reason).toBe('normal');
    expect(exit.result).toEqual({ a: { charged: 42 }, b: 'sent', c: [1, 2, 3] });
    // The body ran again on every wake, the side effects did not.
    expect(linesOf(path.join(dir, 'invocations')).length).toBeGreaterThanOrEqual(4);
    expect(linesOf(path.join(dir, 'effects'))).toEqual(['charge-card', 'send-email', 'write-row']);
  });

  it.each(REPLAY_MODES)('journals a step error and rethrows it with the same name and message (%s)', async (_label, opts) => {
    const dir = tmpdir();
    const n = await node(opts);
    const pid = await n.spawn(fixture('natives/step-error.js'), [dir]);
    const exit = await within(n.waitExit(pid), 20_000, 'the process to exit');
    expect(exit.reason).toBe('normal');
    expect(exit.result).toEqual([
      { name: 'sync-throw', threw: true, error: 'RangeError', message: 'card declined', code: 'E_DECLINED' },
      { name: 'async-throw', threw: true, error: 'TypeError', message: 'mail server said no', code: null },
    ]);
    expect(linesOf(path.join(dir, 'effects'))).toEqual(['sync-throw', 'async-throw']);
    if (opts.evictIdleMs === 0) expect(linesOf(path.join(dir, 'invocations')).length).toBeGreaterThanOrEqual(3);
    // The errors are in the journal: the sync one inline with its command
    // (ended 2 = threw), the async one as the step's failed resolution.
    const rows = readRows(n.db, pid);
    const sync = rows.flatMap((r) => r.c).find((c) => c[1] === 'step' && c[2] === 'sync-throw')!;
    expect(sync[4]).toBe(2);
    expect(sync[5]).toMatchObject({ error: 'RangeError', message: 'card declined', code: 'E_DECLINED' });
    const asyncCmd = rows.flatMap((r) => r.c).find((c) => c[1] === 'step' && c[2] === 'async-throw')!;
    const resolution = rows.flatMap((r) => r.r).find(([step]) => step === asyncCmd[0])!;
    expect(resolution[1]).toBe(false);
    expect(resolution[2]).toMatchObject({ error: 'TypeError', message: 'mail server said no' });
  });

  it('fails the process with BL_NONDETERMINISM when a step is renamed under a recorded history', async () => {
    const dir = tmpdir();
    const script = path.join(dir, 'renamed.js');
    const source = (name: string) =>
      `export default async function (ctx) {\n` +
      `  const v = await ctx.step(${JSON.stringify(name)}, () => 1);\n` +
      `  await ctx.sleep('1h');\n` +
      `  return v;\n` +
      `}\n`;
    fs.writeFileSync(script, source('charge-card'));
    const db = path.join(dir, 'journal.db');
    const first = await openNode({ db });
    const pid = await first.spawn(script);
    // Wait until the step and the sleep are committed.
    await within(
      (async () => {
        for (;;) {
          const cmds = readRows(db, pid).flatMap((r) => r.c.map((c) => c[1]));
          if (cmds.includes('sleep')) return;
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
      10_000,
      'the sleep to be journaled',
    );
    await first.close();
    fs.writeFileSync(script, source('charge-card-v2'));
    const second = await node({ db });
    const exit = await within(second.waitExit(pid), 10_000, 'the diverged process to exit');
    expect(exit.normal).toBe(false);
    expect(exit.reason).toMatchObject({
      error: 'NonDeterminismError',
      code: 'BL_NONDETERMINISM',
      details: { pid, step: 0 },
    });
    const details = (exit.reason as { details: { expected: string; actual: string } }).details;
    expect(details.expected).toContain('charge-card');
    expect(details.actual).toContain('charge-card-v2');
  });
});
