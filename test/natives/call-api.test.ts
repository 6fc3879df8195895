// ctx.callApi against a real HTTP server on 127.0.0.1: the server's own
// request log is the proof of what was sent (bodies, attempts, keys).

import { describe, expect, it } from 'vitest';
import type { Node } from '../../dist/runtime/node.js';
import { fixture, nodesPerTest, readRows, REPLAY_MODES } from '../helpers.js';
import { json, refusedPort, serversPerTest, within } from '../fixtures/natives/http-server.js';

const node = nodesPerTest();
const server = serversPerTest();

const KEY = /^[0-9a-z]{4}\.\d+:1:\d+$/;

type Outcome =
  | { ok: true; status: number; headers: Record<string, string>; body: any }
  | { ok: false; name: string; code: string; details: Record<string, unknown> | null };

async function runCalls(n: Node, reqs: unknown[]): Promise<{ pid: string; out: Outcome[] }> {
  const pid = await n.spawn(fixture('natives/call-api.js'), [reqs]);
  const exit = await within(n.waitExit(pid), 30_000, `exit of ${pid}`);
  expect(exit.reason).toBe('normal');
  return { pid, out: exit.result as Outcome[] };
}

/** The callApi commands of a process's journal, in order: [step, record]. */
function callCommands(db: string, pid: string): Array<[number, any]> {
  return readRows(db, pid).flatMap((r) => r.c.filter((c) => c[1] === 'callApi').map((c) => [c[0], c[3]] as [number, any]));
}

describe.each(REPLAY_MODES)('callApi (%s)', (_label, opts) => {
  it('round-trips JSON: body encoded, response decoded, headers passed, one Idempotency-Key', async () => {
    const s = await server((seen, res) => json(res, 201, { echo: seen.body, method: seen.method, trace: seen.headers['x-trace'] ?? null }));
    const n = await node(opts);
    const body = { order: 7, items: [{ sku: 'a', qty: 2 }], note: 'ünïcode ✓', nested: { ok: true, none: null } };
    const { pid, out } = await runCalls(n, [{ url: `${s.url}/orders?x=1`, method: 'post', headers: { 'X-Trace': 'abc' }, body }]);

    expect(out).toHaveLength(1);
    const res = out[0]!;
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toContain('application/json');
    expect(res.body).toEqual({ echo: body, method: 'POST', trace: 'abc' });

    expect(s.seen).toHaveLength(1);
    const [req] = s.seen;
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/orders?x=1');
    expect(req!.headers['content-type']).toContain('application/json');
    expect(req!.body).toEqual(body);
    expect(req!.key).toMatch(KEY);
    expect(req!.key!.startsWith(`${pid}:1:`)).toBe(true);
    // The key is the one journaled with the command, derived from pid, run and step.
    const [[step, record]] = callCommands(n.db, pid);
    expect(record.key).toBe(`${pid}:1:${step}`);
    expect(req!.key).toBe(record.key);
  });

  it('retries 503s with the same Idempotency-Key on every attempt', async () => {
    const s = await server((seen, res, srv) => {
      const attempt = srv.to(seen.path).length;
      if (attempt <= 2) json(res, 503, { attempt });
      else json(res, 200, { attempt, key: seen.key });
    });
    const n = await node(opts);
    const { pid, out } = await runCalls(n, [{ url: `${s.url}/flaky`, method: 'PUT', body: { x: 1 }, retries: 3 }]);

    expect(out[0]).toMatchObject({ ok: true, status: 200, body: { attempt: 3 } });
    const attempts = s.to('/flaky');
    expect(attempts).toHaveLength(3);
    const keys = new Set(attempts.map((a) => a.key));
    expect(keys.size).toBe(1);
    const [key] = [...keys];
    expect(key).toMatch(KEY);
    expect(key!.startsWith(`${pid}:1:`)).toBe(true);
    for (const a of attempts) expect(a.body).toEqual({ x: 1 });
    // One command, one recorded result, however many attempts.
    expect(callCommands(n.db, pid)).toHaveLength(1);
  });

  it('hands back the last 5xx when the retries run out, and never retries a 4xx', async () => {
    const s = await server((seen, res) => {
      if (seen.path === '/gone') json(res, 404, { error: 'no such order' });
      else if (seen.path === '/conflict') json(res, 409, { error: 'conflict' });
      else json(res, 500, { error: 'always down' });
    });
    const n = await node(opts);
    const { out } = await runCalls(n, [
      { url: `${s.url}/gone` },
      { url: `${s.url}/conflict`, method: 'POST', body: {} },
      { url: `${s.url}/down`, retries: 2 },
    ]);
    expect(out[0]).toMatchObject({ ok: true, status: 404, body: { error: 'no such order' } });
    expect(out[1]).toMatchObject({ ok: true, status: 409, body: { error: 'conflict' } });
    expect(out[2]).toMatchObject({ ok: true, status: 500, body: { error: 'always down' } });
    expect(s.to('/gone')).toHaveLength(1);
    expect(s.to('/conflict')).toHaveLength(1);
    expect(s.to('/down')).toHaveLength(3);
    expect(new Set(s.to('/down').map((a) => a.key)).size).toBe(1);
    // Three calls, three distinct keys.
    expect(new Set(s.seen.map((a) => a.key)).size).toBe(3);
  });

  it('rejects with BL_HTTP (HttpError) for a refused port, after its retries', async () => {
    const port = await refusedPort();
    const n = await node(opts);
    const { out } = await runCalls(n, [{ url: `http://127.0.0.1:${port}/x`, retries: 1 }]);
    expect(out[0]).toMatchObject({ ok: false, name: 'HttpError', code: 'BL_HTTP' });
    const details = (out[0] as { details: Record<string, unknown> }).details;
    expect(details).toMatchObject({ errorCode: 'ECONNREFUSED', attempts: 2 });
  });
});

it('refuses a malformed request at the call with BL_ARG_INVALID (bad URL, unknown option, non-HTTP scheme)', async () => {
  const n = await node();
  const { out } = await runCalls(n, [{ url: 'not a url' }, { url: 'http://127.0.0.1:1/', method: 'GET', bogus: 1 }, { url: 'ftp://127.0.0.1/' }]);
  for (const o of out) expect(o).toMatchObject({ ok: false, code: 'BL_ARG_INVALID' });
});
