// The default eviction policy (runtime/kernel/eviction.ts) as a pure
// function of the kernel's record: records built here, timers armed on a
// real TimerService that is stopped at once (nothing fires), the clock given.

import { afterEach, describe, expect, it } from 'vitest';
import { evictionPolicy } from '../../dist/runtime/kernel/eviction.js';
import { effectsOf, newProc, timersOnlyDueAt, type KProc, type TimerRef } from '../../dist/runtime/kernel/table.js';
import { TimerService } from '../../dist/runtime/kernel/timers.js';

const NOW = 1_000_000_000;
const MIN = 60_000;
const IDLE = 10 * MIN;
const services: Array<TimerService<TimerRef>> = [];

afterEach(() => {
  for (const s of services.splice(0)) s.stop();
});

/** A parked record, last active `idleFor` ago, with `rounds` rows in its run. */
function parked(idleFor = 0, rounds = 3): KProc {
  const proc = newProc('t.1', 1, '/s.js', new Uint8Array(0), null, false, null, NOW - idleFor);
  proc.residency = 'resident';
  proc.rounds = rounds;
  return proc;
}

/** Arm a timer of `proc` at step `step`, due `inMs` from NOW; returns its heap entry. */
function timer(proc: KProc, step: number, inMs: number) {
  const s = new TimerService<TimerRef>(() => {}, () => NOW);
  services.push(s);
  const entry = s.arm(NOW + inMs, { proc, run: proc.run, step });
  s.stop();
  effectsOf(proc).set(step, { kind: 'timer', timer: entry });
  return entry;
}

const policy = evictionPolicy(IDLE, 2000, 30_000);

describe('timersOnlyDueAt', () => {
  it('is the earliest armed timer when timers are all a process waits on', () => {
    const p = parked();
    expect(timersOnlyDueAt(p)).toBeNull();
    timer(p, 0, 3 * MIN);
    timer(p, 1, 2 * MIN);
    expect(timersOnlyDueAt(p)).toBe(NOW + 2 * MIN);
  });

  it('is null when anything else waits: a call, a spawn, a timer fired and not yet taken', () => {
    const call = parked();
    timer(call, 0, IDLE * 2);
    effectsOf(call).set(1, { kind: 'http', abort: null });
    expect(timersOnlyDueAt(call)).toBeNull();
    const spawn = parked();
    timer(spawn, 0, IDLE * 2);
    effectsOf(spawn).set(1, { kind: 'spawn' });
    expect(timersOnlyDueAt(spawn)).toBeNull();
    const fired = parked();
    timer(fired, 0, IDLE * 2);
    timer(fired, 1, IDLE * 3).cancelled = true; // fired: marked so in the heap
    expect(timersOnlyDueAt(fired)).toBeNull();
    const recovered = parked();
    effectsOf(recovered).set(0, { kind: 'timer', timer: null }); // done before a crash, redelivered
    expect(timersOnlyDueAt(recovered)).toBeNull();
  });
});

describe('evictionPolicy', () => {
  it('lets a process go at once when its every timer is due after the idle time', () => {
    const p = parked();
    timer(p, 0, IDLE);
    timer(p, 1, IDLE + MIN);
    expect(policy(p, NOW)).toBe(true);
  });

  it('keeps it when one timer is due sooner, until the idle rule takes it', () => {
    const p = parked();
    timer(p, 0, IDLE - 1);
    timer(p, 1, IDLE * 6);
    expect(policy(p, NOW)).toBe(false);
    expect(policy(p, NOW + IDLE)).toBe(true); // the idle rule
  });

  it('keeps one that has had mail, answers queries, or has too long a history', () => {
    const mail = parked();
    timer(mail, 0, IDLE * 6);
    mail.mailbox = 'stored';
    expect(policy(mail, NOW)).toBe(false);

    const queried = parked();
    timer(queried, 0, IDLE * 6);
    queried.handlers = { run: 1, names: ['status'] };
    expect(policy(queried, NOW)).toBe(false);
    queried.handlers = { run: 0, names: ['status'] }; // a previous run's handlers do not count
    expect(policy(queried, NOW)).toBe(true);

    const long = parked(0, 2001);
    timer(long, 0, IDLE * 6);
    expect(policy(long, NOW)).toBe(false);
    expect(policy(long, NOW + IDLE)).toBe(false); // nor does the idle rule take it
  });
});
