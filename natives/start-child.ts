// startChild(supervisor, args): start a dynamic child of a simple_one_for_one
// supervisor (by its pid or registered name); the child runs the template's
// script with the template's args followed by `args`. Resolves to its pid.

import { argError, defineNative, targetOf } from './api.js';

export default defineNative<[sup: unknown, args?: unknown], undefined, { key: string; sup: string; args: Uint8Array }>({
  name: 'startChild',
  kind: 'wait',
  prepare(host, [sup, args]) {
    const ref = targetOf('startChild', sup);
    if (args !== undefined && !Array.isArray(args)) throw argError('startChild', 'args must be an array', args, "pass startChild('workers', [job])");
    return { key: ref, sup: ref, args: host.encode(args ?? [], 'startChild: args') };
  },
  start(_host, _args, _step, p) {
    return { record: p.sup, wait: undefined, effect: { e: 'startChild', sup: p.sup, args: p.args } };
  },
});
