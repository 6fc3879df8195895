// The gateway under clients that do not play fair: real TCP sockets on
// 127.0.0.1 against a real node (threads, journal) embedded in the test.
//
// Before: one connection pipelining requests it never read took the node's
// RSS from 122 to 764 MB (every request became a call in flight), four took
// 1.93 GB and a normal call then took 16 s; a call to a process that crashed
// waited for the 504. Now each connection holds at most
// maxInFlightPerConnection requests (unanswered or answered-but-unread), the
// node at most maxInFlight (503 + Retry-After past either), Node stops
// reading a connection whose answers are not read, and a call whose target
// dies is answered 502 with the exit reason at once.

import net from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway, type GatewayOptions } from '../../dist/runtime/gateway/http.js';
import type { Node } from '../../dist/runtime/node.js';
import { fixture, nodesPerTest, until } from '../helpers.js';

const open = nodesPerTest();
const gateways: Gateway[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

/** A node running one callee per mode, and a gateway on a free port. */
async function setup(opts: Partial<GatewayOptions> = {}): Promise<{ node: Node; gw: Gateway; base: string; port: number; p: Record<string, string> }> {
  const node = await open();
  const p: Record<string, string> = {};
  for (const mode of ['echo', 'deaf', 'crash', 'answer-exit']) p[mode] = await node.spawn(fixture('failure/callee.js'), [mode]);
  const gw = new Gateway(node, { host: '127.0.0.1', port: 0, timeoutMs: 60_000, ...opts });
  gateways.push(gw);
  const addr = await gw.listen();
  return { node, gw, base: `http://127.0.0.1:${addr.port}`, port: addr.port, p };
}

function pipelined(target: string, body: string, n: number): string {
  const one = `POST /call/${target} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  return one.repeat(n);
}

/** A client that writes `n` pipelined requests and never reads a byte of the answers. */
function hostile(port: number, target: string, n: number, body = '{"x":1}'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.pause(); // never read
      s.write(pipelined(target, body, n));
      resolve(s);
    });
    s.on('error', reject);
    sockets.push(s);
  });
}

async function call(base: string, target: string, body: unknown) {
  const res = await request(`${base}/call/${target}`, { method: 'POST', body: JSON.stringify(body), headersTimeout: 60_000 });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(text) as Record<string, unknown> };
}

describe('the gateway bounds work in flight', () => {
  it('one connection pipelining 5,000 calls it never reads holds at most maxInFlightPerConnection; a normal client is answered', async () => {
    const { gw, base, port, p } = await setup({ maxInFlightPerConnection: 16, maxInFlight: 1024 });
    await hostile(port, p.deaf!, 5000);
    // The node has read requests from it, and then stops.
    await until(() => gw.stats.peakPerConnection >= 16, 30_000, 'the connection to reach its bound');
    await until(() => gw.stats.refused > 0, 30_000, 'requests past the bound to be refused');
    const s1 = gw.stats;
    expect(s1.inFlight).toBeLessThanOrEqual(16);
    expect(s1.peakInFlight).toBeLessThanOrEqual(16);
    // A normal client still gets its answer.
    const ok = await call(base, p.echo!, { hello: 1 });
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ body: { hello: 1 } });
    // Far fewer than the 5,000 sent were ever taken up: the rest wait in the socket.
    const s2 = gw.stats;
    expect(s2.accepted).toBeLessThanOrEqual(17); // 16 held + the normal call
    expect(s2.accepted + s2.refused).toBeLessThan(5000);
  }, 120_000);

  it('a connection that never reads fast answers: Node stops reading it, the node keeps answering', async () => {
    const { gw, base, port, p } = await setup({ maxInFlightPerConnection: 32 });
    const body = JSON.stringify({ pad: 'x'.repeat(8000) });
    const sock = await hostile(port, p.echo!, 10_000, body); // ~80 MB of requests, ~80 MB of answers
    // Wait until the node has stopped taking requests from it (answers fill the socket).
    let last = -1;
    await until(
      async () => {
        const now = gw.stats.accepted;
        const still = now === last && now > 0;
        last = now;
        await new Promise((r) => setTimeout(r, 500));
        return still;
      },
      60_000,
      'the node to stop reading the connection',
    );
    const s = gw.stats;
    expect(s.accepted + s.refused).toBeLessThan(10_000);
    expect(s.peakPerConnection).toBeLessThanOrEqual(32 + 1024); // bounded: the bound plus one socket chunk of refusals at most
    expect(sock.writableLength).toBeGreaterThan(0); // the client's own writes are stuck behind it
    const ok = await call(base, p.echo!, { normal: true });
    expect(ok.status).toBe(200);
  }, 120_000);

  it('past maxInFlight over all connections: 503 with Retry-After, then answered again once calls end', async () => {
    const { gw, base, port, p } = await setup({ maxInFlightPerConnection: 4, maxInFlight: 10, timeoutMs: 3000 });
    for (let i = 0; i < 5; i++) await hostile(port, p.deaf!, 4);
    await until(() => gw.stats.accepted + gw.stats.refused >= 20, 30_000, 'all 20 requests to arrive');
    expect(gw.stats.peakInFlight).toBeLessThanOrEqual(10);
    expect(gw.stats.refused).toBeGreaterThanOrEqual(10);
    const busy = await call(base, p.echo!, { when: 'full' });
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(String(busy.json.error)).toMatch(/too many requests in flight/);
    // The held calls time out (504, written to sockets nobody reads); then there is room.
    await until(() => gw.stats.inFlight === 0, 30_000, 'the held calls to end');
    const ok = await call(base, p.echo!, { when: 'after' });
    expect(ok.status).toBe(200);
  }, 120_000);
});

describe('a call watches its target', () => {
  it('502s with the exit reason as soon as the target dies, instead of waiting for the timeout', async () => {
    const { base, p } = await setup({ timeoutMs: 60_000 });
    const res = await call(base, p.crash!, { n: 1 });
    expect(res.status).toBe(502);
    expect(String(res.json.error)).toMatch(/exited before it answered: Error: callee crashed on call/);
    expect(res.json.reason).toMatchObject({ error: 'Error', message: expect.stringContaining('callee crashed') });
    // The node answers other calls.
    expect((await call(base, p.echo!, { after: 'crash' })).status).toBe(200);
  }, 120_000);

  it('an answer sent just before the exit wins: 200', async () => {
    const { base, p } = await setup({ timeoutMs: 60_000 });
    const res = await call(base, p['answer-exit']!, { n: 2 });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ body: { n: 2 } });
  }, 120_000);
});
