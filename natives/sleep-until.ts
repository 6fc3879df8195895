// sleepUntil(date): a durable timer to an absolute time (Date, ms since the
// epoch, or an ISO string). A time in the past fires at once.

import { argError, defineNative } from './api.js';

export default defineNative<[date: unknown], undefined, { key: null; at: number }>({
  name: 'sleepUntil',
  kind: 'wait',
  settledByJournal: true,
  prepare(_host, [date]) {
    const at = date instanceof Date ? date.getTime() : typeof date === 'string' ? Date.parse(date) : date;
    if (typeof at !== 'number' || !Number.isFinite(at)) {
      throw argError('sleepUntil', 'date must be a Date, ms since the epoch or an ISO string', date, "pass e.g. new Date('2030-01-01T00:00:00Z')");
    }
    return { key: null, at };
  },
  start(_host, _args, _step, p) {
    return { record: p.at, wait: undefined, effect: { e: 'timer', at: p.at } };
  },
  settle() {
    return undefined;
  },
});
