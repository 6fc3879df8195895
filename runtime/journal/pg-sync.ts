// Synchronous PostgreSQL for the store interface. The store is synchronous
// (SQLite's reads are microseconds, and the kernel's recovery and the worker
// threads' replay read inline); PostgreSQL's driver is not. A SyncPg hands
// each query to a thread of its own (pg-sync-thread.ts) and blocks on a
// shared flag until the answer is posted back, which it then takes off the
// port synchronously. Only reads off the hot path and one-off writes go this
// way: group commits go through the writer thread's own async connection.
//
// A query that gets no answer within `timeoutMs` fails with a one-line error
// naming the server; nothing waits for ever.

import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { BeamlineError, ErrorCodes } from '../errors.js';

const THREAD = fileURLToPath(new URL('./pg-sync-thread.js', import.meta.url));

export interface PgError {
  message: string;
  /** PostgreSQL's SQLSTATE (e.g. 23505 unique violation), null for a connection failure. */
  code: string | null;
}

export class PgQueryError extends Error {
  readonly sqlstate: string | null;
  constructor(err: PgError) {
    super(err.message);
    this.sqlstate = err.code;
  }
}

/** postgres://user:secret@host/db → postgres://user@host/db: what messages may show. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString().replace(/:@/, '@');
  } catch {
    return '(an invalid PostgreSQL URL)';
  }
}

export class SyncPg {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #signal: Int32Array;
  readonly #name: string;
  readonly #timeoutMs: number;
  #serial = 0;
  #closed = false;

  constructor(url: string, timeoutMs = 30_000) {
    // Cell 0: an answer was posted; cell 1: always 0 (a short pause waits on it).
    const flag = new SharedArrayBuffer(8);
    this.#signal = new Int32Array(flag);
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#name = redactUrl(url);
    this.#timeoutMs = timeoutMs;
    this.#worker = new Worker(THREAD, { workerData: { url, port: port2, flag }, transferList: [port2] });
    // The thread must not keep a finished command alive; close() ends it.
    this.#worker.unref();
    this.#port.unref();
  }

  /** Run one statement (or several separated by `;` without params); the last statement's rows. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], timeoutMs = this.#timeoutMs): T[] {
    return this.#call({ sql, params }, timeoutMs).rows as T[];
  }

  /** Like query, for statements: how many rows the last one touched. */
  run(sql: string, params?: unknown[]): number {
    return this.#call({ sql, params }).count;
  }

  #call(msg: object, timeoutMs = this.#timeoutMs): { rows: unknown[]; count: number } {
    if (this.#closed) throw new BeamlineError(ErrorCodes.INTERNAL, `${this.#name}: store connection already closed`);
    // Each request carries an id and its answer the same: an answer to a
    // request that timed out earlier is recognised and dropped, never taken
    // for the answer to this one.
    const id = ++this.#serial;
    Atomics.store(this.#signal, 0, 0);
    this.#port.postMessage({ ...msg, id });
    const deadline = Date.now() + timeoutMs;
    let reply: { id: number; rows: unknown[]; count: number; error?: PgError } | undefined;
    for (;;) {
      const got = receiveMessageOnPort(this.#port)?.message as typeof reply;
      if (got !== undefined && got.id === id) {
        reply = got;
        break;
      }
      if (got !== undefined) continue; // a late answer to an earlier request
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (Atomics.load(this.#signal, 0) === 1) {
        // The flag says an answer was posted (this one, or a late one): the port may show it a
        // moment later. Pause 1 ms on the second cell, which nobody sets.
        Atomics.wait(this.#signal, 1, 0, 1);
      } else {
        Atomics.wait(this.#signal, 0, 0, left);
      }
    }
    if (reply === undefined) {
      throw new BeamlineError(
        ErrorCodes.JOURNAL_UNAVAILABLE,
        `${this.#name}: PostgreSQL did not answer within ${timeoutMs} ms`,
        { file: this.#name },
      );
    }
    if (reply.error !== undefined) throw new PgQueryError(reply.error);
    return reply;
  }

  close(): void {
    if (this.#closed) return;
    try {
      this.#call({ close: true }, 1000);
    } catch {
      /* closing anyway */
    }
    this.#closed = true;
    void this.#worker.terminate();
  }
}
