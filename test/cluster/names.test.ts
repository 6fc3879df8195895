// Names are cluster-wide: the same names claimed on two nodes in the same
// instant (each process sleeps until one agreed moment, then registers).
// For every name exactly one claim wins; the other claimant ends with
// BL_NAME_TAKEN, as two threads racing on one node do.

import path from 'node:path';
import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { json, startServer } from '../fixtures/natives/http-server.js';
import { CLUSTER, clusterPerFile, query, startNode, treeFile, until } from './support.js';

const NAMES = 12;

const { database, nodes, servers } = clusterPerFile();

describe('a name claimed on two nodes in the same instant', () => {
  it(`${NAMES} names, each claimed by one process on each of two nodes at once: exactly one claim wins each`, async () => {
    const url = await database();
    const api = await startServer((_seen, res) => json(res, 200, { ok: true }));
    servers.push(api);
    const at = Date.now() + 6000;
    const children = Array.from(
      { length: NAMES },
      (_, i) => `  - id: c${i}\n    script: ${path.join(CLUSTER, 'claim.js')}\n    args: [n${i}, ${at}, "${api.url}"]\n    restart: temporary\n`,
    ).join('');
    const tree = treeFile(children);
    nodes.push(await startNode(url, tree), await startNode(url, tree));

    type Row = { pid: string; script: string; status: string; reason: Buffer | null; args: Buffer };
    const claimants = async () =>
      (await query<Row>(url, `SELECT pid, script, status, reason, args FROM processes WHERE script LIKE '%claim.js'`)).map((r) => ({
        ...r,
        name: (unpack(r.args) as unknown[])[0] as string,
      }));
    // Every claim decided: per name, one claimant left live.
    await until(
      async () => {
        if (Date.now() < at) return false;
        const now = await claimants();
        return now.length === 2 * NAMES && now.filter((c) => c.status === 'live').length === NAMES;
      },
      60_000,
      'every claim decided',
    );
    const all = await claimants();
    expect(all).toHaveLength(2 * NAMES);
    const names = new Map((await query<{ name: string; pid: string }>(url, 'SELECT name, pid FROM names')).map((r) => [r.name, r.pid]));
    for (let i = 0; i < NAMES; i++) {
      const name = `n${i}`;
      const pair = all.filter((c) => c.name === name);
      expect(pair).toHaveLength(2);
      expect(new Set(pair.map((c) => c.pid.split('.')[0])).size).toBe(2); // one on each node
      const live = pair.filter((c) => c.status === 'live');
      expect(live).toHaveLength(1);
      expect(names.get(name)).toBe(live[0]!.pid);
      const lost = pair.find((c) => c.status !== 'live')!;
      const reason = unpack(lost.reason!) as { code?: string };
      expect(reason.code).toBe('BL_NAME_TAKEN');
    }
  }, 120_000);
});
