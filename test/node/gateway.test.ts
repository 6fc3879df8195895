// The HTTP gateway of `runtime start --http 127.0.0.1:0`: real HTTP clients
// (undici and node:http) against a real node in a child process.
//
//   POST /call/<name|pid>  → the process gets {type: 'call', from, body};
//                            the first message it sends to `from` is the 200 answer
//   404 unknown target · 400 bad JSON · 413 body over 1 MiB · 504 no answer
//   within --http-timeout · 405 not POST · keep-alive

import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Pool, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from '../helpers.js';
import { cli, cliJson, killLeftovers, startNode, SUP, workerIn, type StartedNode, type SupView } from '../fixtures/supervisor/support.js';

const MiB = 1 << 20;
const TIMEOUT_MS = 1000;

let node: StartedNode;
let base: string;
let db: string;
let view: SupView;

beforeAll(async () => {
  db = path.join(tmpdir(), 'journal.db');
  node = await startNode(path.join(SUP, 'gateway.yaml'), db, ['--http', '127.0.0.1:0', '--http-timeout', String(TIMEOUT_MS)]);
  base = node.url!;
  view = (await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!;
});

afterAll(async () => {
  node.child.kill('SIGTERM');
  await node.exited;
  await killLeftovers();
});

async function post(target: string, body: unknown, raw?: string) {
  const res = await request(`${base}/call/${target}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: raw ?? JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text.length > 0 ? (JSON.parse(text) as unknown) : undefined };
}

describe('the gateway', () => {
  it('binds to the address given', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(base).port);
    // Another loopback address on the same port: nobody listens there.
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      const s = net.connect({ host: '127.0.0.2', port });
      s.once('connect', () => (s.destroy(), resolve(null)));
      s.once('error', (e) => resolve(e));
    });
    expect(err?.code).toBe('ECONNREFUSED');
  });

  it('answers a call by name or pid with the first message the process sends back', async () => {
    const byName = await post('echo', { hello: 'world' });
    expect(byName.status).toBe(200);
    expect(byName.headers['content-type']).toMatch(/^application\/json/);
    expect(byName.json).toEqual({ id: 'echo', run: 1, body: { hello: 'world' }, n: 1 });

    const echoPid = workerIn(view, 'echo').pid!;
    expect(await post(encodeURIComponent(echoPid), [1, 2, 3])).toMatchObject({ status: 200, json: { id: 'echo', body: [1, 2, 3] } });
    // `double` answers twice: only the first is the response.
    expect(await post('double', 'x')).toMatchObject({ status: 200, json: { id: 'double', body: 'x', n: 1 } });
    // An empty body is delivered as null.
    const empty = await request(`${base}/call/echo`, { method: 'POST' });
    expect(empty.statusCode).toBe(200);
    expect(await empty.body.json()).toMatchObject({ body: null });
  });

  it('gives 50 concurrent callers each their own answer', async () => {
    const pool = new Pool(base, { connections: 50 });
    try {
      const call = async (target: string, body: unknown) => {
        const res = await pool.request({ path: `/call/${target}`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
      };
      const echoes = await Promise.all(Array.from({ length: 50 }, (_, i) => call('echo', { i, tag: `caller-${i}` })));
      echoes.forEach((r, i) => expect(r).toEqual({ status: 200, json: { id: 'echo', run: 1, body: { i, tag: `caller-${i}` }, n: 1 } }));

      // The counter adds 1 per call and answers the new count: every caller sees a different count.
      const start = Number((await cli(['query', '--db', db, 'counter', 'count'])).stdout);
      const counts = await Promise.all(Array.from({ length: 50 }, () => call('counter', { by: 1 })));
      expect(counts.every((r) => r.status === 200)).toBe(true);
      expect(counts.map((r) => r.json.count as number).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => start + i + 1));
      expect(Number((await cli(['query', '--db', db, 'counter', 'count'])).stdout)).toBe(start + 50);
    } finally {
      await pool.close();
    }
  });

  it('404s an unknown target or path', async () => {
    const tag = node.treePid.split('.')[0];
    for (const target of ['nobody', `${tag}.99999`]) {
      const res = await post(target, {});
      expect(res.status, target).toBe(404);
      expect(res.json).toMatchObject({ error: expect.any(String) });
    }
    for (const p of ['/nope', '/call/', '/']) {
      const res = await request(`${base}${p}`, { method: 'POST', body: '{}' });
      expect(res.statusCode, p).toBe(404);
      await res.body.dump();
    }
  });

  it('400s a body that is not JSON', async () => {
    for (const raw of ['{not json', '{"a":', 'undefined']) {
      const res = await post('echo', undefined, raw);
      expect(res.status, raw).toBe(400);
      expect(res.json).toMatchObject({ error: expect.any(String) });
    }
  });

  it('400s a body nested too deep to record (a 3 KB request once killed the node), and keeps serving', async () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const res = await post('echo', undefined, deep);
    expect(res.status).toBe(400);
    expect((res.json as { error: string }).error).toMatch(/nested deeper than \d+ levels/);
    // Just past the limit is refused; at the limit it is delivered.
    expect((await post('echo', undefined, '['.repeat(257) + ']'.repeat(257))).status).toBe(400);
    expect(await post('echo', undefined, '['.repeat(256) + ']'.repeat(256))).toMatchObject({ status: 200, json: { id: 'echo' } });
    expect(node.child.exitCode).toBeNull();
    expect(await post('echo', { still: 'here' })).toMatchObject({ status: 200, json: { body: { still: 'here' } } });
  });

  it('413s a body over 1 MiB, declared or streamed, and accepts one of exactly 1 MiB', async () => {
    const over = JSON.stringify('a'.repeat(MiB - 1)); // 1 MiB + 1 byte with the quotes
    expect(Buffer.byteLength(over)).toBe(MiB + 1);
    expect((await post('echo', undefined, over)).status).toBe(413);

    // Chunked, no content-length: refused once the limit is crossed.
    const chunks = Array.from({ length: 20 }, (_, i) => (i === 0 ? '"' : '') + 'b'.repeat(64 * 1024));
    const streamed = await request(`${base}/call/echo`, { method: 'POST', body: Readable.from(chunks.map((c) => Buffer.from(c))) });
    expect(streamed.statusCode).toBe(413);
    await streamed.body.dump();

    const exact = JSON.stringify('c'.repeat(MiB - 2));
    expect(Buffer.byteLength(exact)).toBe(MiB);
    const ok = await post('echo', undefined, exact);
    expect(ok.status).toBe(200);
    expect((ok.json as { body: string }).body).toHaveLength(MiB - 2);
  });

  it('504s a call nobody answers within --http-timeout, and keeps serving', async () => {
    const t0 = Date.now();
    const res = await post('silent', { please: 'answer' });
    expect(res.status).toBe(504);
    expect(res.json).toMatchObject({ error: expect.any(String) });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(TIMEOUT_MS);
    expect((await post('echo', 'still here')).status).toBe(200);
  });

  it('405s anything but POST on a call path, saying Allow: POST', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH'] as const) {
      const res = await request(`${base}/call/echo`, { method });
      expect(res.statusCode, method).toBe(405);
      expect(res.headers.allow).toBe('POST');
      await res.body.dump();
    }
  });

  it('keeps connections alive: one socket serves a run of calls, error answers included', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const once = (p: string, method: string, body?: string) =>
      new Promise<{ status: number; reused: boolean; port: number; text: string; connection: string | undefined }>((resolve, reject) => {
        const req = http.request(`${base}${p}`, { method, agent, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket, port: req.socket!.localPort!, text, connection: res.headers.connection }));
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      const results = [];
      results.push(await once('/call/echo', 'POST', '{"n":1}'));
      results.push(await once('/call/nobody', 'POST', '{"n":2}'));
      results.push(await once('/call/echo', 'POST', '{bad'));
      results.push(await once('/call/echo', 'GET'));
      results.push(await once('/call/echo', 'POST', '{"n":3}'));
      expect(results.map((r) => r.status)).toEqual([200, 404, 400, 405, 200]);
      expect(results.map((r) => r.reused)).toEqual([false, true, true, true, true]);
      expect(new Set(results.map((r) => r.port)).size).toBe(1);
      expect(results[0]!.connection).toBe('keep-alive');
      expect(JSON.parse(results[4]!.text)).toMatchObject({ body: { n: 3 } });
    } finally {
      agent.destroy();
    }
  });
});
