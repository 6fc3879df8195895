// HttpClient against real node:http servers on 127.0.0.1. No mocks: what
// the server observes (attempt counts, headers, sockets) is the assertion.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  HttpClient,
  backoffDelay,
  isRetryable,
  retryAfterMs,
  type ApiRequest,
} from '../../dist/runtime/kernel/http-client.js';
import { Abort } from '../../dist/runtime/abort.js';
import { HttpError } from '../../dist/runtime/errors.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

interface TestServer {
  url: string;
  server: Server;
  /** TCP connections accepted so far. */
  sockets: () => number;
  close: () => Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startServer(handler: Handler): Promise<TestServer> {
  let sockets = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', () => sockets++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(close);
  return { url: `http://127.0.0.1:${port}`, server, sockets: () => sockets, close };
}

function client(opts: ConstructorParameters<typeof HttpClient>[0] = {}): HttpClient {
  const c = new HttpClient({ backoff: { baseMs: 5, factor: 2, maxMs: 50 }, ...opts });
  cleanups.push(() => c.close());
  return c;
}

function req(url: string, over: Partial<ApiRequest> = {}): ApiRequest {
  return { url, method: 'GET', headers: {}, timeoutMs: 2000, retries: 0, ...over };
}

async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

describe('backoffDelay (pure)', () => {
  const policy = { baseMs: 100, factor: 2, maxMs: 5000 };

  it('grows exponentially from baseMs and caps at maxMs when random() is 1', () => {
    const one = (): number => 1;
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffDelay(a, policy, one))).toEqual([
      100, 200, 400, 800, 1600, 3200, 5000, 5000,
    ]);
    expect(backoffDelay(1000, policy, one)).toBe(5000); // factor^999 overflows to Infinity; the cap holds
  });

  it('is full jitter: random() scales the whole capped delay', () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(200);
    expect(backoffDelay(10, policy, () => 0.25)).toBe(1250);
  });
});

describe('isRetryable (pure)', () => {
  it.each([
    [{ errorCode: 'ECONNREFUSED' }, true],
    [{ errorCode: 'ECONNRESET' }, true],
    [{ errorCode: 'ETIMEDOUT' }, true],
    [{ errorCode: 'UND_ERR_SOCKET' }, true],
    [{ errorCode: 'UND_ERR_CONNECT_TIMEOUT' }, true],
    [{ errorCode: 'UND_ERR_HEADERS_TIMEOUT' }, true],
    [{ errorCode: 'UND_ERR_BODY_TIMEOUT' }, true],
    [{ errorCode: 'ERR_RESPONSE_TOO_LARGE' }, false],
    [{ errorCode: 'ERR_INVALID_URL' }, false],
    [{ errorCode: 'UND_ERR_INVALID_ARG' }, false],
    [{ errorCode: 'ENOTFOUND' }, false],
    [{ status: 500 }, true],
    [{ status: 503 }, true],
    [{ status: 599 }, true],
    [{ status: 429 }, true],
    [{ status: 200 }, false],
    [{ status: 404 }, false],
    [{ status: 400 }, false],
    [{ status: 600 }, false],
    [{}, false],
  ])('%j -> %s', (outcome, expected) => {
    expect(isRetryable(outcome)).toBe(expected);
  });
});

describe('retryAfterMs (pure)', () => {
  it('reads delta-seconds and HTTP dates, rejects junk', () => {
    expect(retryAfterMs('3', 0)).toBe(3000);
    expect(retryAfterMs(undefined, 0)).toBeUndefined();
    expect(retryAfterMs('soon', 0)).toBeUndefined();
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
  });
});

describe('HttpClient', () => {
  it('encodes a JSON body, parses a JSON response and lower-cases response headers', async () => {
    let seen: { method?: string; type?: string; body?: unknown; custom?: string } = {};
    const s = await startServer((rq, res, body) => {
      seen = {
        method: rq.method,
        type: rq.headers['content-type'],
        body: JSON.parse(body.toString('utf8')),
        custom: rq.headers['x-caller'] as string | undefined,
      };
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('X-Custom-Header', 'Yes');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('X-Multi', ['a=1', 'b=2']);
      res.end(JSON.stringify({ echoed: seen.body }));
    });
    const c = client();
    const payload = { order: 42, items: ['a', 'b'], nested: { ok: true } };
    const out = await c.request(
      req(`${s.url}/orders`, { method: 'post', headers: { 'X-Caller': 'me' }, body: payload }),
      'key-1',
    );
    expect(seen).toEqual({ method: 'POST', type: 'application/json', body: payload, custom: 'me' });
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ echoed: payload });
    expect(out.headers['x-custom-header']).toBe('Yes');
    // Repeated headers are joined; a credential header (set-cookie) is journaled redacted (issue 15).
    expect(out.headers['x-multi']).toBe('a=1, b=2');
    expect(out.headers['set-cookie']).toBe('[redacted]');
    expect(Object.keys(out.headers).every((k) => k === k.toLowerCase())).toBe(true);
  });

  it('encodes string, bytes and scalar bodies with default content types, keeping a caller-set one', async () => {
    const seen: Array<{ type?: string; body: string }> = [];
    const s = await startServer((rq, res, body) => {
      seen.push({ type: rq.headers['content-type'], body: body.toString('latin1') });
      res.end();
    });
    const c = client();
    await c.request(req(s.url, { method: 'POST', body: 'héllo' }), 'k');
    await c.request(req(s.url, { method: 'POST', body: Buffer.from([0, 255]) }), 'k');
    await c.request(req(s.url, { method: 'POST', body: 7 }), 'k');
    await c.request(req(s.url, { method: 'POST', body: null }), 'k');
    await c.request(req(s.url, { method: 'POST', body: '<x/>', headers: { 'Content-Type': 'application/xml' } }), 'k');
    await c.request(req(s.url, { method: 'POST' }), 'k');
    expect(seen).toEqual([
      { type: 'text/plain;charset=utf-8', body: Buffer.from('héllo').toString('latin1') },
      { type: 'application/octet-stream', body: '\u0000\u00ff' },
      { type: 'application/json', body: '7' },
      { type: 'application/json', body: 'null' },
      { type: 'application/xml', body: '<x/>' },
      { type: undefined, body: '' },
    ]);
  });

  it('decodes text, binary, empty and malformed-JSON responses', async () => {
    const s = await startServer((rq, res) => {
      switch (rq.url) {
        case '/text':
          res.setHeader('content-type', 'text/html');
          res.end('<b>hi</b>');
          break;
        case '/bin':
          res.setHeader('content-type', 'image/png');
          res.end(Buffer.from([1, 2, 3]));
          break;
        case '/bad-json':
          res.setHeader('content-type', 'application/problem+json');
          res.end('{not json');
          break;
        default:
          res.statusCode = 204;
          res.end();
      }
    });
    const c = client();
    expect((await c.request(req(`${s.url}/text`), 'k')).body).toBe('<b>hi</b>');
    const bin = (await c.request(req(`${s.url}/bin`), 'k')).body;
    expect(Buffer.isBuffer(bin)).toBe(true);
    expect([...(bin as Buffer)]).toEqual([1, 2, 3]);
    expect((await c.request(req(`${s.url}/bad-json`), 'k')).body).toBe('{not json');
    const empty = await c.request(req(`${s.url}/none`), 'k');
    expect(empty).toMatchObject({ status: 204, body: '' });
  });

  it('sends the same Idempotency-Key on every attempt of a retried request', async () => {
    const keys: Array<string | undefined> = [];
    const s = await startServer((rq, res) => {
      keys.push(rq.headers['idempotency-key'] as string | undefined);
      res.statusCode = keys.length <= 2 ? 503 : 200;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ attempt: keys.length }));
    });
    const out = await client().request(req(s.url, { method: 'POST', body: { x: 1 }, retries: 3 }), 'pid-7:1:3');
    expect(out).toMatchObject({ status: 200, body: { attempt: 3 } });
    expect(keys).toEqual(['pid-7:1:3', 'pid-7:1:3', 'pid-7:1:3']);
  });

  it('waits out Retry-After on 429 when it exceeds the backoff', async () => {
    const times: number[] = [];
    const s = await startServer((_rq, res) => {
      times.push(performance.now());
      if (times.length === 1) {
        res.statusCode = 429;
        res.setHeader('retry-after', '1');
      }
      res.end('ok');
    });
    const out = await client({ backoff: { baseMs: 5, factor: 2, maxMs: 5000 } }).request(
      req(s.url, { retries: 1 }),
      'k',
    );
    expect(out.status).toBe(200);
    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950);
  });

  it('caps Retry-After at backoff.maxMs', async () => {
    const times: number[] = [];
    const s = await startServer((_rq, res) => {
      times.push(performance.now());
      if (times.length === 1) {
        res.statusCode = 503;
        res.setHeader('retry-after', '30');
      }
      res.end();
    });
    const out = await client({ backoff: { baseMs: 1, factor: 1, maxMs: 150 } }).request(req(s.url, { retries: 1 }), 'k');
    expect(out.status).toBe(200);
    const gap = times[1]! - times[0]!;
    expect(gap).toBeGreaterThanOrEqual(140);
    expect(gap).toBeLessThan(1000);
  });

  it('returns a 4xx at once, without retrying', async () => {
    let hits = 0;
    const s = await startServer((_rq, res) => {
      hits++;
      res.statusCode = 404;
      res.setHeader('content-type', 'application/json');
      res.end('{"error":"no such order"}');
    });
    const out = await client().request(req(s.url, { retries: 3 }), 'k');
    expect(out).toMatchObject({ status: 404, body: { error: 'no such order' } });
    expect(hits).toBe(1);
  });

  it('returns the final 5xx once retries are exhausted', async () => {
    let hits = 0;
    const s = await startServer((_rq, res) => {
      hits++;
      res.statusCode = 500;
      res.setHeader('content-type', 'text/plain');
      res.end(`boom ${hits}`);
    });
    const out = await client().request(req(s.url, { retries: 2 }), 'k');
    expect(out).toMatchObject({ status: 500, body: 'boom 3' });
    expect(hits).toBe(3);
  });

  it('rejects with a one-line HttpError after retrying a refused connection', async () => {
    const s = await startServer(() => {});
    await s.close();
    const url = `${s.url}/x`;
    const started = performance.now();
    const err = await rejection(client().request(req(url, { method: 'POST', retries: 3 }), 'k'));
    expect(err).toBeInstanceOf(HttpError);
    expect(err.code).toBe('BL_HTTP');
    expect(err.message).toBe(`callApi POST ${url} failed after 4 attempts: ECONNREFUSED`);
    expect(err.message).not.toContain('\n');
    expect(err.details).toMatchObject({ url, method: 'POST', attempts: 4, errorCode: 'ECONNREFUSED' });
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('times out each attempt while waiting for headers, and retries', async () => {
    let hits = 0;
    const s = await startServer(() => {
      hits++; // never answers
    });
    const started = performance.now();
    const err = await rejection(client().request(req(s.url, { timeoutMs: 100, retries: 1 }), 'k'));
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(HttpError);
    expect(err.details).toMatchObject({ attempts: 2, errorCode: 'ETIMEDOUT' });
    expect(hits).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1500);
  });

  it('counts the body against the per-attempt deadline', async () => {
    const s = await startServer((_rq, res) => {
      res.setHeader('content-type', 'text/plain');
      res.write('partial'); // headers and a first chunk arrive at once; the rest never does
    });
    const err = await rejection(client().request(req(s.url, { timeoutMs: 150 }), 'k'));
    expect(err).toBeInstanceOf(HttpError);
    expect(err.details).toMatchObject({ attempts: 1, errorCode: 'ETIMEDOUT' });
  });

  it('rejects an oversized streamed body as soon as it crosses the limit, closing the connection, without retry', async () => {
    let hits = 0;
    let closed = false;
    const s = await startServer((_rq, res) => {
      hits++;
      res.setHeader('content-type', 'application/octet-stream');
      // Chunked and endless: a client that buffered before checking would hang.
      const chunk = Buffer.alloc(16 * 1024, 1);
      const pump = setInterval(() => res.write(chunk), 5);
      res.on('close', () => {
        closed = true;
        clearInterval(pump);
      });
    });
    const err = await rejection(
      client({ maxResponseBytes: 100 * 1024 }).request(req(s.url, { timeoutMs: 5000, retries: 3 }), 'k'),
    );
    expect(err).toBeInstanceOf(HttpError);
    expect(err.details).toMatchObject({ attempts: 1, errorCode: 'ERR_RESPONSE_TOO_LARGE' });
    expect(err.message).not.toContain('\n');
    expect(hits).toBe(1);
    await expect.poll(() => closed, { timeout: 1000 }).toBe(true);
  });

  it('rejects a body whose content-length exceeds the limit before reading it', async () => {
    let closed = false;
    const s = await startServer((_rq, res) => {
      res.setHeader('content-length', String(1024 * 1024));
      res.write(Buffer.alloc(1024)); // then stall: only the header can have triggered the rejection
      res.on('close', () => (closed = true));
    });
    const err = await rejection(client({ maxResponseBytes: 4096 }).request(req(s.url, { timeoutMs: 5000 }), 'k'));
    expect(err.details).toMatchObject({ errorCode: 'ERR_RESPONSE_TOO_LARGE' });
    await expect.poll(() => closed, { timeout: 1000 }).toBe(true);
  });

  it('retries a response cut off in the middle of its body, and returns the whole one', async () => {
    let hits = 0;
    const s = await startServer((_rq, res) => {
      hits++;
      res.setHeader('content-type', 'application/json');
      if (hits === 1) {
        // Headers and half the promised body, then the connection drops.
        res.setHeader('content-length', '64');
        res.write('{"part":');
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      res.end('{"whole":true}');
    });
    const out = await client().request(req(s.url, { retries: 2 }), 'k');
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ whole: true });
    expect(hits).toBe(2);
  });

  it('reads a body that arrives in many chunks as one', async () => {
    const s = await startServer((_rq, res) => {
      res.setHeader('content-type', 'application/octet-stream');
      let left = 20;
      const pump = setInterval(() => {
        res.write(Buffer.alloc(1000, left));
        if (--left === 0) {
          clearInterval(pump);
          res.end();
        }
      }, 2);
    });
    const out = await client().request(req(s.url), 'k');
    const body = out.body as Uint8Array;
    expect(body.byteLength).toBe(20_000);
    expect(body[0]).toBe(20);
    expect(body[19_999]).toBe(1);
  });

  it('aborts an in-flight attempt with the signal reason', async () => {
    let closed = false;
    const s = await startServer((_rq, res) => {
      res.on('close', () => (closed = true));
    });
    const c = client();
    const ac = new Abort();
    const reason = new Error('withTimeout scope ended');
    const p = c.request(req(s.url, { timeoutMs: 10_000, retries: 5 }), 'k', ac);
    await expect.poll(() => c.inFlight).toBe(1);
    setTimeout(() => ac.abort(reason), 20);
    expect(await rejection(p)).toBe(reason);
    expect(c.inFlight).toBe(0);
    await expect.poll(() => closed, { timeout: 1000 }).toBe(true);
  });

  it('aborts a pending backoff wait with the signal reason', async () => {
    let hits = 0;
    const s = await startServer((_rq, res) => {
      hits++;
      res.statusCode = 503;
      res.end();
    });
    const c = client({ backoff: { baseMs: 60_000, factor: 1, maxMs: 60_000 }, random: () => 1 });
    const ac = new Abort();
    const p = c.request(req(s.url, { retries: 1 }), 'k', ac);
    await expect.poll(() => hits).toBe(1);
    const started = performance.now();
    ac.abort('cancelled');
    expect(await rejection(p)).toBe('cancelled');
    expect(performance.now() - started).toBeLessThan(500);
    expect(hits).toBe(1);
  });

  it('rejects at once when the signal is already aborted', async () => {
    let hits = 0;
    const s = await startServer((_rq, res) => {
      hits++;
      res.end();
    });
    const reason = new Error('gone');
    const aborted = new Abort();
    aborted.abort(reason);
    expect(await rejection(client().request(req(s.url), 'k', aborted))).toBe(reason);
    expect(hits).toBe(0);
  });

  it('reuses keep-alive sockets across sequential requests', async () => {
    let hits = 0;
    const s = await startServer((_rq, res) => {
      hits++;
      res.end('ok');
    });
    const c = client();
    for (let i = 0; i < 50; i++) expect((await c.request(req(s.url), `k${i}`)).status).toBe(200);
    expect(hits).toBe(50);
    expect(s.sockets()).toBeLessThan(50);
    // Not exactly 1: undici's Pool learns that its first client is free again
    // (its 'drain') a tick after the first body ends, so the second request
    // opens one more socket; from then on both are reused.
    expect(s.sockets()).toBeLessThanOrEqual(2);
  });

  it('rejects an invalid or non-HTTP URL without sending anything', async () => {
    const c = client();
    for (const url of ['not a url', 'ftp://127.0.0.1/x']) {
      const err = await rejection(c.request(req(url, { retries: 3 }), 'k'));
      expect(err).toBeInstanceOf(HttpError);
      expect(err.code).toBe('BL_HTTP');
      expect(err.details).toMatchObject({ attempts: 0, errorCode: 'ERR_INVALID_URL' });
      expect(err.message).not.toContain('\n');
    }
  });

  it('keeps credentials in the URL out of the error', async () => {
    const s = await startServer(() => {});
    await s.close();
    const url = s.url.replace('http://', 'http://user:secret@') + '/x';
    const err = await rejection(client().request(req(url), 'k'));
    expect(err.message).not.toContain('secret');
    expect(String(err.details.url)).not.toContain('secret');
  });

  it('close() rejects pending and later requests with BL_NODE_CLOSED', async () => {
    const s = await startServer(() => {});
    const c = new HttpClient();
    const p = c.request(req(s.url, { timeoutMs: 10_000 }), 'k');
    const settled = rejection(p); // attach before close() rejects it
    await expect.poll(() => c.inFlight).toBe(1);
    await c.close();
    expect((await settled).code).toBe('BL_NODE_CLOSED');
    expect((await rejection(c.request(req(s.url), 'k'))).code).toBe('BL_NODE_CLOSED');
    expect(c.inFlight).toBe(0);
  });

  it('validates its options, naming the option', () => {
    expect(() => new HttpClient({ connections: 0 })).toThrow(/connections/);
    try {
      new HttpClient({ backoff: { baseMs: -1, factor: 2, maxMs: 10 } });
      expect.unreachable();
    } catch (err) {
      expect((err as { code: string }).code).toBe('BL_ARG_INVALID');
      expect((err as Error).message).toContain('backoff.baseMs');
    }
  });
});

describe('a response without content-type', () => {
  it('comes back as text when it is UTF-8 (not a byte object), as bytes when it is not', async () => {
    const s = await startServer((req, res) => {
      // node:http adds no content-type of its own.
      res.end(req.url === '/text' ? 'plain words, é' : Buffer.from([0xff, 0xfe, 0x00]));
    });
    const c = client();
    const text = await c.request(req(`${s.url}/text`), 'k');
    expect(text.headers['content-type']).toBeUndefined();
    expect(text.body).toBe('plain words, é');
    const bytes = await c.request(req(`${s.url}/bytes`), 'k');
    expect(bytes.body).toBeInstanceOf(Uint8Array);
    expect([...(bytes.body as Uint8Array)]).toEqual([0xff, 0xfe, 0x00]);
  });
});
