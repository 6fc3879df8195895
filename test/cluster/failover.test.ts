// Several nodes on one PostgreSQL, killed for real: three `runtime start`
// nodes, a tree and ~1,000 processes, one node SIGKILLed mid-load. Every
// process must resume on a survivor (the lease is 10 s: generous, so that a survivor on a loaded 2-core machine never loses its own), and the crash tests'
// checks must hold across the move: what a worker reports to a collector on
// another node arrives once each, in order; an API call's key is always sent
// with the same body; a call whose answer was journaled is not made again.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, startServer } from '../fixtures/natives/http-server.js';
import { CLUSTER, clusterPerFile, owners, query, startNode, treeFile, until } from './support.js';

const COUNT = Number(process.env.CLUSTER_COUNT ?? 500);
const STEPS = 4;

const { database, nodes, servers } = clusterPerFile();

describe('three nodes, one SIGKILLed mid-load', () => {
  it(`${2 * COUNT} workers on two nodes report to a collector on a third; the killed node's processes resume on a survivor with nothing lost or repeated`, async () => {
    const url = await database();
    const first = new Map<string, { body: string; v: number }>();
    const repeats: string[] = [];
    const problems: string[] = [];
    let verdict: { seen: number; workers: number; problems: string[] } | null = null;
    const api = await startServer((seen, res) => {
      if (seen.path === '/verdict') {
        verdict = seen.body as typeof verdict;
        json(res, 200, { ok: true });
        return;
      }
      const key = seen.key ?? '(none)';
      const body = JSON.stringify(seen.body);
      const kept = first.get(key);
      if (kept === undefined) {
        const v = Math.floor(Math.random() * 1e9);
        first.set(key, { body, v });
        json(res, 200, { v });
        return;
      }
      repeats.push(key);
      if (kept.body !== body) problems.push(`key ${key} sent again with another body: ${kept.body} then ${body}`);
      json(res, 200, { v: kept.v });
    });
    servers.push(api);

    const collector = await startNode(
      url,
      treeFile(`  - id: collector\n    script: ${path.join(CLUSTER, 'collector.js')}\n    name: collector\n    args: ["${api.url}", ${2 * COUNT * STEPS}]\n`),
    );
    nodes.push(collector);
    const crowd = treeFile(`  - id: crowd\n    script: ${path.join(CLUSTER, 'crowd.js')}\n    args: [${COUNT}, "${api.url}", ${STEPS}]\n    restart: transient\n`);
    const victim = await startNode(url, crowd);
    nodes.push(victim);
    const survivor = await startNode(url, crowd);
    nodes.push(survivor);

    // Mid-load: a quarter of the victim's calls answered (each worker sleeps 300 ms between calls).
    const victimCalls = () => [...first.keys()].filter((k) => k.startsWith(`${victim.tag}.`)).length;
    await until(() => victimCalls() >= COUNT, 120_000, 'the victim node under load');
    const owned = (await owners(url)).get(victim.tag) ?? 0;
    expect(owned).toBeGreaterThan(0);
    victim.run.child.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.run.exited;

    // Every process of the dead node moves to a survivor.
    await until(async () => ((await owners(url)).get(victim.tag) ?? 0) === 0, 60_000, 'the victim node taken over');
    const movedAfter = Date.now() - killedAt;
    console.log(`failover: ${owned} live processes moved ${movedAfter} ms after SIGKILL (lease 10000 ms)`);

    await until(() => verdict !== null, 180_000, 'the collector has every report');
    const v = verdict!;
    expect(v.problems).toEqual([]);
    expect(v.seen).toBe(2 * COUNT * STEPS);
    expect(v.workers).toBe(2 * COUNT);
    expect(problems).toEqual([]);
    expect(first.size).toBe(2 * COUNT * STEPS);
    // A call may go again only if it was in flight when its node died: at most one per process of that node.
    expect(repeats.every((k) => k.startsWith(`${victim.tag}.`))).toBe(true);
    expect(repeats.length).toBeLessThanOrEqual(owned);
    for (const n of [collector, survivor]) expect(n.run.child.exitCode).toBeNull();
  }, 400_000);
});

describe('a message sent across nodes while its receiver is moving', () => {
  it('is delivered once, in order: a tally on a node SIGKILLed mid-stream, its senders on the node that takes it over', async () => {
    const url = await database();
    const TICKERS = 10;
    const TICKS = 40;
    let tally: Record<string, number[]> | null = null;
    const api = await startServer((seen, res) => {
      tally = (seen.body as { got: Record<string, number[]> }).got;
      json(res, 200, { ok: true });
    });
    servers.push(api);
    const home = await startNode(url, treeFile(`  - id: tally\n    script: ${path.join(CLUSTER, 'tally.js')}\n    args: [tally, "${api.url}", ${TICKERS * TICKS}]\n`));
    nodes.push(home);
    const senders = await startNode(
      url,
      treeFile(
        Array.from({ length: TICKERS }, (_, i) => `  - id: t${i}\n    script: ${path.join(CLUSTER, 'ticker.js')}\n    args: [tally, ${TICKS}, 100]\n    restart: transient\n`).join(''),
      ),
    );
    nodes.push(senders);
    // Mid-stream: the tally has taken some ticks (their inbox rows are gone), others are still coming.
    await until(async () => (await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM journal WHERE pid LIKE '${home.tag}.%'`))[0]!.n > 40, 60_000, 'ticks flowing');
    home.run.child.kill('SIGKILL');
    await home.run.exited;
    await until(async () => ((await owners(url)).get(home.tag) ?? 0) === 0, 60_000, 'the tally taken over');
    await until(() => tally !== null, 120_000, 'every tick at the tally');
    const want = Array.from({ length: TICKS }, (_, i) => i + 1);
    const got = tally!;
    expect(Object.keys(got)).toHaveLength(TICKERS);
    for (const [ticker, ticks] of Object.entries(got)) expect({ ticker, ticks }).toEqual({ ticker, ticks: want });
  }, 300_000);
});

