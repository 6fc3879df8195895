// The thread behind SyncPg (pg-sync.ts): one PostgreSQL connection, queries
// run in the order they arrive, each answer posted back and its caller woken
// through the shared flag. The caller is blocked in Atomics.wait meanwhile,
// which is why the connection lives on a thread of its own.

import { workerData, type MessagePort } from 'node:worker_threads';
import pg from 'pg';

// int8 (seq, at, id) as numbers: every value the journal keeps fits in 2^53.
pg.types.setTypeParser(20, (v: string) => Number(v));

const { url, port, flag } = workerData as { url: string; port: MessagePort; flag: SharedArrayBuffer };
const signal = new Int32Array(flag);
const client = new pg.Client({ connectionString: url });
const connected = client.connect();
// A connection that failed is reported to the next call, not thrown here.
connected.catch(() => {});
client.on('error', () => {
  /* the next query fails and says why */
});

function answer(msg: object): void {
  port.postMessage(msg);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

let chain: Promise<void> = Promise.resolve();
port.on('message', (msg: ({ sql: string; params?: unknown[] } | { close: true }) & { id: number }) => {
  chain = chain.then(async () => {
    if ('close' in msg) {
      // A connection the network dropped may never answer the goodbye.
      await Promise.race([client.end().catch(() => {}), new Promise((r) => setTimeout(r, 500))]);
      answer({ id: msg.id, rows: [] });
      port.close();
      return;
    }
    try {
      await connected;
      const res = await client.query({ text: msg.sql, values: msg.params });
      // A multi-statement text answers with one result per statement: the last one counts.
      const last = Array.isArray(res) ? res[res.length - 1] : res;
      answer({ id: msg.id, rows: last?.rows ?? [], count: last?.rowCount ?? 0 });
    } catch (err) {
      const e = err as { message?: string; code?: string };
      // Only the server's errors carry a SQLSTATE; a socket error's code (ECONNREFUSED) is no SQLSTATE: null, so it reads as unavailable.
      answer({ id: msg.id, error: { message: String(e.message ?? err), code: err instanceof pg.DatabaseError ? (e.code ?? null) : null } });
    }
  });
});
