// The native interface: the only thing a native module may import from the
// runtime (besides errors and durations). A native is a `ctx` member whose
// effect on the world is journaled. The executor owns the single call path
// (take a step, replay or start, record, park, settle); a native only says
// what its call means:
//
//   prepare  validate arguments, return the determinism key (live and replay)
//   start    live only: do the call, say what to record, whether it completes
//            now (inline result) or waits (and on what kernel effect)
//   restore  replay only: rebuild the wait state of a call the journal shows
//            as parked (the same state `start` returned)
//   settle   turn a successful resolution (or an inline result) into the
//            script's value, or throw to reject; runs identically live and
//            on replay (failed resolutions reject with the recorded error)
//   accepts  mailbox-driven waits: does this wait take this message?
//
// Nothing in here may read the clock, randomness or I/O except in `start`,
// which only runs live and whose outcome is recorded.

import type { ChildSpec, Effect, Pid } from '../runtime/protocol.js';

export type { ApiRequest, ChildSpec, Pid } from '../runtime/protocol.js';

/** A kernel effect as a native asks for it; the executor adds the step. */
export type EffectRequest = DistributiveOmit<Extract<Effect, { step: number }>, 'step'>;
/** Fire-and-forget kernel work (links, signals, names); no step, no resolution. */
export type Notice = Exclude<Effect, { step: number }>;

type DistributiveOmit<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;

/** A message as a receive sees it. */
export interface Delivered {
  id: number;
  from: Pid;
  /** The decoded message (offered to `accepts`). */
  msg: unknown;
  /** The message's msgpack bytes (what gets journaled). */
  data: Uint8Array;
}

/** What the executor offers a native while it runs. */
export interface NativeHost {
  readonly pid: Pid;
  readonly run: number;
  /** Absolute path of the running script (relative spawns resolve against its directory). */
  readonly script: string;
  /** True while the process re-executes recorded history: no effects, no output. */
  readonly replaying: boolean;
  /** True inside an onQuery handler: recording natives must refuse. */
  readonly querying: boolean;

  /** Wall clock in ms. Only meaningful in `start` (live), where its use is recorded. */
  clock(): number;
  encode(value: unknown, what: string): Uint8Array;
  decode(bytes: Uint8Array): unknown;

  /** Live: route a message (pid or registered name). */
  send(to: string, data: Uint8Array): void;
  /** Live: remove and return the first mailbox message `match` accepts, in arrival order. */
  take(match: ((msg: unknown) => boolean) | undefined): Delivered | undefined;
  /** Live: add a message from the system to the process's own mailbox (timer fired). */
  mailSelf(msg: unknown): void;
  /** Registered name lookup on this thread's replica of the name table. */
  whereis(name: string): Pid | undefined;
  /** Record that this process now owns / gave up a name (replica update; the kernel arbitrates). */
  nameChanged(name: string, owner: Pid | null): void;
  /** Live: kernel work with no resolution. */
  notify(notice: Notice): void;
  /**
   * Live: start a child with a pid this thread allocates, so the call returns
   * it at once; the kernel learns of the child from the slice's report, before
   * any mail the slice sends it. Null when the thread has no pid to give (the
   * kernel allocates it then, through an effect).
   */
  spawnHere(step: number, child: ChildSpec): Pid | null;
  /** Process-local state natives share across calls (named timers, trap flag). */
  readonly locals: ProcessLocals;
  /** End the process now with `reason`. */
  exit(reason: unknown): never;
  /**
   * End this run now; the process goes on as its next run with these (msgpack)
   * arguments. `dropHistory`: a server snapshot (the state is in the arguments),
   * so the earlier runs' rows are deleted in the same commit.
   */
  continueAsNew(args: Uint8Array, opts?: { dropHistory?: boolean }): never;
  /**
   * The process's `ctx`, for natives built from other natives (serve, call):
   * every call they make goes through the one call path, takes its own step
   * and is journaled and replayed like a call from the script.
   */
  readonly ctx: object;
  /** The start arguments (without a snapshot). */
  readonly args: readonly unknown[];
  /** The state a server's last snapshot left, when this run started from one. */
  readonly snapshot: { state: unknown } | undefined;
  /** Live: a formatted log line, printed once its round is committed. */
  emitLog(line: string): void;
  /** Say that work started on this thread will end with a resolveLocal (keeps the process in memory). */
  beginLocal(): void;
  /** Queue a resolution for `step` of this process, produced in this thread (step(name, fn) finishing). */
  resolveLocal(step: number, ok: boolean, value: unknown): void;
  /**
   * Settle a waiting call from the script's own progress, bypassing `settle`
   * (withTimeout's fn finished first). Not recorded: replay reproduces it.
   */
  complete(step: number, ok: boolean, value: unknown): void;
  /** Drop a waiting call without settling it (a named timer replaced or cancelled). */
  cancelStep(step: number): boolean;
  /** Reject every pending call started inside `scope` (withTimeout), recording nothing new. */
  cancelScope(scope: object, reason: Error): void;
  /** The withTimeout scope the current call runs in, if any. */
  currentScope(): object | undefined;
  /** Run `fn` with `scope` as the current scope for every native it calls. */
  withinScope<T>(scope: object, fn: () => T): T;
}

export interface ProcessLocals {
  /** Named timers: name → step of the startTimer call that armed it. */
  timers: Map<string, number>;
  /** Named timers: name → when it fires (ms since the epoch, as recorded), so a server's snapshot can carry it to the next run. */
  timerAt: Map<string, number>;
  trapExit: boolean;
  /** Last message received (kept for the crash record). */
  lastMessage: Uint8Array | null;
  /** Query handlers registered with onQuery. */
  queries: Map<string, (...args: unknown[]) => unknown>;
}

/** What a live call did. */
export interface Start<S = unknown> {
  /** Native-specific data journaled with the command (returned to `restore` on replay). */
  record?: unknown;
  /** The call completed now: `result` (through `settle`) is its value, or `error` its failure. */
  done?: boolean;
  result?: unknown;
  /** With `done`: the call failed with this error (recorded, rethrown on replay). */
  error?: import('../runtime/errors.js').ErrorData;
  /** The call waits; this state is handed to `settle`/`accepts` later. */
  wait?: S;
  /** Kernel work that will resolve this step. */
  effect?: EffectRequest;
}

/** What `prepare` returns: the determinism key plus anything `start`/`restore` want precomputed. */
export interface Prepared {
  /** Compared on replay with the recorded key (a step's name, a request's method and URL). */
  key?: string | null;
}

export interface NativeDef<A extends unknown[] = any[], S = any, P extends Prepared = any> {
  /** The ctx member name (also the journal's name for the command). */
  readonly name: string;
  /**
   * 'wait': returns a promise. 'sync': returns a value at once. 'background':
   * returns at once but keeps a wait open (a named timer) whose resolution is
   * handled by `settle` without a caller to return to.
   */
  readonly kind: 'wait' | 'sync' | 'background';
  /**
   * False for natives that take no step and record nothing (log, trapExit,
   * onQuery): their `start` runs live *and* on replay, and must itself stay
   * quiet while `host.replaying`. Default true.
   */
  readonly records?: boolean;
  /** May run inside onQuery (reads only). */
  readonly readOnly?: boolean;
  /**
   * Its resolution is decided by the journal alone, whatever happens on the
   * node: the kernel journals it (callApi's result) or it can end only one
   * way (a timer fires). A round whose every input is such a resolution and
   * whose every command parked is rebuilt identically by replay from the rows
   * before it, so a request it issues need not wait for the round's own
   * commit (see RoundOut.pure). Default false: a message taken, a value read
   * inline (now, random, step) or a race (receive with a timeout) is not.
   */
  readonly settledByJournal?: boolean;
  /**
   * A marker (patched, deprecatePatch): a 'sync' call that takes no step and
   * that a history recorded before the script made it does not have. Live it
   * records like any sync native, under `journalName` (default: `name`), at
   * the step of the next command. On replay it takes the marker recorded at
   * this point with the same journal name and key, if there is one (its
   * result goes through `settle`); if there is none, the call returns
   * `absent`, records nothing, and is not a divergence. A recorded marker the
   * script no longer asks for is skipped. Markers sharing a `journalName`
   * answer for each other (deprecatePatch(id) takes what patched(id) left).
   */
  readonly marker?: { readonly journalName?: string; readonly absent: unknown };
  prepare?(host: NativeHost, args: A): P;
  start(host: NativeHost, args: A, step: number, prepared: P): Start<S>;
  restore?(host: NativeHost, args: A, record: unknown, step: number, prepared: P): S;
  settle?(host: NativeHost, state: S | undefined, value: unknown): unknown;
  accepts?(host: NativeHost, state: S, msg: Delivered): boolean;
  /** The call just parked (live and on replay): start what runs alongside it (withTimeout's fn). */
  parked?(host: NativeHost, state: S, step: number): void;
  /** Replay reached the end with this call still waiting: pick up work only the live side can do. */
  resume?(host: NativeHost, state: S, step: number): void;
  /** The call was cancelled (withTimeout): undo what only the live side knows. */
  cancel?(host: NativeHost, state: S, step: number): void;
}

/** Identity helper that keeps a native's argument and state types. */
export function defineNative<A extends unknown[], S = undefined, P extends Prepared = Prepared>(def: NativeDef<A, S, P>): NativeDef<A, S, P> {
  return Object.freeze(def);
}

// ───────────── helpers natives share (validation at the boundary) ─────────────

export { parseDuration } from '../runtime/config/duration.js';
export { BeamlineError, ErrorCodes, TimeoutError, toErrorData, revive } from '../runtime/errors.js';
export { SNAPSHOT_ARG } from '../runtime/protocol.js';
export { looksLikePid } from '../runtime/pid.js';
import { BeamlineError, ErrorCodes } from '../runtime/errors.js';

/** A one-line argument error naming the native and the argument. */
export function argError(native: string, what: string, got: unknown, fix: string): BeamlineError {
  let shown: string;
  try {
    shown = typeof got === 'function' ? 'a function' : JSON.stringify(got) ?? String(got);
  } catch {
    shown = String(got);
  }
  if (shown.length > 80) shown = `${shown.slice(0, 77)}...`;
  return new BeamlineError(ErrorCodes.ARG_INVALID, `${native}: ${what} (got ${shown}); ${fix}`, { native, value: shown });
}

/** Accept an options object with only `allowed` keys (undefined means {}). */
export function optionsOf(native: string, value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw argError(native, 'options must be an object', value, `pass { ${allowed.join(', ')} }`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw argError(native, `unknown option '${key}'`, value, `allowed options: ${allowed.join(', ')}`);
  }
  return value as Record<string, unknown>;
}

/** A pid or registered name. */
export function targetOf(native: string, value: unknown): string {
  if (typeof value === 'string' && value.length > 0) return value;
  throw argError(native, 'target must be a pid or a registered name', value, 'pass ctx.self, a pid returned by spawn, or a name');
}
