// The kernel: the main thread's half of beamline.
//
// It owns the process table, the pending journal batch (committed by the
// journal writer thread, one transaction per batch), the timer service, the
// HTTP client, links, monitors and names. Threads run slices and report; the
// kernel turns each report into journal events, kernel effects and markers
// for other processes, then calls `#pump`, the one dispatch step, which sends
// every slot that has work its next slice.
//
//   report ─▶ #onReport ─▶ events (pending batch) ─┬─▶ #flush ─▶ writer thread ─▶ committed ─▶ after-commit effects
//                                                   └─▶ markers ─▶ slot queues ─▶ #pump ─▶ slices
//
// Work nobody outside can see (a message to another process, a timer) runs
// ahead of the commit; anything the outside world sees (an HTTP request, a
// result printed, a log line) waits for the commit that records its cause.

import { BeamlineError, ErrorCodes, revive, toErrorData, type ErrorData } from '../errors.js';
import { decode, decodeWire, encode, encodeWire } from '../journal/codec.js';
import { Batch } from '../journal/batch.js';
import type { JournalEvent } from '../journal/events.js';
import type { EffectRow, Store, StoreWriter } from '../journal/store.js';
import {
  ID_STRIDE,
  KERNEL_ID_SLOT,
  MAIL_MESSAGE,
  MAIL_SIGNAL,
  MAX_THREADS,
  type Effect,
  type ExitOut,
  type Marker,
  type Pid,
  type QueryItem,
  type RoundOut,
  type SliceReport,
  type SliceTask,
  type TaskItem,
} from '../protocol.js';
import { HttpClient, type ApiRequest } from './http-client.js';
import { place } from './placement.js';
import { ThreadPool } from './pool.js';
import { TimerService } from './timers.js';
import type { KernelPort, SupervisionHooks } from '../supervisor/port.js';

export type ProcState = 'runnable' | 'running' | 'parked' | 'dead';

/** The kernel's view of one process. */
export interface KProc {
  readonly pid: Pid;
  run: number;
  readonly script: string;
  /**
   * The start arguments, until the process first starts. After that they are
   * read back from the journal by whichever thread rebuilds it: not worth
   * keeping in memory for every parked process.
   */
  args: Uint8Array | null;
  readonly parent: Pid | null;
  readonly root: boolean;
  sup: string | null;
  state: ProcState;
  /** Home slot, -1 before placement. */
  slot: number;
  /** The home slot's thread holds the process in memory. */
  resident: boolean;
  /**
   * A start must read the journal: rows exist for this run (replay them), or
   * the mailbox holds messages from before (a restart keeps them).
   */
  fromJournal: boolean;
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
  /** Some message was stored for it (mailbox rows may exist): its mailbox must be dropped with it. */
  stored: boolean;
}

export interface Relations {
  links: Set<Pid>;
  /** Monitors on this process: ref → watcher. */
  watchers: Map<string, Pid>;
  /** Monitors this process holds: ref → target. */
  watching: Map<string, Pid>;
  names: Set<string>;
}

function effectsOf(proc: KProc): Map<number, KEffect> {
  return (proc.effects ??= new Map());
}

function rel(proc: KProc): Relations {
  return (proc.rel ??= { links: new Set(), watchers: new Map(), watching: new Map(), names: new Set() });
}

interface KEffect {
  kind: 'timer' | 'http' | 'spawn';
  timer: { cancelled: boolean } | null;
  abort: AbortController | null;
}

interface Slot {
  readonly index: number;
  inflight: {
    items: TaskItem[];
    /** The processes the slice was sent for. */
    procs: KProc[];
    started: number;
    abort: AbortController;
    probes: Map<string, Array<(err: unknown) => void>>;
  } | null;
  /** Processes with markers to send in the next slice. */
  readonly queue: Set<KProc>;
  /** Processes sent to the thread since it last reported no runnable work: they may still be runnable there. */
  readonly onThread: Set<KProc>;
  /** The thread reported runnable processes of its own. */
  more: boolean;
  names: Array<[string, Pid | null]>;
  readonly residents: Set<KProc>;
  idNext: number;
  /** A runaway was detected; the abort is in progress. */
  aborting: boolean;
  probes: Map<string, Array<(err: unknown) => void>>;
  /** Processes to forget at the start of the next slice (evicted). */
  drops: Pid[];
  /** A process queued here must be rebuilt from the journal: the slice waits for this batch's commit. */
  coldBatch: number;
  /** From the thread's last report: V8 heap in use, processes held. */
  heap: number;
  live: number;
  /** The thread has finished a slice: its module is loaded. */
  warm: boolean;
}

export interface KernelStats {
  processes: number;
  resident: number;
  queued: number;
  rebuilding: number;
  timers: number;
  slicesInFlight: number;
  committing: boolean;
  /** Per thread, from its last slice: V8 heap in use (bytes) and processes held. */
  threads: Array<{ heap: number; live: number }>;
}

export interface ExitInfo {
  pid: Pid;
  run: number;
  reason: unknown;
  result: unknown;
  normal: boolean;
}

export interface KernelOptions {
  store: Store;
  threads: number;
  /** A round running longer than this is a runaway: its process is killed (ms). */
  sliceMs: number;
  /** A slice stops starting new rounds after this long (ms). */
  budgetMs: number;
  natives: string[];
  /** Where process log lines go (stderr under `runtime spawn`). */
  log: (pid: Pid, line: string) => void;
  /** Eviction policy: may this parked process leave its thread's memory now? */
  evict: (proc: KProc, now: number) => boolean;
  /** Keep the history of what ended only this long (ms); pruned hourly. Unset: keep everything. */
  retainMs?: number;
}

export interface SpawnOptions {
  parent?: Pid | null;
  root?: boolean;
  sup?: string | null;
  link?: Pid[];
  name?: string | null;
  /** Slot to sit next to (the parent's), or -1 for the lightest. */
  near?: number;
}

const PID_PATTERN = /^[0-9a-z]{4}\.\d+$/;

export function isPid(value: string): boolean {
  return PID_PATTERN.test(value);
}

export class Kernel {
  readonly store: Store;
  readonly #opts: KernelOptions;
  readonly #procs = new Map<Pid, KProc>();
  readonly #names = new Map<string, Pid>();
  readonly #slots: Slot[];
  readonly #pool: ThreadPool;
  readonly #timers: TimerService<{ proc: KProc; run: number; step: number }>;
  readonly #http: HttpClient;
  readonly #exitWaiters = new Map<Pid, Array<(info: ExitInfo) => void>>();
  readonly #recentExits = new Map<Pid, ExitInfo>();
  /** Scratch for placement (one array, not one per spawn). */
  readonly #loads: number[] = [];
  readonly #recentRing: Array<Pid | undefined> = [];
  #recentHead = 0;
  readonly #events = new Batch();
  #afterCommit: Array<() => void> = [];
  #flushScheduled = false;
  #pumpScheduled = false;
  #nextSerial: number;
  #kernelMailId: number;
  #countersDirty = false;
  #watchdog: NodeJS.Timeout;
  #closing = false;
  #lastSweep = 0;
  #lastPrune = 0;
  readonly #writer: StoreWriter;
  #committing = false;
  #sentBatch = 0;
  #committedBatch = 0;
  #idle: Array<() => void> = [];
  #fatal: Error | null = null;
  #onFatal: (err: Error) => void = () => {};
  /** The supervision tree, once attached: told of every supervised exit. */
  #supervision: SupervisionHooks | null = null;
  /** Addresses outside the process table that can receive a message (gateway replies). */
  readonly #ports = new Map<string, (msg: unknown) => void>();
  #nextPort = 1;
  readonly #queries = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  #nextQuery = 1;

  constructor(opts: KernelOptions) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > MAX_THREADS) {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `threads: must be an integer from 1 to ${MAX_THREADS} (got ${opts.threads})`);
    }
    this.#opts = opts;
    this.store = opts.store;
    const counters = this.store.mailIdCounters(ID_STRIDE);
    this.#slots = Array.from({ length: opts.threads }, (_, index) => ({
      index,
      inflight: null,
      queue: new Set<KProc>(),
      onThread: new Set<KProc>(),
      names: [],
      residents: new Set<KProc>(),
      idNext: counters.get(index) ?? index,
      aborting: false,
      probes: new Map(),
      drops: [],
      coldBatch: 0,
      heap: 0,
      live: 0,
      warm: false,
      more: true, // an empty first slice loads the thread's modules now, not on the first spawn
    }));
    this.#kernelMailId = counters.get(KERNEL_ID_SLOT) ?? KERNEL_ID_SLOT;
    this.#nextSerial = Number(this.store.meta('pid_next') ?? 1);
    this.#timers = new TimerService((due) => this.#timersFired(due));
    this.#writer = this.store.writer();
    // Enough sockets per origin for thousands of processes waiting on one slow API at once.
    this.#http = new HttpClient({ connections: 2048 });
    this.#pool = new ThreadPool({
      threads: opts.threads,
      journal: this.store.readerSpec(),
      natives: opts.natives,
      onWake: (slot) => this.#wake(slot),
      onLost: (slot, running) => this.#threadLost(slot, running),
    });
    this.#watchdog = setInterval(() => this.#checkRunaways(), Math.max(20, Math.min(250, opts.sliceMs / 4)));
    this.#watchdog.unref();
    this.#requestPump();
  }

  /** Called with a fatal error (journal write failed): the node must stop. */
  onFatal(fn: (err: Error) => void): void {
    this.#onFatal = fn;
  }

  /** Attach the supervision: from now on it decides what happens to supervised exits. */
  attach(supervision: SupervisionHooks): void {
    this.#supervision = supervision;
  }

  /** The port a supervision talks to the kernel through (see supervisor/port.ts). */
  supervisorPort(): KernelPort {
    return {
      newPid: () => this.allocatePid(),
      startChild: (script, args, o) => this.spawn(script, args, { sup: o.ref, name: o.name, parent: o.parent }),
      restartChild: (pid, name) => this.restart(pid, name),
      signal: (pid, reason, from) => this.kill(pid, reason, from),
      release: (pid) => this.forget(pid),
      runOf: (pid) => {
        const proc = this.#procs.get(pid);
        return proc === undefined ? null : { run: proc.run, live: proc.state !== 'dead' };
      },
      persist: (pid, data) => this.record({ type: 'supervisor.state', pid, data }),
      journal: this.store,
    };
  }

  // ───────────────────────────── public API ─────────────────────────────

  /** Rebuild the node's state from the journal and resume every live process. */
  recover(): number {
    const now = Date.now();
    const rows = this.store.liveProcesses();
    for (const row of rows) {
      const proc = this.#newProc(row.pid, row.run, row.script, row.args, row.parent, row.root, row.sup, row.spawnedAt);
      proc.fromJournal = true;
      proc.stored = true; // its mailbox may hold anything
      proc.lastActive = now;
      this.#procs.set(proc.pid, proc);
    }
    for (const [name, pid] of this.store.names()) {
      const proc = this.#procs.get(pid);
      if (proc === undefined) continue;
      this.#names.set(name, pid);
      rel(proc).names.add(name);
    }
    for (const [a, b] of this.store.links()) {
      const pa = this.#procs.get(a);
      const pb = this.#procs.get(b);
      if (pa !== undefined) rel(pa).links.add(b);
      if (pb !== undefined) rel(pb).links.add(a);
    }
    for (const m of this.store.monitors()) {
      const target = this.#procs.get(m.target);
      const watcher = this.#procs.get(m.watcher);
      if (target !== undefined) rel(target).watchers.set(m.ref, m.watcher);
      if (watcher !== undefined) rel(watcher).watching.set(m.ref, m.target);
    }
    for (const eff of this.store.effects()) this.#recoverEffect(eff);
    for (const slot of this.#slots) slot.names = [...this.#names.entries()];
    for (const proc of this.#procs.values()) this.#schedule(proc);
    this.#requestPump();
    return rows.length;
  }

  /** Live processes (kernel view). */
  processes(): KProc[] {
    return [...this.#procs.values()];
  }

  process(pid: Pid): KProc | undefined {
    return this.#procs.get(pid);
  }

  whereis(name: string): Pid | undefined {
    return this.#names.get(name);
  }

  /** Registered names, for `ps`. */
  names(): ReadonlyMap<string, Pid> {
    return this.#names;
  }

  /** A fresh pid from this node's sequence (supervisors take theirs from here too). */
  allocatePid(): Pid {
    this.#countersDirty = true;
    this.#requestFlush();
    return `${this.store.tag}.${this.#nextSerial++}`;
  }

  /** Add events to the pending batch (supervision state). */
  record(event: JournalEvent): void {
    this.#events.push(event);
    this.#requestFlush();
  }

  /** Run `fn` once everything recorded so far is committed. */
  afterCommit(fn: () => void): void {
    this.#afterCommit.push(fn);
    this.#requestFlush();
  }

  /**
   * An address a process can reply to (the HTTP gateway's `from`). Messages
   * sent to it are handed to `fn` once the send is committed.
   */
  openPort(fn: (msg: unknown) => void): string {
    const port = `${this.store.tag}.port${this.#nextPort++}`;
    this.#ports.set(port, fn);
    return port;
  }

  closePort(port: string): void {
    this.#ports.delete(port);
  }

  /** Ask a process's onQuery handler; the process is rebuilt first if it is not in memory. */
  query(pid: string, name: string, args: unknown[] = []): Promise<unknown> {
    this.#assertOpen();
    const proc = this.#resolve(pid);
    if (proc === undefined) return Promise.reject(new BeamlineError(ErrorCodes.NOPROC, `query: no live process ${pid}`, { pid }));
    const id = this.#nextQuery++;
    return new Promise((resolve, reject) => {
      this.#queries.set(id, { resolve, reject });
      (proc.queries ??= []).push({ op: 'query', id, pid: proc.pid, name, args });
      this.#schedule(proc);
      this.#requestPump();
    });
  }

  /**
   * Forget history that ended before `before` (ms since the epoch): exited
   * processes (unless a supervisor may restart them) and earlier runs of live
   * ones. Live runs are never touched: they are what recovery replays.
   */
  prune(before: number): Promise<void> {
    this.#assertOpen();
    this.record({ type: 'history.pruned', before });
    return this.flush();
  }

  /** Drop a dead process a supervisor held for a restart that will not come. */
  forget(pid: Pid): void {
    const proc = this.#procs.get(pid);
    if (proc === undefined || proc.state !== 'dead') return;
    this.#procs.delete(pid);
    this.#events.push({ type: 'mail.dropped', pid });
    this.#requestFlush();
  }

  /** Load `script` on a thread; resolves null when it is a valid process script, else the load error. */
  probe(script: string): Promise<ErrorData | null> {
    this.#assertOpen();
    const slot = this.#slots[0]!;
    return new Promise((resolve) => {
      const list = slot.probes.get(script) ?? [];
      list.push(resolve as (err: unknown) => void);
      slot.probes.set(script, list);
      this.#requestPump();
    });
  }

  /** Start a process. The script must already be validated (see Node.spawn). */
  spawn(script: string, args: Uint8Array, opts: SpawnOptions = {}): Pid {
    this.#assertOpen();
    if (opts.name) this.#assertNameFree(opts.name, 'spawn');
    const pid = `${this.store.tag}.${this.#nextSerial++}`;
    this.#countersDirty = true;
    const now = Date.now();
    const proc = this.#newProc(pid, 1, script, args, opts.parent ?? null, opts.root ?? false, opts.sup ?? null, now);
    this.#procs.set(pid, proc);
    this.#events.push({
      type: 'process.spawned',
      pid,
      run: 1,
      at: now,
      script,
      args,
      parent: proc.parent,
      root: proc.root,
      sup: proc.sup,
    });
    for (const other of opts.link ?? []) this.#link(proc, other);
    if (opts.name) this.#register(proc, opts.name);
    this.#schedule(proc, opts.near ?? -1);
    this.#requestFlush();
    this.#requestPump();
    return pid;
  }

  /** Start the next run of a dead process: same pid, same mailbox (supervisor restart). */
  restart(pid: Pid, name: string | null = null): void {
    let proc = this.#procs.get(pid);
    if (proc === undefined) {
      // Held for restart across a node crash: only the journal still knows it.
      const row = this.store.process(pid);
      if (row !== undefined && row.status === 'exited') {
        proc = this.#newProc(row.pid, row.run, row.script, row.args, row.parent, row.root, row.sup, row.spawnedAt);
        proc.state = 'dead';
        proc.stored = true;
        this.#procs.set(pid, proc);
      }
    }
    if (proc === undefined || proc.state !== 'dead') throw new BeamlineError(ErrorCodes.NOPROC, `restart: ${pid} is not a dead process`);
    if (name !== null) this.#assertNameFree(name, 'restart');
    proc.run++;
    proc.lastExit = null;
    proc.state = 'parked';
    // The new run has no history, but it takes over the unconsumed mailbox from the journal.
    proc.fromJournal = true;
    proc.rounds = 0;
    proc.resident = false;
    this.#events.push({ type: 'process.restarted', pid, run: proc.run, at: Date.now() });
    if (name !== null) this.#register(proc, name);
    this.#schedule(proc, proc.slot);
    this.#requestFlush();
    this.#requestPump();
  }

  /** Deliver a message from outside (CLI, gateway, kernel) to a pid or name. */
  send(to: string, msg: unknown, from: Pid = 'kernel'): boolean {
    const pid = this.#names.get(to) ?? to;
    const proc = this.#procs.get(pid);
    // A dead process still in the table awaits a restart: its mailbox is kept.
    if (proc === undefined) return false;
    this.#mail(proc, from, MAIL_MESSAGE, encode(msg));
    this.#requestFlush();
    this.#requestPump();
    return true;
  }

  /**
   * Deliver a request whose sender waits on a connection (the HTTP gateway).
   * It is not stored on arrival: if the node dies before the process takes
   * it, the caller sees its connection fail — as with any server — instead
   * of the request being run later for nobody. Once taken, it is in the
   * process's journal like any message; left unread at the end of a slice, it
   * is stored like any other.
   */
  sendRequest(to: string, msg: unknown, from: string): boolean {
    const proc = this.#procs.get(this.#names.get(to) ?? to);
    if (proc === undefined) return false;
    // Held for a restart: keep it in the mailbox the next run takes over.
    if (proc.state === 'dead') return this.send(to, msg, from);
    this.#mark(proc, { m: 'mail', id: this.#newMailId(), from, kind: MAIL_MESSAGE, data: encode(msg), unstored: true });
    return true;
  }

  /** Send an exit signal from outside. */
  kill(to: string, reason: unknown = 'kill', from: Pid = 'kernel'): boolean {
    const pid = this.#names.get(to) ?? to;
    const proc = this.#procs.get(pid);
    if (proc === undefined || proc.state === 'dead') return false;
    this.#signal(from, proc, reason);
    this.#requestFlush();
    this.#requestPump();
    return true;
  }

  /** Resolves once the process's exit is committed. */
  async waitExit(pid: Pid): Promise<ExitInfo> {
    const proc = this.#procs.get(pid);
    if (proc === undefined) {
      const recent = this.#recentExits.get(pid);
      if (recent !== undefined) {
        await this.flush(); // resolve only once the exit is durable
        return recent;
      }
      await this.flush(); // its exit may still be on its way to the journal
      const row = this.store.process(pid);
      if (row === undefined) throw new BeamlineError(ErrorCodes.NOPROC, `no process ${pid}`, { pid });
      return exitInfoFromRow(pid, row.run, row.reason, row.result);
    }
    if (proc.state === 'dead' && proc.lastExit !== null) {
      // Held for a restart: the exit is known, but may not be durable yet.
      const info = proc.lastExit;
      await this.flush();
      return info;
    }
    return new Promise((resolve) => {
      const list = this.#exitWaiters.get(pid) ?? [];
      list.push(resolve);
      this.#exitWaiters.set(pid, list);
    });
  }

  /** Resolves once everything recorded so far is committed. */
  flush(): Promise<void> {
    return new Promise((resolve) => this.afterCommit(resolve));
  }

  /** Stop dispatching, let in-flight slices land, commit, stop threads. Live processes stay live in the journal. */
  async close(): Promise<void> {
    if (this.#closing) return;
    // Terminating a thread that is still loading its modules can abort the
    // whole process (Node 20's synchronous ESM loading): let every thread
    // finish its first slice before the pool goes.
    const deadline = Date.now() + 10_000;
    while (this.#slots.some((s) => !s.warm) && Date.now() < deadline && this.#fatal === null) {
      await new Promise((r) => setTimeout(r, 5));
    }
    this.#closing = true;
    clearInterval(this.#watchdog);
    this.#timers.stop();
    await new Promise<void>((resolve) => {
      if (this.#slots.every((s) => s.inflight === null)) resolve();
      else this.#idle.push(resolve);
    });
    await this.#http.close();
    if (this.#fatal === null) await this.flush();
    await this.#writer.close();
    await this.#pool.close();
  }

  get timersArmed(): number {
    return this.#timers.size;
  }

  /**
   * Counts for monitoring (and benchmarks): live processes, how many are in a
   * thread's memory, how many wait for a slice, timers armed, slices and
   * commits in flight. After a restart, `rebuilding` falls to 0 once every
   * recovered process has been replayed.
   */
  stats(): KernelStats {
    let resident = 0;
    let rebuilding = 0;
    let queued = 0;
    for (const proc of this.#procs.values()) {
      if (proc.state === 'dead') continue;
      if (proc.resident) resident++;
      if (proc.state === 'runnable' || proc.state === 'running') queued++;
    }
    for (const slot of this.#slots) {
      for (const proc of slot.queue) if (!proc.resident && proc.fromJournal) rebuilding++;
      for (const item of slot.inflight?.items ?? []) if (item.op === 'start' && item.cold) rebuilding++;
    }
    return {
      processes: this.#procs.size,
      resident,
      queued,
      rebuilding,
      timers: this.#timers.size,
      slicesInFlight: this.#slots.filter((s) => s.inflight !== null).length,
      committing: this.#committing,
      threads: this.#slots.map((s) => ({ heap: s.heap, live: s.live })),
    };
  }

  // ───────────────────────────── dispatch ─────────────────────────────

  #requestPump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** The one dispatch step: every slot that has work and no slice in flight gets one. */
  #pump(): void {
    if (this.#closing || this.#fatal !== null) return;
    for (const slot of this.#slots) {
      if (slot.inflight !== null || slot.aborting) continue;
      if (slot.queue.size === 0 && !slot.more && slot.probes.size === 0 && slot.drops.length === 0) continue;
      // A cold start reads history from the journal: it must be committed first.
      if (slot.coldBatch > this.#committedBatch) {
        this.#requestFlush();
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
    // Wakes first (work under way: timers, messages, results), then at most
    // MAX_STARTS starts: building thousands of processes takes the thread a
    // while, and a timer that fires meanwhile should not wait behind them.
    for (const proc of slot.queue) {
      if (proc.state === 'dead' || proc.slot !== slot.index) slot.queue.delete(proc);
      else if (proc.resident) take(proc, { op: 'wake', pid: proc.pid, marks: proc.marks });
    }
    let starts = 0;
    for (const proc of slot.queue) {
      if (starts++ >= MAX_STARTS) break;
      take(proc, { op: 'start', pid: proc.pid, run: proc.run, script: proc.script, args: proc.args, cold: proc.fromJournal, marks: proc.marks });
      // From now on a start reads the arguments (and any history) from the journal.
      proc.args = null;
      proc.fromJournal = true;
      proc.resident = true;
      slot.residents.add(proc);
    }
    slot.more = false;
    if (slot.queue.size === 0) slot.coldBatch = 0;
    const probes = slot.probes;
    slot.probes = new Map();
    const task: SliceTask = {
      slot: slot.index,
      idNext: slot.idNext,
      budgetMs: this.#opts.budgetMs,
      names: slot.names,
      items,
      probes: [...probes.keys()],
    };
    slot.names = [];
    const abort = new AbortController();
    const inflight = { items, procs, started: performance.now(), abort, probes };
    slot.inflight = inflight;
    this.#pool.run(slot.index, encodeWire(task), abort.signal).then(
      (buf) => {
        if (slot.inflight !== inflight) return;
        slot.inflight = null;
        const report = decodeWire<SliceReport>(buf);
        for (const [script, err] of report.probes) for (const done of probes.get(script) ?? []) done(err);
        for (const [id, ok, value] of report.queries) {
          const q = this.#queries.get(id);
          this.#queries.delete(id);
          if (ok) q?.resolve(value);
          else q?.reject(revive(value as ErrorData));
        }
        this.#onReport(slot, report, inflight.procs);
      },
      (err) => {
        // A dead thread is usually handled already (#threadLost, from
        // Piscina's workerDestroy). If not, it is handled here.
        if (slot.inflight !== inflight) return;
        if (isThreadDeath(err)) {
          this.#threadLost(slot.index, this.#pool.release(slot.index));
          return;
        }
        slot.inflight = null;
        process.emitWarning(`beamline: slice on thread ${slot.index} failed: ${(err as Error)?.stack ?? String(err)}`);
        for (const [script, list] of probes) {
          const again = slot.probes.get(script) ?? [];
          slot.probes.set(script, [...list, ...again]);
        }
        this.#sliceLost(slot, inflight.items);
        this.#requestPump();
        this.#checkIdle();
      },
    );
  }

  /** Queue a process for its next slice (placing it first if it has no thread). */
  #schedule(proc: KProc, near = -1): void {
    if (proc.state === 'dead') return;
    if (proc.slot < 0) {
      const loads = this.#loads;
      for (let i = 0; i < this.#slots.length; i++) loads[i] = this.#slots[i]!.residents.size + this.#slots[i]!.queue.size;
      proc.slot = place(loads, near);
    }
    const slot = this.#slots[proc.slot]!;
    slot.queue.add(proc);
    if (!proc.resident && proc.fromJournal) slot.coldBatch = Math.max(slot.coldBatch, this.#batchSoFar());
    if (proc.state !== 'running') proc.state = 'runnable';
  }

  #mark(proc: KProc, marker: Marker): void {
    if (proc.state === 'dead') return;
    proc.marks.push(marker);
    this.#schedule(proc);
    this.#requestPump();
  }

  #wake(slotIndex: number): void {
    const slot = this.#slots[slotIndex];
    if (slot === undefined) return;
    slot.more = true;
    this.#requestPump();
  }

  // ───────────────────────────── reports ─────────────────────────────

  #onReport(slot: Slot, report: SliceReport, sent: KProc[]): void {
    slot.warm = true;
    // Persisted with the next commit, only when the thread used ids (two fewer
    // writes on every other commit).
    if (report.nextId > slot.idNext) {
      slot.idNext = report.nextId;
      this.#countersDirty = true;
    }
    slot.heap = report.heap;
    slot.live = report.live;
    const now = Date.now();
    for (const m of report.mail) {
      const pid = this.#names.get(m.to) ?? m.to;
      const target = this.#procs.get(pid);
      if (target === undefined) {
        const port = this.#ports.get(pid);
        // A reply leaves the node: only once the send that caused it is committed.
        if (port !== undefined) this.#afterCommit.push(() => port(decode(m.data)));
        continue; // like Erlang: a send to a dead pid is dropped
      }
      // A dead process still in the table is held for a supervisor restart:
      // its mailbox is kept for the next run, so the message is stored.
      this.#events.push({ type: 'mail.put', id: m.id, to: pid, from: m.from, kind: m.kind, data: m.data });
      target.stored = true;
      if (!m.local && target.state !== 'dead') this.#mark(target, { m: 'mail', id: m.id, from: m.from, kind: m.kind, data: m.data });
    }
    for (const id of report.taken) this.#events.push({ type: 'mail.taken', id });
    for (const t of report.trapped) this.#events.push({ type: 'mail.rewritten', id: t.id, kind: MAIL_MESSAGE, data: t.data });
    for (const round of report.rounds) this.#round(round, now);
    for (const f of report.failed) {
      const proc = this.#procs.get(f.pid);
      if (proc === undefined || proc.state === 'dead') continue;
      this.#evict(proc);
      this.#schedule(proc);
    }
    for (const pid of report.kept) {
      const proc = this.#procs.get(pid);
      if (proc === undefined || proc.state === 'dead' || proc.resident) continue;
      if (proc.slot !== slot.index) continue;
      // Still in that thread's memory: a start queued meanwhile becomes a wake at dispatch.
      proc.resident = true;
      slot.residents.add(proc);
    }
    for (const proc of sent) slot.onThread.add(proc);
    if (report.busy > 0) {
      // The thread still has runnable processes, and it does not say which:
      // every process sent to it since it was last quiet may hold markers it
      // has not applied yet, so none of them is parked (nor evictable).
      slot.more = true;
    } else {
      // Quiet: everything sent to the thread has run. Only those change
      // state: never walk every resident here.
      for (const proc of slot.onThread) if (proc.state === 'running' && !slot.queue.has(proc)) proc.state = 'parked';
      for (const proc of slot.onThread) this.#maybeEvict(slot, proc, now);
      slot.onThread.clear();
      for (const round of report.rounds) {
        const proc = this.#procs.get(round.pid);
        if (proc !== undefined) this.#maybeEvict(slot, proc, now);
      }
    }
    this.#requestFlush();
    this.#pump();
    this.#checkIdle();
  }

  #round(round: RoundOut, now: number): void {
    const proc = this.#procs.get(round.pid);
    if (proc === undefined || proc.run !== round.run || proc.state === 'dead') return;
    proc.lastActive = now;
    if (round.row !== null) {
      this.#events.push({ type: 'process.round', pid: proc.pid, run: proc.run, at: now, row: round.row });
      proc.fromJournal = true;
      proc.rounds++;
    }
    for (const eff of round.effects) this.#effect(proc, eff);
    for (const step of round.settled) this.#settle(proc, step);
    if (round.logs.length > 0) {
      const lines = round.logs;
      const pid = proc.pid;
      this.#afterCommit.push(() => {
        for (const line of lines) this.#opts.log(pid, line);
      });
    }
    if (round.exit === null) return;
    if (round.exit.next !== undefined) this.#continued(proc, round.exit.next, round.row === null, round.exit.dropHistory === true);
    else this.#exited(proc, round.exit, round.row === null);
  }

  // ───────────────────────────── effects ─────────────────────────────

  #effect(proc: KProc, eff: Effect): void {
    switch (eff.e) {
      case 'timer': {
        const timer = this.#timers.arm(eff.at, { proc, run: proc.run, step: eff.step });
        effectsOf(proc).set(eff.step, { kind: 'timer', timer, abort: null });
        this.#events.push({ type: 'effect.armed', pid: proc.pid, run: proc.run, step: eff.step, kind: 'timer', at: eff.at, data: EMPTY });
        return;
      }
      case 'http': {
        effectsOf(proc).set(eff.step, { kind: 'http', timer: null, abort: null });
        this.#events.push({
          type: 'effect.armed',
          pid: proc.pid,
          run: proc.run,
          step: eff.step,
          kind: 'http',
          at: null,
          data: encode({ req: eff.req, key: eff.key }),
        });
        const run = proc.run;
        // The request leaves only once the command that caused it is durable.
        this.#afterCommit.push(() => this.#startHttp(proc, run, eff.step, eff.req, eff.key));
        return;
      }
      case 'spawn':
        this.#spawnChild(proc, eff);
        return;
      case 'startChild': {
        let ok = true;
        let value: unknown;
        try {
          if (this.#supervision === null) throw new BeamlineError(ErrorCodes.NOPROC, 'startChild: this node runs no supervision tree');
          value = this.#supervision.startDynamic(eff.sup, decode(eff.args) as unknown[]);
        } catch (err) {
          ok = false;
          value = toErrorData(err, false);
        }
        this.#resolveNow(proc, eff.step, 'spawn', ok, value);
        return;
      }
      case 'link': {
        const other = this.#resolve(eff.pid);
        if (other === undefined) this.#signal(eff.pid, proc, 'noproc');
        else this.#link(proc, other.pid);
        return;
      }
      case 'unlink':
        this.#unlink(proc, eff.pid);
        return;
      case 'monitor': {
        const target = this.#resolve(eff.pid);
        if (target === undefined) {
          this.#mail(proc, eff.pid, MAIL_MESSAGE, encode({ type: 'down', ref: eff.ref, pid: eff.pid, reason: 'noproc' }));
          return;
        }
        rel(target).watchers.set(eff.ref, proc.pid);
        rel(proc).watching.set(eff.ref, target.pid);
        this.#events.push({ type: 'monitor.added', ref: eff.ref, watcher: proc.pid, target: target.pid });
        return;
      }
      case 'demonitor': {
        const target = this.#procs.get(proc.rel?.watching.get(eff.ref) ?? '');
        proc.rel?.watching.delete(eff.ref);
        target?.rel?.watchers.delete(eff.ref);
        this.#events.push({ type: 'monitor.removed', ref: eff.ref });
        return;
      }
      case 'signal': {
        const target = this.#resolve(eff.to);
        if (target !== undefined) this.#signal(proc.pid, target, eff.reason);
        return;
      }
      case 'register':
        this.#register(proc, eff.name);
        return;
      case 'unregister':
        if (this.#names.get(eff.name) === proc.pid) this.#unregister(eff.name);
        return;
      default: {
        const never: never = eff;
        throw new BeamlineError(ErrorCodes.INTERNAL, `unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  /** The process consumed or cancelled the effect at `step`. */
  #settle(proc: KProc, step: number): void {
    const eff = proc.effects?.get(step);
    if (eff === undefined) return;
    proc.effects?.delete(step);
    if (eff.timer !== null) this.#timers.cancel(eff.timer as never);
    // Only a request still in flight has a controller (see #effectDone).
    eff.abort?.abort(new BeamlineError(ErrorCodes.TIMEOUT, 'cancelled'));
    this.#events.push({ type: 'effect.cleared', pid: proc.pid, run: proc.run, step });
  }

  #timersFired(due: Array<{ proc: KProc; run: number; step: number }>): void {
    for (const { proc, run, step } of due) {
      if (proc.run !== run || proc.effects?.has(step) !== true) continue;
      this.#mark(proc, { m: 'res', run, step, ok: true, v: null });
    }
  }

  #startHttp(proc: KProc, run: number, step: number, req: ApiRequest, key: string): void {
    const eff = proc.effects?.get(step);
    if (eff === undefined || proc.run !== run || proc.state === 'dead' || this.#closing) return;
    const abort = new AbortController();
    eff.abort = abort;
    this.#http.request(req, key, abort.signal).then(
      (res) => this.#effectDone(proc, run, step, true, res),
      (err: unknown) => {
        if (abort.signal.aborted || (err as BeamlineError)?.code === ErrorCodes.NODE_CLOSED) return;
        this.#effectDone(proc, run, step, false, toErrorData(err, false));
      },
    );
  }

  /** An effect's result is known: commit it, then wake the process (it must never see an uncommitted result). */
  #effectDone(proc: KProc, run: number, step: number, ok: boolean, value: unknown): void {
    const eff = proc.effects?.get(step);
    if (proc.run !== run || proc.state === 'dead' || eff === undefined) return;
    eff.abort = null; // finished: nothing left to cancel
    let v: Buffer;
    try {
      v = encode(value);
    } catch (err) {
      // A result the journal cannot hold fails this one effect. Thrown here it
      // would kill the node, and the effect, still open in the journal, would
      // be re-issued and kill it again on every boot.
      ok = false;
      v = encode(toErrorData(err, false));
    }
    this.#events.push({ type: 'effect.done', pid: proc.pid, run, step, ok, value: v });
    this.#afterCommit.push(() => {
      if (proc.run === run && proc.effects?.has(step) === true) this.#mark(proc, { m: 'res', run, step, ok, v });
    });
    this.#requestFlush();
  }

  #recoverEffect(eff: EffectRow): void {
    const proc = this.#procs.get(eff.pid);
    if (proc === undefined || proc.run !== eff.run) return;
    if (eff.done) {
      effectsOf(proc).set(eff.step, { kind: eff.kind as KEffect['kind'], timer: null, abort: null });
      proc.marks.push({ m: 'res', run: eff.run, step: eff.step, ok: eff.ok, v: eff.value });
      return;
    }
    switch (eff.kind) {
      case 'timer': {
        const timer = this.#timers.arm(eff.at ?? 0, { proc, run: eff.run, step: eff.step });
        effectsOf(proc).set(eff.step, { kind: 'timer', timer, abort: null });
        return;
      }
      case 'http': {
        effectsOf(proc).set(eff.step, { kind: 'http', timer: null, abort: null });
        const { req, key } = decode(eff.data) as { req: ApiRequest; key: string };
        // Already committed as started: re-issue with the same idempotency key.
        queueMicrotask(() => this.#startHttp(proc, eff.run, eff.step, req, key));
        return;
      }
      default:
        effectsOf(proc).set(eff.step, { kind: eff.kind as KEffect['kind'], timer: null, abort: null });
    }
  }

  /**
   * An effect the kernel completes at once (spawn, startChild): journaled as
   * armed-and-done so a crash before the process consumes it re-delivers it.
   */
  #resolveNow(proc: KProc, step: number, kind: KEffect['kind'], ok: boolean, value: unknown): void {
    const v = encode(value);
    effectsOf(proc).set(step, { kind, timer: null, abort: null });
    this.#events.push({ type: 'effect.armed', pid: proc.pid, run: proc.run, step, kind, at: null, data: EMPTY, done: { ok, value: v } });
    this.#mark(proc, { m: 'res', run: proc.run, step, ok, v });
  }

  #spawnChild(parent: KProc, eff: Extract<Effect, { e: 'spawn' }>): void {
    let pid: Pid;
    try {
      // eff.args is a view into the whole report buffer: keep a copy of its own.
      pid = this.spawn(eff.script, Buffer.from(eff.args), {
        parent: parent.pid,
        link: eff.link ? [parent.pid] : [],
        name: eff.name,
        near: parent.slot,
      });
    } catch (err) {
      this.#resolveNow(parent, eff.step, 'spawn', false, toErrorData(err, false));
      return;
    }
    if (eff.monitor) {
      const ref = `${parent.pid}#${eff.step}`;
      rel(this.#procs.get(pid)!).watchers.set(ref, parent.pid);
      rel(parent).watching.set(ref, pid);
      this.#events.push({ type: 'monitor.added', ref, watcher: parent.pid, target: pid });
    }
    this.#resolveNow(parent, eff.step, 'spawn', true, pid);
  }

  // ───────────────────────────── links, signals, names ─────────────────────────────

  #resolve(target: string): KProc | undefined {
    const proc = this.#procs.get(this.#names.get(target) ?? target);
    return proc === undefined || proc.state === 'dead' ? undefined : proc;
  }

  #link(proc: KProc, otherPid: Pid): void {
    const other = this.#procs.get(otherPid);
    if (other === undefined || other.state === 'dead' || other === proc || proc.rel?.links.has(otherPid)) return;
    rel(proc).links.add(otherPid);
    rel(other).links.add(proc.pid);
    const [a, b] = proc.pid < otherPid ? [proc.pid, otherPid] : [otherPid, proc.pid];
    this.#events.push({ type: 'link.added', a, b });
  }

  #unlink(proc: KProc, otherPid: Pid): void {
    if (proc.rel?.links.delete(otherPid) !== true) return;
    this.#procs.get(otherPid)?.rel?.links.delete(proc.pid);
    const [a, b] = proc.pid < otherPid ? [proc.pid, otherPid] : [otherPid, proc.pid];
    this.#events.push({ type: 'link.removed', a, b });
  }

  /** An exit signal: stored in the target's mailbox, handled by the target's thread (which knows whether it traps). */
  #signal(from: Pid, target: KProc, reason: unknown): void {
    if (target.state === 'dead') return;
    if (reason === 'kill' && !target.resident) {
      // Untrappable and the process is in no thread's memory: end it here.
      this.#exited(target, { reason: 'killed', result: null, lastMessage: null }, true);
      return;
    }
    this.#mail(target, from, MAIL_SIGNAL, encode({ reason }));
  }

  /** An id from the kernel's own id space (see ID_STRIDE). */
  #newMailId(): number {
    const id = this.#kernelMailId;
    this.#kernelMailId += ID_STRIDE;
    this.#countersDirty = true;
    return id;
  }

  /** A kernel-made mailbox entry: stored, then delivered. */
  #mail(target: KProc, from: Pid, kind: number, data: Uint8Array): void {
    const id = this.#newMailId();
    this.#events.push({ type: 'mail.put', id, to: target.pid, from, kind, data });
    target.stored = true;
    // #mark ignores a dead (held) process: the stored entry waits for its next run.
    this.#mark(target, { m: 'mail', id, from, kind: kind as 0 | 1, data });
  }

  #register(proc: KProc, name: string): void {
    const owner = this.#names.get(name);
    if (owner === proc.pid) return;
    if (owner !== undefined) {
      // Two threads raced for the name; the later claim loses, like a badarg in Erlang.
      const err = new BeamlineError(ErrorCodes.NAME_TAKEN, `register: name '${name}' is already registered to ${owner}`, { name });
      this.#signal('kernel', proc, toErrorData(err, false));
      for (const slot of this.#slots) slot.names.push([name, owner]);
      return;
    }
    this.#names.set(name, proc.pid);
    rel(proc).names.add(name);
    this.#events.push({ type: 'name.registered', name, pid: proc.pid });
    for (const slot of this.#slots) slot.names.push([name, proc.pid]);
  }

  /** A start that would register a taken name is refused at the call (the name is not stolen, nothing starts). */
  #assertNameFree(name: string, op: string): void {
    const owner = this.#names.get(name);
    if (owner !== undefined) throw new BeamlineError(ErrorCodes.NAME_TAKEN, `${op}: name '${name}' is already registered to ${owner}`, { name });
  }

  #unregister(name: string): void {
    const owner = this.#procs.get(this.#names.get(name) ?? '');
    owner?.rel?.names.delete(name);
    this.#names.delete(name);
    this.#events.push({ type: 'name.unregistered', name });
    for (const slot of this.#slots) slot.names.push([name, null]);
  }

  // ───────────────────────────── exits ─────────────────────────────

  /**
   * continueAsNew: the run ended, the process goes on as its next run with
   * new arguments. Not an exit — links, monitors, names, the mailbox and the
   * supervisor are untouched — but the old run's effects are gone with it.
   */
  #continued(proc: KProc, args: Uint8Array, writeRow: boolean, dropHistory = false): void {
    const now = Date.now();
    if (writeRow) this.#events.push({ type: 'process.round', pid: proc.pid, run: proc.run, at: now, row: encode({ r: [], c: [], x: 'continued' }) });
    this.#dropEffects(proc);
    if (proc.resident) this.#slots[proc.slot]?.residents.delete(proc);
    proc.resident = false; // its thread let the old run go
    proc.run++;
    proc.rounds = 0;
    proc.args = null;
    proc.fromJournal = true; // the new run reads its arguments (and mailbox) from the journal
    // Markers still queued go along: mail for the new run; the old run's
    // resolutions are dropped by the executor, which checks every marker's run.
    this.#events.push({ type: 'process.restarted', pid: proc.pid, run: proc.run, at: now, args: Buffer.from(args), ...(dropHistory ? { dropHistory } : {}) });
    this.#schedule(proc);
    this.#requestFlush();
  }

  /** Cancel and forget every effect of the process's current run. */
  #dropEffects(proc: KProc): void {
    if (proc.effects === null || proc.effects.size === 0) return;
    for (const eff of proc.effects.values()) {
      if (eff.timer !== null) this.#timers.cancel(eff.timer as never);
      eff.abort?.abort(new BeamlineError(ErrorCodes.NOPROC, `process ${proc.pid} ended its run`));
    }
    proc.effects = null;
    // Every effect row of this run is in `effects`; with none, there is nothing to delete.
    this.#events.push({ type: 'effect.cleared', pid: proc.pid, run: proc.run, step: null });
  }

  #exited(proc: KProc, exit: ExitOut, writeRow: boolean): void {
    if (proc.state === 'dead') return;
    const now = Date.now();
    const reason = exit.reason;
    if (writeRow) this.#events.push({ type: 'process.round', pid: proc.pid, run: proc.run, at: now, row: encode({ r: [], c: [], x: reason }) });
    this.#events.push({
      type: 'process.exited',
      pid: proc.pid,
      run: proc.run,
      at: now,
      reason: encode(reason),
      result: exit.result,
      lastMessage: exit.lastMessage,
    });
    proc.state = 'dead';
    proc.marks = [];
    if (proc.resident) this.#slots[proc.slot]?.residents.delete(proc);
    proc.resident = false;
    this.#dropEffects(proc);
    const r = proc.rel;
    if (r !== null) {
      for (const name of [...r.names]) this.#unregister(name);
      for (const other of [...r.links]) {
        this.#unlink(proc, other);
        const target = this.#procs.get(other);
        if (target !== undefined) this.#signal(proc.pid, target, reason);
      }
      for (const [ref, watcher] of r.watchers) {
        const w = this.#procs.get(watcher);
        w?.rel?.watching.delete(ref);
        this.#events.push({ type: 'monitor.removed', ref });
        if (w !== undefined && w.state !== 'dead') {
          this.#mail(w, proc.pid, MAIL_MESSAGE, encode({ type: 'down', ref, pid: proc.pid, reason }));
        }
      }
      for (const [ref, target] of r.watching) {
        this.#procs.get(target)?.rel?.watchers.delete(ref);
        this.#events.push({ type: 'monitor.removed', ref });
      }
      proc.rel = null;
    }
    const info: ExitInfo = {
      pid: proc.pid,
      run: proc.run,
      reason,
      result: exit.result === null ? null : decode(exit.result),
      normal: reason === 'normal',
    };
    proc.lastExit = info;
    for (const q of proc.queries ?? []) this.#queries.get(q.id)?.reject(new BeamlineError(ErrorCodes.NOPROC, `query: process ${proc.pid} exited`));
    proc.queries = null;
    const waiters = this.#exitWaiters.get(proc.pid);
    if (waiters !== undefined) {
      this.#exitWaiters.delete(proc.pid);
      this.#afterCommit.push(() => {
        for (const w of waiters) w(info);
      });
    }
    const decision = proc.sup === null || this.#supervision === null ? 'release' : this.#supervision.childExited({ pid: proc.pid, ref: proc.sup, reason });
    if (decision === 'release' && proc.state === 'dead') {
      // Only a process that was ever sent a stored message can have mailbox rows.
      if (proc.stored) this.#events.push({ type: 'mail.dropped', pid: proc.pid });
      this.#procs.delete(proc.pid);
      // Waiting for an exit that just happened is common (spawn, then wait):
      // answer from memory rather than the journal for the latest ones.
      this.#recentExits.set(proc.pid, info);
      // A ring of pids, oldest first: evicting by Map iteration would walk the
      // deleted entries at its front every time.
      const old = this.#recentRing[this.#recentHead];
      if (old !== undefined) this.#recentExits.delete(old);
      this.#recentRing[this.#recentHead] = proc.pid;
      this.#recentHead = (this.#recentHead + 1) % RECENT_EXITS;
    }
    this.#requestFlush();
  }

  // ───────────────────────────── threads ─────────────────────────────

  #checkRunaways(): void {
    const wall = Date.now();
    if (this.#opts.retainMs !== undefined && wall - this.#lastPrune >= PRUNE_EVERY) {
      this.#lastPrune = wall;
      this.record({ type: 'history.pruned', before: wall - this.#opts.retainMs });
    }
    if (wall - this.#lastSweep >= 1000) {
      this.#lastSweep = wall;
      for (const slot of this.#slots) if (slot.inflight === null) this.#sweep(slot, wall);
      this.#requestPump();
    }
    const now = performance.now();
    for (const slot of this.#slots) {
      if (slot.inflight === null || slot.aborting) continue;
      if (now - slot.inflight.started < this.#opts.sliceMs) continue;
      if (this.#pool.running(slot.index) === 0) continue; // between rounds: not a runaway, just a long slice
      slot.aborting = true;
      slot.inflight.abort.abort(new BeamlineError(ErrorCodes.TIMEOUT, 'slice budget exceeded'));
    }
  }

  /** A thread died (runaway aborted, process.exit, uncaught error). */
  #threadLost(index: number, running: number): void {
    const slot = this.#slots[index];
    if (slot === undefined) return;
    const runaway = slot.aborting;
    slot.aborting = false;
    // The replacement thread loads its modules with an empty first slice (see close()).
    slot.warm = false;
    slot.more = true;
    const inflight = slot.inflight;
    slot.inflight = null;
    const culprit = running > 0 ? this.#procs.get(`${this.store.tag}.${running}`) : undefined;
    if (culprit !== undefined && culprit.state !== 'dead') {
      culprit.resident = false;
      slot.residents.delete(culprit);
      const reason: unknown = runaway
        ? 'killed'
        : toErrorData(
            new BeamlineError(ErrorCodes.INTERNAL, `thread ${index} died while running process ${culprit.pid} (process.exit or an uncaught error)`, {
              pid: culprit.pid,
            }),
            false,
          );
      this.#exited(culprit, { reason, result: null, lastMessage: null }, true);
    }
    this.#sliceLost(slot, inflight?.items ?? []);
    for (const [script, list] of inflight?.probes ?? []) {
      const again = slot.probes.get(script) ?? [];
      slot.probes.set(script, [...list, ...again]);
    }
    this.#requestPump();
    this.#checkIdle();
  }

  /** A slice's work is gone: give its markers back and rebuild the thread's processes elsewhere. */
  #sliceLost(slot: Slot, items: TaskItem[]): void {
    for (const item of items) {
      const proc = this.#procs.get(item.pid);
      if (proc === undefined || proc.state === 'dead') continue;
      if (item.op === 'start' || item.op === 'wake') proc.marks = [...item.marks, ...proc.marks];
      else if (item.op === 'query') (proc.queries ??= []).push(item);
    }
    // Every process the thread held is rebuilt by replay (on whichever thread
    // placement picks); eagerly, since some may have had work only that
    // thread knew about (a step() function in flight).
    for (const proc of [...slot.residents]) {
      this.#evict(proc);
      proc.slot = -1;
      this.#schedule(proc);
    }
    for (const proc of slot.queue) {
      if (!proc.resident) continue;
      this.#evict(proc);
    }
    slot.onThread.clear();
  }

  /** Evict parked processes the policy lets go: their threads forget them until their next wake. */
  #sweep(slot: Slot, now: number): void {
    for (const proc of slot.residents) this.#maybeEvict(slot, proc, now);
  }

  #maybeEvict(slot: Slot, proc: KProc, now: number): void {
    if (!proc.resident || proc.slot !== slot.index || proc.state !== 'parked' || slot.queue.has(proc) || !this.#opts.evict(proc, now)) return;
    slot.drops.push(proc.pid);
    this.#evict(proc);
  }

  #evict(proc: KProc): void {
    const slot = this.#slots[proc.slot];
    if (proc.resident) slot?.residents.delete(proc);
    proc.resident = false;
    // Already queued there: its next slice must now wait for its history's commit.
    if (slot !== undefined && slot.queue.has(proc) && proc.fromJournal) slot.coldBatch = Math.max(slot.coldBatch, this.#batchSoFar());
  }

  #checkIdle(): void {
    if (this.#idle.length === 0 || this.#slots.some((s) => s.inflight !== null)) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const fn of idle) fn();
  }

  // ───────────────────────────── journal ─────────────────────────────

  #requestFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  /**
   * Group commit: every event since the last commit in one transaction (on
   * the writer's thread), then the effects waiting on it. While a commit is
   * on its way to disk the next batch keeps growing; it goes as soon as the
   * commit returns.
   */
  #flush(): void {
    this.#flushScheduled = false;
    if (this.#fatal !== null || this.#committing) return;
    if (this.#countersDirty) {
      this.#countersDirty = false;
      this.#events.push({ type: 'meta.set', key: 'pid_next', value: String(this.#nextSerial) });
      const ids: Array<[number, number]> = this.#slots.map((s) => [s.index, s.idNext]);
      ids.push([KERNEL_ID_SLOT, this.#kernelMailId]);
      this.#events.push({ type: 'meta.set', key: 'mail_ids', value: JSON.stringify(ids) });
    }
    const after = this.#afterCommit;
    if (this.#events.size === 0 && after.length === 0) return;
    this.#afterCommit = [];
    if (this.#events.size === 0) {
      // Nothing new, nothing in flight: everything they wait for is durable.
      for (const fn of after) fn();
      return;
    }
    const events = this.#events.drain();
    const batch = ++this.#sentBatch;
    this.#committing = true;
    this.#writer.commit(events).then(
      () => {
        this.#committing = false;
        this.#committedBatch = batch;
        for (const fn of after) fn();
        if (this.#events.size > 0 || this.#afterCommit.length > 0) this.#flush();
        this.#pump(); // cold starts that waited for this commit
      },
      (err: Error) => {
        this.#committing = false;
        this.#fatal = new BeamlineError(ErrorCodes.JOURNAL_CORRUPT, `journal write failed: ${err.message}`, { cause: err });
        this.#onFatal(this.#fatal);
        for (const slot of this.#slots) slot.inflight?.abort.abort(this.#fatal);
        this.#checkIdle();
      },
    );
  }

  /** The batch a cold start must wait for: everything recorded until now. */
  #batchSoFar(): number {
    return this.#events.size > 0 ? this.#sentBatch + 1 : this.#sentBatch;
  }

  #assertOpen(): void {
    if (this.#closing) throw new BeamlineError(ErrorCodes.NODE_CLOSED, 'the node is closing');
    if (this.#fatal !== null) throw this.#fatal;
  }

  #newProc(pid: Pid, run: number, script: string, args: Uint8Array, parent: Pid | null, root: boolean, sup: string | null, at: number): KProc {
    return {
      pid,
      run,
      script,
      args,
      parent,
      root,
      sup,
      state: 'parked',
      slot: -1,
      resident: false,
      fromJournal: false,
      marks: [],
      effects: null,
      rel: null,
      lastActive: at,
      rounds: 0,
      lastExit: null,
      queries: null,
      stored: false,
    };
  }
}

const EMPTY = new Uint8Array(0);
/** How often a node with a retention period prunes its journal. */
const PRUNE_EVERY = 3_600_000;
/** Most processes one slice starts (or rebuilds); the rest wait for the next slice. */
const MAX_STARTS = 512;
/** How many exits `waitExit` answers from memory. */
const RECENT_EXITS = 65_536;

/** Piscina's rejection for a task whose thread was terminated or exited. */
function isThreadDeath(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  return e?.name === 'AbortError' || /worker exited|terminat/i.test(String(e?.message ?? ''));
}

export function exitInfoFromRow(pid: Pid, run: number, reason: Uint8Array | null, result: Uint8Array | null): ExitInfo {
  const r = reason === null ? 'normal' : decode(reason);
  return { pid, run, reason: r, result: result === null ? null : decode(result), normal: r === 'normal' };
}

export type { ErrorData };
