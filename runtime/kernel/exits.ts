// How runs end: an exit (links, monitors and names are told, the supervisor
// decides whether to hold the dead process for a restart) or a
// continueAsNew (the process goes on as its next run). And waiting for an
// exit, which resolves only once the exit is committed.

import { BeamlineError, ErrorCodes } from '../errors.js';
import { decode, encode } from '../journal/codec.js';
import type { Store } from '../journal/store.js';
import type { ExitOut, Pid } from '../protocol.js';
import type { SupervisionHooks } from '../supervisor/port.js';
import type { Commit } from './commit.js';
import type { Effects } from './effects.js';
import type { Relations } from './relations.js';
import type { Scheduler } from './scheduler.js';
import { exitInfoFromRow, type ExitInfo, type KProc, type ProcessTable } from './table.js';

/** How many exits `wait` answers from memory. */
const RECENT_EXITS = 65_536;
/**
 * Results larger than this (encoded bytes) are not kept among the recent
 * exits: `wait` reads them back from the journal. 65,536 results of any size
 * were resident memory: a million pids returned by a few spawners held ~40 MB.
 */
const RECENT_RESULT_MAX = 4096;

export interface ExitsOptions {
  store: Store;
  table: ProcessTable;
  commit: Commit;
  scheduler: Scheduler;
  effects: Effects;
  relations: Relations;
  supervision: () => SupervisionHooks | null;
  /** Told of every exit (crash reports), with what the exit row and the process's names held. */
  onExit?: (proc: KProc, reason: unknown, exit: ExitFacts) => void;
}

/** What an exit observer sees beside the process record: its names are gone from it by then. */
export interface ExitFacts {
  lastMessage: Uint8Array | null;
  names: readonly string[];
}

export class Exits {
  readonly #opts: ExitsOptions;
  readonly #table: ProcessTable;
  readonly #commit: Commit;
  readonly #scheduler: Scheduler;
  readonly #waiters = new Map<Pid, Array<(info: ExitInfo) => void>>();
  /** Waiting for an exit that just happened is common (spawn, then wait): the latest are answered from memory. */
  readonly #recent = new Map<Pid, ExitInfo>();
  /** A ring of pids, oldest first: evicting by Map iteration would walk the deleted entries at its front every time. */
  readonly #ring: Array<Pid | undefined> = [];
  #head = 0;

  constructor(opts: ExitsOptions) {
    this.#opts = opts;
    this.#table = opts.table;
    this.#commit = opts.commit;
    this.#scheduler = opts.scheduler;
  }

  /**
   * continueAsNew: the run ended, the process goes on as its next run with
   * new arguments. Not an exit — links, monitors, names, the mailbox and the
   * supervisor are untouched — but the old run's effects are gone with it.
   */
  continued(proc: KProc, args: Uint8Array, writeRow: boolean, dropHistory = false): void {
    const now = Date.now();
    if (writeRow) this.#commit.push({ type: 'process.round', pid: proc.pid, run: proc.run, at: now, row: encode({ r: [], c: [], x: 'continued' }) });
    this.#opts.effects.dropAll(proc);
    // Its thread let the old run go; the new run reads its arguments (and mailbox) from the journal.
    this.#scheduler.leaveThread(proc);
    proc.residency = 'journal';
    proc.run++;
    proc.rounds = 0;
    proc.args = null;
    // Markers still queued go along: mail for the new run; the old run's
    // resolutions are dropped by the executor, which checks every marker's run.
    // dropHistory: a server's snapshot; the journal deletes the earlier runs' rows in this commit.
    this.#commit.push({ type: 'process.restarted', pid: proc.pid, run: proc.run, at: now, args: Buffer.from(args), ...(dropHistory ? { dropHistory } : {}) });
    this.#scheduler.schedule(proc);
    this.#commit.requestFlush();
  }

  /**
   * Replay diverged under `--on-divergence pause`: the process stays (pid,
   * mailbox, effects, links), out of every thread and scheduled by nothing,
   * until `resume` or a kill. Its history records the divergence (a row with
   * `d`, which replay passes over). Not an exit: nobody is told.
   */
  diverged(proc: KProc, reason: unknown): void {
    if (proc.state === 'dead') return;
    this.#commit.push({ type: 'process.round', pid: proc.pid, run: proc.run, at: Date.now(), row: encode({ r: [], c: [], d: reason }) });
    proc.rounds++;
    this.#scheduler.leaveThread(proc);
    proc.residency = 'journal';
    proc.state = 'diverged';
    this.#scheduler.failQueries(proc, () => new BeamlineError(ErrorCodes.NOPROC, `query: process ${proc.pid} is paused (its replay diverged)`));
    this.#commit.requestFlush();
  }

  exited(proc: KProc, exit: ExitOut, writeRow: boolean): void {
    if (proc.state === 'dead') return;
    const now = Date.now();
    const reason = exit.reason;
    if (writeRow) this.#commit.push({ type: 'process.round', pid: proc.pid, run: proc.run, at: now, row: encode({ r: [], c: [], x: reason }) });
    this.#commit.push({
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
    this.#scheduler.leaveThread(proc);
    if (proc.residency === 'resident') proc.residency = 'journal';
    this.#opts.effects.dropAll(proc);
    const names = proc.rel === null ? [] : [...proc.rel.names];
    this.#opts.relations.exited(proc, reason);
    this.#opts.onExit?.(proc, reason, { lastMessage: exit.lastMessage, names });
    const info: ExitInfo = {
      pid: proc.pid,
      run: proc.run,
      reason,
      result: exit.result === null ? null : decode(exit.result),
      normal: reason === 'normal',
    };
    proc.lastExit = info;
    this.#scheduler.failQueries(proc, () => new BeamlineError(ErrorCodes.NOPROC, `query: process ${proc.pid} exited`));
    const waiters = this.#waiters.get(proc.pid);
    if (waiters !== undefined) {
      this.#waiters.delete(proc.pid);
      this.#commit.after(() => {
        for (const w of waiters) w(info);
      });
    }
    const supervision = this.#opts.supervision();
    const decision = proc.sup === null || supervision === null ? 'release' : supervision.childExited({ pid: proc.pid, ref: proc.sup, reason });
    if (decision === 'release' && proc.state === 'dead') this.#release(proc, info, exit.result?.length ?? 0);
    this.#commit.requestFlush();
  }

  /** Let a dead process go: its mailbox and its table entry. */
  #release(proc: KProc, info: ExitInfo, resultBytes: number): void {
    // Only a process that was ever sent a stored message can have mailbox rows.
    if (proc.mailbox === 'stored') this.#commit.push({ type: 'mail.dropped', pid: proc.pid });
    this.#table.delete(proc.pid);
    if (resultBytes > RECENT_RESULT_MAX) return;
    this.#recent.set(proc.pid, info);
    const old = this.#ring[this.#head];
    if (old !== undefined) this.#recent.delete(old);
    this.#ring[this.#head] = proc.pid;
    this.#head = (this.#head + 1) % RECENT_EXITS;
  }

  /** Drop a dead process a supervisor held for a restart that will not come. */
  forget(pid: Pid): void {
    const proc = this.#table.get(pid);
    if (proc === undefined || proc.state !== 'dead') return;
    this.#table.delete(pid);
    this.#commit.push({ type: 'mail.dropped', pid });
    this.#commit.requestFlush();
  }

  /** Resolves once the process's exit is committed. */
  async wait(pid: Pid): Promise<ExitInfo> {
    const proc = this.#table.get(pid);
    if (proc === undefined) {
      const recent = this.#recent.get(pid);
      // Resolve only once the exit is durable (it may still be on its way to the journal).
      await this.#commit.flushed();
      if (recent !== undefined) return recent;
      const row = this.#opts.store.process(pid);
      if (row === undefined) throw new BeamlineError(ErrorCodes.NOPROC, `no process ${pid}`, { pid });
      return exitInfoFromRow(pid, row.run, row.reason, row.result);
    }
    if (proc.state === 'dead' && proc.lastExit !== null) {
      // Held for a restart: the exit is known, but may not be durable yet.
      const info = proc.lastExit;
      await this.#commit.flushed();
      return info;
    }
    return new Promise((resolve) => {
      const list = this.#waiters.get(pid) ?? [];
      list.push(resolve);
      this.#waiters.set(pid, list);
    });
  }
}
