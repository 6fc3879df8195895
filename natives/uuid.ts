// uuid(): a random RFC 4122 v4 id, drawn once live and replayed from the journal.

import { randomUUID } from 'node:crypto';
import { defineNative } from './api.js';

export default defineNative<[]>({
  name: 'uuid',
  kind: 'sync',
  start() {
    return { done: true, result: randomUUID() };
  },
});
