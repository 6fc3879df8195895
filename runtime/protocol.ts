// Everything the kernel (main thread) and the executor (Piscina workers)
// say to each other, in one place. Both directions travel as one msgpack
// buffer per slice, transferred rather than cloned.
//
//   kernel ── SliceTask ──▶ worker      one Piscina task = one scheduler slice
//   kernel ◀─ SliceReport ─ worker      everything the slice did, in order
//
// The worker never touches the journal for writing: it returns what happened
// and the kernel appends it atomically (one report = one atomic append).
// The worker may *read* the journal (cold path: rebuild a process by replay),
// and the kernel only sends it a cold start once that process's history is
// committed.

/** A process identifier: `<node tag>.<serial>`, unique beyond one node. */
export type Pid = string;

/**
 * A server's snapshot travels as the last start argument of its next run:
 * `{ [SNAPSHOT_ARG]: { state } }`. The executor takes it off before the
 * script sees its arguments (ctx.args stay what the process was started with).
 */
export const SNAPSHOT_ARG = '@beamline/snapshot';

/** The snapshot at the end of a run's arguments, if any. */
export function snapshotOf(args: readonly unknown[]): { state: unknown } | undefined {
  const last = args[args.length - 1];
  if (typeof last !== 'object' || last === null || !Object.hasOwn(last, SNAPSHOT_ARG)) return undefined;
  const snap = (last as Record<string, unknown>)[SNAPSHOT_ARG];
  return typeof snap === 'object' && snap !== null && Object.hasOwn(snap, 'state') ? (snap as { state: unknown }) : undefined;
}

// ───────────────────────── kernel → worker ─────────────────────────

export interface SliceTask {
  /** Which pool slot (thread) this slice is for; routing key for the balancer. */
  slot: number;
  /**
   * Next message id this slot may allocate; ids step by ID_STRIDE. Each slot
   * owns the ids congruent to its number, so threads never collide and a
   * lost slice's ids (never stored) may simply be reused.
   */
  idNext: number;
  /**
   * Pid serials this slot may give children it spawns, [pidNext, pidEnd)
   * (empty: none; the kernel allocates then). Like message ids, the range
   * in the latest task is authoritative: a lost slice's serials were never
   * journaled and may be handed out again.
   */
  pidNext: number;
  pidEnd: number;
  /** Milliseconds of script execution after which the slice stops starting new rounds. */
  budgetMs: number;
  /** Registered-name changes since the previous slice on this slot: [name, pid | null]. */
  names: Array<[string, Pid | null]>;
  items: TaskItem[];
  /** Scripts to load and check before a process is journaled for them. */
  probes: string[];
}

/** Message ids: `n * ID_STRIDE + slot` for slots, `n * ID_STRIDE + KERNEL_ID_SLOT` for the kernel. */
export const ID_STRIDE = 64;
export const KERNEL_ID_SLOT = 63;
/** At most this many threads (slot numbers below KERNEL_ID_SLOT). */
export const MAX_THREADS = 63;

export type TaskItem = StartItem | WakeItem | DropItem | QueryItem;

/** Make a process live on this thread: a fresh run, or a rebuild by replay. */
export interface StartItem {
  op: 'start';
  pid: Pid;
  run: number;
  /** Absolute path of the script module. */
  script: string;
  /** msgpack-encoded argument array; null: read them from the journal (the process started before). */
  args: Uint8Array | null;
  /** True: read history, mailbox (and args) from the journal and replay. */
  cold: boolean;
  /** Markers that arrived for the process after its history was committed. */
  marks: Marker[];
  /** The script's version: bumped by `runtime resume`, so threads import the file as it is now. Absent: 0. */
  v?: number;
}

/** Deliver markers to a process that is live on this thread. */
export interface WakeItem {
  op: 'wake';
  pid: Pid;
  marks: Marker[];
}

/** Forget a live process without recording anything (the kernel ended it or moved it). */
export interface DropItem {
  op: 'drop';
  pid: Pid;
}

/** Ask a live process's onQuery handler (read-only; nothing is recorded). */
export interface QueryItem {
  op: 'query';
  id: number;
  pid: Pid;
  name: string;
  args: unknown[];
}

/** A wake marker: one resolution or one mailbox arrival. */
export type Marker = ResolveMarker | MailMarker;

/** An effect keyed by `step` completed (timer fired, call answered, child spawned). */
export interface ResolveMarker {
  m: 'res';
  /** Run the effect belongs to; markers for an older run are stale and ignored. */
  run: number;
  step: number;
  ok: boolean;
  /** msgpack-encoded value (ok) or ErrorData (not ok); null for "no value". */
  v: Uint8Array | null;
}

/** A mailbox entry arrived (message, or an exit signal to be handled by the target). */
export interface MailMarker {
  m: 'mail';
  id: number;
  from: Pid;
  kind: MailKind;
  data: Uint8Array;
  /** Not in the mailbox table (a gateway request): the thread stores it if it is still unread when the slice ends. */
  unstored?: boolean;
}

/** 0: a message; 1: an exit signal `{reason}` not yet handled by its target. */
export type MailKind = 0 | 1;
export const MAIL_MESSAGE: MailKind = 0;
export const MAIL_SIGNAL: MailKind = 1;

// ───────────────────────── worker → kernel ─────────────────────────

export interface SliceReport {
  slot: number;
  /** Rounds in the order they ran; each is one journal row. */
  rounds: RoundOut[];
  /** Mailbox entries to store: sends to other threads, and local leftovers. */
  mail: MailOut[];
  /** Ids of stored mailbox entries consumed (received, or signals handled). */
  taken: number[];
  /** Stored signal entries the target now traps: rewritten as `{type:'exit'}` messages. */
  trapped: Array<{ id: number; data: Uint8Array }>;
  /** How many live processes still have work (the slice ran out of budget): the thread wants another slice. */
  busy: number;
  /** Processes that could not be started or rebuilt on this thread (left to the kernel). */
  failed: Array<{ pid: Pid; run: number; reason: unknown }>;
  /** Drops refused: the process has work running on this thread. It stays resident. */
  kept: Pid[];
  /** The slot's next unallocated message id. */
  nextId: number;
  /** The slot's next unused pid serial (see SliceTask.pidNext). */
  pidNext: number;
  /**
   * Children spawned with a pid from the slot's range, in the order their
   * parents' rounds ran: the kernel starts them before it routes the
   * slice's mail (which may already be addressed to them).
   */
  spawns: SpawnOut[];
  /** [script, null when it loads | the load error] for each probe. */
  probes: Array<[string, unknown]>;
  /** [query id, ok, answer or ErrorData] for each query item. */
  queries: Array<[number, boolean, unknown]>;
  /**
   * [pid, run, names] of each process whose onQuery handlers changed in this
   * slice (or that was rebuilt with some): the live view lists them. Absent
   * when none changed, which is nearly always.
   */
  handlers?: Array<[Pid, number, string[]]>;
  /** The thread's V8 heap in use after the slice (bytes), and how many processes it holds. */
  heap: number;
  live: number;
}

/** A child as spawn asks for it. */
export interface ChildSpec {
  /** Absolute path of the script module. */
  script: string;
  /** msgpack of the argument array. */
  args: Uint8Array;
  link: boolean;
  monitor: boolean;
}

/** A child spawned on the thread: its parent's call already returned `pid`. */
export interface SpawnOut extends ChildSpec {
  parent: Pid;
  /** The parent's run: a round the kernel discards (the parent died meanwhile) spawns nothing. */
  run: number;
  step: number;
  pid: Pid;
}

/** One round of one process: resolutions applied, then the commands it issued. */
export interface RoundOut {
  pid: Pid;
  run: number;
  /** The journal row (msgpack of RoundRecord). Absent when the round recorded nothing. */
  row: Uint8Array | null;
  /** Kernel work the commands asked for. */
  effects: Effect[];
  /** Steps whose kernel effect is no longer wanted (resolved, cancelled). */
  settled: number[];
  /** Log lines (already formatted), printed by the kernel once the row is committed. */
  logs: string[];
  /** Set when the process ended in this round. */
  exit: ExitOut | null;
  /**
   * Every input of the round was a resolution the journal alone decides
   * (NativeDef.settledByJournal) and every command parked: replay rebuilds
   * the round from the rows before it and those resolutions, so its requests
   * wait only for them, not for the round's own row. Absent: not pure.
   */
  pure?: true;
}

export interface ExitOut {
  /** 'normal', or the reason (ErrorData for a thrown error, any value for exit(reason)). */
  reason: unknown;
  /** msgpack of the returned value on a normal exit. */
  result: Uint8Array | null;
  /** msgpack of the last message the process received, for the crash record. */
  lastMessage: Uint8Array | null;
  /** continueAsNew: not an exit but the next run, with these (msgpack) arguments. */
  next?: Uint8Array;
  /** With `next`: a server snapshot; the earlier runs' rows are deleted in the same commit. */
  dropHistory?: boolean;
}

export interface MailOut {
  id: number;
  to: Pid | string; // a pid or a registered name (resolved by the kernel)
  from: Pid;
  kind: MailKind;
  data: Uint8Array;
  /** True when the target is live on the sending thread and already has it. */
  local: boolean;
}

/** A callApi request as the native validated it and the kernel performs it. */
export interface ApiRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: unknown;
  /** Per-attempt deadline in ms covering connect, headers and body; 0 or Infinity disables it. */
  timeoutMs: number;
  /** Extra attempts after the first (0 = one attempt). */
  retries: number;
}

/** Kernel work requested by a command, keyed by the command's step. */
export type Effect =
  | { e: 'timer'; step: number; at: number }
  | { e: 'http'; step: number; req: ApiRequest; key: string; cred?: Record<string, string> }
  | { e: 'spawn'; step: number; script: string; args: Uint8Array; link: boolean; monitor: boolean; name: string | null }
  | { e: 'startChild'; step: number; sup: string; args: Uint8Array }
  | { e: 'link'; pid: string }
  | { e: 'unlink'; pid: string }
  | { e: 'monitor'; ref: string; pid: string }
  | { e: 'demonitor'; ref: string }
  | { e: 'signal'; to: string; reason: unknown }
  | { e: 'register'; name: string }
  | { e: 'unregister'; name: string };

// ───────────────────────── the journal row ─────────────────────────

/**
 * One round of one process, as stored in the `journal` table and replayed:
 * first the resolutions delivered at the round's start (in delivery order),
 * then the commands the script issued until it was quiet again.
 */
export interface RoundRecord {
  /** [step, ok, value] resolutions applied at the start of the round. */
  r: Array<[number, boolean, unknown]>;
  /** Commands issued during the round, in program order. */
  c: Array<CommandTuple>;
  /** Log lines written during the round (history only; replay ignores them). */
  l?: string[];
  /** Present when the process exited in this round: the exit reason. */
  x?: unknown;
  /**
   * History only: replay diverged here under `--on-divergence pause` (the
   * NonDeterminismError) and the process was paused. No resolution, no
   * command: replay passes over it like a quiet round.
   */
  d?: unknown;
}

/**
 * [step, native name, determinism key or null, native record, how it ended
 * inline (0 parked, 1 returned, 2 threw), inline result or ErrorData]
 */
export type CommandTuple = [number, string, string | null, unknown, 0 | 1 | 2, unknown];
