// simple_one_for_one with many dynamic children: what the journal holds per
// child must not grow with the number of children (a whole children list
// written at every start and exit makes n starts cost O(n²) bytes).

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openNode, query, tmpdir, until } from '../helpers.js';
import { parseTreeFile } from '../../dist/runtime/config/tree.js';
import type { Node } from '../../dist/runtime/node.js';
import { script, supIn, writeTree, type SupView } from '../fixtures/supervisor/support.js';

const open: Node[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
});

const tree = {
  strategy: 'simple_one_for_one',
  intensity: 5,
  period: '10s',
  children: [{ id: 'job', script: script('idle.js'), args: [], restart: 'permanent' }],
};

async function boot(dir: string): Promise<{ node: Node; root: string; db: string }> {
  const db = path.join(dir, 'journal.db');
  const node = await openNode({ db, threads: 2 });
  open.push(node);
  const { pid } = node.startTree(parseTreeFile(writeTree(tree, dir)));
  return { node, root: pid, db };
}

const stateBytes = (db: string, pid: string) => query<{ n: number }>(db, 'SELECT length(data) AS n FROM supervisors WHERE pid = ?', pid)[0]!.n;

describe('simple_one_for_one with many children', () => {
  it('writes O(1) supervisor state per dynamic child start and exit, not the whole children list (O(n²) in all)', async () => {
    const dir = tmpdir();
    const { node, root, db } = await boot(dir);
    const pids: string[] = [];
    for (let i = 0; i < 10; i++) pids.push(node.supervision.startChild(root, [`c${i}`]));
    await node.kernel.flush();
    const small = stateBytes(db, root);
    for (let i = 10; i < 2000; i++) pids.push(node.supervision.startChild(root, [`c${i}`]));
    await node.kernel.flush();
    const large = stateBytes(db, root);
    // The record may name the next child number (a few bytes more), never every child.
    expect(large).toBeLessThan(small + 16);

    // A crash and its restart are journaled too, and the tree comes back whole after a restart of the node.
    node.send(pids[5]!, 'crash');
    await until(() => node.kernel.process(pids[5]!)?.run === 2, 15_000, 'the crashed child to restart');
    await node.close();
    const again = await openNode({ db, threads: 2 });
    open.push(again);
    const view = again.supervision.view()[0] as unknown as SupView;
    expect(view.pid).toBe(root);
    expect(view.children.map((c) => c.pid)).toEqual(pids);
    expect(view.children.every((c) => c.kind === 'worker' && c.state === 'running')).toBe(true);
    expect(again.kernel.process(pids[5]!)?.run).toBe(2);
    // A dynamic child started after the restart gets a new id.
    const next = again.supervision.startChild(root, ['late']);
    expect((again.supervision.view()[0] as unknown as SupView).children.at(-1)).toMatchObject({ pid: next, id: 'job-2001' });
  }, 120_000);
});
