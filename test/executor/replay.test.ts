// The replay cursor (runtime/executor/replay.ts): walks recorded rounds while
// a script runs again, and names the first difference as BL_NONDETERMINISM.

import { describe, expect, it } from 'vitest';
import { ReplayCursor } from '../../dist/runtime/executor/replay.js';
import type { CommandTuple, RoundRecord } from '../../dist/runtime/protocol.js';

const cmd = (step: number, native: string, key: string | null = null, record: unknown = null): CommandTuple => [step, native, key, record, 0, null];

// Round 0: now, sleep (waits). Round 1 (the sleep resolved): step, receive (waits). Round 2: exit.
const history = (): RoundRecord[] => [
  { r: [], c: [cmd(1, 'now', null, 1000), cmd(2, 'sleep', null, 1100)] },
  { r: [[2, true, null]], c: [cmd(3, 'step', 'charge', 7), cmd(4, 'receive')] },
  { r: [[4, true, { id: 1 }]], c: [], x: 'normal' },
];

function diverged(fn: () => unknown): { name: string; code: string; message: string; details: unknown } {
  try {
    fn();
  } catch (err) {
    return err as never;
  }
  throw new Error('expected the cursor to throw');
}

describe('ReplayCursor', () => {
  it('walks every round: resolutions first, then the recorded commands in order', () => {
    const rounds = history();
    const c = new ReplayCursor('ab12.3', rounds);
    expect(c.done).toBe(false);
    expect(c.resolutions()).toEqual([]);
    expect(c.command(1, 'now', null)).toBe(rounds[0]!.c[0]);
    expect(c.command(2, 'sleep', null)).toBe(rounds[0]!.c[1]);
    c.finishRound(2);
    expect(c.resolutions()).toEqual([[2, true, null]]);
    expect(c.command(3, 'step', 'charge')).toEqual(cmd(3, 'step', 'charge', 7));
    expect(c.command(4, 'receive', null)).toEqual(cmd(4, 'receive'));
    c.finishRound(4);
    expect(c.done).toBe(false);
    expect(c.resolutions()).toEqual([[4, true, { id: 1 }]]);
    c.finishRound(4);
    expect(c.done).toBe(true);
    expect(c.resolutions()).toEqual([]);
  });

  it('an empty history is done at once', () => {
    const c = new ReplayCursor('ab12.3', []);
    expect(c.done).toBe(true);
    expect(c.resolutions()).toEqual([]);
  });

  it('treats an absent key and a null key as the same', () => {
    const c = new ReplayCursor('ab12.3', [{ r: [], c: [[1, 'now', undefined as unknown as null, 5, 0, null]] }]);
    expect(c.command(1, 'now', null)[3]).toBe(5);
  });

  it('a different native at a step is BL_NONDETERMINISM naming pid, step, expected and actual', () => {
    const c = new ReplayCursor('ab12.3', history());
    const err = diverged(() => c.command(1, 'random', null));
    expect(err.name).toBe('NonDeterminismError');
    expect(err.code).toBe('BL_NONDETERMINISM');
    expect(err.message).toBe(
      'process ab12.3 diverged from its journal at step 1: expected now at step 1, got random (the script changed or is not deterministic)',
    );
    expect(err.details).toMatchObject({ pid: 'ab12.3', step: 1, expected: 'now at step 1', actual: 'random' });
  });

  it('a different key, or the same native at another step, diverges too', () => {
    const c = new ReplayCursor('ab12.3', history());
    c.command(1, 'now', null);
    c.command(2, 'sleep', null);
    c.finishRound(2);
    const key = diverged(() => c.command(3, 'step', 'refund'));
    expect(key.code).toBe('BL_NONDETERMINISM');
    expect(key.message).toContain('expected step("charge") at step 3, got step("refund")');
    const other = new ReplayCursor('ab12.3', history());
    expect(diverged(() => other.command(2, 'now', null)).message).toContain('expected now at step 1, got now');
  });

  it('a command where the round had gone quiet, or past the end of history, diverges', () => {
    const c = new ReplayCursor('ab12.3', history());
    c.command(1, 'now', null);
    c.command(2, 'sleep', null);
    expect(diverged(() => c.command(3, 'log', null)).message).toContain('expected a wait (no further command in this round), got log');
    const end = new ReplayCursor('ab12.3', [{ r: [], c: [] }]);
    end.finishRound(0);
    const err = diverged(() => end.command(1, 'now', null));
    expect(err.code).toBe('BL_NONDETERMINISM');
    expect(err.message).toContain('expected the end of its history, got now');
  });

  it('going quiet before the round issued every recorded command diverges at the missing step', () => {
    const c = new ReplayCursor('ab12.3', history());
    c.command(1, 'now', null);
    const err = diverged(() => c.finishRound(1));
    expect(err.code).toBe('BL_NONDETERMINISM');
    expect(err.message).toBe(
      'process ab12.3 diverged from its journal at step 2: expected sleep at step 2, got a wait at step 1 (no command) (the script changed or is not deterministic)',
    );
  });

  it('finishedEarly describes what history still expected', () => {
    const c = new ReplayCursor('ab12.3', history());
    c.command(1, 'now', null);
    const mid = c.finishedEarly(1, 'a return');
    expect(mid.code).toBe('BL_NONDETERMINISM');
    expect(mid.message).toContain('at step 1: expected sleep at step 2, got a return');
    c.command(2, 'sleep', null);
    c.finishRound(2);
    c.command(3, 'step', 'charge');
    c.command(4, 'receive', null);
    c.finishRound(4);
    expect(c.finishedEarly(4, 'a throw').message).toContain('expected more rounds of history, got a throw');
  });
});

describe('ReplayCursor: markers (patched)', () => {
  const MARKERS = new Set(['patched']);
  const marker = (step: number, id: string): CommandTuple => [step, 'patched', id, null, 1, true];

  it('answers a marker call from the marker recorded at this step, and nothing else', () => {
    const rounds: RoundRecord[] = [{ r: [], c: [marker(1, 'a'), marker(1, 'b'), cmd(1, 'sleep')] }];
    const c = new ReplayCursor('ab12.3', rounds, MARKERS);
    expect(c.marker(1, 'patched', 'b')).toEqual(marker(1, 'b'));
    expect(c.marker(1, 'patched', 'b')).toBeUndefined(); // taken once
    expect(c.marker(2, 'patched', 'a')).toBeUndefined(); // not at this step
    expect(c.marker(1, 'patched', 'a')).toEqual(marker(1, 'a'));
    expect(c.command(1, 'sleep', null)).toEqual(cmd(1, 'sleep'));
    c.finishRound(1);
    expect(c.done).toBe(true);
  });

  it('finds no marker in a history recorded before the patch, and the commands still match', () => {
    const c = new ReplayCursor('ab12.3', [{ r: [], c: [cmd(1, 'sleep')] }], MARKERS);
    expect(c.marker(1, 'patched', 'a')).toBeUndefined();
    expect(c.command(1, 'sleep', null)).toEqual(cmd(1, 'sleep'));
  });

  it('skips recorded markers the script no longer asks for (a retired patch), in commands, round ends and early ends', () => {
    const rounds: RoundRecord[] = [
      { r: [], c: [marker(1, 'a'), cmd(1, 'sleep')] },
      { r: [[1, true, null]], c: [marker(2, 'z')] },
      { r: [], c: [marker(2, 'y')] },
    ];
    const c = new ReplayCursor('ab12.3', rounds, MARKERS);
    expect(c.command(1, 'sleep', null)).toEqual(cmd(1, 'sleep'));
    c.finishRound(1);
    c.finishRound(2);
    expect(c.finishedEarly(2, 'a return').details).toMatchObject({ expected: 'more rounds of history' });
  });

  it('without the marker set (a registry with no markers), a recorded marker is an ordinary command', () => {
    const c = new ReplayCursor('ab12.3', [{ r: [], c: [marker(1, 'a'), cmd(1, 'sleep')] }]);
    const err = diverged(() => c.command(1, 'sleep', null));
    expect(err.code).toBe('BL_NONDETERMINISM');
    expect(err.details).toMatchObject({ expected: 'patched("a") at step 1', actual: 'sleep' });
  });

  it('at an exit round: a normal end matches a normal exit, a throw does not', () => {
    const rounds: RoundRecord[] = [{ r: [], c: [cmd(0, 'sleep')] }, { r: [[0, true, null]], c: [], x: 'normal' }];
    const c = new ReplayCursor('ab12.3', rounds, MARKERS);
    c.command(0, 'sleep', null);
    c.finishRound(0);
    expect(c.atExit).toBe(true);
    expect(c.finishedAtExit(1, 'normal')).toBeNull();
    expect(c.finishedAtExit(1, 'a throw (boom)')?.details).toMatchObject({ step: 1, expected: 'the exit recorded in its history ("normal")', actual: 'a throw (boom)' });
  });
});
