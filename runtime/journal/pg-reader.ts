// The PostgreSQL store's thread side: what a worker thread reads to rebuild a
// process, through a synchronous connection of its own (pg-sync.ts).

import { Cipher, openPayload, type Keyring } from './cipher.js';
import { SyncPg } from './pg-sync.js';
import type { StoreReader } from './store.js';
import type { Pid } from '../protocol.js';

export class PgReader implements StoreReader {
  readonly #db: SyncPg;
  readonly #cipher: Cipher | null;

  constructor(url: string, keys: Keyring | null) {
    this.#db = new SyncPg(url);
    this.#cipher = keys === null ? null : new Cipher(keys);
  }

  history(pid: Pid, run: number): Array<{ seq: number; row: Uint8Array }> {
    return this.#db
      .query<{ seq: number; row: Uint8Array }>('SELECT seq, row FROM journal WHERE pid = $1 AND run = $2 ORDER BY seq', [pid, run])
      .map((r) => ({ seq: r.seq, row: openPayload(this.#cipher, r.row, 'row') }));
  }

  mailbox(pid: Pid): Array<{ id: number; sender: string; kind: number; data: Uint8Array }> {
    const rows = this.#db.query<{ id: number; sender: string; kind: number; data: Uint8Array }>(
      'SELECT id, sender, kind, data FROM mailbox WHERE pid = $1 ORDER BY seq',
      [pid],
    );
    for (const r of rows) r.data = openPayload(this.#cipher, r.data, 'mail');
    return rows;
  }

  args(pid: Pid): Uint8Array | null {
    const row = this.#db.query<{ args: Uint8Array }>('SELECT args FROM processes WHERE pid = $1', [pid])[0];
    return row === undefined ? null : openPayload(this.#cipher, row.args, 'args');
  }

  close(): void {
    this.#db.close();
  }
}
