// serve({state, handle, snapshot}): the server behaviour (OTP's gen_server).
//
// The runtime owns the receive loop: each message goes to handle(msg, state),
// whose result is the new state — or, for a call ({type: 'call', from, body}),
// `{state, reply}`, the reply going to `from`. The loop is built from other
// natives (receive, send, continueAsNew), each a journaled step like a call
// from the script, so a handler may use every native and replay stays exact.
//
// Snapshots. A plain loop's run grows by a row per message for ever, and a
// recovery replays all of it. Here, after `every` handled messages, or
// `interval` after the first message handled since the last snapshot
// (whichever comes first), the loop ends its run and goes on as the next one with the state
// as its start argument (continueAsNew), and the earlier runs' rows are
// deleted in the same commit. Recovery is: the state of the last snapshot,
// plus the replay of at most `every` messages since.
//
// Exactly-once across that boundary rests on what continueAsNew already
// guarantees: a message is taken from the mailbox in the round that handles
// it (same commit), so a message handled before a snapshot is gone from the
// mailbox when the snapshot commits, and one handled after it is in the new
// run's history; messages that arrived but were not handled stay in the
// mailbox, which the next run keeps. A snapshot happens only between two
// messages, never while a handler waits, so a callApi or step inside a
// handler is recorded (and keyed by pid, run, step) in exactly one run.
//
// What a run re-executes: the script's code before `ctx.serve(...)` runs at
// every run (first start, restart, snapshot); the `state` it passes is used
// only when there is no snapshot (first start, or a supervisor restart).

import { argError, BeamlineError, ErrorCodes, optionsOf, parseDuration, SNAPSHOT_ARG, defineNative, type NativeHost } from './api.js';

/** Handled messages between two snapshots (measured: see README, "server" bench). */
export const SNAPSHOT_EVERY = 1000;
/** Longest a handled message waits for its snapshot (so a quiet server's history is short before it hibernates). */
export const SNAPSHOT_INTERVAL_MS = 5000;
/** The named timer serve keeps for `interval` (its message never reaches handle). */
export const SERVE_TIMER = '@beamline/serve';

interface Spec {
  state: unknown;
  handle: (msg: unknown, state: unknown) => unknown;
  /** onQuery handlers that read the current state: name → (state, ...args) => answer. */
  queries: Record<string, (state: unknown, ...args: unknown[]) => unknown>;
  every: number;
  intervalMs: number;
}

/** What serve uses of ctx (calls through it take steps like the script's own). */
interface LoopCtx {
  onQuery(name: string, fn: (...args: unknown[]) => unknown): void;
  receive(opts?: { timeout?: number }): Promise<unknown>;
  send(to: string, msg: unknown): void;
  startTimer(name: string, ms: number): void;
  now(): number;
}

/** What a snapshot holds: the state, and the named timers running at the time, with their fire times. */
interface Snapshot {
  state: unknown;
  timers?: Array<[string, number]>;
}

export default defineNative<[spec: unknown]>({
  name: 'serve',
  kind: 'wait',
  // serve itself takes no step: the natives it calls do.
  records: false,
  start(host, [spec]) {
    return { done: true, result: loop(host, parseSpec(spec)) };
  },
});

function parseSpec(spec: unknown): Spec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw argError('serve', 'expected { state, handle }', spec, 'pass ctx.serve({ state: initial, handle: (msg, state) => newState })');
  }
  const o = optionsOf('serve', spec, ['state', 'handle', 'snapshot', 'queries']);
  if (typeof o.handle !== 'function') {
    throw argError('serve', 'handle must be a function', o.handle, 'pass handle: (msg, state) => newState, or { state, reply } for a call');
  }
  const snap = optionsOf('serve: snapshot', o.snapshot, ['every', 'interval']);
  const every = snap.every ?? SNAPSHOT_EVERY;
  if (typeof every !== 'number' || !Number.isInteger(every) || every < 1) {
    throw argError('serve', 'snapshot.every must be a positive integer', every, `pass a count of messages (default ${SNAPSHOT_EVERY})`);
  }
  const intervalMs = snap.interval === undefined ? SNAPSHOT_INTERVAL_MS : parseDuration(snap.interval, 'serve: snapshot.interval');
  const queries = optionsOf('serve: queries', o.queries, Object.keys((o.queries ?? {}) as object));
  for (const [name, fn] of Object.entries(queries)) {
    if (typeof fn !== 'function') throw argError('serve', `queries.${name} must be a function`, fn, `pass queries: { ${name}: (state) => state }`);
  }
  return { state: o.state, handle: o.handle as Spec['handle'], queries: queries as Spec['queries'], every, intervalMs };
}

async function loop(host: NativeHost, spec: Spec): Promise<never> {
  const ctx = host.ctx as LoopCtx;
  const snap = host.snapshot as Snapshot | undefined;
  let state = snap !== undefined ? snap.state : spec.state;
  if (snap === undefined) checkState(host, state, undefined);
  // Named timers the last run left running go on in this one, at their times.
  if (snap?.timers !== undefined && snap.timers.length > 0) {
    const now = ctx.now();
    for (const [name, at] of snap.timers) ctx.startTimer(name, Math.max(0, at - now));
  }
  for (const [name, fn] of Object.entries(spec.queries)) ctx.onQuery(name, (...args) => fn(state, ...args));
  let handled = 0;
  for (;;) {
    const msg = await ctx.receive();
    if (isServeTimer(msg)) {
      if (handled > 0) snapshot(host, state);
      continue;
    }
    let out: unknown;
    try {
      out = await spec.handle(msg, state);
    } catch (err) {
      throw handleFailed(host, msg, err);
    }
    if (isCall(msg) && isReply(out)) {
      reply(ctx, msg, out.reply);
      out = out.state;
    }
    checkState(host, out, msg);
    state = out;
    if (++handled >= spec.every) snapshot(host, state);
    // One timer per snapshot, not per message: a message waits at most `interval` for its snapshot.
    if (handled === 1) ctx.startTimer(SERVE_TIMER, spec.intervalMs);
  }
}

/**
 * End this run; the next starts from `state` (continueAsNew with the history
 * dropped). The run's effects end with it, so named timers still running are
 * carried in the snapshot and armed again by the next run. Never returns.
 */
function snapshot(host: NativeHost, state: unknown): never {
  const timers: Array<[string, number]> = [];
  for (const [name, at] of host.locals.timerAt) if (name !== SERVE_TIMER) timers.push([name, at]);
  const snap: Snapshot = timers.length > 0 ? { state, timers } : { state };
  const args = host.encode([...host.args, { [SNAPSHOT_ARG]: snap }], `serve: snapshot of process ${host.pid}`);
  return host.continueAsNew(args, { dropHistory: true });
}

function isServeTimer(msg: unknown): boolean {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'timer' && (msg as { name?: unknown }).name === SERVE_TIMER;
}

/** The state must survive a snapshot: refuse it at the message that produced it, not later. */
function checkState(host: NativeHost, state: unknown, msg: unknown): void {
  try {
    host.encode(state, 'state');
  } catch (err) {
    const after = msg === undefined ? 'as its initial state' : `after handling ${shortJson(msg)}`;
    throw new BeamlineError(
      ErrorCodes.UNSERIALIZABLE,
      `serve: process ${host.pid}: handle returned a state that cannot be encoded ${after} (${(err as Error).message}); keep the state plain data (no functions, symbols or class instances)`,
      { pid: host.pid, cause: err },
    );
  }
}

function handleFailed(host: NativeHost, msg: unknown, err: unknown): unknown {
  const e = err as Error | undefined;
  // ctx.exit() inside a handler, or a replay divergence: already the process's end.
  if (e?.name === 'ProcessExit' || e?.name === 'NonDeterminismError') return err;
  const what = e instanceof Error ? `${e.name}: ${e.message}` : shortJson(err);
  const wrapped = new BeamlineError(ErrorCodes.HANDLE_FAILED, `serve: process ${host.pid}: handle threw while handling ${shortJson(msg)}: ${what}`, {
    pid: host.pid,
    cause: err,
  });
  if (e instanceof Error && typeof e.stack === 'string') wrapped.stack = `${wrapped.name}: ${wrapped.message}\n  caused by ${e.stack}`;
  return wrapped;
}

export interface CallMsg {
  type: 'call';
  from: string;
  body: unknown;
  /** Set by ctx.call: the reply is tagged with it. The gateway sets none and takes the first message sent to `from`. */
  ref?: string;
}

export function isCall(msg: unknown): msg is CallMsg {
  return typeof msg === 'object' && msg !== null && (msg as CallMsg).type === 'call' && typeof (msg as CallMsg).from === 'string';
}

function isReply(out: unknown): out is { state: unknown; reply: unknown } {
  return typeof out === 'object' && out !== null && Object.hasOwn(out, 'reply') && Object.hasOwn(out, 'state');
}

/** Answer a call: tagged with its ref for ctx.call, as is for the gateway. */
export function reply(ctx: { send(to: string, msg: unknown): void }, call: CallMsg, value: unknown): void {
  if (typeof call.ref === 'string') ctx.send(call.from, { type: 'reply', ref: call.ref, reply: value });
  else ctx.send(call.from, value);
}

function shortJson(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}
