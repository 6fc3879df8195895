// The kernel's timer service (runtime/kernel/timers.ts): one binary heap
// behind one Node timer. Real setTimeout; the clock is the injected `now`, so
// a timer is due or not by construction rather than by how fast the machine is.

import { describe, expect, it } from 'vitest';
import { TimerService } from '../../dist/runtime/kernel/timers.js';

/** A service over a clock the test moves, and a promise of each batch it fires. */
function service(start = 1_000_000) {
  let now = start;
  const batches: string[][] = [];
  let waiting: ((b: string[]) => void) | null = null;
  const t = new TimerService<string>(
    (due) => {
      batches.push(due);
      waiting?.(due);
      waiting = null;
    },
    () => now,
  );
  return {
    t,
    batches,
    set now(v: number) {
      now = v;
    },
    get now() {
      return now;
    },
    next: () => new Promise<string[]>((resolve) => (waiting = resolve)),
  };
}

describe('TimerService', () => {
  it('fires every due timer in one batch, earliest deadline first', async () => {
    const s = service();
    const fired = s.next();
    for (const [at, v] of [[5, 'e'], [1, 'a'], [4, 'd'], [2, 'b'], [3, 'c']] as const) s.t.arm(s.now - 10 + at, v);
    expect(s.t.size).toBe(5);
    expect(await fired).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(s.t.size).toBe(0);
  });

  it('leaves a timer that is not yet due armed (the batch holds only what is due)', async () => {
    const s = service();
    const fired = s.next();
    s.t.arm(s.now + 3_600_000, 'later');
    s.t.arm(s.now - 1, 'due');
    expect(await fired).toEqual(['due']);
    expect(s.t.size).toBe(1);
    s.t.stop();
  });

  it('a cancelled timer never fires and no longer counts', async () => {
    const s = service();
    const fired = s.next();
    const a = s.t.arm(s.now - 2, 'a');
    s.t.arm(s.now - 1, 'b');
    s.t.cancel(a);
    s.t.cancel(a); // twice is once
    expect(s.t.size).toBe(1);
    expect(await fired).toEqual(['b']);
    expect(s.batches).toEqual([['b']]);
    expect(s.t.size).toBe(0);
  });

  it('an earlier timer armed after a later one re-arms the Node timer for itself', async () => {
    const s = service();
    s.t.arm(s.now + 3_600_000, 'hour');
    const fired = s.next();
    s.t.arm(s.now + 5, 'soon');
    s.now += 10; // the clock the service reads has passed 'soon' when its Node timer fires
    expect(await fired).toEqual(['soon']);
    expect(s.t.size).toBe(1);
    s.t.stop();
  });

  it('fires on the real clock by default, in deadline order across batches', async () => {
    const got: string[] = [];
    let done: () => void;
    const all = new Promise<void>((r) => (done = r));
    const t = new TimerService<string>((due) => {
      got.push(...due);
      if (got.length === 3) done();
    });
    const now = Date.now();
    t.arm(now + 40, 'c');
    t.arm(now + 10, 'a');
    t.arm(now + 25, 'b');
    await all;
    expect(got).toEqual(['a', 'b', 'c']);
  });

  it('stop keeps entries for inspection; the next arm schedules again and fires them too', async () => {
    const s = service();
    s.t.arm(s.now - 1, 'kept');
    s.t.stop();
    expect(s.t.size).toBe(1);
    const fired = s.next();
    s.t.arm(s.now - 1, 'new');
    expect((await fired).sort()).toEqual(['kept', 'new']);
  });

  it('holds 100,000 timers in one heap and fires them in order', async () => {
    const s = service();
    const fired = s.next();
    const ats: number[] = [];
    for (let i = 0; i < 100_000; i++) ats.push((i * 7919) % 100_000);
    for (const at of ats) s.t.arm(s.now - 200_000 + at, String(at).padStart(6, '0'));
    const due = await fired;
    expect(due).toHaveLength(100_000);
    expect(due).toEqual([...due].sort());
  });
});
