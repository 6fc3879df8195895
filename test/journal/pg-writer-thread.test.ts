// The PostgreSQL writer's thread (runtime/journal/pg-writer-thread.ts): a
// commit the database refuses because this node's lease lapsed (the fence,
// SQLSTATE BL001) stops the node with BL_LEASE_LOST — the code that says
// "another node may own your processes now" — not as an unreachable
// database.

import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Node } from '../../dist/runtime/node.js';
import { ROOT } from '../helpers.js';
import { startPostgres, type Postgres } from '../postgres.js';

let server: Postgres;
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

describe('pg writer thread', () => {
  it('a commit refused by the fence stops the node with BL_LEASE_LOST', { timeout: 60_000 }, async () => {
    const url = await server.database();
    // A long lease: the heartbeat (every lease/3) must not be the one to notice first.
    const node = await Node.open({ store: url, leaseMs: 60_000, threads: 1, log: () => {} });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      // The lease lapses on the database's side, as it does for a node starved or cut off for a whole period.
      await admin.query(`UPDATE nodes SET lease_until = clock_timestamp() - interval '1 second' WHERE tag = $1`, [node.tag]);
      // A spawn's commit goes through the writer thread, whose transaction the fence refuses.
      node.spawn(path.join(ROOT, 'scripts', 'hello.js'), []).catch(() => {});
      const err = (await node.fatal) as Error & { code?: string };
      expect(err.code, err.message).toBe('BL_LEASE_LOST');
    } finally {
      await admin.end();
      await node.close().catch(() => {});
    }
  });
});
