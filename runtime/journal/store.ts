// The store interface the kernel talks to. SQLite implements it today
// (sqlite.ts); a PostgreSQL store for several nodes would implement the same
// calls (append = one transaction, leases = row locks), which is why the
// kernel never issues SQL itself.

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

export interface Store {
  /** Absolute path of the journal file. */
  readonly path: string;
  /** This journal's node tag, the prefix of every pid it allocates. */
  readonly tag: string;
  readonly durability: Durability;
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
  processes(limit?: number): ProcessRow[];
  history(pid: Pid, run?: number): HistoryRow[];
  mailbox(pid: Pid): MailRow[];
  /** Unconsumed mailbox entries per process. */
  mailboxCounts(): Map<Pid, number>;
  /** The newest journal row of a process's run. */
  lastRound(pid: Pid, run: number): HistoryRow | undefined;
  effects(): EffectRow[];
  links(): Array<[Pid, Pid]>;
  monitors(): Array<{ ref: string; watcher: Pid; target: Pid }>;
  names(): Array<[string, Pid]>;
  supervisors(): Array<{ pid: Pid; data: Uint8Array }>;
  /** Next unallocated message id per id slot, so restarted counters never reuse a stored id. */
  mailIdCounters(stride: number): Map<number, number>;
  close(): void;
}
