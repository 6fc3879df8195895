// The store interface the kernel talks to. SQLite implements it for one node
// (sqlite.ts), PostgreSQL for several (postgres.ts: append = one fenced
// transaction, ownership by lease), which is why the kernel never issues SQL
// itself.

import type { Keyring } from './cipher.js';
import type { CommitStats } from './writer.js';
import type { Pid } from '../protocol.js';
import type { JournalEvent } from './events.js';

export type Durability = 'full' | 'normal';

export interface ProcessRow {
  pid: Pid;
  run: number;
  status: 'live' | 'exited';
  script: string;
  args: Uint8Array;
  parent: Pid | null;
  root: boolean;
  sup: string | null;
  spawnedAt: number;
  exitedAt: number | null;
  reason: Uint8Array | null;
  result: Uint8Array | null;
  lastMessage: Uint8Array | null;
  /** Supervisor restarts (continueAsNew also starts a new run but is not a restart). */
  restarts: number;
}

/** A `processes` row as both stores' drivers return it (SQLite gives `root` as 0/1, PostgreSQL as a boolean). */
export interface RawProcess {
  pid: string;
  run: number;
  status: 'live' | 'exited';
  script: string;
  args: Uint8Array;
  parent: string | null;
  root: number | boolean;
  sup: string | null;
  spawned_at: number;
  exited_at: number | null;
  reason: Uint8Array | null;
  result: Uint8Array | null;
  last_message: Uint8Array | null;
  restarts: number;
}

/** A stored row as a ProcessRow, its payload columns opened with `open` (decrypted when the journal is encrypted). */
export function toProcess(r: RawProcess, open: (b: Uint8Array | null, column: string) => Uint8Array | null): ProcessRow {
  return {
    pid: r.pid,
    run: r.run,
    status: r.status,
    script: r.script,
    args: open(r.args, 'args')!,
    parent: r.parent,
    root: r.root === true || r.root === 1,
    sup: r.sup,
    spawnedAt: r.spawned_at,
    exitedAt: r.exited_at,
    reason: open(r.reason, 'reason'),
    result: open(r.result, 'result'),
    lastMessage: open(r.last_message, 'last_message'),
    restarts: r.restarts,
  };
}

export interface HistoryRow {
  seq: number;
  run: number;
  at: number;
  /** msgpack of a RoundRecord. */
  row: Uint8Array;
}

export interface MailRow {
  id: number;
  pid: Pid;
  from: Pid;
  kind: number;
  data: Uint8Array;
}

export interface EffectRow {
  pid: Pid;
  run: number;
  step: number;
  kind: string;
  at: number | null;
  data: Uint8Array;
  done: boolean;
  ok: boolean;
  value: Uint8Array | null;
}

/** An entry another node sent to a process of this node, waiting in the store's inbox (its `seq`). */
export interface InboxMail {
  seq: number;
  /** The target, its name resolved. */
  pid: Pid;
  sender: Pid;
  kind: number;
  data: Uint8Array;
  /** False for a notice to a process that has ended (its sender is told 'noproc'). */
  live: boolean;
}

/**
 * What the writer of a store shared by several nodes tells the kernel:
 * processes it took over from a node whose lease lapsed (already committed
 * as this node's), and mail other nodes sent to this node's processes, in
 * inbox order (the kernel takes each: mail.put + inbox.taken).
 */
export type ClusterEvent =
  | { type: 'adopted'; pids: Pid[] }
  /**
   * `after`: how many of the kernel's commits (counted in the order commit()
   * was called, from 1) had landed when the inbox was read — an entry taken
   * in one of those cannot be among `mail`; one taken later may still be.
   */
  | { type: 'delivered'; mail: InboxMail[]; after: number }
  /** Names this node's processes registered that another node's live process holds (the claims lost). */
  | { type: 'namesLost'; names: Array<{ name: string; pid: Pid }> };

/** Commits batches for the kernel, off its thread; one transaction per batch. */
export interface StoreWriter {
  /** Resolves once `events` are durable, in one transaction. */
  commit(events: readonly JournalEvent[]): Promise<void>;
  /** Running totals of what was committed (the live view and /metrics read them). */
  stats(): CommitStats;
  /** `fn` learns when nothing more can be committed, even between commits (a PostgreSQL node that lost its lease). */
  onFatal?(fn: (err: Error) => void): void;
  /** Several nodes: `fn` learns of processes taken over and of mail other nodes sent (see ClusterEvent). */
  onCluster?(fn: (ev: ClusterEvent) => void): void;
  close(): Promise<void>;
}

/**
 * How a worker thread opens its own read-only view of the journal: plain
 * data, sent to the thread as it starts (see reader.ts, which opens it).
 */
/** `keys`: the journal's key set when it is encrypted (threads open sealed rows with it). */
export type ReaderSpec = { kind: 'sqlite'; path: string; keys: Keyring | null } | { kind: 'postgres'; url: string; keys: Keyring | null };

/** What a worker thread reads to rebuild a process. */
export interface StoreReader {
  /** The run's journal rows, in order, each with its seq (so a row that does not decode can be named). */
  history(pid: Pid, run: number): Array<{ seq: number; row: Uint8Array }>;
  /** Unconsumed mailbox entries, in arrival order. */
  mailbox(pid: Pid): Array<{ id: number; sender: string; kind: number; data: Uint8Array }>;
  /** The arguments the process was (last) started with; null when it is not in the journal. */
  args(pid: Pid): Uint8Array | null;
  close(): void;
}

/**
 * The only door to the journal. The kernel commits through the writer it
 * gets here and reads through the calls below; worker threads open the
 * reader this store describes. Nothing else opens the database.
 */
export interface Store {
  /** Absolute path of the journal file (for PostgreSQL: the URL without its password). */
  readonly path: string;
  /** This journal's node tag, the prefix of every pid it allocates. */
  readonly tag: string;
  readonly durability: Durability;
  /** Several nodes share this store: a pid this node does not have may be another node's. */
  readonly multiNode?: boolean;
  /** Several nodes: what the inbox holds for `pids` (processes just taken over), in order. */
  inbox?(pids: readonly Pid[]): InboxMail[];
  /** Several nodes: whether a pid (or the process a name is registered to) is live on any node (`elsewhere`: on another node). */
  isLive?(target: string, elsewhere?: boolean): boolean;
  /** Apply `events` in one transaction (one fsync under 'full'). */
  append(events: readonly JournalEvent[]): void;
  meta(key: string): string | undefined;

  liveProcesses(): ProcessRow[];
  /** Live processes started by `runtime spawn` (candidates for resuming). */
  liveRoots(): ProcessRow[];
  process(pid: Pid): ProcessRow | undefined;
  /**
   * Live processes in brief: what a monitoring listing needs (the live
   * view's process table), without reading every row's blobs. Optional: a
   * listing without it shows restart counts for the rows it reads one by one.
   */
  liveSummaries?(): Array<{ pid: Pid; restarts: number; spawnedAt: number }>;
  /** Live processes (of this node) whose records the kernel paged out and has not read back (see ProcessPaged). */
  pagedOut?(): Set<Pid>;
  /** liveProcesses() less those pagedOut() lists: a boot reads no row for them. */
  liveUnpaged?(): ProcessRow[];
  /**
   * A page of processes (live only, unless `all`) by pid serial: those after
   * `after`, at most `limit` (0: no bound). Only the page's rows are read
   * whole: `runtime ps` over 100,000 processes. Optional: without it ps reads
   * every row and pages in memory.
   */
  processPage?(opts: { all: boolean; after: number; limit: number }): ProcessRow[];
  processes(limit?: number): ProcessRow[];
  history(pid: Pid, run?: number): HistoryRow[];
  mailbox(pid: Pid): MailRow[];
  /** Unconsumed mailbox entries per process. */
  mailboxCounts(): Map<Pid, number>;
  /** The newest journal row of a process's run. */
  lastRound(pid: Pid, run: number): HistoryRow | undefined;
  /** How many journal rows a process's run has: what a recovery of it replays (`runtime ps` HISTORY). */
  historyLength?(pid: Pid, run: number): number;
  effects(): EffectRow[];
  links(): Array<[Pid, Pid]>;
  monitors(): Array<{ ref: string; watcher: Pid; target: Pid }>;
  names(): Array<[string, Pid]>;
  supervisors(): Array<{ pid: Pid; data: Uint8Array }>;
  /** Next unallocated message id per id slot, so restarted counters never reuse a stored id. */
  mailIdCounters(stride: number): Map<number, number>;
  /** A writer for the kernel's group commits (its own connection, on its own thread). */
  writer(): StoreWriter;
  /** What a worker thread needs to open its own reader. */
  readerSpec(): ReaderSpec;
  close(): void;
}
