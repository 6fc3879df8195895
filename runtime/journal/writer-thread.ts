// The journal writer's thread: owns the one write connection and commits each
// batch it is sent in one transaction. Keeping SQLite (and its fsync) off the
// kernel's thread lets the kernel route messages, fire timers and answer HTTP
// while a commit is on its way to disk.
//
// A big batch arrives in parts (the kernel encodes them a few thousand
// events at a time so that it never stops for long); the transaction stays
// open from the first part to the last.

import { parentPort, workerData } from 'node:worker_threads';
import { toErrorData } from '../errors.js';
import { decodeWire } from './codec.js';
import type { JournalEvent } from './events.js';
import { openJournal } from './sqlite.js';
import type { Durability } from './store.js';
import type { BatchPart } from './writer.js';

const { path, durability } = workerData as { path: string; durability: Durability };
const store = openJournal(path, { durability, lock: false, trusted: true });
/** The batch whose parts failed: its remaining parts are ignored. */
let failed = -1;

parentPort!.on('message', (msg: BatchPart | { close: true }) => {
  if ('close' in msg) {
    store.close();
    parentPort!.postMessage({ closed: true });
    return;
  }
  if (msg.id === failed) return;
  try {
    if (msg.part === 0) store.beginBatch();
    store.applyPart(decodeWire<JournalEvent[]>(msg.batch));
    if (msg.last) {
      store.commitBatch();
      parentPort!.postMessage({ id: msg.id, ok: true });
    }
  } catch (err) {
    failed = msg.id;
    try {
      store.rollbackBatch();
    } catch {
      /* the error below says what went wrong */
    }
    parentPort!.postMessage({ id: msg.id, ok: false, error: toErrorData(err, false) });
  }
});
