// The PostgreSQL store's writer: the same kernel-side writer as SQLite's
// (writer.ts), with its thread (pg-writer-thread.ts) holding the node's
// lease as well as committing its batches.

import { fileURLToPath } from 'node:url';
import { keysFor } from './cipher.js';
import type { Durability } from './store.js';
import { JournalWriter } from './writer.js';
import type { NodeIdentity } from './postgres.js';

const THREAD = fileURLToPath(new URL('./pg-writer-thread.js', import.meta.url));

export interface PgWriterData {
  url: string;
  /** The URL without its password, for messages. */
  name: string;
  node: NodeIdentity;
  durability: Durability;
}

export function pgWriter(data: PgWriterData): JournalWriter {
  return new JournalWriter(THREAD, { ...data, keys: keysFor(data.name) });
}
