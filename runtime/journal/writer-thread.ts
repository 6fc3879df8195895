// The journal writer's thread: owns the one write connection and commits each
// batch it is sent in one transaction. Keeping SQLite (and its fsync) off the
// kernel's thread lets the kernel route messages, fire timers and answer HTTP
// while a commit is on its way to disk.

import { parentPort, workerData } from 'node:worker_threads';
import { toErrorData } from '../errors.js';
import { decodeWire } from './codec.js';
import type { JournalEvent } from './events.js';
import { openJournal } from './sqlite.js';
import type { Durability } from './store.js';

const { path, durability } = workerData as { path: string; durability: Durability };
const store = openJournal(path, { durability, lock: false, trusted: true });

parentPort!.on('message', (msg: { id: number; batch: Uint8Array } | { close: true }) => {
  if ('close' in msg) {
    store.close();
    parentPort!.postMessage({ closed: true });
    return;
  }
  try {
    store.append(decodeWire<JournalEvent[]>(msg.batch));
    parentPort!.postMessage({ id: msg.id, ok: true });
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, ok: false, error: toErrorData(err, false) });
  }
});
