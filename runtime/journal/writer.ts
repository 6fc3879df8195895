// The kernel's side of the journal writer (see writer-thread.ts). Commits are
// pipelined: while one batch is being committed the kernel keeps collecting
// the next, so the batch grows with the load — group commit, one fsync each.

import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { BeamlineError, ErrorCodes, revive, type ErrorData } from '../errors.js';
import { encodeWire } from './codec.js';
import type { JournalEvent } from './events.js';
import type { Durability } from './store.js';

/** One part of a batch, as the writer thread receives it (see commit). */
export interface BatchPart {
  id: number;
  part: number;
  last: boolean;
  batch: Uint8Array;
}

const THREAD = fileURLToPath(new URL('./writer-thread.js', import.meta.url));
/** Events per part of a batch (see commit). */
const PART = 4096;

export class JournalWriter {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  #next = 1;
  #closed: Promise<void> | null = null;
  #dead: Error | null = null;

  constructor(path: string, durability: Durability) {
    this.#worker = new Worker(THREAD, { workerData: { path, durability } });
    this.#worker.on('message', (msg: { id?: number; ok?: boolean; error?: ErrorData; closed?: boolean }) => {
      if (msg.id === undefined) return;
      const waiter = this.#waiting.get(msg.id);
      this.#waiting.delete(msg.id);
      if (msg.ok) waiter?.resolve();
      else waiter?.reject(revive(msg.error!));
    });
    this.#worker.on('error', (err) => this.#die(err));
    this.#worker.on('exit', (code) => {
      if (this.#closed === null) this.#die(new Error(`journal writer thread exited with code ${code}`));
    });
  }

  /**
   * Commit `events` in one transaction; resolves once they are durable. A
   * big batch is encoded and sent PART events at a time, one part per turn of
   * the event loop, so a burst (100,000 spawns) never stalls the kernel for
   * the hundreds of milliseconds encoding it whole would take.
   */
  commit(events: readonly JournalEvent[]): Promise<void> {
    if (this.#dead !== null) return Promise.reject(this.#dead);
    const id = this.#next++;
    const done = new Promise<void>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    const parts = Math.max(1, Math.ceil(events.length / PART));
    const send = (part: number) => {
      if (this.#dead !== null) return;
      const bytes = new Uint8Array(encodeWire(parts === 1 ? events : events.slice(part * PART, (part + 1) * PART)));
      const msg: BatchPart = { id, part, last: part === parts - 1, batch: bytes };
      this.#worker.postMessage(msg, [bytes.buffer as ArrayBuffer]);
      if (part + 1 < parts) setImmediate(() => send(part + 1));
    };
    send(0);
    return done;
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#worker.once('exit', () => resolve());
      this.#worker.on('message', (msg: { closed?: boolean }) => {
        if (msg.closed) void this.#worker.terminate();
      });
      this.#worker.postMessage({ close: true });
    });
    return this.#closed;
  }

  #die(err: Error): void {
    this.#dead = new BeamlineError(ErrorCodes.JOURNAL_CORRUPT, `journal writer failed: ${err.message}`, { cause: err });
    for (const w of this.#waiting.values()) w.reject(this.#dead);
    this.#waiting.clear();
  }
}
