// Failure model: SIGTERM while processes are spawning children as fast as
// they can. Real `runtime` child processes, a real journal.
//
// Before: a slice that landed after the node had begun closing carried spawn
// effects; the kernel refused them with an uncaught `the node is closing`
// (BL_NODE_CLOSED): exit 1, a stack on stderr, the control socket file left
// behind. Now the spawns of a report that lands are committed with it (the
// node stops right after), the node exits as designed (`spawn`: 143, the
// root left live in the journal to resume; `start`: the tree stopped, 0),
// the socket file is gone, and the journal is consistent: every spawn the
// spawner recorded has its child, and a resume carries on from there.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, query, readRows, tmpdir } from '../helpers.js';
import { startCli } from '../helpers.js';
import { found, killLeftovers, nodeLogged, startNode, writeTree } from '../fixtures/supervisor/support.js';

afterEach(async () => {
  await killLeftovers();
});

const LOOP = fixture('failure/spawn-loop.js');

/** Spawn commands the spawner recorded vs. children in the journal. */
function consistent(db: string, spawner: string): { recorded: number; children: number } {
  const recorded = readRows(db, spawner).reduce((n, r) => n + r.c.filter((c) => c[1] === 'spawn').length, 0);
  const children = query<{ n: number }>(db, 'SELECT count(*) AS n FROM processes WHERE parent = ?', spawner)[0]!.n;
  return { recorded, children };
}

describe('SIGTERM during a burst of spawns', () => {
  it('runtime spawn: exits 143 with no stack, removes its socket, and loses no committed spawn; a resume carries on', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    for (let round = 1; round <= 2; round++) {
      const run = startCli(['spawn', '--db', db, '--threads', '2', LOOP, '60000']);
      // Each "spawned N" line is printed once its round is committed.
      await found(() => ((run.stderr.match(/"spawned (\d+)"/g)?.length ?? 0) >= 2 ? true : null), 60_000, 'a burst of spawns');
      const logged = Math.max(...[...run.stderr.matchAll(/"spawned (\d+)"/g)].map((m) => Number(m[1])));
      run.child.kill('SIGTERM');
      const timer = setTimeout(() => run.child.kill('SIGKILL'), 60_000);
      const { code, signal } = await run.exited;
      clearTimeout(timer);
      expect({ code, signal }, run.stderr.slice(-2000)).toEqual({ code: 143, signal: null });
      expect(run.stderr).not.toMatch(/the node is closing|BL_NODE_CLOSED|internal error|\n\s+at /);
      expect(fs.existsSync(`${db}.sock`)).toBe(false);
      const root = query<{ pid: string }>(db, 'SELECT pid FROM processes WHERE parent IS NULL')[0]!.pid;
      const { recorded, children } = consistent(db, root);
      expect(children).toBe(recorded);
      expect(children).toBeGreaterThanOrEqual(logged);
      // The root is left live, to be resumed by the same spawn.
      expect(query<{ status: string }>(db, 'SELECT status FROM processes WHERE pid = ?', root)[0]!.status).toBe('live');
    }
    // Resumed, not restarted: one root in the journal.
    expect(query<{ n: number }>(db, 'SELECT count(*) AS n FROM processes WHERE parent IS NULL')[0]!.n).toBe(1);
  }, 240_000);

  it('runtime start: a tree spawning and starting children in loops stops on SIGTERM with exit 0 and no socket left', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const file = writeTree(
      {
        strategy: 'one_for_one',
        children: [
          { id: 'pool', name: 'pool', supervisor: { strategy: 'simple_one_for_one', children: [{ id: 'job', script: fixture('failure/quiet-nap.js'), restart: 'temporary' }] } },
          { id: 'spawner', script: LOOP, args: [60_000] },
          { id: 'starter', script: fixture('failure/start-child-loop.js'), args: [60_000] },
        ],
      },
      dir,
    );
    const node = await startNode(file, db);
    await nodeLogged(node, /^spawned 400$/, 60_000);
    await nodeLogged(node, /^started 200$/, 60_000);
    node.child.kill('SIGTERM');
    const timer = setTimeout(() => node.child.kill('SIGKILL'), 60_000);
    const { code, signal } = await node.exited;
    clearTimeout(timer);
    expect({ code, signal }, node.stderr.slice(-2000)).toEqual({ code: 0, signal: null });
    expect(node.stderr).not.toMatch(/the node is closing|BL_NODE_CLOSED|internal error|\n\s+at /);
    expect(fs.existsSync(`${db}.sock`)).toBe(false);
  }, 240_000);
});
