// The restart policy (runtime/supervisor/policy.ts): pure tables, as OTP's
// supervisor.erl has them. No node here: these are the decisions alone.

import { describe, expect, it } from 'vitest';
import { addRestart, isShutdown, RESTART, STRATEGY } from '../../dist/runtime/supervisor/policy.js';

describe('isShutdown', () => {
  it("is true for 'shutdown' and {shutdown: ...}, false for everything else", () => {
    expect(isShutdown('shutdown')).toBe(true);
    expect(isShutdown({ shutdown: 'app stopping' })).toBe(true);
    expect(isShutdown({ shutdown: undefined })).toBe(true);
    for (const r of ['normal', 'killed', 'kill', 'Shutdown', null, undefined, 0, {}, { reason: 'shutdown' }, ['shutdown']]) {
      expect(isShutdown(r), JSON.stringify(r) ?? String(r)).toBe(false);
    }
  });
});

describe('RESTART', () => {
  const reasons = ['normal', 'shutdown', { shutdown: 'x' }, 'killed', { name: 'Error', message: 'boom' }];

  it('permanent restarts for every reason', () => {
    for (const r of reasons) expect(RESTART.permanent(r)).toBe(true);
  });

  it("transient restarts only an abnormal exit (not 'normal', not a shutdown)", () => {
    expect(reasons.map((r) => RESTART.transient(r))).toEqual([false, false, false, true, true]);
  });

  it('temporary never restarts', () => {
    for (const r of reasons) expect(RESTART.temporary(r)).toBe(false);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(RESTART)).toBe(true);
    expect(Object.isFrozen(STRATEGY)).toBe(true);
  });
});

describe('STRATEGY', () => {
  const kids = ['a', 'b', 'c', 'd'] as const;

  it('one_for_one and simple_one_for_one restart the failed child alone', () => {
    for (const s of ['one_for_one', 'simple_one_for_one'] as const) {
      expect(STRATEGY[s](kids, 1)).toEqual({ stop: [], start: ['b'] });
      expect(STRATEGY[s](kids, 3)).toEqual({ stop: [], start: ['d'] });
    }
  });

  it('one_for_all stops the others in reverse start order and starts all in start order', () => {
    expect(STRATEGY.one_for_all(kids, 1)).toEqual({ stop: ['d', 'c', 'a'], start: ['a', 'b', 'c', 'd'] });
    expect(STRATEGY.one_for_all(kids, 0)).toEqual({ stop: ['d', 'c', 'b'], start: ['a', 'b', 'c', 'd'] });
    expect(STRATEGY.one_for_all(['a'], 0)).toEqual({ stop: [], start: ['a'] });
  });

  it('rest_for_one stops the ones started after the failed child (reverse order) and restarts from it', () => {
    expect(STRATEGY.rest_for_one(kids, 1)).toEqual({ stop: ['d', 'c'], start: ['b', 'c', 'd'] });
    expect(STRATEGY.rest_for_one(kids, 3)).toEqual({ stop: [], start: ['d'] });
    expect(STRATEGY.rest_for_one(kids, 0)).toEqual({ stop: ['d', 'c', 'b'], start: ['a', 'b', 'c', 'd'] });
  });

  it('returns new arrays: the caller may change a plan without touching its children', () => {
    const children = ['a', 'b', 'c'];
    const plan = STRATEGY.one_for_all(children, 0);
    plan.start.push('z');
    plan.stop.length = 0;
    expect(children).toEqual(['a', 'b', 'c']);
  });
});

describe('addRestart (intensity within a period)', () => {
  it('keeps restarts younger than the period, adds this one, and says when there are more than intensity', () => {
    expect(addRestart([], 1000, 5000, 1)).toEqual({ times: [1000], exceeded: false });
    expect(addRestart([1000], 2000, 5000, 1)).toEqual({ times: [1000, 2000], exceeded: true });
    expect(addRestart([1000, 2000], 3000, 5000, 3)).toEqual({ times: [1000, 2000, 3000], exceeded: false });
  });

  it('forgets a restart exactly one period old (the window is half-open)', () => {
    expect(addRestart([1000, 4000], 6000, 5000, 1)).toEqual({ times: [4000, 6000], exceeded: true });
    expect(addRestart([1000], 6000, 5000, 1)).toEqual({ times: [6000], exceeded: false });
    expect(addRestart([1001], 6000, 5000, 1)).toEqual({ times: [1001, 6000], exceeded: true });
  });

  it('intensity 0 means the first restart is already too many', () => {
    expect(addRestart([], 0, 5000, 0)).toEqual({ times: [0], exceeded: true });
  });

  it('does not change the times it was given', () => {
    const times = [1, 2, 3];
    addRestart(times, 10_000, 5000, 5);
    expect(times).toEqual([1, 2, 3]);
  });
});
