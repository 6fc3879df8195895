// The SQLite store's thread side: what a worker thread reads to rebuild a
// process (its history, mailbox and start arguments), on a read-only
// connection of its own. Apart from the store so a thread loads no more than
// this (reader.ts opens it from the store's plain description).

import Database from 'better-sqlite3';
import { Cipher, openPayload, type Keyring } from './cipher.js';
import type { StoreReader } from './store.js';
import type { Pid } from '../protocol.js';

type Stmt = Database.Statement;

/**
 * The worker side's read-only view: a process's history and mailbox for a
 * cold start. Opened once per thread; WAL lets it read while the kernel writes.
 */
export class JournalReader implements StoreReader {
  readonly #db: Database.Database;
  readonly #history: Stmt;
  readonly #mailbox: Stmt;
  readonly #args: Stmt;
  readonly #cipher: Cipher | null;

  /** `keys`: the journal's key set when it is encrypted (the pool passes it in workerData). */
  constructor(file: string, keys: Keyring | null = null) {
    this.#cipher = keys === null ? null : new Cipher(keys);
    this.#db = new Database(file, { readonly: true, fileMustExist: true });
    this.#history = this.#db.prepare('SELECT seq, row FROM journal WHERE pid = ? AND run = ? ORDER BY seq');
    this.#mailbox = this.#db.prepare('SELECT id, sender, kind, data FROM mailbox WHERE pid = ? ORDER BY seq');
    this.#args = this.#db.prepare('SELECT args FROM processes WHERE pid = ?');
  }

  /** With each row's seq, so a row that does not decode can be named. */
  history(pid: Pid, run: number): Array<{ seq: number; row: Uint8Array }> {
    return (this.#history.all(pid, run) as Array<{ seq: number; row: Uint8Array }>).map((r) => ({ seq: r.seq, row: this.#open(r.row, 'row') }));
  }

  mailbox(pid: Pid): Array<{ id: number; sender: string; kind: number; data: Uint8Array }> {
    const rows = this.#mailbox.all(pid) as Array<{ id: number; sender: string; kind: number; data: Uint8Array }>;
    for (const r of rows) r.data = this.#open(r.data, 'mail');
    return rows;
  }

  args(pid: Pid): Uint8Array | null {
    const args = (this.#args.get(pid) as { args: Uint8Array } | undefined)?.args;
    return args === undefined ? null : this.#open(args, 'args');
  }

  #open(bytes: Uint8Array, column: string): Uint8Array {
    return openPayload(this.#cipher, bytes, column);
  }

  close(): void {
    this.#db.close();
  }
}
