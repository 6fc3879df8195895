// The process table: the kernel's record of every process it holds (live,
// or dead and held by a supervisor for a restart), the registered names, and
// the addresses outside the table that can receive a message (gateway
// replies). Records are data; the parts that change them are beside this
// file (scheduler, effects, relations, exits).

import { BeamlineError, ErrorCodes } from '../errors.js';
import { decode } from '../journal/codec.js';
import type { Marker, Pid, QueryItem } from '../protocol.js';
import type { TimerEntry } from './timers.js';

/** Where a process is in its life, as the kernel sees it. */
export type ProcState =
  /** Waiting in its slot's queue for a slice. */
  | 'runnable'
  /** Sent to its thread, which has not yet reported it quiet (it may still be runnable there). */
  | 'running'
  /** Quiet on its thread, or in no thread's memory: waits for a marker. */
  | 'parked'
  /** Exited (kept in the table only while its supervisor holds it for a restart). */
  | 'dead'
  /**
   * Replay diverged under `--on-divergence pause`: in no thread, scheduled by
   * nothing (markers and mail are kept) until `resume` or a kill. Not an
   * exit: links, monitors and the supervisor see nothing.
   */
  | 'diverged';

/**
 * - 'new': in no thread's memory and never started: the start carries its arguments.
 * - 'journal': in no thread's memory; a start rebuilds it from the journal
 *   (history of its run, mailbox, arguments), so it waits for its commit.
 * - 'resident': its home thread holds it in memory; it is woken, not started.
 */
export type Residency = 'new' | 'journal' | 'resident';

/** The kernel's view of one process. */
export interface KProc {
  readonly pid: Pid;
  run: number;
  readonly script: string;
  /**
   * The start arguments while residency is 'new'. After that they are read
   * back from the journal by whichever thread rebuilds it: not worth keeping
   * in memory for every parked process.
   */
  args: Uint8Array | null;
  readonly parent: Pid | null;
  readonly root: boolean;
  sup: string | null;
  state: ProcState;
  residency: Residency;
  /** Home slot; null before placement. */
  slot: number | null;
  marks: Marker[];
  /** Effects awaiting consumption, by step; most processes never have one, so created on first use. */
  effects: Map<number, KEffect> | null;
  /** Links, monitors and names: most processes have none, so this is created on first use. */
  rel: Relations | null;
  lastActive: number;
  /** Journal rows in the current run (what a cold start would replay). */
  rounds: number;
  /** How the last run ended (kept while a supervisor holds a dead process for restart). */
  lastExit: ExitInfo | null;
  /** Queries waiting for the next slice. */
  queries: QueryItem[] | null;
  /**
   * Names of its onQuery handlers, as its thread last reported them (for the
   * live view; memory only, not journaled). Only for run `run`: a restarted
   * process registers its own.
   */
  handlers?: { run: number; names: string[] };
  /** 'stored': some message was stored for it, so mailbox rows may exist and must be dropped with it. */
  mailbox: 'none' | 'stored';
  /** The batch holding its latest journal row (0: committed before this boot, or none). */
  rowBatch: number;
  /** The latest batch holding a result it was handed before that batch was committed (0: none). */
  inputBatch: number;
}

export interface Relations {
  links: Set<Pid>;
  /** Monitors on this process: ref → watcher. */
  watchers: Map<string, Pid>;
  /** Monitors this process holds: ref → target. */
  watching: Map<string, Pid>;
  names: Set<string>;
}

export interface TimerRef {
  proc: KProc;
  run: number;
  step: number;
}

/** A kernel effect a process waits on, by what can still happen to it. */
export type KEffect =
  | { kind: 'timer'; timer: TimerEntry<TimerRef> | null }
  /**
   * `abort` while the request is in flight; null before it leaves and once it
   * has finished. `attempt`: which attempt is under way (1 = the first), for the live view.
   */
  | { kind: 'http'; abort: AbortController | null; attempt?: number }
  /** Resolved by the kernel at once (spawn, startChild): nothing to cancel. */
  | { kind: 'spawn' };

export interface ExitInfo {
  pid: Pid;
  run: number;
  reason: unknown;
  result: unknown;
  normal: boolean;
}

export function exitInfoFromRow(pid: Pid, run: number, reason: Uint8Array | null, result: Uint8Array | null): ExitInfo {
  const r = reason === null ? 'normal' : decode(reason);
  return { pid, run, reason: r, result: result === null ? null : decode(result), normal: r === 'normal' };
}

export function effectsOf(proc: KProc): Map<number, KEffect> {
  return (proc.effects ??= new Map());
}

export function relationsOf(proc: KProc): Relations {
  return (proc.rel ??= { links: new Set(), watchers: new Map(), watching: new Map(), names: new Set() });
}

export class ProcessTable {
  readonly procs = new Map<Pid, KProc>();
  readonly names = new Map<string, Pid>();
  /** Addresses outside the process table that can receive a message (gateway replies). */
  readonly ports = new Map<string, (msg: unknown) => void>();
  /** --max-processes: the most processes the table may hold (live, plus dead ones held for a restart). */
  maxProcesses = Infinity;

  /**
   * A new process would exceed --max-processes: refused at the call, before
   * anything is recorded. A restart reuses its entry, so it is never refused.
   */
  assertRoom(op: string): void {
    if (this.procs.size < this.maxProcesses) return;
    throw new BeamlineError(ErrorCodes.LIMIT, `${op}: the node holds ${this.procs.size} processes, the most --max-processes ${this.maxProcesses} allows`, {
      limit: this.maxProcesses,
    });
  }

  get(pid: Pid): KProc | undefined {
    return this.procs.get(pid);
  }

  /** A live process by pid or registered name. */
  resolve(target: string): KProc | undefined {
    const proc = this.procs.get(this.names.get(target) ?? target);
    return proc === undefined || proc.state === 'dead' ? undefined : proc;
  }

  /** A process by pid or name, live or held for a restart. */
  lookup(target: string): KProc | undefined {
    return this.procs.get(this.names.get(target) ?? target);
  }

  add(proc: KProc): void {
    this.procs.set(proc.pid, proc);
  }

  delete(pid: Pid): void {
    this.procs.delete(pid);
  }

  get size(): number {
    return this.procs.size;
  }

  values(): IterableIterator<KProc> {
    return this.procs.values();
  }
}

export function newProc(pid: Pid, run: number, script: string, args: Uint8Array, parent: Pid | null, root: boolean, sup: string | null, at: number): KProc {
  return {
    pid,
    run,
    script,
    args,
    parent,
    root,
    sup,
    state: 'parked',
    residency: 'new',
    slot: null,
    marks: [],
    effects: null,
    rel: null,
    lastActive: at,
    rounds: 0,
    lastExit: null,
    queries: null,
    mailbox: 'none',
    rowBatch: 0,
    inputBatch: 0,
  };
}
