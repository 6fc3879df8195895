// now(): the wall clock in ms, read once live and replayed from the journal.

import { defineNative } from './api.js';

export default defineNative<[]>({
  name: 'now',
  kind: 'sync',
  readOnly: false,
  start(host) {
    return { done: true, result: host.clock() };
  },
});
