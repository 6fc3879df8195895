// The rule that lets a request leave before its own round is committed
// (runtime/kernel/effects.ts, README "what a request waits for"), under real
// SIGKILLs: a chain of CALLS calls, each body made from the answer before it,
// while the node is killed KILLS times at random moments and started again.
// The server is an API that keeps the first answer per Idempotency-Key and
// answers a repeat with it, as payment APIs do — and it checks that a
// repeated key always carries the very same body: a request that left before
// one of its causes was durable would come back different after replay.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, sleep, tmpdir, until } from '../helpers.js';
import { json, startServer, type TestServer } from '../fixtures/natives/http-server.js';
import { cli, kill9, killLeftovers, runToTheEnd } from '../fixtures/failure/cli.js';

const CALLS = Number(process.env.CHAIN_CALLS ?? 300);
const KILLS = Number(process.env.CHAIN_KILLS ?? 8);

const servers: TestServer[] = [];
afterEach(async () => {
  await killLeftovers();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('a chain of calls under SIGKILL', () => {
  it(`${CALLS} calls across ${KILLS} random kills: every key sent with one body, each body built on the answer before it`, async () => {
    const first = new Map<string, { body: string; v: number }>();
    const problems: string[] = [];
    const s = await startServer((seen, res) => {
      const key = seen.key ?? '(none)';
      const body = JSON.stringify(seen.body);
      const kept = first.get(key);
      if (kept === undefined) {
        const v = Math.floor(Math.random() * 1e9); // an answer replay could never recompute
        first.set(key, { body, v });
        json(res, 200, { v });
        return;
      }
      if (kept.body !== body) problems.push(`key ${key} sent again with another body: ${kept.body} then ${body}`);
      json(res, 200, { v: kept.v });
    });
    servers.push(s);
    const db = path.join(tmpdir(), 'journal.db');
    const args = ['spawn', '--db', db, fixture('failure/chain.js'), s.url, String(CALLS)];
    let kills = 0;
    for (; kills < KILLS; kills++) {
      const run = cli(args);
      const before = first.size;
      await until(() => first.size > before || run.child.exitCode !== null, 60_000, `progress after kill ${kills}`);
      if (run.child.exitCode !== null) break;
      await sleep(Math.floor(Math.random() * 40));
      if (run.child.exitCode !== null) break;
      expect(await kill9(run)).toBe('SIGKILL');
    }
    const last = await runToTheEnd(args);
    expect(kills).toBe(KILLS);
    expect(problems).toEqual([]);

    // One key per call, each call's body built on the answer the server kept for the call before it.
    expect(first.size).toBe(CALLS);
    const byStep = [...first.entries()].map(([key, e]) => ({ step: Number(key.split(':')[2]), ...e })).sort((a, b) => a.step - b.step);
    let prev: number | null = null;
    for (const [i, e] of byStep.entries()) {
      const body = JSON.parse(e.body) as { i: number; last: number | null };
      expect(body.i).toBe(i);
      expect(body.last).toBe(prev);
      prev = e.v;
    }
    expect(JSON.parse(last.stdout)).toBe(prev);
  }, 600_000);
});
