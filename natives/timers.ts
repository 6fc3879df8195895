// startTimer(name, d) / cancelTimer(name): named durable timers. On fire the
// message {type: 'timer', name} lands in the mailbox. Starting a name that is
// already running replaces it. A cancel racing a fire is settled by whichever
// the executor records first (the fire is a resolution, the cancel a
// command), and replay follows that record.

import { argError, defineNative, parseDuration, type NativeHost } from './api.js';

interface Prep {
  key: string;
  name: string;
  ms: number;
}

function nameOf(native: string, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw argError(native, 'name must be a non-empty string', name, `pass ${native}('retry', '5s')`);
  return name;
}

/** Arm `name` at `step`, replacing a running timer of that name (live and on replay alike). */
function arm(host: NativeHost, name: string, step: number, at: number): { name: string } {
  const previous = host.locals.timers.get(name);
  if (previous !== undefined) host.cancelStep(previous);
  host.locals.timers.set(name, step);
  host.locals.timerAt.set(name, at);
  return { name };
}

export const startTimer = defineNative<[name: unknown, d: unknown], { name: string }, Prep>({
  name: 'startTimer',
  kind: 'background',
  prepare(_host, [name, d]) {
    const n = nameOf('startTimer', name);
    return { key: n, name: n, ms: parseDuration(d, 'startTimer') };
  },
  start(host, _args, step, p) {
    const at = host.clock() + p.ms;
    return { record: at, wait: arm(host, p.name, step, at), effect: { e: 'timer', at } };
  },
  restore(host, _args, record, step, p) {
    return arm(host, p.name, step, typeof record === 'number' ? record : 0);
  },
  settle(host, state) {
    if (state === undefined) return undefined;
    host.locals.timers.delete(state.name);
    host.locals.timerAt.delete(state.name);
    host.mailSelf({ type: 'timer', name: state.name });
    return undefined;
  },
});

export const cancelTimer = defineNative<[name: unknown], undefined, { key: string; name: string }>({
  name: 'cancelTimer',
  kind: 'sync',
  prepare(_host, [name]) {
    const n = nameOf('cancelTimer', name);
    return { key: n, name: n };
  },
  start(host, _args, _step, p) {
    return { done: true, result: host.locals.timers.has(p.name) ? p.name : null };
  },
  // The cancel itself happens here, so that replay (which returns the
  // recorded result without calling start) cancels exactly as live did.
  settle(host, _state, value) {
    if (typeof value !== 'string') return false;
    const step = host.locals.timers.get(value);
    if (step !== undefined) host.cancelStep(step);
    host.locals.timers.delete(value);
    host.locals.timerAt.delete(value);
    return true;
  },
});
