// receive({match, timeout}): selective receive in arrival order.
//
// Live, the mailbox is scanned at the call; a match completes inline (the
// message is recorded with the command). Otherwise the call waits: every
// later arrival is offered to it (`accepts`) until one matches or the
// timeout's timer resolves the step first. Whichever the executor records
// first wins, and replay follows the record.

import { argError, defineNative, optionsOf, parseDuration, TimeoutError, type Delivered } from './api.js';

type Match = (msg: unknown) => unknown;

interface Prep {
  key: null;
  match: Match | undefined;
  timeoutMs: number | undefined;
}

interface Wait {
  match: Match | undefined;
  timeoutMs: number | undefined;
}

/** What a resolution of a receive carries: the message, or null for a timeout. */
type Got = { id: number; from: string; data: Uint8Array } | null;

export default defineNative<[opts?: unknown], Wait, Prep>({
  name: 'receive',
  kind: 'wait',
  prepare(_host, [opts]) {
    const o = optionsOf('receive', opts, ['match', 'timeout']);
    if (o.match !== undefined && typeof o.match !== 'function') {
      throw argError('receive', 'match must be a function', o.match, 'pass match: (msg) => boolean');
    }
    let timeoutMs: number | undefined;
    if (o.timeout !== undefined && o.timeout !== 'infinity' && o.timeout !== Infinity) {
      timeoutMs = parseDuration(o.timeout, 'receive: timeout');
    }
    return { key: null, match: o.match as Match | undefined, timeoutMs };
  },
  start(host, _args, _step, p) {
    const got = host.take(p.match === undefined ? undefined : (m) => safeMatch(p.match!, m));
    if (got !== undefined) return { done: true, result: { id: got.id, from: got.from, data: got.data } satisfies Got };
    if (p.timeoutMs === 0) return { done: true, result: null };
    const wait = { match: p.match, timeoutMs: p.timeoutMs };
    if (p.timeoutMs === undefined) return { wait };
    return { wait, effect: { e: 'timer', at: host.clock() + p.timeoutMs }, record: p.timeoutMs };
  },
  restore(_host, _args, _record, _step, p) {
    return { match: p.match, timeoutMs: p.timeoutMs };
  },
  accepts(_host, wait, d: Delivered) {
    return wait.match === undefined || safeMatch(wait.match, d.msg);
  },
  settle(host, wait, value) {
    const got = value as Got | undefined;
    if (got === null || got === undefined) {
      throw new TimeoutError(`receive timed out after ${wait?.timeoutMs ?? 0} ms`, { pid: host.pid });
    }
    host.locals.lastMessage = got.data;
    return host.decode(got.data);
  },
});

// A match function that throws simply does not match (like a failing guard
// in an Erlang receive clause); it must not crash the receiver.
function safeMatch(match: Match, msg: unknown): boolean {
  try {
    return Boolean(match(msg));
  } catch {
    return false;
  }
}
