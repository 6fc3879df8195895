// call(to, body, {timeout}) and reply(call, value): OTP's gen_server:call and
// gen_server:reply.
//
// call monitors the target for the duration (so its death rejects at once
// instead of waiting out the timeout), sends {type: 'call', from, ref, body}
// and takes the first message tagged with `ref`: {type: 'reply', ref, reply}
// from a server (ctx.serve answers so), or the monitor's 'down'. Built from
// monitor, send, receive and demonitor, each a journaled step, so a call
// replays exactly. The ref carries the run, because steps (and so monitor
// refs) start again at 0 in each run: a late reply from an earlier run's call
// can never be taken for this one's.

import { argError, BeamlineError, ErrorCodes, optionsOf, parseDuration, targetOf, TimeoutError, defineNative } from './api.js';
import { isCall, reply as replyTo, type CallMsg } from './serve.js';

/** Like OTP's gen_server:call/2. */
export const CALL_TIMEOUT_MS = 5000;

interface CallCtx {
  self: string;
  monitor(to: string): string;
  demonitor(ref: string): true;
  send(to: string, msg: unknown): void;
  receive(opts?: { match?: (m: unknown) => boolean; timeout?: number }): Promise<unknown>;
}

interface Tagged {
  type?: unknown;
  ref?: unknown;
  reply?: unknown;
  reason?: unknown;
}

export const call = defineNative<[to: unknown, body: unknown, opts?: unknown]>({
  name: 'call',
  kind: 'wait',
  // call takes no step of its own: the natives it calls do.
  records: false,
  start(host, [to, body, opts]) {
    const target = targetOf('call', to);
    const o = optionsOf('call', opts, ['timeout']);
    let timeoutMs: number | undefined = CALL_TIMEOUT_MS;
    if (o.timeout === 'infinity' || o.timeout === Infinity) timeoutMs = undefined;
    else if (o.timeout !== undefined) timeoutMs = parseDuration(o.timeout, 'call: timeout');
    return { done: true, result: run(host.ctx as CallCtx, host.pid, host.run, target, body, timeoutMs) };
  },
});

async function run(ctx: CallCtx, self: string, runNo: number, to: string, body: unknown, timeoutMs: number | undefined): Promise<unknown> {
  const mref = ctx.monitor(to);
  const ref = `${mref}@${runNo}`;
  ctx.send(to, { type: 'call', from: self, ref, body });
  let got: Tagged;
  try {
    got = (await ctx.receive({
      match: (m) => {
        const t = m as Tagged;
        return typeof t === 'object' && t !== null && ((t.type === 'reply' && t.ref === ref) || (t.type === 'down' && t.ref === mref));
      },
      timeout: timeoutMs,
    })) as Tagged;
  } catch (err) {
    if ((err as Error)?.name !== 'TimeoutError') throw err;
    ctx.demonitor(mref);
    throw new TimeoutError(`call to ${to} got no reply within ${timeoutMs} ms`, { pid: self, to });
  }
  if (got.type === 'down') {
    const reason = got.reason === 'noproc' ? 'no such process' : `it exited with ${shortJson(got.reason)}`;
    throw new BeamlineError(ErrorCodes.NOPROC, `call to ${to} failed: ${reason} before replying`, { pid: self, to, reason: got.reason });
  }
  ctx.demonitor(mref);
  // The target may have ended right after replying: take its 'down' if it is
  // already here, so it does not wait in the mailbox for nobody.
  await ctx.receive({ match: (m) => (m as Tagged)?.type === 'down' && (m as Tagged).ref === mref, timeout: 0 }).catch(() => undefined);
  return got.reply;
}

export const reply = defineNative<[call: unknown, value: unknown]>({
  name: 'reply',
  kind: 'sync',
  // The send it makes is the step.
  records: false,
  start(host, [msg, value]) {
    if (!isCall(msg)) {
      throw argError('reply', 'expected the call message ({type: "call", from, ...})', msg, 'pass the message your receive returned');
    }
    replyTo(host.ctx as CallCtx, msg as CallMsg, value);
    return { done: true, result: true };
  },
});

function shortJson(value: unknown): string {
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 120 ? `${text.slice(0, 117)}...` : text;
  } catch {
    return String(value);
  }
}
