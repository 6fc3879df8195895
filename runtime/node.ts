// The facade: one embedded beamline node on one journal file. Validates its
// options at the boundary, opens (and locks) the journal, boots the kernel
// and recovers every live process before anything new starts.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BeamlineError, ErrorCodes, revive, type ErrorData } from './errors.js';
import { encode } from './journal/codec.js';
import { openJournal } from './journal/sqlite.js';
import type { Durability, Store } from './journal/store.js';
import type { SupervisorSpec } from './config/tree.js';
import { Kernel, type ExitInfo, type KernelStats, type KProc, type ProcState } from './kernel/kernel.js';
import { Supervision } from './supervisor/supervisor.js';
import { MAX_THREADS, type Pid } from './protocol.js';

export interface NodeOptions {
  /** Journal file (default `./.beamline/journal.db`). */
  db?: string;
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
   * A process whose replay diverges from its journal (the script changed):
   * 'fail' ends it with BL_NONDETERMINISM (default); 'pause' keeps it in state
   * 'diverged' — storing its messages, running nothing — until `resume(pid)`
   * retries it under the script as it is then, or a kill ends it.
   */
  onDivergence?: 'fail' | 'pause';
}

export const DEFAULT_DB = path.join('.beamline', 'journal.db');

export interface SpawnRootOptions {
  /** Started by `runtime spawn`: may be resumed by a later spawn of the same script and args. */
  root?: boolean;
  name?: string;
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
    const store = openJournal(opts.db ?? DEFAULT_DB, { durability });
    let kernel: Kernel;
    try {
      kernel = new Kernel({
        store,
        threads,
        sliceMs,
        budgetMs: opts.budgetMs ?? 10,
        natives: (opts.natives ?? []).map((n) => path.resolve(n)),
        log: opts.log ?? defaultLog,
        evict: evictionPolicy(opts.evictIdleMs ?? 600_000, opts.evictMaxRounds ?? 2000),
        retainMs: opts.retainMs,
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
    const recovered = kernel.recover();
    sup.recover();
    return new Node(kernel, sup, recovered, fatal, rootExits);
  }

  get db(): string {
    return this.kernel.store.path;
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
    return this.kernel.store.liveRoots().find((p) => p.script === file && bytes.equals(Buffer.from(p.args)) && this.kernel.process(p.pid) !== undefined)?.pid;
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

  /** The kernel's state of a process ('dead' while held for a restart); undefined when the kernel no longer has it. */
  stateOf(pid: Pid): ProcState | undefined {
    return this.kernel.process(pid)?.state;
  }

  /** Live processes: pid, script, run and state. */
  processes(): Array<{ pid: Pid; script: string; run: number; state: ProcState }> {
    return this.kernel.processes().map((p) => ({ pid: p.pid, script: p.script, run: p.run, state: p.state }));
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

/** The default eviction policy: parked long enough, and cheap enough to replay. */
export function evictionPolicy(idleMs: number, maxRounds: number): (proc: KProc, now: number) => boolean {
  return (proc, now) => now - proc.lastActive >= idleMs && proc.rounds <= maxRounds;
}

function defaultLog(pid: Pid, line: string): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), pid, msg: line })}\n`);
}
