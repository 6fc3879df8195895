// continueAsNew(...args): end this run and go on as the next one, with new
// arguments: same pid, same mailbox, links, monitors and names; ctx.run + 1.
// The next run starts with an empty history, so a process that lives for
// months (a server loop, an entity) can keep what it must recover cheap:
// call it every N messages with the state as arguments. Not an exit: links,
// monitors and the supervisor see nothing.

import { defineNative } from './api.js';

export default defineNative<unknown[]>({
  name: 'continueAsNew',
  kind: 'sync',
  records: false,
  start(host, args): never {
    return host.continueAsNew(host.encode(args, 'continueAsNew: args'));
  },
});
