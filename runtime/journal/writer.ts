// The kernel's side of the journal writer (see writer-thread.ts). Commits are
// pipelined: while one batch is being committed the kernel keeps collecting
// the next, so the batch grows with the load — group commit, one fsync each.

import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { BeamlineError, ErrorCodes, revive, type ErrorData } from '../errors.js';
import { encodeWire } from './codec.js';
import type { JournalEvent } from './events.js';
import type { Durability } from './store.js';

const THREAD = fileURLToPath(new URL('./writer-thread.js', import.meta.url));

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

  /** Commit `events` in one transaction; resolves once they are durable. */
  commit(events: readonly JournalEvent[]): Promise<void> {
    if (this.#dead !== null) return Promise.reject(this.#dead);
    const id = this.#next++;
    const bytes = new Uint8Array(encodeWire(events));
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ id, batch: bytes }, [bytes.buffer as ArrayBuffer]);
    });
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
