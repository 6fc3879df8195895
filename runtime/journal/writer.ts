// The kernel's side of the journal writer (see writer-thread.ts for SQLite,
// pg-writer-thread.ts for PostgreSQL). Commits are pipelined: while one batch
// is being committed the kernel keeps collecting the next, so the batch grows
// with the load — group commit, one fsync each.

import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { BeamlineError, ErrorCodes, revive, type ErrorData } from '../errors.js';
import { keysFor } from './cipher.js';
import { encodeWire } from './codec.js';
import type { JournalEvent } from './events.js';
import type { ClusterEvent, Durability } from './store.js';

/** One part of a batch, as the writer thread receives it (see commit). */
export interface BatchPart {
  id: number;
  part: number;
  last: boolean;
  batch: Uint8Array;
}

const SQLITE_THREAD = fileURLToPath(new URL('./writer-thread.js', import.meta.url));
/** Events per part of a batch (see commit). */
const PART = 4096;
/** How many recent commit latencies the writer keeps for percentiles. */
const LATENCIES = 1024;

/** Running totals of what the writer committed (read by the live view and /metrics). */
export interface CommitStats {
  commits: number;
  events: number;
  spawned: number;
  exited: number;
  /** The most recent commit latencies (ms, from commit() to durable), newest last, at most LATENCIES. */
  latencies: number[];
}

export class JournalWriter {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  #next = 1;
  #closed: Promise<void> | null = null;
  #dead: Error | null = null;
  // Counted here because every commit passes through: a few additions per
  // batch, nothing per event but a type check.
  #commits = 0;
  #events = 0;
  #spawned = 0;
  #exited = 0;
  readonly #latency = new Float64Array(LATENCIES);

  #onFatal: ((err: Error) => void) | null = null;
  #onCluster: ((ev: ClusterEvent) => void) | null = null;

  /** The SQLite journal's writer. */
  static sqlite(path: string, durability: Durability): JournalWriter {
    // An encrypted journal's key set travels with the path: the thread seals what it writes.
    return new JournalWriter(SQLITE_THREAD, { path, durability, keys: keysFor(path) });
  }

  /** `thread`: the writer thread's module; `data`: what it opens its store with. */
  constructor(thread: string, data: unknown) {
    this.#worker = new Worker(thread, { workerData: data });
    this.#worker.on('message', (msg: { id?: number; ok?: boolean; error?: ErrorData; closed?: boolean; fatal?: ErrorData; cluster?: ClusterEvent }) => {
      // Several nodes (PostgreSQL): processes taken over, mail from other nodes.
      if (msg.cluster !== undefined) this.#onCluster?.(msg.cluster);
      // The thread found the store unusable between commits (a lost lease): nothing more may be written.
      if (msg.fatal !== undefined) this.#die(revive(msg.fatal));
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
    const started = performance.now();
    const done = new Promise<void>((resolve, reject) =>
      this.#waiting.set(id, {
        resolve: () => {
          this.#latency[this.#commits % LATENCIES] = performance.now() - started;
          this.#commits++;
          resolve();
        },
        reject,
      }),
    );
    this.#events += events.length;
    for (const ev of events) {
      if (ev.type === 'process.spawned') {
        this.#spawned++;
        if (ev.exit !== undefined) this.#exited++;
      } else if (ev.type === 'process.exited') {
        this.#exited++;
      }
    }
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

  stats(): CommitStats {
    const n = Math.min(this.#commits, LATENCIES);
    const latencies: number[] = [];
    for (let i = this.#commits - n; i < this.#commits; i++) latencies.push(this.#latency[i % LATENCIES]!);
    return { commits: this.#commits, events: this.#events, spawned: this.#spawned, exited: this.#exited, latencies };
  }

  /** `fn` learns when the writer can commit nothing more, even with no commit in flight. */
  onFatal(fn: (err: Error) => void): void {
    this.#onFatal = fn;
    if (this.#dead !== null) fn(this.#dead);
  }

  /** Several nodes: `fn` learns of processes taken over and mail delivered (see ClusterEvent). */
  onCluster(fn: (ev: ClusterEvent) => void): void {
    this.#onCluster = fn;
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
    if (this.#dead !== null) return;
    // An error the thread named (a lost lease, an unreachable server) keeps its code.
    this.#dead = err instanceof BeamlineError ? err : new BeamlineError(ErrorCodes.JOURNAL_CORRUPT, `journal writer failed: ${err.message}`, { cause: err });
    this.#onFatal?.(this.#dead);
    for (const w of this.#waiting.values()) w.reject(this.#dead);
    this.#waiting.clear();
  }
}
