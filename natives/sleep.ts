// sleep(d): a durable timer. The fire time is computed once, live, and
// journaled; after a crash the kernel re-arms it from the effects table
// (an overdue timer fires at once) and replay never recomputes it.

import { defineNative, parseDuration } from './api.js';

export default defineNative<[d: unknown], undefined, { key: null; ms: number }>({
  name: 'sleep',
  kind: 'wait',
  settledByJournal: true,
  prepare(_host, [d]) {
    return { key: null, ms: parseDuration(d, 'sleep') };
  },
  start(host, _args, _step, p) {
    const at = host.clock() + p.ms;
    return { record: at, wait: undefined, effect: { e: 'timer', at } };
  },
  settle() {
    return undefined;
  },
});
