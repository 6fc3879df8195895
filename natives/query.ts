// onQuery(name, fn): a read-only handler answered by `runtime query <pid> <name>`.
// Registering is not a step (replay registers it again); inside the handler
// a native that records throws BL_NATIVE_MISUSE.

import { argError, defineNative } from './api.js';

export default defineNative<[name: unknown, fn: unknown]>({
  name: 'onQuery',
  kind: 'sync',
  records: false,
  start(host, [name, fn]) {
    if (typeof name !== 'string' || name.length === 0) throw argError('onQuery', 'name must be a non-empty string', name, "pass onQuery('status', () => state)");
    if (typeof fn !== 'function') throw argError('onQuery', 'handler must be a function', fn, "pass onQuery('status', () => state)");
    host.locals.queries.set(name, fn as (...args: unknown[]) => unknown);
    return { done: true };
  },
});
