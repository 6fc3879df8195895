// send(to, msg): asynchronous send to a pid or registered name; never blocks.
// The message is encoded here, at the call, so an unencodable message throws
// in the sender (on replay too, since `prepare` runs on both paths) and the
// receiver always gets its own copy.

import { defineNative, targetOf } from './api.js';

interface Prep {
  key: null;
  to: string;
  data: Uint8Array;
}

export default defineNative<[to: unknown, msg: unknown], undefined, Prep>({
  name: 'send',
  kind: 'sync',
  prepare(host, [to, msg]) {
    const target = targetOf('send', to);
    return { key: null, to: target, data: host.encode(msg, 'send: message') };
  },
  start(host, _args, _step, p) {
    host.send(p.to, p.data);
    return { record: p.to, done: true };
  },
});
