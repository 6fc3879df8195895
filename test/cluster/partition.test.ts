// A node cut off from the database, or paused, must stop writing before a
// survivor takes its processes over, and its processes must then run once:
// tickers on node B send numbered ticks to a tally on node A (by name,
// through the store); B is cut off (its connection goes silent, the database
// keeps running) or SIGSTOPped; A takes B's tickers over after the lease.
// The tally must see every ticker's 1..count exactly once, in order — a late
// commit of the old owner would show as a repeated tick.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, startServer } from '../fixtures/natives/http-server.js';
import { sleep } from '../helpers.js';
import { CLUSTER, clusterPerFile, owners, relay, startNode, treeFile, until } from './support.js';

const TICKERS = 20;
const COUNT = 25;

const { database, nodes, servers, relays } = clusterPerFile();

describe.each(['cut off from the database', 'paused (SIGSTOP)'])('a node %s', (how) => {
  it('stops committing before its processes are taken over, and they run once', async () => {
    const url = await database();
    let tally: Record<string, number[]> | null = null;
    const api = await startServer((seen, res) => {
      tally = (seen.body as { got: Record<string, number[]> }).got;
      json(res, 200, { ok: true });
    });
    servers.push(api);
    const a = await startNode(url, treeFile(`  - id: tally\n    script: ${path.join(CLUSTER, 'tally.js')}\n    args: [tally, "${api.url}", ${TICKERS * COUNT}]\n`));
    nodes.push(a);
    const cut = how.startsWith('cut');
    const link = cut ? await relay(url) : null;
    if (link !== null) relays.push(link);
    const children = Array.from(
      { length: TICKERS },
      (_, i) => `  - id: t${i}\n    script: ${path.join(CLUSTER, 'ticker.js')}\n    args: [tally, ${COUNT}, 200]\n    restart: transient\n`,
    ).join('');
    const b = await startNode(link?.url ?? url, treeFile(children));
    nodes.push(b);
    await sleep(1500); // a few ticks each
    const stoppedAt = Date.now();
    if (link !== null) link.cut();
    else b.run.child.kill('SIGSTOP');
    // When B says it stops writing (the line is printed as it gives up; closing takes a little longer).
    const noticed = cut ? until(() => /could not renew its lease/.test(b.run.stderr), 60_000, 'B noticing').then(() => Date.now()) : null;

    // A takes B's processes over once B's lease has lapsed.
    await until(async () => ((await owners(url)).get(b.tag) ?? 0) === 0, 60_000, "B's processes taken over");
    const takenAt = Date.now();
    if (cut) {
      // Cut off, B noticed by itself that it could not renew its lease, and stopped before the takeover.
      const { code } = await b.run.exited;
      expect(code).not.toBe(0);
      expect(b.run.stderr).toMatch(/BL_LEASE_LOST/);
      expect(b.run.stderr).toMatch(/could not renew its lease/);
      expect(await noticed!).toBeLessThanOrEqual(takenAt);
    } else {
      // Paused, it could not notice: woken after the takeover, it must stop without writing anything.
      b.run.child.kill('SIGCONT');
      const { code } = await b.run.exited;
      expect(code).not.toBe(0);
      expect(b.run.stderr).toMatch(/BL_LEASE_LOST/);
    }
    console.log(`${how}: B's processes taken over ${takenAt - stoppedAt} ms after it went silent (lease 10000 ms)`);

    await until(() => tally !== null, 120_000, 'every tick at the tally');
    const got = tally!;
    expect(Object.keys(got)).toHaveLength(TICKERS);
    const want = Array.from({ length: COUNT }, (_, i) => i + 1);
    for (const [ticker, ticks] of Object.entries(got)) expect({ ticker, ticks }).toEqual({ ticker, ticks: want });
    expect(a.run.child.exitCode).toBeNull();
  }, 240_000);
});
