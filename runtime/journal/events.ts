// The journal event union: every durable state change beamline makes, defined
// once. The kernel collects events as things happen and hands them to the
// store in batches (group commit); the store applies each one with an
// exhaustive switch. A new kind of durable fact means a new member here, a
// new case in the store, and — when the tables change — a new SCHEMA_VERSION
// with a migration. A journal written by a newer version is refused, never
// rewritten.

import type { Pid } from '../protocol.js';

/** Bump when the tables change. Version 1 is the first released schema. */
export const SCHEMA_VERSION = 1;
/** Written into `meta.app`, so a foreign SQLite file is recognised and refused. */
export const JOURNAL_APP = 'beamline';

export type JournalEvent =
  // ── processes ──
  | ProcessSpawned
  | ProcessRound
  | ProcessExited
  | ProcessRestarted
  | ProcessPaged
  | HistoryPruned
  // ── mailboxes ──
  | MailPut
  | MailTaken
  | MailRewritten
  | MailDropped
  | MailRemote
  | InboxTaken
  // ── effects (timers, calls, spawns awaiting their resolution) ──
  | EffectArmed
  | EffectDone
  | EffectCleared
  // ── links, monitors, names ──
  | LinkAdded
  | LinkRemoved
  | MonitorAdded
  | MonitorRemoved
  | NameRegistered
  | NameUnregistered
  // ── supervision ──
  | SupervisorState
  // ── node ──
  | MetaSet;

export interface ProcessSpawned {
  type: 'process.spawned';
  pid: Pid;
  run: number;
  at: number;
  /** Absolute path of the script module. */
  script: string;
  /** msgpack of the argument array. */
  args: Uint8Array;
  parent: Pid | null;
  /** Started by `runtime spawn` (a root the CLI waits for and may resume). */
  root: boolean;
  /** Supervisor child reference (`<supervisor pid>/<child id>`), when supervised. */
  sup: string | null;
  /** Set when the process also exited before this was committed (one row instead of two writes). */
  exit?: { at: number; reason: Uint8Array; result: Uint8Array | null; lastMessage: Uint8Array | null };
}

/** One round of one process (see RoundRecord in protocol.ts). */
export interface ProcessRound {
  type: 'process.round';
  pid: Pid;
  run: number;
  at: number;
  /** msgpack of RoundRecord. */
  row: Uint8Array;
}

export interface ProcessExited {
  type: 'process.exited';
  pid: Pid;
  run: number;
  at: number;
  /** msgpack of the exit reason ('normal', 'killed', ErrorData, any exit(reason) value). */
  reason: Uint8Array;
  /** msgpack of the returned value on a normal exit. */
  result: Uint8Array | null;
  /** msgpack of the message being handled when it crashed. */
  lastMessage: Uint8Array | null;
}

/**
 * The kernel paged a live process's record out of memory (`out: true`: it
 * waits for nothing but mail, and its rows are all committed) or read it
 * back (`out: false`, committed no later than anything it does next). A
 * boot leaves a process that is still out where it is, instead of
 * rebuilding it: nothing has happened to it since it went.
 */
export interface ProcessPaged {
  type: 'process.paged';
  pid: Pid;
  out: boolean;
}

/** The process's next run began: same pid, same mailbox (a supervisor restart, or continueAsNew with `args`). */
export interface ProcessRestarted {
  type: 'process.restarted';
  pid: Pid;
  run: number;
  at: number;
  /** msgpack of new start arguments (continueAsNew); absent: the same ones. */
  args?: Uint8Array;
  /**
   * A server's snapshot (the state is in `args`): the rows of the earlier runs
   * are deleted in the same transaction, so the journal holds the state and
   * the history since it, not the process's whole life.
   */
  dropHistory?: boolean;
}

/** Forget the history of what ended before `before` (ms since the epoch): see `runtime prune`. */
export interface HistoryPruned {
  type: 'history.pruned';
  before: number;
}

export interface MailPut {
  type: 'mail.put';
  id: number;
  to: Pid;
  from: Pid;
  /** 0 message, 1 unhandled exit signal. */
  kind: number;
  data: Uint8Array;
}

export interface MailTaken {
  type: 'mail.taken';
  id: number;
}

/** A signal entry became a message (the target traps exits). */
export interface MailRewritten {
  type: 'mail.rewritten';
  id: number;
  kind: number;
  data: Uint8Array;
}

/**
 * Mail for a process this node does not own (several nodes): it waits in the
 * store's inbox until the owner moves it into the process's mailbox. `to` is
 * a pid or a registered name (resolved by the owner); `kind` is a MailKind,
 * or a RemoteNotice kind (links and monitors, handled by the owner's kernel).
 * Only the PostgreSQL store has an inbox: one node on SQLite owns everything.
 */
export interface MailRemote {
  type: 'mail.remote';
  to: string;
  from: Pid;
  kind: number;
  data: Uint8Array;
}

/** An inbox entry was taken by its owner (committed with the mail.put that took it). */
export interface InboxTaken {
  type: 'inbox.taken';
  seq: number;
}

/** The process is gone for good: its unconsumed mailbox goes with it. */
export interface MailDropped {
  type: 'mail.dropped';
  pid: Pid;
}

export interface EffectArmed {
  type: 'effect.armed';
  pid: Pid;
  run: number;
  step: number;
  /** 'timer' | 'http' | 'spawn' */
  kind: string;
  /** When a timer fires (ms since epoch); null for other kinds. */
  at: number | null;
  /** msgpack of the effect's request (for re-issue after a crash). */
  data: Uint8Array;
  /** Set when the effect completed as it started (a spawn): its result, awaiting consumption. */
  done?: { ok: boolean; value: Uint8Array | null };
}

/** The effect completed; its result waits for the process to consume it. */
export interface EffectDone {
  type: 'effect.done';
  pid: Pid;
  run: number;
  step: number;
  ok: boolean;
  value: Uint8Array | null;
}

/** The effect was consumed (its resolution is in a round row) or cancelled. */
export interface EffectCleared {
  type: 'effect.cleared';
  pid: Pid;
  run: number;
  /** null: every effect of that run. */
  step: number | null;
}

export interface LinkAdded {
  type: 'link.added';
  a: Pid;
  b: Pid;
}

export interface LinkRemoved {
  type: 'link.removed';
  a: Pid;
  b: Pid;
}

export interface MonitorAdded {
  type: 'monitor.added';
  ref: string;
  watcher: Pid;
  target: Pid;
}

export interface MonitorRemoved {
  type: 'monitor.removed';
  ref: string;
}

export interface NameRegistered {
  type: 'name.registered';
  name: string;
  pid: Pid;
}

export interface NameUnregistered {
  type: 'name.unregistered';
  name: string;
}

/** The whole durable state of one supervisor (spec, children, restart history). */
export interface SupervisorState {
  type: 'supervisor.state';
  /** The supervisor's pid. */
  pid: Pid;
  /** msgpack of the supervisor's state; null when it is gone. */
  data: Uint8Array | null;
}

export interface MetaSet {
  type: 'meta.set';
  key: string;
  value: string;
}

/** Compile-time exhaustiveness guard for switches over the union. */
export function assertNever(value: never): never {
  throw new Error(`unhandled journal event: ${JSON.stringify(value)}`);
}
