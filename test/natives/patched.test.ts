// patched(id) / deprecatePatch(id) on a live node: the answer is true where
// the code runs live, it is recorded as a marker that takes no step, and it
// replays the same on every wake. (The old-history side — false — is in
// test/failure/code-change.test.ts, with a real kill -9.)

import { describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, readRows } from '../helpers.js';
import { within } from '../fixtures/natives/http-server.js';

const node = nodesPerTest();

describe('patched(id) and deprecatePatch(id)', () => {
  it('answer true / undefined live, and record markers at the step of the next command without taking a step', async () => {
    const n = await node({ evictIdleMs: 1e9 });
    const pid = await n.spawn(fixture('natives/patches.js'));
    const exit = await within(n.waitExit(pid), 20_000, 'the process to exit');
    expect(exit.result).toEqual({ first: true, twice: [true, true], dep: 'undefined', n: true });
    const cmds = readRows(n.db, pid).flatMap((r) => r.c.map(([step, native, key, record, done, result]) => [step, native, key, record, done, result]));
    expect(cmds).toEqual([
      [0, 'patched', 'a', null, 1, true],
      [0, 'sleep', null, expect.any(Number), 0, null],
      [1, 'patched', 'a', null, 1, true],
      [1, 'patched', 'b', null, 1, true],
      [1, 'patched', 'c', 'deprecated', 1, true],
      [1, 'sleep', null, expect.any(Number), 0, null],
      [2, 'patched', 'd', 'deprecated', 1, true],
      [2, 'random', null, null, 1, expect.any(Number)],
    ]);
  });

  it('replays its recorded answers on every wake (every wake replays)', async () => {
    const n = await node({ evictIdleMs: 0 });
    const pid = await n.spawn(fixture('natives/patches.js'));
    const exit = await within(n.waitExit(pid), 20_000, 'the process to exit');
    expect(exit.reason).toBe('normal');
    expect(exit.result).toEqual({ first: true, twice: [true, true], dep: 'undefined', n: true });
    // Replays added nothing: one marker per live call.
    expect(readRows(n.db, pid).flatMap((r) => r.c).filter((c) => c[1] === 'patched')).toHaveLength(5);
  });

  it('refuses an id that is not a non-empty string with BL_ARG_INVALID, at the call', async () => {
    const n = await node();
    const pid = await n.spawn(fixture('natives/patch-misuse.js'));
    const exit = await within(n.waitExit(pid), 20_000, 'the process to exit');
    expect(exit.result).toMatchObject({ code: 'BL_ARG_INVALID' });
    expect((exit.result as { message: string }).message).toContain('patched: id must be a non-empty string');
  });
});
