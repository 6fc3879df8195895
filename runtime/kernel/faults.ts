// When threads go wrong: the watchdog that aborts a runaway round, a thread
// that died (runaway aborted, process.exit, an uncaught error), and a slice
// Piscina rejected. Piscina's errors are matched here and nowhere else.

import { BeamlineError, ErrorCodes, toErrorData } from '../errors.js';
import { makePid } from '../pid.js';
import type { Exits } from './exits.js';
import type { Housekeeping } from './housekeeping.js';
import type { ThreadPool } from './pool.js';
import type { Scheduler, Slice, Slot } from './scheduler.js';
import type { ProcessTable } from './table.js';

export interface FaultsOptions {
  tag: string;
  /** A round running longer than this is a runaway: its process is killed (ms). */
  sliceMs: number;
  table: ProcessTable;
  scheduler: Scheduler;
  exits: Exits;
  housekeeping: Housekeeping;
  pool: () => ThreadPool;
}

export class Faults {
  readonly #opts: FaultsOptions;
  readonly #scheduler: Scheduler;
  readonly #watchdog: NodeJS.Timeout;

  constructor(opts: FaultsOptions) {
    this.#opts = opts;
    this.#scheduler = opts.scheduler;
    this.#watchdog = setInterval(() => this.#tick(), Math.max(20, Math.min(250, opts.sliceMs / 4)));
    this.#watchdog.unref();
  }

  stop(): void {
    clearInterval(this.#watchdog);
  }

  #tick(): void {
    this.#opts.housekeeping.tick(Date.now());
    const now = performance.now();
    for (const slot of this.#scheduler.slots) {
      if (slot.phase.is !== 'running') continue;
      const slice = slot.phase.slice;
      if (now - slice.started < this.#opts.sliceMs) continue;
      if (this.#opts.pool().running(slot.index) === 0) continue; // between rounds: not a runaway, just a long slice
      slot.phase = { is: 'aborting', slice };
      slice.abort.abort(new BeamlineError(ErrorCodes.TIMEOUT, 'slice budget exceeded'));
    }
  }

  /** Piscina rejected a slice: its thread died, or the task itself failed. */
  sliceFailed(slot: Slot, slice: Slice, err: unknown): void {
    if (isThreadDeath(err)) {
      this.threadLost(slot.index, this.#opts.pool().release(slot.index));
      return;
    }
    slot.phase = { is: 'idle' };
    process.emitWarning(`beamline: slice on thread ${slot.index} failed: ${(err as Error)?.stack ?? String(err)}`);
    this.#scheduler.sliceLost(slot, slice);
    this.#scheduler.requestPump();
    this.#scheduler.checkIdle();
  }

  /** A thread died; `running` is the serial of the process that was running on it (0: none). */
  threadLost(index: number, running: number): void {
    const slot = this.#scheduler.slots[index];
    if (slot === undefined) return;
    const phase = slot.phase;
    const runaway = phase.is === 'aborting';
    slot.phase = { is: 'idle' };
    // The replacement thread loads its modules with an empty first slice (see Kernel.close).
    slot.thread = 'loading';
    slot.more = true;
    const culprit = running > 0 ? this.#opts.table.get(makePid(this.#opts.tag, running)) : undefined;
    if (culprit !== undefined && culprit.state !== 'dead') {
      this.#scheduler.evict(culprit);
      const reason: unknown = runaway
        ? 'killed'
        : toErrorData(
            new BeamlineError(ErrorCodes.INTERNAL, `thread ${index} died while running process ${culprit.pid} (process.exit or an uncaught error)`, {
              pid: culprit.pid,
            }),
            false,
          );
      this.#opts.exits.exited(culprit, { reason, result: null, lastMessage: null }, true);
    }
    this.#scheduler.sliceLost(slot, phase.is === 'idle' ? null : phase.slice);
    this.#scheduler.requestPump();
    this.#scheduler.checkIdle();
  }
}

/** Piscina's rejection for a task whose thread was terminated or exited. */
function isThreadDeath(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  return e?.name === 'AbortError' || /worker exited|terminat/i.test(String(e?.message ?? ''));
}
