// withTimeout(d, fn): a deadline scope. fn runs at once; natives it calls
// (however deep, across awaits) belong to the scope. If fn settles first,
// withTimeout settles with it and the deadline timer is disarmed. If the
// deadline's timer is recorded first, every native still pending in the
// scope is cancelled durably (its kernel effect disarmed: timers, in-flight
// requests) and withTimeout rejects with TimeoutError. Replay follows the
// record, so the race comes out the same way.

import { argError, defineNative, parseDuration, TimeoutError } from './api.js';

type Fn = () => unknown;

interface Wait {
  scope: { parent: object | undefined };
  fn: Fn;
  ms: number;
}

interface Prep {
  key: null;
  ms: number;
  fn: Fn;
}

export default defineNative<[d: unknown, fn: unknown], Wait, Prep>({
  name: 'withTimeout',
  kind: 'wait',
  prepare(_host, [d, fn]) {
    if (typeof fn !== 'function') throw argError('withTimeout', 'fn must be a function', fn, "pass withTimeout('5s', async () => ...)");
    return { key: null, ms: parseDuration(d, 'withTimeout'), fn: fn as Fn };
  },
  start(host, _args, _step, p) {
    const at = host.clock() + p.ms;
    return { record: at, wait: { scope: { parent: host.currentScope() }, fn: p.fn, ms: p.ms }, effect: { e: 'timer', at } };
  },
  restore(host, _args, _record, _step, p) {
    return { scope: { parent: host.currentScope() }, fn: p.fn, ms: p.ms };
  },
  parked(host, wait, step) {
    let out: Promise<unknown>;
    try {
      out = Promise.resolve(host.withinScope(wait.scope, wait.fn));
    } catch (err) {
      out = Promise.reject(err);
    }
    out.then(
      (value) => host.complete(step, true, value),
      (err: unknown) => host.complete(step, false, err),
    );
  },
  settle(host, wait) {
    const err = new TimeoutError(`withTimeout: deadline of ${wait?.ms ?? 0} ms passed`, { pid: host.pid });
    if (wait !== undefined) host.cancelScope(wait.scope, err);
    throw err;
  },
});
