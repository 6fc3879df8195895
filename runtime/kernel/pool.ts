// The thread pool: Piscina with one fixed thread per slot.
//
// Processes live in a thread's memory between slices, so a slot's slices
// must always land on the same thread: the load balancer maps slot → thread
// id (Piscina hands the balancer fresh view objects every call; the id is
// the stable thing). A thread that dies is replaced by Piscina; the slot
// then binds to the newcomer and the kernel rebuilds its processes by replay.
//
// atomics: 'disabled' because a thread parked in Atomics.wait between tasks
// would stall the step() functions and promises that live in it.

import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { Abort } from '../abort.js';
import { MAX_THREADS } from '../protocol.js';
import type { WorkerData } from '../executor/worker.js';
import type { ReaderSpec } from '../journal/store.js';

const WORKER_FILE = fileURLToPath(new URL('../executor/worker.js', import.meta.url));

export interface PoolOptions {
  threads: number;
  /** How worker threads open the journal (from the store). */
  journal: ReaderSpec;
  /** The node's pid tag: threads build the pids of children they spawn. */
  tag: string;
  natives: string[];
  /** Fail a process whose mailbox holds more than this many unread messages (0: no bound). */
  maxMailbox?: number;
  /** A thread has work of its own between slices (a step() function finished). */
  onWake(slot: number): void;
  /** A thread died; `running` is the serial of the process that was running on it (0: none). */
  onLost(slot: number, running: number): void;
}

const QUEUE_OPTIONS: symbol = Piscina.queueOptionsSymbol;
type Routed = { [QUEUE_OPTIONS]?: { slot: number } };
type Worker = Parameters<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer'] & {}>[1][number];

export class ThreadPool {
  readonly threads: number;
  readonly #piscina: Piscina;
  readonly #current: Float64Array;
  readonly #slotThread = new Map<number, number>();
  readonly #opts: PoolOptions;
  #closing = false;
  /** Per slot: slices finished and the milliseconds they took (sent → report back, thread hop included). */
  readonly #slices: number[];
  readonly #sliceMs: number[];

  constructor(opts: PoolOptions) {
    this.#opts = opts;
    this.threads = opts.threads;
    this.#slices = new Array<number>(opts.threads).fill(0);
    this.#sliceMs = new Array<number>(opts.threads).fill(0);
    const shared = new SharedArrayBuffer(8 * (MAX_THREADS + 1));
    this.#current = new Float64Array(shared);
    const workerData: WorkerData = { journal: opts.journal, tag: opts.tag, current: shared, natives: opts.natives, maxMailbox: opts.maxMailbox ?? 0 };
    this.#piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: opts.threads,
      maxThreads: opts.threads,
      idleTimeout: Infinity,
      atomics: 'disabled',
      concurrentTasksPerWorker: 1,
      maxQueue: Infinity,
      loadBalancer: (task, workers) => this.#balance(task as unknown as Routed, workers),
      workerData,
    });
    this.#piscina.on('message', (msg: { beamline?: string; slot?: number }) => {
      if (msg?.beamline === 'wake' && typeof msg.slot === 'number') opts.onWake(msg.slot);
    });
    this.#piscina.on('workerDestroy', (worker: { id: number }) => this.#destroyed(worker.id));
    // Errors of idle threads arrive here; the thread's death arrives as workerDestroy.
    this.#piscina.on('error', () => {});
  }

  /** Run one slice on `slot`'s thread. */
  run(slot: number, task: Uint8Array, signal: Abort): Promise<Uint8Array> {
    const own = new Uint8Array(task);
    (own as unknown as Routed)[QUEUE_OPTIONS] = { slot };
    const started = performance.now();
    const out = this.#piscina.run(own, { transferList: [own.buffer as ArrayBuffer], signal }) as Promise<Uint8Array>;
    return out.then((report) => {
      this.#slices[slot]!++;
      this.#sliceMs[slot]! += performance.now() - started;
      return report;
    });
  }

  /** Per slot: slices finished and their total time (ms), since the pool started. */
  sliceStats(): Array<{ slices: number; ms: number }> {
    return this.#slices.map((slices, i) => ({ slices, ms: this.#sliceMs[i]! }));
  }

  /** Serial of the process running on `slot` right now (0: none). */
  running(slot: number): number {
    return this.#current[slot] ?? 0;
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#piscina.destroy();
  }

  #balance(task: Routed, workers: Worker[]): Worker | null {
    const slot = task[QUEUE_OPTIONS]?.slot;
    if (slot === undefined) return null;
    const bound = this.#slotThread.get(slot);
    if (bound !== undefined) return workers.find((w) => w.id === bound) ?? null;
    const taken = new Set(this.#slotThread.values());
    const free = workers.find((w) => !taken.has(w.id));
    if (free === undefined) return null;
    this.#slotThread.set(slot, free.id);
    return free;
  }

  /**
   * Piscina removed a thread. A thread that already exited reports id -1
   * (Node clears threadId on exit), so then the lost slot is the one whose
   * thread is no longer among the live ones.
   */
  #destroyed(threadId: number): void {
    if (this.#closing) return;
    const alive = new Set(this.#piscina.threads.map((t) => t.threadId).filter((id) => id >= 0));
    for (const [slot, id] of this.#slotThread) {
      if (threadId >= 0 ? id !== threadId : alive.has(id)) continue;
      this.#opts.onLost(slot, this.release(slot));
    }
  }

  /** Unbind `slot` from its (dead) thread; returns the serial of the process that was running on it. */
  release(slot: number): number {
    this.#slotThread.delete(slot);
    const running = this.#current[slot] ?? 0;
    this.#current[slot] = 0;
    return running;
  }
}
