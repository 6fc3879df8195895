// What the kernel does on its own, on the watchdog's clock: evicting parked
// processes the policy lets go (they come back by replay on their next
// wake), paging the records of evicted processes that wait for nothing but
// mail out of the process table (they come back from the journal on their
// next message or signal), and pruning history past the retention period.

import type { Commit } from './commit.js';
import type { Scheduler, Slot } from './scheduler.js';
import type { KProc, ProcessTable } from './table.js';

export interface HousekeepingOptions {
  scheduler: Scheduler;
  commit: Commit;
  table: ProcessTable;
  /** Eviction policy: may this parked process leave its thread's memory now? */
  evict: (proc: KProc, now: number) => boolean;
  /** Keep the history of what ended only this long (ms); unset: keep everything. */
  retainMs?: number;
}

/** How often eviction sweeps every idle slot. */
const SWEEP_EVERY = 1000;
/** How often a node with a retention period prunes its journal. */
const PRUNE_EVERY = 3_600_000;

export class Housekeeping {
  readonly #opts: HousekeepingOptions;
  #lastSweep = 0;
  #lastPrune = 0;
  /** Evicted since the last sweep: their records leave the table at the next one if nothing is pending for them by then. */
  #evicted: KProc[] = [];

  constructor(opts: HousekeepingOptions) {
    this.#opts = opts;
  }

  /** Called by the watchdog: sweep and prune when their time has come. */
  tick(wall: number): void {
    const { retainMs } = this.#opts;
    if (retainMs !== undefined && wall - this.#lastPrune >= PRUNE_EVERY) {
      this.#lastPrune = wall;
      this.#opts.commit.push({ type: 'history.pruned', before: wall - retainMs });
      this.#opts.commit.requestFlush();
    }
    if (wall - this.#lastSweep >= SWEEP_EVERY) {
      this.#lastSweep = wall;
      this.#pageOut();
      // A slot with a slice in flight is swept another time: its processes' states are about to change.
      for (const slot of this.#opts.scheduler.slots) if (slot.phase.is === 'idle') for (const proc of slot.residents) this.maybeEvict(slot, proc, wall);
      this.#opts.scheduler.requestPump();
    }
  }

  /** Evict `proc` if it is parked on `slot` with nothing queued and the policy lets it go. */
  maybeEvict(slot: Slot, proc: KProc, now: number): void {
    if (proc.residency !== 'resident' || proc.slot !== slot.index || proc.state !== 'parked' || slot.queue.has(proc) || !this.#opts.evict(proc, now)) return;
    slot.drops.push(proc.pid);
    this.#opts.scheduler.evict(proc);
    this.#evicted.push(proc);
  }

  /** A record read back from the journal (to be woken, or only looked at): it may leave again at the next sweep if nothing happens to it. */
  readBack(proc: KProc): void {
    this.#evicted.push(proc);
  }

  /**
   * A sweep after its eviction, a process still parked in no thread with
   * nothing pending leaves the table. One that was woken meanwhile, or that
   * its thread kept (a step's function still running there), stays: it is
   * evicted again, and tried again, when it next goes idle. One whose rows
   * are still being committed, or whose thread has not yet reported the
   * slice that carried the drop (the thread may keep it), waits for a later
   * sweep.
   */
  #pageOut(): void {
    const { table, commit, scheduler } = this.#opts;
    const committed = commit.committedBatch;
    const wait: KProc[] = [];
    for (const proc of this.#evicted) {
      if (table.procs.get(proc.pid) !== proc || proc.residency !== 'journal' || proc.state !== 'parked') continue;
      const slot = proc.slot === null ? undefined : scheduler.slots[proc.slot];
      const dropped = slot === undefined || (slot.phase.is === 'idle' && slot.drops.length === 0);
      if (!dropped || proc.rowBatch > committed || proc.inputBatch > committed) wait.push(proc);
      else if (table.canPageOut(proc, committed)) table.pageOut(proc);
    }
    this.#evicted = wait;
  }
}
