// random(): a float in [0, 1), drawn once live and replayed from the journal.

import { defineNative } from './api.js';

export default defineNative<[]>({
  name: 'random',
  kind: 'sync',
  start() {
    return { done: true, result: Math.random() };
  },
});
