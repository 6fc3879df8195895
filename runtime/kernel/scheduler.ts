// Slots and the one dispatch step. Each slot is one worker thread; a process
// lives on its home slot's thread between slices. Every event ends in
// requestPump(); pump() is the only place a slice is sent, and it checks
// the invariants a lost wake would break before it sends anything.
//
//   markers ─▶ mark() ─▶ slot.queue ─▶ pump() ─▶ dispatch() ─▶ thread ─▶ report ─▶ onReport (reports.ts)
//                                        ▲
//               commit landed, thread woke, slice ended ─┘

import { Abort } from '../abort.js';
import { BeamlineError, ErrorCodes, revive, type ErrorData } from '../errors.js';
import { decodeWire, encodeWire } from '../journal/codec.js';
import type { Marker, Pid, SliceReport, SliceTask, TaskItem } from '../protocol.js';
import type { Commit } from './commit.js';
import { place } from './placement.js';
import type { ThreadPool } from './pool.js';
import type { KProc, ProcessTable } from './table.js';

/** A slice on its way: what was sent, for whom, and how to call it back. */
export interface Slice {
  items: TaskItem[];
  /** The processes the slice was sent for. */
  procs: KProc[];
  started: number;
  abort: Abort;
  probes: Map<string, Array<(err: unknown) => void>>;
}

/** A slot's thread: idle, running a slice, or running one the watchdog is aborting (a runaway). */
export type SlotPhase = { is: 'idle' } | { is: 'running'; slice: Slice } | { is: 'aborting'; slice: Slice };

export interface Slot {
  readonly index: number;
  phase: SlotPhase;
  /** 'loading' until the thread finished a slice (its modules are loaded). */
  thread: 'loading' | 'ready';
  /** Processes with markers to send in the next slice. */
  readonly queue: Set<KProc>;
  /** Processes sent to the thread since it last reported no runnable work: they may still be runnable there. */
  readonly onThread: Set<KProc>;
  /** The thread has runnable processes of its own (reported busy, or woke between slices). */
  more: boolean;
  names: Array<[string, Pid | null]>;
  readonly residents: Set<KProc>;
  idNext: number;
  /** Pid serials the thread may give the children it spawns: [pidNext, pidEnd) (see grantPids). */
  pidNext: number;
  pidEnd: number;
  /** The size of the last range granted (doubles with each grant, up to PID_RANGE_MAX). */
  pidGrant: number;
  probes: Map<string, Array<(err: unknown) => void>>;
  /** Processes to forget at the start of the next slice (evicted). */
  drops: Pid[];
  /** A process queued here must be rebuilt from the journal: the next slice waits for this batch's commit (0: none). */
  waitForBatch: number;
  /** From the thread's last report: V8 heap in use, processes held. */
  heap: number;
  live: number;
}

export interface SchedulerOptions {
  threads: number;
  budgetMs: number;
  /** Next message id per slot, as the journal last recorded them. */
  idNext: (slot: number) => number;
  table: ProcessTable;
  commit: Commit;
  pool: () => ThreadPool;
  /** A slice came back. */
  report: (slot: Slot, report: SliceReport, slice: Slice) => void;
  /** A slice was rejected (its thread died, or the task failed): see faults.ts. */
  sliceFailed: (slot: Slot, slice: Slice, err: unknown) => void;
  /** True while slices may be sent (not closing, journal writable). */
  open: () => boolean;
}

/** Most processes one slice starts (or rebuilds); the rest wait for the next slice. */
const MAX_STARTS = 512;
/**
 * Most starts per slice while a timer is due within TIMER_SOON_MS (or
 * overdue). A thread sets up every start of a slice before it runs any
 * round and reports every first round, and a wake that comes meanwhile waits
 * for the whole slice: with 512 starts aboard, timers firing during a
 * fan-out waited tens of ms behind them. Small batches keep slices short;
 * they go as often as the thread finishes one.
 */
const STARTS_WHILE_TIMERS_DUE = 32;
/** Pid ranges granted to a spawning thread: the first, and the most at once. */
const PID_RANGE_MIN = 64;
const PID_RANGE_MAX = 4096;
const TIMER_SOON_MS = 50;

export class Scheduler {
  readonly slots: Slot[];
  readonly #opts: SchedulerOptions;
  readonly #table: ProcessTable;
  readonly #commit: Commit;
  /** Scratch for placement (one array, not one per spawn). */
  readonly #loads: number[] = [];
  #pumpScheduled = false;
  #idle: Array<() => void> = [];
  readonly #queries = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  #nextQuery = 1;
  /** Wake markers queued since boot (read by the live view and /metrics). */
  wakes = 0;
  /** When the kernel's next timer is due (epoch ms, Infinity: none); the timer service sets it. */
  nextTimer: () => number = () => Infinity;
  /** Per slot: runnable processes its thread still held at its last report. */
  readonly #backlog: number[] = [];
  /**
   * Per slot: queued processes that were in their thread's memory when queued
   * (wakes). A fan-out leaves tens of thousands of starts in `slot.queue`;
   * finding the wakes among them on every slice cost a 100,000-sleeper run
   * seconds of the kernel's time. Entries may be stale; dispatch checks.
   */
  readonly #woken: Array<Set<KProc>> = [];

  constructor(opts: SchedulerOptions) {
    this.#opts = opts;
    this.#table = opts.table;
    this.#commit = opts.commit;
    this.slots = Array.from({ length: opts.threads }, (_, index) => ({
      index,
      phase: { is: 'idle' },
      thread: 'loading',
      queue: new Set<KProc>(),
      onThread: new Set<KProc>(),
      names: [],
      residents: new Set<KProc>(),
      idNext: opts.idNext(index),
      pidNext: 0,
      pidEnd: 0,
      pidGrant: 0,
      probes: new Map(),
      drops: [],
      waitForBatch: 0,
      heap: 0,
      live: 0,
      more: true, // an empty first slice loads the thread's modules now, not on the first spawn
    }));
  }

  // ───────────────────────────── pid ranges ─────────────────────────────

  /**
   * Give the slot's thread a fresh range of pid serials, so its processes'
   * spawns return at once instead of waiting for the kernel (natives/spawn.ts).
   * Ranges are granted only to threads that spawn, and grow as they go on
   * spawning: a node that never spawns from a script skips no serials. The
   * counter moves past the range with the next commit, before any child
   * given one of its serials can be journaled (the child's row comes later),
   * so a restarted node never reuses one; serials granted and never used
   * are skipped. Not under --max-processes: every spawn must be counted
   * against the bound where it can still be refused.
   */
  #grantPids(slot: Slot): void {
    if (this.#table.maxProcesses !== Infinity) return;
    const n = Math.min(PID_RANGE_MAX, Math.max(PID_RANGE_MIN, slot.pidGrant * 2));
    slot.pidGrant = n;
    slot.pidNext = this.#commit.serials(n);
    slot.pidEnd = slot.pidNext + n;
  }

  /** A process on slot `index` spawned through the kernel: its thread had no pid left to give. */
  spawnedByKernel(index: number): void {
    const slot = this.slots[index];
    if (slot !== undefined && slot.pidNext >= slot.pidEnd) this.#grantPids(slot);
  }

  /** The thread used pids (its report): grant the next range before this one runs out. */
  usedPids(slot: Slot, pidNext: number): void {
    if (pidNext <= slot.pidNext) return;
    slot.pidNext = pidNext;
    if (slot.pidEnd - pidNext < slot.pidGrant / 2) this.#grantPids(slot);
  }

  // ───────────────────────────── queueing ─────────────────────────────

  /** Script versions bumped by `resume` (absent: 0, the file as first imported). */
  readonly #versions = new Map<string, number>();

  /** Every start of `script` from now on imports the file as it is now (a resume after a fix). */
  reloadScript(script: string): void {
    this.#versions.set(script, (this.#versions.get(script) ?? 0) + 1);
  }

  /**
   * The table's record for a process: `proc` itself, or, if `proc` was paged
   * out while something still held it, the record read back. Nothing should
   * hold a paged-out record (only processes with nothing pending leave), but
   * a wake given to one would be lost for good, so the two entry points for
   * work check.
   */
  #record(proc: KProc): KProc | undefined {
    return proc.residency === 'out' ? this.#table.get(proc.pid) : proc;
  }

  /** Queue a process for its next slice (placing it first if it has no thread). */
  schedule(record: KProc, near = -1): void {
    const proc = this.#record(record);
    if (proc === undefined || proc.state === 'dead' || proc.state === 'diverged') return;
    if (proc.slot === null) {
      const loads = this.#loads;
      for (let i = 0; i < this.slots.length; i++) loads[i] = this.slots[i]!.residents.size + this.slots[i]!.queue.size;
      proc.slot = place(loads, near);
    }
    const slot = this.slots[proc.slot]!;
    slot.queue.add(proc);
    if (proc.residency === 'resident') this.#wokenOn(slot).add(proc);
    if (proc.residency === 'journal') slot.waitForBatch = Math.max(slot.waitForBatch, proc.coldAfter < 0 ? this.#commit.batchSoFar() : proc.coldAfter);
    if (proc.state !== 'running') proc.state = 'runnable';
  }

  /** Give a process a marker and queue it. */
  mark(record: KProc, marker: Marker): void {
    const proc = this.#record(record);
    if (proc === undefined || proc.state === 'dead') return;
    this.wakes++;
    proc.marks.push(marker);
    if (proc.state === 'diverged') return; // kept for its resume
    this.schedule(proc);
    this.requestPump();
  }

  /** A thread has work of its own between slices (a step() function finished). */
  wake(index: number): void {
    const slot = this.slots[index];
    if (slot === undefined) return;
    slot.more = true;
    this.requestPump();
  }

  /** Its thread no longer holds the process: the next start rebuilds it from the journal. */
  evict(proc: KProc): void {
    const slot = proc.slot === null ? undefined : this.slots[proc.slot];
    if (proc.residency === 'resident') {
      slot?.residents.delete(proc);
      proc.residency = 'journal';
    }
    // Already queued there: its next slice must now wait for its history's commit.
    if (slot !== undefined && slot.queue.has(proc) && proc.residency === 'journal') {
      slot.waitForBatch = Math.max(slot.waitForBatch, this.#commit.batchSoFar());
    }
  }

  /** The process left its thread's memory with its run (exit, continueAsNew). */
  leaveThread(proc: KProc): void {
    if (proc.residency === 'resident' && proc.slot !== null) this.slots[proc.slot]?.residents.delete(proc);
  }

  /** Ask a process's onQuery handler at its next slice. */
  query(proc: KProc, name: string, args: unknown[]): Promise<unknown> {
    const id = this.#nextQuery++;
    return new Promise((resolve, reject) => {
      this.#queries.set(id, { resolve, reject });
      (proc.queries ??= []).push({ op: 'query', id, pid: proc.pid, name, args });
      this.schedule(proc);
      this.requestPump();
    });
  }

  /** The process exited before its queries were answered. */
  /**
   * Reject the queries still waiting on a process. The error is made only
   * when one waits: capturing its stack at every exit cost the spawn
   * benchmark a fifth of its kernel time.
   */
  failQueries(proc: KProc, err: () => Error): void {
    if (proc.queries === null || proc.queries.length === 0) return;
    const e = err();
    for (const q of proc.queries) this.#queries.get(q.id)?.reject(e);
    proc.queries = null;
  }

  /** Load `script` on a thread; resolves null when it loads, else the load error. */
  probe(script: string): Promise<ErrorData | null> {
    const slot = this.slots[0]!;
    return new Promise((resolve) => {
      const list = slot.probes.get(script) ?? [];
      list.push(resolve as (err: unknown) => void);
      slot.probes.set(script, list);
      this.requestPump();
    });
  }

  /** Tell every thread of a name change with its next slice. */
  broadcastName(name: string, pid: Pid | null): void {
    for (const slot of this.slots) slot.names.push([name, pid]);
  }

  // ───────────────────────────── the driver ─────────────────────────────

  requestPump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.pump();
    });
  }

  /** The one dispatch step: every slot that has work and no slice in flight gets one. */
  pump(): void {
    if (!this.#opts.open()) return;
    this.#commit.flushAsked();
    for (const slot of this.slots) {
      if (slot.phase.is !== 'idle') continue;
      if (slot.queue.size === 0 && !slot.more && slot.probes.size === 0 && slot.drops.length === 0) continue;
      // A cold start reads history from the journal: it must be committed first.
      if (slot.waitForBatch > this.#commit.committedBatch) {
        this.#commit.requestFlush();
        continue;
      }
      this.#dispatch(slot);
    }
  }

  #dispatch(slot: Slot): void {
    const items: TaskItem[] = slot.drops.map((pid) => ({ op: 'drop', pid }));
    slot.drops = [];
    const procs: KProc[] = [];
    const take = (proc: KProc, item: TaskItem) => {
      slot.queue.delete(proc);
      procs.push(proc);
      items.push(item);
      proc.marks = [];
      proc.state = 'running';
      if (proc.queries !== null) {
        items.push(...proc.queries);
        proc.queries = null;
      }
    };
    const gone = (proc: KProc) => proc.state === 'dead' || proc.state === 'diverged' || proc.slot !== slot.index;
    const wake = (proc: KProc) => take(proc, { op: 'wake', pid: proc.pid, marks: proc.marks });
    // Wakes first (work under way: timers, messages, results), then at most
    // MAX_STARTS starts: building thousands of processes takes the thread a
    // while, and a timer that fires meanwhile should not wait behind them.
    const woken = this.#wokenOn(slot);
    for (const proc of woken) {
      if (!slot.queue.has(proc)) continue;
      if (gone(proc)) slot.queue.delete(proc);
      else if (proc.residency === 'resident') wake(proc);
    }
    woken.clear();
    // Starts top the thread's own queue up to MAX_STARTS rather than pile on
    // a thread that has not run the last ones yet: there they would only wait,
    // and make every slice longer to set up.
    let room = MAX_STARTS - (this.#backlog[slot.index] ?? 0);
    if (this.nextTimer() - Date.now() < TIMER_SOON_MS) room = Math.min(room, STARTS_WHILE_TIMERS_DUE);
    let starts = 0;
    for (const proc of slot.queue) {
      if (gone(proc)) {
        slot.queue.delete(proc);
        continue;
      }
      // Back in its thread's memory while queued (a drop the thread declined): a wake.
      if (proc.residency === 'resident') {
        wake(proc);
        continue;
      }
      if (starts++ >= room) break;
      const cold = proc.residency === 'journal';
      const v = this.#versions.get(proc.script);
      take(proc, { op: 'start', pid: proc.pid, run: proc.run, script: proc.script, args: proc.args, cold, marks: proc.marks, ...(v === undefined ? {} : { v }) });
      // From now on a start reads the arguments (and any history) from the journal.
      proc.args = null;
      proc.coldAfter = -1;
      proc.residency = 'resident';
      slot.residents.add(proc);
    }
    slot.more = false;
    if (slot.queue.size === 0) slot.waitForBatch = 0;
    const probes = slot.probes;
    slot.probes = new Map();
    const task: SliceTask = {
      slot: slot.index,
      idNext: slot.idNext,
      pidNext: slot.pidNext,
      pidEnd: slot.pidEnd,
      budgetMs: this.#opts.budgetMs,
      names: slot.names,
      items,
      probes: [...probes.keys()],
    };
    slot.names = [];
    const slice: Slice = { items, procs, started: performance.now(), abort: new Abort(), probes };
    this.#assertSent(slot, slice);
    slot.phase = { is: 'running', slice };
    this.#opts
      .pool()
      .run(slot.index, encodeWire(task), slice.abort)
      .then(
        (buf) => {
          if (!this.#current(slot, slice)) return;
          slot.phase = { is: 'idle' };
          const report = decodeWire<SliceReport>(buf);
          this.#backlog[slot.index] = report.busy;
          for (const [script, err] of report.probes) for (const done of probes.get(script) ?? []) done(err);
          this.#opts.report(slot, report, slice);
          // A process its thread kept (a drop it declined) is in its memory
          // again: queued meanwhile as a start, it goes as a wake.
          for (const pid of report.kept) {
            const proc = this.#table.get(pid);
            if (proc !== undefined && proc.residency === 'resident' && slot.queue.has(proc)) this.#wokenOn(slot).add(proc);
          }
          // An answer shows the process's state, which may rest on results and
          // messages not committed yet: like any output, it leaves once what
          // the process had seen is durable (after this report's rows).
          if (report.queries.length > 0) this.#commit.after(() => this.#answer(report.queries));
        },
        (err: unknown) => {
          // A dead thread is usually handled already (faults.ts, from Piscina's workerDestroy).
          if (this.#current(slot, slice)) this.#opts.sliceFailed(slot, slice, err);
        },
      );
  }

  #wokenOn(slot: Slot): Set<KProc> {
    return (this.#woken[slot.index] ??= new Set());
  }

  #answer(answers: SliceReport['queries']): void {
    for (const [id, ok, value] of answers) {
      const q = this.#queries.get(id);
      this.#queries.delete(id);
      if (ok) q?.resolve(value);
      else q?.reject(revive(value as ErrorData));
    }
  }

  #current(slot: Slot, slice: Slice): boolean {
    return slot.phase.is !== 'idle' && slot.phase.slice === slice;
  }

  /**
   * What must hold for every slice sent (cheap: only the processes in it).
   * A process is queued on its home slot only, and a process handed to its
   * thread carries its markers in the slice, none left behind in the kernel.
   */
  #assertSent(slot: Slot, slice: Slice): void {
    for (const proc of slice.procs) {
      if (proc.slot !== slot.index || proc.marks.length > 0 || proc.state !== 'running') {
        throw new BeamlineError(
          ErrorCodes.INTERNAL,
          `scheduler: ${proc.pid} sent on slot ${slot.index} with home ${proc.slot}, state ${proc.state}, ${proc.marks.length} markers left behind`,
          { pid: proc.pid },
        );
      }
    }
  }

  /** A slice's work is gone: give its markers and queries back and rebuild the thread's processes by replay. */
  sliceLost(slot: Slot, slice: Slice | null): void {
    for (const item of slice?.items ?? []) {
      const proc = this.#table.get(item.pid);
      if (proc === undefined || proc.state === 'dead') continue;
      if (item.op === 'start' || item.op === 'wake') proc.marks = [...item.marks, ...proc.marks];
      else if (item.op === 'query') (proc.queries ??= []).push(item);
    }
    for (const [script, list] of slice?.probes ?? []) {
      const again = slot.probes.get(script) ?? [];
      slot.probes.set(script, [...list, ...again]);
    }
    // Every process the thread held is rebuilt by replay (on whichever thread
    // placement picks); eagerly, since some may have had work only that
    // thread knew about (a step() function in flight).
    for (const proc of [...slot.residents]) {
      this.evict(proc);
      proc.slot = null;
      this.schedule(proc);
    }
    for (const proc of slot.queue) if (proc.residency === 'resident') this.evict(proc);
    slot.onThread.clear();
  }

  /** Its thread reported it quiet. A parked process holds no markers in the kernel: one would never be delivered. */
  park(proc: KProc): void {
    if (proc.marks.length > 0) {
      throw new BeamlineError(ErrorCodes.INTERNAL, `scheduler: ${proc.pid} parked with ${proc.marks.length} markers it would never get`, { pid: proc.pid });
    }
    proc.state = 'parked';
  }

  /** A wake the thread could not apply (it does not hold the process): rebuild it, with the markers it was sent. */
  wakeFailed(proc: KProc, marks: Marker[]): void {
    proc.marks = [...marks, ...proc.marks];
    this.evict(proc);
    this.schedule(proc);
  }

  // ───────────────────────────── idle ─────────────────────────────

  get inFlight(): number {
    return this.slots.filter((s) => s.phase.is !== 'idle').length;
  }

  /** Resolves once no slice is in flight. */
  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      if (this.inFlight === 0) resolve();
      else this.#idle.push(resolve);
    });
  }

  checkIdle(): void {
    if (this.#idle.length === 0 || this.inFlight > 0) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const fn of idle) fn();
  }
}
