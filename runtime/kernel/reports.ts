// A slice report, turned into journal events, effects and markers for other
// processes. Only the processes the slice touched are visited: never every
// resident.

import { ErrorCodes, isErrorData } from '../errors.js';
import { decode } from '../journal/codec.js';
import { MAIL_MESSAGE, type Pid, type RoundOut, type SliceReport, type SpawnOut } from '../protocol.js';
import type { Commit } from './commit.js';
import type { Effects } from './effects.js';
import type { Exits } from './exits.js';
import type { Remote } from './remote.js';
import type { Scheduler, Slice, Slot } from './scheduler.js';
import type { KProc, ProcessTable } from './table.js';

export interface ReportsOptions {
  table: ProcessTable;
  commit: Commit;
  scheduler: Scheduler;
  effects: Effects;
  exits: Exits;
  /** Mail for targets this node does not have (several nodes). */
  remote: Remote;
  /** Eviction: may this parked process leave its thread now? (housekeeping.ts) */
  maybeEvict: (slot: Slot, proc: KProc, now: number) => void;
  /** Start a child its parent's thread gave a pid (see SliceReport.spawns). */
  spawned: (parent: KProc, child: SpawnOut) => void;
  /** Where process log lines go, once the round that wrote them is committed. */
  log: (pid: Pid, line: string) => void;
  /** 'pause': a process whose replay diverges is paused ('diverged'), not ended. Default 'fail'. */
  onDivergence?: 'fail' | 'pause';
}

export class Reports {
  readonly #opts: ReportsOptions;
  readonly #table: ProcessTable;
  readonly #commit: Commit;
  readonly #scheduler: Scheduler;

  constructor(opts: ReportsOptions) {
    this.#opts = opts;
    this.#table = opts.table;
    this.#commit = opts.commit;
    this.#scheduler = opts.scheduler;
  }

  apply(slot: Slot, report: SliceReport, slice: Slice): void {
    slot.thread = 'ready';
    // Persisted with the next commit, only when the thread used ids (two fewer
    // writes on every other commit).
    if (report.nextId > slot.idNext) {
      slot.idNext = report.nextId;
      this.#commit.countersMoved();
    }
    slot.heap = report.heap;
    slot.live = report.live;
    const now = Date.now();
    if (report.spawns.length > 0) this.#spawns(slot, report);
    this.#mail(report);
    for (const id of report.taken) this.#commit.push({ type: 'mail.taken', id });
    for (const t of report.trapped) this.#commit.push({ type: 'mail.rewritten', id: t.id, kind: MAIL_MESSAGE, data: t.data });
    for (const round of report.rounds) this.#round(round, now);
    if (report.handlers !== undefined) {
      for (const [pid, run, names] of report.handlers) {
        const proc = this.#table.get(pid);
        if (proc !== undefined && proc.run === run) proc.handlers = { run, names };
      }
    }
    for (const f of report.failed) {
      const proc = this.#table.get(f.pid);
      if (proc === undefined || proc.state === 'dead') continue;
      // The markers went out with the wake and were cleared here at dispatch: give them back.
      const item = slice.items.find((i) => i.pid === f.pid && (i.op === 'wake' || i.op === 'start'));
      this.#scheduler.wakeFailed(proc, item !== undefined && item.op !== 'drop' && item.op !== 'query' ? item.marks : []);
    }
    for (const pid of report.kept) {
      const proc = this.#table.get(pid);
      if (proc === undefined || proc.state === 'dead' || proc.residency === 'resident' || proc.slot !== slot.index) continue;
      // Still in that thread's memory: a start queued meanwhile becomes a wake at dispatch.
      proc.residency = 'resident';
      slot.residents.add(proc);
    }
    for (const proc of slice.procs) slot.onThread.add(proc);
    if (report.busy > 0) {
      // The thread still has runnable processes, and it does not say which:
      // every process sent to it since it was last quiet may hold markers it
      // has not applied yet, so none of them is parked (nor evictable).
      slot.more = true;
    } else {
      // Quiet: everything sent to the thread has run.
      for (const proc of slot.onThread) if (proc.state === 'running' && !slot.queue.has(proc)) this.#scheduler.park(proc);
      for (const proc of slot.onThread) this.#opts.maybeEvict(slot, proc, now);
      slot.onThread.clear();
      for (const round of report.rounds) {
        const proc = this.#table.get(round.pid);
        if (proc !== undefined) this.#opts.maybeEvict(slot, proc, now);
      }
    }
    // What waits on this report (a request, a reply, a log line, an exit)
    // asked for its commit already; the rest rides with the next one.
    this.#commit.requestLazyFlush();
    this.#scheduler.pump();
    this.#scheduler.checkIdle();
  }

  /**
   * Children whose pids the thread gave: started before the slice's mail is
   * routed, since a parent may send to its child in the round that spawned it.
   * A parent whose round this report cannot record (see #recordable) spawned nothing: its call never returned as far as the journal knows.
   */
  #spawns(slot: Slot, report: SliceReport): void {
    this.#scheduler.usedPids(slot, report.pidNext);
    for (const child of report.spawns) {
      const parent = this.#recordable(child.parent, child.run);
      if (parent !== undefined) this.#opts.spawned(parent, child);
    }
  }

  /**
   * The process a round of `pid`'s run `run` belongs to, if this report may
   * still record it: not when the process ended or started another run
   * while the slice was out (the round, and all it did, is dropped).
   */
  #recordable(pid: Pid, run: number): KProc | undefined {
    const proc = this.#table.get(pid);
    return proc === undefined || proc.run !== run || proc.state === 'dead' ? undefined : proc;
  }

  /** Messages the slice sent: stored, and delivered to their targets (or to a gateway port). */
  #mail(report: SliceReport): void {
    for (const m of report.mail) {
      const pid = this.#table.names.get(m.to) ?? m.to;
      const target = this.#table.get(pid);
      if (target === undefined) {
        const port = this.#table.ports.get(pid);
        // A reply leaves the node: only once the send that caused it is committed.
        if (port !== undefined) this.#commit.after(() => port(decode(m.data)));
        // Another node's process (several nodes), else dropped like Erlang's send to a dead pid.
        else this.#opts.remote.send(m.to, m.from, m.kind, m.data);
        continue;
      }
      // A dead process still in the table is held for a supervisor restart:
      // its mailbox is kept for the next run, so the message is stored.
      this.#commit.push({ type: 'mail.put', id: m.id, to: pid, from: m.from, kind: m.kind, data: m.data });
      target.mailbox = 'stored';
      target.coldAfter = -1; // a cold start reads its mailbox: this entry must be committed first
      if (!m.local && target.state !== 'dead') this.#scheduler.mark(target, { m: 'mail', id: m.id, from: m.from, kind: m.kind, data: m.data });
    }
  }

  #round(round: RoundOut, now: number): void {
    const proc = this.#recordable(round.pid, round.run);
    if (proc === undefined) return;
    proc.lastActive = now;
    // What a request of this round waits for (see DESIGN, performance): a
    // pure round's causes are the rows before it and the results it took,
    // so not its own row; any other round's are everything recorded so far
    // (null). A run's first round also depends on the start that made it.
    const causes = round.pure === true && proc.rounds > 0 ? Math.max(proc.rowBatch, proc.inputBatch) : null;
    if (round.row !== null) {
      this.#commit.push({ type: 'process.round', pid: proc.pid, run: proc.run, at: now, row: round.row });
      proc.rounds++;
      proc.rowBatch = this.#commit.batchSoFar();
    }
    for (const eff of round.effects) this.#opts.effects.apply(proc, eff, causes);
    for (const step of round.settled) this.#opts.effects.settle(proc, step);
    if (round.logs.length > 0) {
      const lines = round.logs;
      const pid = proc.pid;
      this.#commit.after(() => {
        for (const line of lines) this.#opts.log(pid, line);
      });
    }
    if (round.exit === null) return;
    // A divergence is reported as an exit the thread did not record (row null).
    if (this.#opts.onDivergence === 'pause' && round.row === null && isErrorData(round.exit.reason) && round.exit.reason.code === ErrorCodes.NONDETERMINISM) {
      const reason = round.exit.reason;
      this.#opts.exits.diverged(proc, reason);
      this.#commit.after(() =>
        this.#opts.log(proc.pid, `paused: ${reason.message.split('\n')[0]}; fix the script, then 'runtime resume ${proc.pid}' (or 'runtime kill ${proc.pid}')`),
      );
      return;
    }
    if (round.exit.next !== undefined) this.#opts.exits.continued(proc, round.exit.next, round.row === null, round.exit.dropHistory === true);
    else this.#opts.exits.exited(proc, round.exit, round.row === null);
  }
}
