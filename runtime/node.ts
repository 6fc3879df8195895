// The facade: one embedded beamline node on one journal file. Validates its
// options at the boundary, opens (and locks) the journal, boots the kernel
// and recovers every live process before anything new starts.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeReason } from './control/inspect.js';
import { BeamlineError, ErrorCodes, isErrorData, revive, type ErrorData } from './errors.js';
import { decode, encode } from './journal/codec.js';
import { openStore } from './journal/open.js';
import { PostgresStore } from './journal/postgres.js';
import { resolveKeys } from './journal/cipher.js';
import { configureSecrets } from './kernel/secrets.js';
import { resetCredentialHeaders } from '../natives/secret.js';
import type { Durability, Store } from './journal/store.js';
import type { SupervisorSpec } from './config/tree.js';
import { evictionPolicy } from './kernel/eviction.js';
import { Kernel, queryHandlersOf, type ExitInfo, type KernelStats, type KProc, type ProcState } from './kernel/kernel.js';
import { Supervision } from './supervisor/supervisor.js';
import { MAX_THREADS, snapshotOf, type Pid } from './protocol.js';

export interface NodeOptions {
  /** Journal file (default `./.beamline/journal.db`). */
  db?: string;
  /**
   * A PostgreSQL URL (`postgres://user@host/db`): the node joins the nodes on
   * that database instead of using a journal file (default: BEAMLINE_STORE;
   * `db` and `store` together are refused).
   */
  store?: string;
  /** PostgreSQL store: how long this node's lease lasts without a heartbeat (default 5000 ms). */
  leaseMs?: number;
  /** Worker threads (default: the machine's available parallelism). */
  threads?: number;
  /** 'full' (default): every commit is fsynced. 'normal': WAL-safe, may lose the last commits on power loss. */
  durability?: Durability;
  /** A round running longer than this is killed with reason 'killed' (default 5000 ms). */
  sliceMs?: number;
  /** A slice stops starting new rounds after this many ms (default 10): longer slices carry more rounds per thread hop, shorter ones answer cross-thread messages sooner. */
  budgetMs?: number;
  /** Module paths of extra natives. */
  natives?: string[];
  /** Where process log lines go (default: one JSON line each on stderr). */
  log?: (pid: Pid, line: string) => void;
  /**
   * Evict a process from its thread's memory once it has been parked this
   * long (default 10 minutes); it comes back by replay on its next wake.
   * 0 evicts after every slice (every wake replays: used to test replay).
   */
  evictIdleMs?: number;
  /** Never evict a process whose current run has more journal rows than this (replay would cost more than the memory). Default 2000. */
  evictMaxRounds?: number;
  /** Keep the history of finished processes and runs only this long (ms; pruned hourly). Default: keep everything. */
  retainMs?: number;
  /**
   * A crash report per abnormal exit: true (the CLI's default) prints one JSON
   * line on stderr, a function receives the report, false/absent prints none.
   */
  crashReports?: boolean | ((report: CrashReport) => void);
  /** Key file for encryption at rest (AES-256-GCM; last line = current key). Default: BEAMLINE_JOURNAL_KEY, else no encryption. */
  journalKey?: string;
  /** A NAME=value file (owner-only) of ctx.secret values, read at send time before BEAMLINE_SECRET_<NAME>. Per OS process. */
  secrets?: string;
  /** Header names to redact besides authorization, proxy-authorization, cookie, set-cookie, x-api-key. Per OS process. */
  redactHeaders?: string[];
  /** Refuse a spawn (ctx.spawn, Node.spawn, a supervisor's new child) past this many processes with BL_LIMIT. Default: no bound. */
  maxProcesses?: number;
  /** Fail a process whose mailbox holds more unread messages than this, with reason BL_MAILBOX_FULL. Default: no bound. */
  maxMailbox?: number;
  /** The only hosts callApi may reach (`host`, `host:port`, `*.domain`); others fail with BL_HOST_FORBIDDEN before any connection. Default: any. */
  allowHosts?: string[];
  /**
   * Hibernation: a process idle this long whose current run has at most
   * HIBERNATE_MAX_ROUNDS rows (a server after its snapshot) leaves its
   * thread's memory; the next message brings it back from its snapshot.
   * Default 30 s.
   */
  hibernateAfterMs?: number;
  /**
   * A process whose replay diverges from its journal (the script changed):
   * 'fail' ends it with BL_NONDETERMINISM (default); 'pause' keeps it in state
   * 'diverged' — storing its messages, running nothing — until `resume(pid)`
   * retries it under the script as it is then, or a kill ends it.
   */
  onDivergence?: 'fail' | 'pause';
}

/** What a crash report says (OTP's crash reports, one JSON line): see crashReport(). */
export interface CrashReport {
  time: string;
  crash: Pid;
  name: string | null;
  script: string;
  run: number;
  reason: unknown;
  /** The message being handled when it crashed, if any. */
  message?: unknown;
  stack?: string;
  /** Supervised: `<supervisor pid>/<child id>`. */
  supervisor?: string;
}

export { evictionPolicy, HIBERNATE_MAX_ROUNDS } from './kernel/eviction.js';

export { DEFAULT_DB } from './journal/open.js';

export interface SpawnRootOptions {
  /** Started by `runtime spawn`: may be resumed by a later spawn of the same script and args. */
  root?: boolean;
  name?: string;
}

/** See Node.stats(). Totals count since this node booted. */
export interface NodeStats {
  at: number;
  /** Processes in the kernel's table by state ('dead': held for a supervisor restart). */
  states: Record<ProcState, number>;
  /** Processes spawned / exited, as committed to the journal. */
  spawned: number;
  exited: number;
  /** Wake markers the kernel queued (timer fired, message delivered across threads, call answered, ...). */
  wakes: number;
  commits: number;
  committedEvents: number;
  /** Latencies (ms) of the most recent commits (up to 1,024), oldest first. */
  commitLatencies: number[];
  timers: number;
  threads: Array<{ slices: number; sliceMs: number; heap: number; live: number }>;
  rss: number;
  heapUsed: number;
}

/** See Node.processInfo(): the kernel's record of one process, copied out. */
export interface ProcessInfo {
  pid: Pid;
  script: string;
  run: number;
  state: ProcState;
  parent: Pid | null;
  /** Supervised: `<supervisor pid>/<child id>`. */
  sup: string | null;
  /** When it last ran a slice (ms since the epoch; its spawn time before the first). */
  lastActive: number;
  /** How its last run ended, while a supervisor holds it dead for a restart. */
  lastExit: { reason: unknown; result: unknown } | null;
}

/** See Node.relationsOf(). */
export interface ProcessRelations {
  links: Pid[];
  /** Monitors this process holds. */
  monitoring: Array<{ ref: string; target: Pid }>;
  /** Monitors on this process. */
  monitoredBy: Array<{ ref: string; watcher: Pid }>;
}

/** How a supervision tree's root ended. */
export interface RootExit {
  pid: Pid;
  reason: unknown;
  /** True when the root gave up (restart intensity exceeded): the node should stop with an error. */
  escalated: boolean;
  /** With `escalated`: the child exit that tipped it (followed down nested supervisors). */
  failure: { id: string; pid: Pid | null; reason: unknown } | null;
}

export class Node {
  /** The kernel behind this facade: for tests and debugging; callers use Node's methods. */
  readonly kernel: Kernel;
  readonly supervision: Supervision;
  /** Live processes found in the journal at boot (now resuming). */
  readonly recovered: number;
  #closed = false;
  readonly #valid = new Set<string>();
  #fatal: Promise<Error>;
  #rootExits: Array<(e: RootExit) => void>;

  private constructor(kernel: Kernel, supervision: Supervision, recovered: number, fatal: Promise<Error>, rootExits: Array<(e: RootExit) => void>) {
    this.kernel = kernel;
    this.supervision = supervision;
    this.recovered = recovered;
    this.#fatal = fatal;
    this.#rootExits = rootExits;
  }

  /** Called when a tree's root supervisor stops (cleanly or by escalation). */
  onRootExit(fn: (e: RootExit) => void): void {
    this.#rootExits.push(fn);
  }

  /**
   * Start the tree in `spec`, or resume the one this journal already runs for
   * the same file (rebuilt at boot: same pids, no new runs).
   */
  startTree(spec: SupervisorSpec): { pid: Pid; resumed: boolean } {
    const existing = this.supervision.roots().find((pid) => this.supervision.rootSpec(pid)?.file === spec.file);
    if (existing !== undefined) return { pid: existing, resumed: true };
    return { pid: this.supervision.start(spec), resumed: false };
  }

  static async open(opts: NodeOptions = {}): Promise<Node> {
    const threads = opts.threads ?? Math.max(1, Math.min(MAX_THREADS, os.availableParallelism()));
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `--threads: must be an integer from 1 to ${MAX_THREADS} (got ${String(threads)})`);
    }
    const durability = opts.durability ?? 'full';
    if (durability !== 'full' && durability !== 'normal') {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `--durability: must be 'full' or 'normal' (got ${String(durability)})`);
    }
    const sliceMs = opts.sliceMs ?? 5000;
    if (!Number.isFinite(sliceMs) || sliceMs < 10) {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `--slice-ms: must be a number of milliseconds >= 10 (got ${String(sliceMs)})`);
    }
    const onDivergence = opts.onDivergence ?? 'fail';
    if (onDivergence !== 'fail' && onDivergence !== 'pause') {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `--on-divergence: must be 'fail' or 'pause' (got ${String(onDivergence)})`);
    }
    const crash = opts.crashReports === true ? printCrash : typeof opts.crashReports === 'function' ? opts.crashReports : null;
    // Secrets, keys and the redaction list are checked before the journal is touched.
    const keys = resolveKeys(opts.journalKey);
    configureSecrets(opts.secrets ?? null);
    if (opts.redactHeaders !== undefined) {
      // Worker threads inherit the environment they start with: this is how the list reaches them.
      process.env.BEAMLINE_REDACT_HEADERS = opts.redactHeaders.map((h) => h.trim().toLowerCase()).join(',');
      resetCredentialHeaders();
    }
    const store = openStore(opts, { durability, keys });
    let kernel: Kernel;
    try {
      kernel = new Kernel({
        store,
        threads,
        sliceMs,
        budgetMs: opts.budgetMs ?? 10,
        natives: (opts.natives ?? []).map((n) => path.resolve(n)),
        log: opts.log ?? defaultLog,
        evict: evictionPolicy(opts.evictIdleMs ?? 600_000, opts.evictMaxRounds ?? 2000, opts.hibernateAfterMs ?? 30_000, (pid, run) =>
          store.historyLength?.(pid, run),
        ),
        retainMs: opts.retainMs,
        maxProcesses: opts.maxProcesses,
        maxMailbox: opts.maxMailbox,
        allowHosts: opts.allowHosts,
        onExit: crash === null ? undefined : (proc, reason, exit) => {
          if (isCrash(reason)) crash(crashReport(proc, reason, exit));
        },
        onDivergence,
      });
    } catch (err) {
      store.close();
      throw err;
    }
    const fatal = new Promise<Error>((resolve) => kernel.onFatal(resolve));
    const rootExits: Array<(e: RootExit) => void> = [];
    // The supervision talks to the kernel through its port; the kernel tells it of supervised exits.
    const sup = new Supervision(kernel.supervisorPort(), {
      rootExited: (pid, reason, escalated, failure) => {
        for (const fn of rootExits) fn({ pid, reason, escalated, failure });
      },
    });
    kernel.attach(sup);
    kernel.onAdopt(() => sup.recover());
    let recovered: number;
    try {
      recovered = kernel.recover();
      sup.recover();
    } catch (err) {
      // The worker threads are up: leaving them running would keep the
      // process alive forever after the error is printed (a hang, not a
      // one-line error). Stop them, then report.
      await kernel.close().catch(() => {});
      store.close();
      if (err instanceof BeamlineError && err.code !== ErrorCodes.JOURNAL_CORRUPT) throw err;
      // Recovery reads every live process, link and supervisor back: a row it
      // cannot make sense of is damage in the journal, said in one line.
      const e = err as Error;
      throw new BeamlineError(ErrorCodes.JOURNAL_CORRUPT, `${store.path}: the journal's state cannot be recovered (${e?.name ?? 'Error'}: ${String(e?.message ?? err).split('\n')[0]})`, {
        file: store.path,
        cause: err,
      });
    }
    return new Node(kernel, sup, recovered, fatal, rootExits);
  }

  /** The journal file; on PostgreSQL `<url without password>#<node tag>` (what names this node's control socket). */
  get db(): string {
    const store = this.kernel.store;
    return store instanceof PostgresStore ? `${store.path}#${store.tag}` : store.path;
  }

  /** This journal's node tag (the prefix of its pids). */
  get tag(): string {
    return this.kernel.store.tag;
  }

  /** The journal, for reading (ps, history). */
  get store(): Store {
    return this.kernel.store;
  }

  /** Rejects if the journal becomes unwritable; race it against your own waits. */
  get fatal(): Promise<Error> {
    return this.#fatal;
  }

  /** Validate `script` (it must load and default-export a function), then start it. */
  async spawn(script: string, args: unknown[] = [], opts: SpawnRootOptions = {}): Promise<Pid> {
    const file = await this.validateScript(script);
    const bytes = encodeArgs(args);
    return this.kernel.spawn(file, bytes, { root: opts.root ?? false, name: opts.name ?? null });
  }

  /**
   * Absolute path of a loadable script, or a one-line error naming it. A
   * script that loaded once is not checked again: threads keep the module
   * they imported for the node's lifetime anyway.
   */
  async validateScript(script: string): Promise<string> {
    const file = path.resolve(script);
    if (this.#valid.has(file)) return file;
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
      throw new BeamlineError(ErrorCodes.SCRIPT_NOT_FOUND, `${script}: script not found (looked at ${file})`, { file });
    }
    const err = await this.kernel.probe(file);
    if (err !== null) throw revive(err as ErrorData);
    this.#valid.add(file);
    return file;
  }

  /** A live root process started for the same script and arguments (a crashed `runtime spawn`). */
  findRoot(script: string, args: unknown[]): Pid | undefined {
    const file = path.resolve(script);
    const bytes = Buffer.from(encodeArgs(args));
    // The journal holds every root's arguments (the kernel forgets them once started).
    return this.kernel.store.liveRoots().find((p) => p.script === file && bytes.equals(startArgs(p.args)) && this.kernel.process(p.pid) !== undefined)?.pid;
  }

  /** Deliver `msg` to a pid or name; false when no such process. `from` names the sender (default 'kernel'). */
  send(to: string, msg: unknown, from?: string): boolean {
    return this.kernel.send(to, msg, from);
  }

  kill(pid: string, reason: unknown = 'kill', from?: string): boolean {
    return this.kernel.kill(pid, reason, from);
  }

  /** Ask a process's onQuery handler. */
  query(pid: string, name: string, args: unknown[] = []): Promise<unknown> {
    return this.kernel.query(pid, name, args);
  }

  /** Resolves once everything done so far is committed. */
  flush(): Promise<void> {
    return this.kernel.flush();
  }

  /** Forget history that ended before `before` (ms since the epoch). */
  prune(before: number): Promise<void> {
    return this.kernel.prune(before);
  }

  /** The pid a name is registered to. */
  whereis(name: string): Pid | undefined {
    return this.kernel.whereis(name);
  }

  /** Registered names. */
  names(): ReadonlyMap<string, Pid> {
    return this.kernel.names();
  }

  /** True when `target` (pid or name) is a process of this node: live, or held by its supervisor for a restart. */
  exists(target: string): boolean {
    return this.kernel.process(this.kernel.whereis(target) ?? target) !== undefined;
  }

  /** The current run of a process the node holds (live, or held for a restart). */
  runOf(pid: Pid): number | undefined {
    return this.kernel.process(pid)?.run;
  }

  /** The kernel's state of a process ('dead' while held for a restart); undefined when the kernel no longer has it. */
  stateOf(pid: Pid): ProcState | undefined {
    // A hibernated process is parked: not worth reading its record back to say so.
    if (this.kernel.isPagedOut(pid)) return 'parked';
    return this.kernel.process(pid)?.state;
  }

  /** True for a live process whose record is out of the kernel's table (hibernated; see Kernel.isPagedOut). */
  isPagedOut(pid: Pid): boolean {
    return this.kernel.isPagedOut(pid);
  }

  /** Live processes: pid, script, run and state (a paged-out process is read from the journal, and parked). */
  processes(): Array<{ pid: Pid; script: string; run: number; state: ProcState }> {
    const list = this.kernel.processes().map((p) => ({ pid: p.pid, script: p.script, run: p.run, state: p.state }));
    const out = this.kernel.pagedOutCount;
    if (out === 0) return list;
    // A few are read one by one; many (a node of idle servers) in one pass over the live rows.
    const rows = out < 1000 ? [...this.kernel.pagedOutPids()].map((pid) => this.kernel.store.process(pid)) : this.kernel.store.liveProcesses().filter((r) => this.kernel.isPagedOut(r.pid));
    for (const row of rows) if (row !== undefined) list.push({ pid: row.pid, script: row.script, run: row.run, state: 'parked' });
    return list;
  }

  /** One process the node holds (live, or dead and held for a restart), as plain data for monitoring (the live view); undefined when it holds none. */
  processInfo(pid: Pid): ProcessInfo | undefined {
    const p = this.kernel.process(pid);
    if (p === undefined) return undefined;
    const exit = p.lastExit === null ? null : { reason: p.lastExit.reason, result: p.lastExit.result };
    return { pid: p.pid, script: p.script, run: p.run, state: p.state, parent: p.parent, sup: p.sup, lastActive: p.lastActive, lastExit: exit };
  }

  /** A process's links and monitors as the kernel holds them now (the journal's rows trail by one commit); undefined when it keeps none for it (not held, never linked or monitored, or exited): the journal is then the record. */
  relationsOf(pid: Pid): ProcessRelations | undefined {
    const rel = this.kernel.process(pid)?.rel;
    if (rel === undefined || rel === null) return undefined;
    return {
      links: [...rel.links],
      monitoring: [...rel.watching].map(([ref, target]) => ({ ref, target })),
      monitoredBy: [...rel.watchers].map(([ref, watcher]) => ({ ref, watcher })),
    };
  }

  /**
   * Names of a process's onQuery handlers, as its thread last reported them
   * (a copy; empty when it has none, has not run since it started or the node
   * booted, or is not held).
   */
  queryHandlers(pid: Pid): string[] {
    const p = this.kernel.process(pid);
    return p === undefined ? [] : [...queryHandlersOf(p)];
  }

  /** Which attempt each of a process's HTTP calls in flight is on (1 = the first), by step; empty when none is. */
  httpAttempts(pid: Pid): Array<{ step: number; attempt: number }> {
    const out: Array<{ step: number; attempt: number }> = [];
    for (const [step, eff] of this.kernel.process(pid)?.effects ?? []) {
      if (eff.kind === 'http' && eff.abort !== null && eff.attempt !== undefined) out.push({ step, attempt: eff.attempt });
    }
    return out;
  }

  /** Resolves once every worker thread has loaded (see Kernel.threadsLoaded). */
  threadsLoaded(): Promise<void> {
    return this.kernel.threadsLoaded();
  }

  /** Counts for monitoring and benchmarks (walks every process: not for a hot loop). */
  kernelStats(): KernelStats {
    return this.kernel.stats();
  }

  /** Timers armed right now (cheap). */
  get timersArmed(): number {
    return this.kernel.timersArmed;
  }

  /**
   * An address a process can reply to (the HTTP gateway's `from`); messages
   * sent to it reach `fn` once the send is committed. Close it when done.
   */
  openPort(fn: (msg: unknown) => void): string {
    return this.kernel.openPort(fn);
  }

  closePort(port: string): void {
    this.kernel.closePort(port);
  }

  /** Deliver a request whose sender waits on a connection (see Kernel.sendRequest): not stored on arrival. */
  sendRequest(to: string, msg: unknown, from: string): boolean {
    return this.kernel.sendRequest(to, msg, from);
  }

  /** Resolves once the exit is committed. */
  /** Retry a process paused by `onDivergence: 'pause'` under the script as it is now (BL_NOPROC if it is not paused). */
  resume(pid: Pid): Promise<void> {
    return this.kernel.resume(pid);
  }

  waitExit(pid: Pid): Promise<ExitInfo> {
    return this.kernel.waitExit(pid);
  }

  /**
   * A read-only snapshot for monitoring (the live view, /metrics): processes
   * by state, running totals since boot (spawned, exited, wakes, journal
   * commits and their events), recent commit latencies, slice time per
   * thread, memory. Costs one pass over the process table; call it at a
   * monitoring pace, not per event.
   */
  stats(): NodeStats {
    const states: Record<ProcState, number> = { runnable: 0, running: 0, parked: 0, diverged: 0, dead: 0 };
    for (const proc of this.kernel.processes()) states[proc.state]++;
    const k = this.kernel.stats();
    states.parked += k.pagedOut;
    const c = this.kernel.counters();
    const mem = process.memoryUsage();
    return {
      at: Date.now(),
      states,
      spawned: c.journal.spawned,
      exited: c.journal.exited,
      wakes: c.wakes,
      commits: c.journal.commits,
      committedEvents: c.journal.events,
      commitLatencies: c.journal.latencies,
      timers: k.timers,
      threads: c.slices.map((s, i) => ({ slices: s.slices, sliceMs: s.ms, heap: k.threads[i]?.heap ?? 0, live: k.threads[i]?.live ?? 0 })),
      rss: mem.rss,
      heapUsed: mem.heapUsed,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.kernel.close();
    } finally {
      this.kernel.store.close();
    }
  }
}

function encodeArgs(args: unknown[]): Uint8Array {
  if (!Array.isArray(args)) throw new BeamlineError(ErrorCodes.ARG_INVALID, 'spawn: args must be an array');
  try {
    return encode(args);
  } catch (err) {
    throw new BeamlineError(ErrorCodes.UNSERIALIZABLE, `spawn: args: ${(err as Error).message}`, { cause: err });
  }
}

/** A run's arguments as the process was started with them: a server's snapshot (the last argument) taken off. */
function startArgs(bytes: Uint8Array): Buffer {
  const buf = Buffer.from(bytes);
  const args = decode(buf) as unknown[];
  if (!Array.isArray(args) || snapshotOf(args) === undefined) return buf;
  return Buffer.from(encode(args.slice(0, -1)));
}

function defaultLog(pid: Pid, line: string): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), pid, msg: line })}\n`);
}

/**
 * Not a crash: a normal end, a shutdown ordered by a supervisor, a
 * continueAsNew. Everything else (a throw, 'killed', a custom exit reason, a
 * non-determinism) gets a report, as OTP reports every exit that is not
 * normal or shutdown.
 */
function isCrash(reason: unknown): boolean {
  if (reason === 'normal' || reason === 'shutdown' || reason === 'continued') return false;
  return !(typeof reason === 'object' && reason !== null && 'shutdown' in reason);
}

/** One crash report: who crashed, running what, why, handling which message, and where. */
export function crashReport(proc: KProc, reason: unknown, exit: { lastMessage: Uint8Array | null; names: readonly string[] }): CrashReport {
  // `crash` first: a reader tells a crash report from a log line by its first key.
  const report: CrashReport = {
    crash: proc.pid,
    time: new Date().toISOString(),
    name: exit.names.length > 0 ? exit.names.join(',') : null,
    script: proc.script,
    run: proc.run,
    reason: isErrorData(reason) ? describeReason(reason) : reason,
  };
  if (proc.sup !== null) report.supervisor = proc.sup;
  if (exit.lastMessage !== null) {
    try {
      report.message = decode(exit.lastMessage);
    } catch {
      report.message = `<${exit.lastMessage.length} bytes that do not decode>`;
    }
  }
  if (isErrorData(reason) && reason.stack !== undefined) report.stack = reason.stack;
  return report;
}

function printCrash(report: CrashReport): void {
  process.stderr.write(`${formatCrash(report)}\n`);
}

/** A crash report as its one JSON line. */
export function formatCrash(report: CrashReport): string {
  let line: string;
  try {
    line = JSON.stringify(report, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? `<${v.length} bytes>` : v));
  } catch {
    line = JSON.stringify({ ...report, message: '<not JSON>', reason: String(report.reason) });
  }
  return line;
}
