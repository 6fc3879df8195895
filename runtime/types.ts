// Types for script authors: `import type { Ctx } from 'beamline'`.
// The members and their names are the contract in DESIGN.md.

import type { Pid } from './protocol.js';

export type { Pid };

/** Milliseconds, or a string like '250ms', '5s', '1h30m'. */
export type Duration = number | string;

export interface CallApiRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Per attempt (default 30s). */
  timeout?: Duration;
  /** Extra attempts on network errors, 5xx and 429 (default 3). */
  retries?: number;
}

export interface CallApiResponse<T = unknown> {
  status: number;
  headers: Record<string, string>;
  /** Parsed when the response is JSON; a string for text; bytes otherwise. */
  body: T;
}

export interface ReceiveOptions<T> {
  /** Take the first message (in arrival order) for which this returns true. */
  match?: (msg: any) => boolean;
  /** Reject with a TimeoutError after this long. */
  timeout?: Duration;
  /** Only for typing: the message type you expect. */
  _type?: T;
}

export interface SpawnOptions {
  /** Link the child to the caller. */
  link?: boolean;
  /** Monitor the child: a {type: 'down', ref, pid, reason} message when it ends. */
  monitor?: boolean;
  /** Register the child under this name. */
  name?: string;
}

/** Exit signal delivered as a message to a process that traps exits. */
export interface ExitMessage {
  type: 'exit';
  from: Pid;
  reason: unknown;
}

/** Monitor notification. */
export interface DownMessage {
  type: 'down';
  ref: string;
  pid: Pid;
  reason: unknown;
}

/** Named timer fired. */
export interface TimerMessage {
  type: 'timer';
  name: string;
}

/** What the HTTP gateway delivers: answer with ctx.send(msg.from, reply). */
export interface CallMessage<B = unknown> {
  type: 'call';
  from: string;
  body: B;
  /** Set by ctx.call (answer with ctx.reply, or return {state, reply} from a server's handle). */
  ref?: string;
}

export interface Ctx {
  /** This process's pid. */
  readonly self: Pid;
  /** The arguments it was started with. */
  readonly args: readonly unknown[];
  /** Run number: 1 on first start, +1 per supervisor restart, per continueAsNew and per server snapshot (ctx.serve). */
  readonly run: number;

  send(to: Pid | string, msg: unknown): void;
  receive<T = any>(opts?: ReceiveOptions<T>): Promise<T>;
  sleep(d: Duration): Promise<void>;
  sleepUntil(date: Date | number | string): Promise<void>;
  startTimer(name: string, d: Duration): void;
  /** True when a running timer of that name was cancelled. */
  cancelTimer(name: string): boolean;
  withTimeout<T>(d: Duration, fn: () => Promise<T> | T): Promise<T>;
  callApi<T = any>(req: CallApiRequest): Promise<CallApiResponse<T>>;
  /**
   * A reference to a secret (`{{secret:NAME}}`) for callApi's url, headers or
   * body; the kernel puts the value in at send time (BEAMLINE_SECRET_<NAME> or
   * --secrets FILE). Only the reference is ever journaled.
   */
  secret(name: string): string;
  spawn(script: string, args?: unknown[], opts?: SpawnOptions): Promise<Pid>;
  /** Start a dynamic child of a simple_one_for_one supervisor (pid or name). */
  startChild(supervisor: string, args?: unknown[]): Promise<Pid>;
  link(pid: Pid): true;
  unlink(pid: Pid): true;
  /** Returns the monitor's ref. */
  monitor(pid: Pid): string;
  demonitor(ref: string): true;
  /** Returns the previous setting. */
  trapExit(on: boolean): boolean;
  exit(reason?: unknown): never;
  /** End this run and go on as the next one with `args`: same pid, mailbox, links, monitors and names. */
  continueAsNew(...args: unknown[]): never;
  kill(pid: Pid | string, reason?: unknown): true;
  register(name: string): true;
  unregister(name: string): boolean;
  whereis(name: string): Pid | undefined;
  step<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
  now(): number;
  random(): number;
  uuid(): string;
  /** True where this point runs under code that has patch `id`, false where the history was recorded here before it (recorded; takes no step). */
  patched(id: string): boolean;
  /** Stage two of a patch: the new branch only; leaves the same marker as patched(id), accepts a history with or without it. */
  deprecatePatch(id: string): void;
  log(...args: unknown[]): void;
  onQuery(name: string, fn: (...args: any[]) => unknown): void;
  /**
   * The server behaviour (OTP's gen_server): the runtime runs the receive
   * loop, hands each message to `handle(msg, state)` and keeps what it
   * returns as the new state — or, for a call, `{state, reply}`, the reply
   * going to the caller. The state is snapshotted durably (every
   * `snapshot.every` messages, default 1000, or `snapshot.interval` after the first message it covers,
   * default 5s) and the history before it dropped. Never resolves: stop with
   * `ctx.exit(reason)` inside `handle`.
   */
  serve<S>(spec: ServeSpec<S>): Promise<never>;
  /** Send `{type: 'call', from, ref, body}` and wait for the reply (default timeout 5s; the target's death rejects at once). */
  call<R = any>(to: Pid | string, body: unknown, opts?: { timeout?: Duration | 'infinity' }): Promise<R>;
  /** Answer a call message from a plain receive loop (ctx.serve does it for you). */
  reply(call: CallMessage, value: unknown): true;
}

export interface ServeSpec<S> {
  /** The initial state (used when there is no snapshot yet). Must be msgpack-encodable. */
  state: S;
  /** A new state, or `{ state, reply }` to answer a call message. May await any native. */
  handle(msg: any, state: S): S | { state: S; reply: unknown } | Promise<S | { state: S; reply: unknown }>;
  snapshot?: { every?: number; interval?: Duration };
  /** Read-only views of the state for `runtime query <pid> <name>`: name → (state, ...args) => answer. */
  queries?: Record<string, (state: S, ...args: any[]) => unknown>;
}

/** A process script's default export. */
export type ProcessScript<A extends unknown[] = any[], R = unknown> = (ctx: Ctx, ...args: A) => Promise<R> | R;
