// The kernel: the main thread's half of beamline, wired from its parts.
//
//   table.ts         the process table: records, names, gateway ports
//   scheduler.ts     slots, placement, the one dispatch step (pump)
//   reports.ts       a slice report → journal events, effects, markers
//   effects.ts       timers, HTTP, and the effects other parts carry out
//   relations.ts     links, monitors, names, exit signals
//   exits.ts         exits, continueAsNew, waiting for an exit
//   commit.ts        the pending batch, group commit, after-commit work
//   faults.ts        the watchdog, runaways, lost threads
//   housekeeping.ts  eviction, paging out, retention
//   eviction.ts      the default eviction policy (Node passes it in)
//   recovery.ts      live processes back from the journal (boot, adopt)
//
//   report ─▶ reports ─▶ events (commit) ─┬─▶ writer thread ─▶ committed ─▶ after-commit work
//                                          └─▶ markers ─▶ slot queues ─▶ pump ─▶ slices
//
// Work nobody outside can see (a message to another process, a timer) runs
// ahead of the commit; anything the outside world sees (an HTTP request, a
// result printed, a log line) waits for the commit that records its cause.
// This file builds the parts and is the kernel's public API.

import { BeamlineError, ErrorCodes, type ErrorData } from '../errors.js';
import type { CommitStats } from '../journal/writer.js';
import { assertNever, type JournalEvent } from '../journal/events.js';
import type { Store } from '../journal/store.js';
import { makePid, makePortAddress } from '../pid.js';
import { ID_STRIDE, KERNEL_ID_SLOT, MAIL_MESSAGE, MAX_THREADS, type ChildSpec, type Marker, type Pid } from '../protocol.js';
import { encode } from '../journal/codec.js';
import type { KernelPort, SupervisionHooks } from '../supervisor/port.js';
import { Commit } from './commit.js';
import { Effects } from './effects.js';
import { Exits, type ExitFacts } from './exits.js';
import { Faults } from './faults.js';
import { Housekeeping } from './housekeeping.js';
import { ThreadPool } from './pool.js';
import { Relations } from './relations.js';
import { Remote } from './remote.js';
import { Recovery } from './recovery.js';
import { Reports } from './reports.js';
import { Scheduler } from './scheduler.js';
import { fromJournal, newProc, ProcessTable, type ExitInfo, type KProc } from './table.js';

export type { ExitInfo, KProc, ProcState, Residency } from './table.js';
export { exitInfoFromRow, queryHandlersOf } from './table.js';

export interface KernelStats {
  /** Live processes (and dead ones held for a restart), paged-out ones included. */
  processes: number;
  /** Of which paged out: live in the journal only, their records out of the kernel (see ProcessTable.pageOut). */
  pagedOut: number;
  resident: number;
  queued: number;
  rebuilding: number;
  timers: number;
  slicesInFlight: number;
  committing: boolean;
  /** Per thread, from its last slice: V8 heap in use (bytes) and processes held. */
  threads: Array<{ heap: number; live: number }>;
}

export interface KernelCounters {
  wakes: number;
  journal: CommitStats;
  slices: Array<{ slices: number; ms: number }>;
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
  /** Told of every exit, after links and monitors (crash reports); decides nothing. */
  onExit?: (proc: KProc, reason: unknown, exit: ExitFacts) => void;
  /** --max-processes: refuse a spawn past this many processes (BL_LIMIT). Unset: no bound. */
  maxProcesses?: number;
  /** --max-mailbox: fail a process holding more unread messages (BL_MAILBOX_FULL). Unset: no bound. */
  maxMailbox?: number;
  /** --allow-hosts: the only hosts callApi may reach. Unset: any. */
  allowHosts?: readonly string[];
  /** A process whose replay diverges: 'fail' it (default) or 'pause' it (state 'diverged', see resume). */
  onDivergence?: 'fail' | 'pause';
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

export class Kernel {
  readonly store: Store;
  readonly #table = new ProcessTable();
  readonly #commit: Commit;
  readonly #scheduler: Scheduler;
  readonly #pool: ThreadPool;
  readonly #relations: Relations;
  readonly #remote: Remote;
  readonly #recovery: Recovery;
  readonly #effects: Effects;
  readonly #exits: Exits;
  readonly #reports: Reports;
  readonly #faults: Faults;
  #state: 'open' | 'closing' = 'open';
  #onFatal: (err: Error) => void = () => {};
  /** The supervision tree, once attached: told of every supervised exit. */
  #supervision: SupervisionHooks | null = null;
  #nextPort = 1;
  /** Waiting for every thread to have loaded (see threadsLoaded). */
  #whenLoaded: Array<() => void> = [];
  #loaded = false;

  constructor(opts: KernelOptions) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > MAX_THREADS) {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `threads: must be an integer from 1 to ${MAX_THREADS} (got ${opts.threads})`);
    }
    const store = (this.store = opts.store);
    const table = this.#table;
    table.maxProcesses = opts.maxProcesses ?? Infinity;
    table.enablePaging(
      (pid) => store.process(pid),
      (proc, out) => {
        // Nobody waits on these: they ride with the next commit. One read back
        // is committed no later than anything it does next (same or earlier batch).
        commit.push({ type: 'process.paged', pid: proc.pid, out });
        commit.requestLazyFlush();
        if (!out) housekeeping.readBack(proc);
      },
    );
    const counters = store.mailIdCounters(ID_STRIDE);
    const writer = store.writer();
    // Several nodes: processes taken over from a node that died, and mail from other nodes.
    writer.onCluster?.((ev) => {
      if (this.#state !== 'open' || commit.error !== null) return;
      switch (ev.type) {
        case 'adopted':
          void this.adopt(ev.pids);
          return;
        case 'delivered':
          this.#recovery.delivered(ev.after, ev.mail);
          return;
        case 'namesLost':
          for (const { name, pid } of ev.names) this.#relations.nameLost(name, pid);
          return;
        default:
          assertNever(ev);
      }
    });
    const commit: Commit = (this.#commit = new Commit({
      writer,
      nextSerial: Number(store.meta('pid_next') ?? 1),
      kernelMailId: counters.get(KERNEL_ID_SLOT) ?? KERNEL_ID_SLOT,
      slotIds: (): Array<[number, number]> => scheduler.slots.map((s): [number, number] => [s.index, s.idNext]),
      committed: () => scheduler.pump(), // cold starts that waited for this commit
      fatal: (err) => {
        for (const done of this.#whenLoaded.splice(0)) done();
        this.#onFatal(err);
        for (const slot of scheduler.slots) if (slot.phase.is !== 'idle') slot.phase.slice.abort.abort(err);
        scheduler.checkIdle();
      },
    }));
    const scheduler: Scheduler = (this.#scheduler = new Scheduler({
      threads: opts.threads,
      budgetMs: opts.budgetMs,
      idNext: (slot) => counters.get(slot) ?? slot,
      table,
      commit,
      pool: () => this.#pool,
      report: (slot, report, slice) => {
        this.#reports.apply(slot, report, slice);
        if (!this.#loaded && scheduler.slots.every((s) => s.thread === 'ready')) {
          this.#loaded = true;
          for (const done of this.#whenLoaded.splice(0)) done();
          this.#effects.preloadHttpWhenIdle();
        }
      },
      sliceFailed: (slot, slice, err) => this.#faults.sliceFailed(slot, slice, err),
      open: () => this.#state === 'open' && commit.error === null,
    }));
    const remote = (this.#remote = new Remote(commit, store.multiNode === true));
    const relations = (this.#relations = new Relations({
      table,
      commit,
      scheduler,
      remote,
      isLiveElsewhere: (pid, elsewhere) => store.isLive?.(pid, elsewhere) === true,
      killNow: (proc) => this.#exits.exited(proc, { reason: 'killed', result: null, lastMessage: null }, true),
    }));
    const effects = (this.#effects = new Effects({
      table,
      commit,
      scheduler,
      relations,
      remote,
      spawn: (parent, eff) => {
        const pid = this.#spawnChild(parent, eff, eff.name, null);
        // The thread had no pid to give (or the child is named): let it give the next ones itself.
        if (eff.name === null && parent.slot !== null) scheduler.spawnedByKernel(parent.slot);
        return pid;
      },
      startDynamic: (sup, args) => {
        if (this.#supervision === null) throw new BeamlineError(ErrorCodes.NOPROC, 'startChild: this node runs no supervision tree');
        return this.#supervision.startDynamic(sup, args);
      },
      open: () => this.#state === 'open',
      allowHosts: opts.allowHosts,
    }));
    const exits = (this.#exits = new Exits({ store, table, commit, scheduler, effects, relations, supervision: () => this.#supervision, onExit: opts.onExit }));
    const housekeeping = new Housekeeping({ scheduler, commit, table, evict: opts.evict, retainMs: opts.retainMs });
    this.#recovery = new Recovery({ store, table, commit, scheduler, relations, effects, remote, open: () => this.#state === 'open' && commit.error === null });
    this.#reports = new Reports({ table, commit, scheduler, effects, exits, remote, spawned: (parent, s) => this.#spawnChild(parent, s, null, s.pid), maybeEvict: (slot, proc, now) => housekeeping.maybeEvict(slot, proc, now), log: opts.log, onDivergence: opts.onDivergence ?? 'fail' });
    this.#pool = new ThreadPool({
      threads: opts.threads,
      journal: store.readerSpec(),
      tag: store.tag,
      natives: opts.natives,
      maxMailbox: opts.maxMailbox,
      onWake: (slot) => scheduler.wake(slot),
      onLost: (slot, running) => this.#faults.threadLost(slot, running),
    });
    this.#faults = new Faults({ tag: store.tag, sliceMs: opts.sliceMs, table, scheduler, exits, housekeeping, pool: () => this.#pool });
    scheduler.requestPump();
  }

  /**
   * Resolves once every thread has loaded its modules (its first slice
   * reported), or at once if the node is failing or closing: from then on a
   * process's start or rebuild waits for no thread's start-up.
   */
  threadsLoaded(): Promise<void> {
    if (this.#loaded || this.#state !== 'open' || this.#commit.error !== null) return Promise.resolve();
    return new Promise((resolve) => this.#whenLoaded.push(resolve));
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
      release: (pid) => this.#exits.forget(pid),
      runOf: (pid) => {
        // A hibernated child is live; its run is in its row: not worth reading its record back (a boot asks for every child).
        if (this.#table.isPagedOut(pid)) {
          const row = this.store.process(pid);
          if (row !== undefined) return { run: row.run, live: true };
        }
        const proc = this.#table.get(pid);
        return proc === undefined ? null : { run: proc.run, live: proc.state !== 'dead' };
      },
      persist: (pid, data) => this.record({ type: 'supervisor.state', pid, data }),
      journal: this.store,
    };
  }

  // ───────────────────────────── public API ─────────────────────────────

  /** Rebuild the node's state from the journal and resume every live process. */
  recover(): number {
    return this.#recovery.rebuild(null);
  }

  /**
   * Rebuild processes this node took over from one that died (several nodes
   * on PostgreSQL) exactly as a boot rebuilds its own (see recovery.ts).
   */
  adopt(pids: readonly Pid[]): Promise<number> {
    return this.#recovery.adopt(pids);
  }

  /** The supervision resumes adopted trees (see adopt). */
  onAdopt(fn: (pids: ReadonlySet<Pid>) => void): void {
    this.#recovery.onAdopt(fn);
  }

  /** The processes whose records the kernel holds (paged-out ones are not among them: see pagedOutPids). */
  processes(): KProc[] {
    return [...this.#table.values()];
  }

  /** A process's record, read back from the journal if it was paged out. */
  process(pid: Pid): KProc | undefined {
    return this.#table.get(pid);
  }

  /** Live processes whose records are out of the kernel (parked, in no thread, nothing pending): pids only. */
  pagedOutPids(): IterableIterator<Pid> {
    return this.#table.pagedOutPids();
  }

  /** How many live processes are paged out (O(1)). */
  get pagedOutCount(): number {
    return this.#table.pagedOut;
  }

  /** True when `pid` is live but paged out (reads nothing). */
  isPagedOut(pid: Pid): boolean {
    return this.#table.isPagedOut(pid);
  }

  whereis(name: string): Pid | undefined {
    return this.#table.names.get(name);
  }

  /** Registered names, for `ps`. */
  names(): ReadonlyMap<string, Pid> {
    return this.#table.names;
  }

  /** A fresh pid from this node's sequence (supervisors take theirs from here too). */
  allocatePid(): Pid {
    const pid = makePid(this.store.tag, this.#commit.serial());
    this.#commit.requestFlush();
    return pid;
  }

  /** Add an event to the pending batch (supervision state). */
  record(event: JournalEvent): void {
    this.#commit.push(event);
    this.#commit.requestFlush();
  }

  /** Run `fn` once everything recorded so far is committed. */
  afterCommit(fn: () => void): void {
    this.#commit.after(fn);
  }

  /**
   * An address a process can reply to (the HTTP gateway's `from`). Messages
   * sent to it are handed to `fn` once the send is committed.
   */
  openPort(fn: (msg: unknown) => void): string {
    const port = makePortAddress(this.store.tag, this.#nextPort++);
    this.#table.ports.set(port, fn);
    return port;
  }

  closePort(port: string): void {
    this.#table.ports.delete(port);
  }

  /** Ask a process's onQuery handler; the process is rebuilt first if it is not in memory. */
  query(pid: string, name: string, args: unknown[] = []): Promise<unknown> {
    this.#assertOpen();
    const proc = this.#table.resolve(pid);
    if (proc === undefined) return Promise.reject(new BeamlineError(ErrorCodes.NOPROC, `query: no live process ${pid}`, { pid }));
    return this.#scheduler.query(proc, name, args);
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
    this.#exits.forget(pid);
  }

  /** Load `script` on a thread; resolves null when it is a valid process script, else the load error. */
  probe(script: string): Promise<ErrorData | null> {
    this.#assertOpen();
    return this.#scheduler.probe(script);
  }

  /** Start a process. The script must already be validated (see Node.spawn). A taken name is refused here, before anything starts. */
  spawn(script: string, args: Uint8Array, opts: SpawnOptions = {}): Pid {
    this.#assertOpen();
    return this.#spawn(script, args, opts);
  }

  /**
   * The spawn itself. A parent's spawn arrives in its slice report and is
   * committed with it even while the node closes (the report is already
   * accepted): refusing it there threw out of the report handler and killed
   * the node; the child starts on the next boot.
   */
  #spawn(script: string, args: Uint8Array, opts: SpawnOptions & { pid?: Pid | null }): Pid {
    if (opts.name) this.#relations.assertNameFree(opts.name, 'spawn');
    this.#table.assertRoom('spawn');
    const pid = opts.pid ?? makePid(this.store.tag, this.#commit.serial());
    const now = Date.now();
    const proc = newProc(pid, 1, script, args, opts.parent ?? null, opts.root ?? false, opts.sup ?? null, now);
    this.#table.add(proc);
    this.#commit.push({ type: 'process.spawned', pid, run: 1, at: now, script, args, parent: proc.parent, root: proc.root, sup: proc.sup });
    for (const other of opts.link ?? []) this.#relations.link(proc, other);
    if (opts.name) this.#relations.register(proc, opts.name);
    this.#scheduler.schedule(proc, opts.near ?? -1);
    this.#commit.requestFlush();
    this.#scheduler.requestPump();
    return pid;
  }

  /**
   * A parent's spawn: with `pid` null the kernel allocates the pid (the call
   * waits for it), else the parent's thread did and its call returned already.
   * `child.args` is a view into the whole report buffer: the child keeps a copy.
   */
  #spawnChild(parent: KProc, child: ChildSpec & { step: number }, name: string | null, pid: Pid | null): Pid {
    const own = this.#spawn(child.script, Buffer.from(child.args), { parent: parent.pid, link: child.link ? [parent.pid] : [], name, near: parent.slot ?? -1, pid });
    if (child.monitor) this.#relations.monitor(parent, `${parent.pid}#${child.step}`, this.#table.get(own)!);
    return own;
  }

  /** Start the next run of a dead process: same pid, same mailbox (supervisor restart). */
  restart(pid: Pid, name: string | null = null): void {
    let proc = this.#table.get(pid);
    if (proc === undefined) {
      // Held for restart across a node crash: only the journal still knows it.
      const row = this.store.process(pid);
      if (row !== undefined && row.status === 'exited') {
        proc = fromJournal(row, Date.now());
        proc.state = 'dead';
        this.#table.add(proc);
      }
    }
    if (proc === undefined || proc.state !== 'dead') throw new BeamlineError(ErrorCodes.NOPROC, `restart: ${pid} is not a dead process`);
    if (name !== null) this.#relations.assertNameFree(name, 'restart');
    proc.run++;
    proc.lastExit = null;
    proc.state = 'parked';
    // The new run has no history, but it takes over the unconsumed mailbox from the journal.
    proc.residency = 'journal';
    proc.rounds = 0;
    this.#commit.push({ type: 'process.restarted', pid, run: proc.run, at: Date.now() });
    if (name !== null) this.#relations.register(proc, name);
    this.#scheduler.schedule(proc, proc.slot ?? -1);
    this.#commit.requestFlush();
    this.#scheduler.requestPump();
  }

  /** Deliver a message from outside (CLI, gateway, kernel) to a pid or name. */
  send(to: string, msg: unknown, from: Pid = 'kernel'): boolean {
    // A dead process still in the table awaits a restart: its mailbox is kept.
    const proc = this.#table.lookup(to);
    if (proc === undefined) {
      // Several nodes: another node's live process (or name) gets it through the store.
      if (!this.#remote.enabled || this.store.isLive?.(to) !== true) return false;
      this.#remote.send(to, from, MAIL_MESSAGE, encode(msg));
      this.#commit.requestFlush();
      return true;
    }
    this.#relations.mail(proc, from, MAIL_MESSAGE, encode(msg));
    this.#commit.requestFlush();
    this.#scheduler.requestPump();
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
    const proc = this.#table.lookup(to);
    if (proc === undefined) return false;
    // Held for a restart: keep it in the mailbox the next run takes over.
    if (proc.state === 'dead') return this.send(to, msg, from);
    this.#scheduler.mark(proc, { m: 'mail', id: this.#commit.newMailId(), from, kind: MAIL_MESSAGE, data: encode(msg), unstored: true });
    return true;
  }

  /**
   * Retry a paused ('diverged') process under the script as it is now: every
   * start of its script from here imports the file afresh, and the process is
   * rebuilt from its journal. Resolutions that reached it while paused are
   * read back from the journal's effects. Throws BL_NOPROC when it is not paused.
   */
  async resume(pid: Pid): Promise<void> {
    this.#assertOpen();
    const proc = this.#table.get(pid);
    if (proc === undefined || proc.state !== 'diverged') {
      throw new BeamlineError(ErrorCodes.NOPROC, `resume: process ${pid} is not paused (${proc === undefined ? 'no live process' : `state ${proc.state}`}); only a process whose replay diverged under --on-divergence pause can be resumed`, { pid });
    }
    await this.flush(); // its effects' results are in the journal
    if (proc.state !== 'diverged') return;
    // Every slice that replayed it took the markers it carried, so they are
    // rebuilt: results of calls and spawns from the journal (effects done, not
    // consumed), timers from the kernel's own (fired, not consumed); mail is
    // read from the journal on the cold start. A duplicate resolution is
    // ignored by the executor; a missing one would leave the process waiting.
    const have = new Set(proc.marks.flatMap((m) => (m.m === 'res' ? [m.step] : [])));
    const done: Marker[] = [];
    for (const e of this.store.effects()) {
      if (e.pid !== pid || e.run !== proc.run || !e.done || have.has(e.step)) continue;
      have.add(e.step);
      done.push({ m: 'res', run: e.run, step: e.step, ok: e.ok, v: e.value });
    }
    const now = Date.now();
    for (const [step, eff] of proc.effects ?? []) {
      // A fired timer is marked cancelled in the heap; one cancelled by the process left `effects`.
      if (eff.kind !== 'timer' || eff.timer === null || eff.timer.at > now || have.has(step)) continue;
      done.push({ m: 'res', run: proc.run, step, ok: true, v: null });
    }
    proc.marks = [...done, ...proc.marks];
    proc.state = 'parked';
    proc.residency = 'journal';
    this.#scheduler.reloadScript(proc.script);
    this.#scheduler.schedule(proc, proc.slot ?? -1);
    this.#scheduler.requestPump();
  }

  /** Send an exit signal from outside. */
  kill(to: string, reason: unknown = 'kill', from: Pid = 'kernel'): boolean {
    const proc = this.#table.resolve(to);
    if (proc === undefined) return false;
    if (proc.state === 'diverged' && reason !== 'normal') {
      // A paused process runs nothing, so it cannot handle a signal: it ends here.
      this.#exits.exited(proc, { reason: reason === 'kill' ? 'killed' : reason, result: null, lastMessage: null }, true);
      return true;
    }
    this.#relations.signal(from, proc, reason);
    this.#commit.requestFlush();
    this.#scheduler.requestPump();
    return true;
  }

  /** Resolves once the process's exit is committed. */
  waitExit(pid: Pid): Promise<ExitInfo> {
    return this.#exits.wait(pid);
  }

  /** Resolves once everything recorded so far is committed. */
  flush(): Promise<void> {
    return this.#commit.flushed();
  }

  /** Stop dispatching, let in-flight slices land, commit, stop threads. Live processes stay live in the journal. */
  async close(): Promise<void> {
    if (this.#state === 'closing') return;
    // Terminating a thread that is still loading its modules can abort the
    // whole process (Node 20's synchronous ESM loading): let every thread
    // finish its first slice before the pool goes.
    const deadline = Date.now() + 10_000;
    while (this.#scheduler.slots.some((s) => s.thread === 'loading') && Date.now() < deadline && this.#commit.error === null) {
      await new Promise((r) => setTimeout(r, 5));
    }
    this.#state = 'closing';
    for (const done of this.#whenLoaded.splice(0)) done();
    this.#faults.stop();
    await this.#scheduler.whenIdle();
    await this.#effects.close();
    if (this.#commit.error === null) await this.flush();
    await this.#commit.close();
    await this.#pool.close();
  }

  get timersArmed(): number {
    return this.#effects.timersArmed;
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
    for (const proc of this.#table.values()) {
      if (proc.state === 'dead') continue;
      if (proc.residency === 'resident') resident++;
      if (proc.state === 'runnable' || proc.state === 'running') queued++;
    }
    const slots = this.#scheduler.slots;
    for (const slot of slots) {
      for (const proc of slot.queue) if (proc.residency === 'journal') rebuilding++;
      if (slot.phase.is !== 'idle') for (const item of slot.phase.slice.items) if (item.op === 'start' && item.cold) rebuilding++;
    }
    return {
      processes: this.#table.size + this.#table.pagedOut,
      pagedOut: this.#table.pagedOut,
      resident,
      queued,
      rebuilding,
      timers: this.#effects.timersArmed,
      slicesInFlight: this.#scheduler.inFlight,
      committing: this.#commit.committing,
      threads: slots.map((s) => ({ heap: s.heap, live: s.live })),
    };
  }

  /** Running totals since boot, O(threads) to read: wakes, what the journal writer committed, slice time per thread. */
  counters(): KernelCounters {
    return { wakes: this.#scheduler.wakes, journal: this.#commit.stats(), slices: this.#pool.sliceStats() };
  }

  #assertOpen(): void {
    if (this.#state === 'closing') throw new BeamlineError(ErrorCodes.NODE_CLOSED, 'the node is closing');
    if (this.#commit.error !== null) throw this.#commit.error;
  }
}

export type { ErrorData };
