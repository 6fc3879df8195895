// A request leaves the node only once everything that led the process to it
// is durable (DESIGN, performance principles): the results it took and any
// value it read live. The proof is the journal itself, read by the test
// server at the moment each request arrives — the state a kill -9 at that
// instant would recover from.

import { describe, expect, it } from 'vitest';
import { decode, fixture, nodesPerTest, query, REPLAY_MODES, type Row } from '../helpers.js';
import { json, serversPerTest, within } from '../fixtures/natives/http-server.js';

const node = nodesPerTest();
const server = serversPerTest();
const CALLS = 60;

type Committed = { results: Set<number>; commands: Set<number> };

/**
 * What is committed for `pid`, read in ONE statement (one snapshot, on
 * SQLite and on PostgreSQL alike): the writer commits on its own thread
 * meanwhile, and two separate reads could see a result's effect row already
 * cleared but not yet the row that took it.
 * results: steps whose result is consumed in a committed row or journaled
 * as done; commands: steps of commands in committed rows.
 */
function committed(db: string, pid: string): Committed {
  const out: Committed = { results: new Set(), commands: new Set() };
  const rows = query<{ row: Buffer | null; step: number | null }>(
    db,
    'SELECT row, NULL AS step FROM journal WHERE pid = ? UNION ALL SELECT NULL, step FROM effects WHERE pid = ? AND done = true',
    pid,
    pid,
  );
  for (const { row, step } of rows) {
    if (step !== null) {
      out.results.add(step);
      continue;
    }
    const r = decode(row!) as Row;
    for (const [s] of r.r) out.results.add(s);
    for (const c of r.c) out.commands.add(c[0]);
  }
  return out;
}

const stepOf = (key: string | null) => Number(key!.split(':')[2]);

describe('what a request waits for', () => {
  it.each(REPLAY_MODES)('each call leaves only once the result before it is committed (%s)', async (_label, opts) => {
    const n = await node(opts);
    let pid = '';
    const problems: string[] = [];
    let prev: number | null = null;
    const s = await server((seen, res) => {
      const step = stepOf(seen.key);
      if (prev !== null && !committed(n.db, pid).results.has(prev)) problems.push(`request at step ${step} left before the result of step ${prev} was committed`);
      prev = step;
      json(res, 200, { n: seen.n });
    });
    pid = await n.spawn(fixture('natives/call-chain.js'), [`${s.url}/c`, CALLS, 'results']);
    const exit = await within(n.waitExit(pid), 60_000, `exit of ${pid}`);
    expect(exit.reason).toBe('normal');
    expect(exit.result).toBe(CALLS - 1);
    expect(s.seen).toHaveLength(CALLS);
    expect(problems).toEqual([]);
  });

  it('a call made after reading a value live (ctx.now) leaves only once that round is committed', async () => {
    const n = await node();
    let pid = '';
    const problems: string[] = [];
    const s = await server((seen, res) => {
      const step = stepOf(seen.key);
      if (!committed(n.db, pid).commands.has(step)) problems.push(`request at step ${step} left before the round that read now() was committed`);
      json(res, 200, { n: seen.n });
    });
    pid = await n.spawn(fixture('natives/call-chain.js'), [`${s.url}/c`, CALLS, 'now']);
    const exit = await within(n.waitExit(pid), 60_000, `exit of ${pid}`);
    expect(exit.reason).toBe('normal');
    expect(s.seen).toHaveLength(CALLS);
    expect(problems).toEqual([]);
  });

  it('a query answer that shows a result leaves only once that result is committed (an answer is seen outside)', async () => {
    const n = await node();
    const s = await server((seen, res) => json(res, 200, { n: seen.n }));
    const pid = await n.spawn(fixture('natives/answered.js'), [`${s.url}/a`, 30]);
    const problems: string[] = [];
    for (let i = 1; i <= 30; i++) {
      // Ask until the answer shows the i-th result; the moment it does, that result must be durable.
      for (;;) {
        const taken = (await n.query(pid, 'taken')) as number;
        if (taken < i) continue;
        // The script alternates callApi and receive: the i-th call is step 2(i-1).
        if (!committed(n.db, pid).results.has(2 * (i - 1))) problems.push(`the query showed ${taken} answers taken before the answer at step ${2 * (i - 1)} was committed`);
        break;
      }
      n.send(pid, 'next');
    }
    expect((await within(n.waitExit(pid), 60_000, `exit of ${pid}`)).result).toBe(30);
    expect(problems).toEqual([]);
  });
});
