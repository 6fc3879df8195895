// step(name, fn): a local side effect (a database write, an SDK call) run
// once, its result or error journaled under `name`; replay returns the
// record without calling fn. If the node dies while fn runs, fn runs again
// when the process resumes: at-least-once. A different name at this step
// on replay is a non-determinism.

import { argError, defineNative, toErrorData, type NativeHost } from './api.js';

type Fn = () => unknown;

interface Prep {
  key: string;
  fn: Fn;
}

export default defineNative<[name: unknown, fn: unknown], { fn: Fn }, Prep>({
  name: 'step',
  kind: 'wait',
  prepare(_host, [name, fn]) {
    if (typeof name !== 'string' || name.length === 0) throw argError('step', 'name must be a non-empty string', name, "pass step('charge-card', async () => ...)");
    if (typeof fn !== 'function') throw argError('step', 'fn must be a function', fn, "pass step('charge-card', async () => ...)");
    return { key: name, fn: fn as Fn };
  },
  start(host, _args, step, p) {
    let out: unknown;
    try {
      out = p.fn();
    } catch (err) {
      return { done: true, error: toErrorData(err) };
    }
    if (isThenable(out)) {
      watch(host, step, out);
      return { wait: { fn: p.fn } };
    }
    const bad = unencodable(host, out);
    return bad === null ? { done: true, result: out } : { done: true, error: bad };
  },
  restore(_host, _args, _record, _step, p) {
    return { fn: p.fn };
  },
  resume(host, state, step) {
    // The node died while fn ran: its outcome was never recorded. Run it again.
    let out: unknown;
    try {
      out = state.fn();
    } catch (err) {
      host.resolveLocal(step, false, toErrorData(err));
      return;
    }
    watch(host, step, isThenable(out) ? out : Promise.resolve(out));
  },
});

function watch(host: NativeHost, step: number, promise: PromiseLike<unknown>): void {
  host.beginLocal();
  promise.then(
    (value) => {
      const bad = unencodable(host, value);
      if (bad === null) host.resolveLocal(step, true, value);
      else host.resolveLocal(step, false, bad);
    },
    (err: unknown) => host.resolveLocal(step, false, toErrorData(err)),
  );
}

function unencodable(host: NativeHost, value: unknown) {
  try {
    host.encode(value, 'step: result');
    return null;
  } catch (err) {
    return toErrorData(err, false);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
