// The process table: the kernel's record of every process it holds (live,
// or dead and held by a supervisor for a restart), the registered names, and
// the addresses outside the table that can receive a message (gateway
// replies). Records are data; the parts that change them are beside this
// file (scheduler, effects, relations, exits).

import type { Abort } from '../abort.js';
import { BeamlineError, ErrorCodes } from '../errors.js';
import { decode } from '../journal/codec.js';
import type { ProcessRow } from '../journal/store.js';
import { serialOf, tagOf } from '../pid.js';
import type { Marker, Pid, QueryItem } from '../protocol.js';
import { internScript } from '../intern.js';
import { SmallMap } from '../small-map.js';
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
 * - 'out': this record was paged out of the table (see ProcessTable.pageOut):
 *   the process lives on in the journal and `get` loads a new record; this
 *   one must not be used again.
 */
export type Residency = 'new' | 'journal' | 'resident' | 'out';

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
  effects: SmallMap<number, KEffect> | null;
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
  /**
   * The batch a cold start must wait for (its history and stored mail in the
   * journal), or -1: whatever is pending. Set only for a record read back
   * from the journal (all of it committed then), until it is first started
   * or mail is stored for it.
   */
  coldAfter: number;
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
  | { kind: 'http'; abort: Abort | null; attempt?: number }
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

export function effectsOf(proc: KProc): SmallMap<number, KEffect> {
  return (proc.effects ??= new SmallMap());
}

/**
 * When the earliest of `proc`'s timers is due, if armed timers are all it
 * waits on in the kernel; null when it waits on anything else (a call, a
 * spawn's answer, a timer that fired and is not yet taken) or on no timer.
 */
export function timersOnlyDueAt(proc: KProc): number | null {
  if (proc.effects === null) return null;
  let at = Infinity;
  for (const eff of proc.effects.values()) {
    if (eff.kind !== 'timer' || eff.timer === null || eff.timer.cancelled) return null;
    if (eff.timer.at < at) at = eff.timer.at;
  }
  return at === Infinity ? null : at;
}

const NO_HANDLERS: readonly string[] = Object.freeze([]);

/** Names of the current run's onQuery handlers, as its thread last reported them (a previous run's do not count). */
export function queryHandlersOf(proc: KProc): readonly string[] {
  return proc.handlers !== undefined && proc.handlers.run === proc.run ? proc.handlers.names : NO_HANDLERS;
}

export function relationsOf(proc: KProc): Relations {
  return (proc.rel ??= { links: new Set(), watchers: new Map(), watching: new Map(), names: new Set() });
}

/** Reads a live process's row back from the journal (undefined: no such live process). */
export type LoadRow = (pid: Pid) => ProcessRow | undefined;

/** Told when a record leaves the table (`out`) or is read back: the journal keeps the same fact (ProcessPaged). */
export type PagedHook = (proc: KProc, out: boolean) => void;

/**
 * Gateway ports by address. Not a Map: a port comes and goes with every HTTP
 * call, and a V8 Map under that churn keeps each hash table it replaces
 * linked to the next. Once one of them has been promoted to the old
 * generation, the chain holds the young closures of every later table (and
 * through them each call's request and response) alive across scavenges,
 * which then copy and promote them. Under the `http` workload's 50
 * connections that was ~18 MB/s promoted in the kernel and 6-16 ms
 * scavenges ~10 times a second. A null-prototype object is a hash table of
 * its own whose outgrown stores link to nothing.
 */
export class PortTable {
  #by: Record<string, (msg: unknown) => void> = Object.create(null) as Record<string, (msg: unknown) => void>;

  get(address: string): ((msg: unknown) => void) | undefined {
    return this.#by[address];
  }

  set(address: string, fn: (msg: unknown) => void): void {
    this.#by[address] = fn;
  }

  delete(address: string): void {
    delete this.#by[address];
  }
}

export class ProcessTable {
  readonly procs = new Map<Pid, KProc>();
  /**
   * Serials of the processes paged out: live in the journal, parked with
   * nothing pending, in no thread's memory and not in `procs`. A number in a
   * set costs a few dozen bytes where a record costs half a kilobyte: a
   * node holding a million idle servers keeps this, not their records.
   */
  readonly #out = new Map<string, Set<number>>();
  #outCount = 0;
  /** Names of the paged-out processes that have any (kept in `names` too, which routes to them). */
  readonly #outNames = new Map<Pid, string[]>();
  #loadRow: LoadRow | null = null;
  #moved: PagedHook = () => {};
  readonly names = new Map<string, Pid>();
  /** Addresses outside the process table that can receive a message (gateway replies). */
  readonly ports = new PortTable();
  /** --max-processes: the most processes the table may hold (live, plus dead ones held for a restart). */
  maxProcesses = Infinity;

  /**
   * A new process would exceed --max-processes: refused at the call, before
   * anything is recorded. A restart reuses its entry, so it is never refused.
   */
  assertRoom(op: string): void {
    // Paged-out processes are live: they count.
    const held = this.procs.size + this.#outCount;
    if (held < this.maxProcesses) return;
    throw new BeamlineError(ErrorCodes.LIMIT, `${op}: the node holds ${held} processes, the most --max-processes ${this.maxProcesses} allows`, {
      limit: this.maxProcesses,
    });
  }

  /** A process the table holds, loading its record back from the journal if it was paged out. */
  get(pid: Pid): KProc | undefined {
    return this.procs.get(pid) ?? (this.#outCount === 0 ? undefined : this.#pageIn(pid));
  }

  /** A live process by pid or registered name. */
  resolve(target: string): KProc | undefined {
    const proc = this.get(this.names.get(target) ?? target);
    return proc === undefined || proc.state === 'dead' ? undefined : proc;
  }

  /** A process by pid or name, live or held for a restart. */
  lookup(target: string): KProc | undefined {
    return this.get(this.names.get(target) ?? target);
  }

  /** Let records of processes (pids `<tag>.<serial>`) leave the table and come back from the journal through `load`. */
  enablePaging(load: LoadRow, moved: PagedHook): void {
    this.#loadRow = load;
    this.#moved = moved;
  }

  /**
   * At boot: a live process the journal says was out, and untouched since,
   * stays out with no record made (false: its pid is not of the
   * `<tag>.<serial>` form, so it cannot; build its record).
   */
  startOut(pid: Pid): boolean {
    return this.#loadRow !== null && this.#addOut(pid);
  }

  /**
   * May `proc`'s record leave the table? Only a process that needs nothing
   * from the kernel until a message or a signal reaches it: parked in no
   * thread, no marker, query, effect (timer, call), link or monitor, and its
   * journal rows committed (a record loaded back reads them). Names stay in
   * `names`, so mail to a name still finds the pid.
   */
  canPageOut(proc: KProc, committedBatch: number): boolean {
    const rel = proc.rel;
    return (
      this.#loadRow !== null &&
      this.procs.get(proc.pid) === proc &&
      proc.state === 'parked' &&
      proc.residency === 'journal' &&
      proc.marks.length === 0 &&
      (proc.queries === null || proc.queries.length === 0) &&
      (proc.effects === null || proc.effects.size === 0) &&
      (rel === null || (rel.links.size === 0 && rel.watchers.size === 0 && rel.watching.size === 0)) &&
      proc.rowBatch <= committedBatch &&
      proc.inputBatch <= committedBatch &&
      serialOf(proc.pid) > 0
    );
  }

  /** Drop `proc`'s record (canPageOut must hold): the next get() of its pid reads it back from the journal. */
  pageOut(proc: KProc): void {
    this.procs.delete(proc.pid);
    this.#addOut(proc.pid);
    if (proc.rel !== null && proc.rel.names.size > 0) this.#outNames.set(proc.pid, [...proc.rel.names]);
    proc.residency = 'out';
    this.#moved(proc, true);
  }

  /** At boot: `name` belongs to `pid`, which stays paged out (see startOut). */
  nameOut(pid: Pid, name: string): void {
    this.names.set(name, pid);
    const names = this.#outNames.get(pid);
    if (names === undefined) this.#outNames.set(pid, [name]);
    else names.push(name);
  }

  /** How many processes are paged out. */
  get pagedOut(): number {
    return this.#outCount;
  }

  /** Pids of the processes paged out (for listings). */
  *pagedOutPids(): IterableIterator<Pid> {
    for (const [tag, serials] of this.#out) for (const serial of serials) yield `${tag}.${serial}`;
  }

  /** True when `pid` is paged out (no load). */
  isPagedOut(pid: Pid): boolean {
    return this.#out.get(tagOf(pid))?.has(serialOf(pid)) === true;
  }

  /**
   * Serials in a set per tag: a number in a set costs a few dozen bytes where
   * the pid string would cost as much again (a restarted node on PostgreSQL
   * has a new tag, so its processes' pids carry several).
   */
  #addOut(pid: Pid): boolean {
    const serial = serialOf(pid);
    if (serial === 0) return false;
    const tag = tagOf(pid);
    let serials = this.#out.get(tag);
    if (serials === undefined) this.#out.set(tag, (serials = new Set()));
    if (!serials.has(serial)) {
      serials.add(serial);
      this.#outCount++;
    }
    return true;
  }

  #takeOut(pid: Pid): boolean {
    const tag = tagOf(pid);
    const serials = this.#out.get(tag);
    if (serials === undefined || !serials.delete(serialOf(pid))) return false;
    this.#outCount--;
    if (serials.size === 0) this.#out.delete(tag);
    return true;
  }

  #pageIn(pid: Pid): KProc | undefined {
    if (!this.#takeOut(pid)) return undefined;
    const row = this.#loadRow!(pid);
    // It was live when it left, and only this kernel ends its processes.
    if (row === undefined || row.status !== 'live') {
      throw new BeamlineError(ErrorCodes.INTERNAL, `process table: ${pid} was paged out live but the journal has ${row === undefined ? 'no row' : 'it exited'}`, { pid });
    }
    const proc = fromJournal(row, Date.now());
    // Everything of it was committed when it left (canPageOut), and nothing was written for it since.
    proc.coldAfter = 0;
    const names = this.#outNames.get(pid);
    if (names !== undefined) {
      this.#outNames.delete(pid);
      for (const name of names) relationsOf(proc).names.add(name);
    }
    this.procs.set(pid, proc);
    this.#moved(proc, false);
    return proc;
  }

  add(proc: KProc): void {
    this.procs.set(proc.pid, proc);
  }

  delete(pid: Pid): void {
    this.procs.delete(pid);
  }

  /** Records held (paged-out processes not counted: see pagedOut). */
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
    script: internScript(script),
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
    coldAfter: -1,
  };
}

/**
 * The record of a live process read from the journal (a boot, an adoption,
 * a page-in): in no thread's memory, so its next start replays its run, and
 * its mailbox may hold anything.
 */
export function fromJournal(row: ProcessRow, now: number): KProc {
  const proc = newProc(row.pid, row.run, row.script, row.args, row.parent, row.root, row.sup, row.spawnedAt);
  proc.residency = 'journal';
  proc.mailbox = 'stored';
  proc.lastActive = now;
  return proc;
}
