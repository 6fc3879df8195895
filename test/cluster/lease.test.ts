// A node's first lease runs from when it registered, so its writer renews it
// as soon as it can, not a third of a lease later: a boot slower than that
// third (recovery of many processes, a loaded machine) must not lose it.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLUSTER, clusterPerFile, query, startNode, treeFile, until } from './support.js';

const { database, nodes } = clusterPerFile();

describe('the lease', () => {
  it('is renewed as soon as the node is up, long before a third of it has passed', async () => {
    const url = await database();
    const node = await startNode(url, treeFile(`  - id: t\n    script: ${path.join(CLUSTER, 'doomed.js')}\n`), { lease: '60s' });
    nodes.push(node);
    const renewed = async () =>
      (await query<{ renewed: boolean }>(url, 'SELECT heartbeat_at > started_at AS renewed FROM nodes WHERE tag = $1', [node.tag]))[0]!.renewed;
    // A third of this lease is 20 s: the first renewal must not wait for it.
    await until(renewed, 10_000, 'the first renewal');
    expect(await renewed()).toBe(true);
    expect(node.run.child.exitCode).toBeNull();
  });
});
