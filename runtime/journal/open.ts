// Which store a node or a command opens: a PostgreSQL URL (--store or
// BEAMLINE_STORE) means the shared database of several nodes, anything else
// the SQLite journal file (--db, default .beamline/journal.db).

import path from 'node:path';
import { BeamlineError, ErrorCodes } from '../errors.js';
import type { Keyring } from './cipher.js';
import { isPostgresUrl, openPostgres } from './postgres.js';
import { openJournal } from './sqlite.js';
import type { Durability, Store } from './store.js';

export const DEFAULT_DB = path.join('.beamline', 'journal.db');

export interface StoreChoice {
  db?: string;
  store?: string;
  leaseMs?: number;
}

/** The PostgreSQL URL chosen (--store, else BEAMLINE_STORE), or null for the SQLite journal. */
export function chosenStore(choice: StoreChoice): string | null {
  const url = choice.store ?? (choice.db === undefined ? process.env.BEAMLINE_STORE : undefined);
  if (url === undefined || url === '') return null;
  if (choice.store !== undefined && choice.db !== undefined) {
    throw new BeamlineError(ErrorCodes.ARG_INVALID, `--store and --db: pass one (--db FILE for one node on SQLite, --store postgres://… for several nodes)`);
  }
  if (!isPostgresUrl(url)) {
    throw new BeamlineError(ErrorCodes.ARG_INVALID, `${choice.store !== undefined ? '--store' : 'BEAMLINE_STORE'}: expected a postgres://user@host/db URL (got ${JSON.stringify(url.slice(0, 60))})`);
  }
  return url;
}

export function openStore(choice: StoreChoice, opts: { durability?: Durability; keys?: Keyring | null; readonly?: boolean; address?: string | null }): Store {
  const url = chosenStore(choice);
  if (url !== null) return openPostgres(url, { ...opts, leaseMs: choice.leaseMs });
  return openJournal(choice.db ?? DEFAULT_DB, { durability: opts.durability, keys: opts.keys, readonly: opts.readonly });
}
