// log(...args): a log line. Not a step (adding or removing a log line does
// not change a process's history), silent while replaying, and printed by
// the kernel only once the round that wrote it is committed — so a line is
// never printed twice across a crash and resume.

import { formatWithOptions } from 'node:util';
import { defineNative } from './api.js';

export default defineNative<unknown[]>({
  name: 'log',
  kind: 'sync',
  records: false,
  readOnly: true,
  start(host, args) {
    if (!host.replaying) host.emitLog(formatWithOptions({ colors: false, depth: 6, breakLength: Infinity }, ...args));
    return { done: true };
  },
});
