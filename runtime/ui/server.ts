// The live view (`runtime start --ui HOST:PORT`): a small HTTP server inside
// the node serving a page, its JSON data, a Server-Sent Events stream and
// Prometheus metrics.
//
//   GET  /                               the page (static files under /static/)
//   GET  /api/session                    {actions}: does the caller's token allow actions?
//   GET  /api/overview                   states, totals, per-second series
//   GET  /api/processes?state=&name=&script=&sort=&desc=&offset=&limit=
//   GET  /api/tree                       the supervision trees
//   GET  /api/process/<pid>              detail: effects, links, monitors, names, mailbox peek, exit
//   GET  /api/process/<pid>/history      the decoded timeline (?last=N, ?download=1)
//   POST /api/process/<pid>/query        {name, args}: call an onQuery handler (read-only)
//   POST /api/send                       {to, msg}          token required
//   POST /api/kill                       {pid, reason?}     token required
//   GET  /api/events                     SSE: one 'overview' event per second while connected
//   GET  /metrics                        Prometheus text format
//
// Cost: nothing runs while nobody looks. With a page connected the sampler
// ticks once a second, and the process listing (the one view whose cost
// grows with the node) is rebuilt at most once a second and never more than
// 2 % of the time (see Throttled). Actions need the token printed at start
// (header `x-beamline-token`); without it they answer 403 BL_UI_FORBIDDEN and
// the page is read-only. Requests naming another Host are refused, so a
// web page elsewhere cannot reach a view bound to 127.0.0.1 by DNS rebinding.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BeamlineError, ErrorCodes, toErrorData } from '../errors.js';
import type { Node } from '../node.js';
import type { TreeView } from '../supervisor/view.js';
import { Metrics } from './metrics.js';
import {
  processDetail,
  processList,
  processPage,
  Sampler,
  SORT_KEYS,
  Throttled,
  timeline,
  type Overview,
  type ProcessListRow,
  type SortKey,
} from './data.js';

export interface UiOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** The action token; a random one when absent. */
  token?: string;
  /** Milliseconds between pushes to connected pages (default 1000). */
  tickMs?: number;
}

const STATIC = fileURLToPath(new URL('./static/', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};
const MAX_BODY = 64 * 1024;
/** A page that stops reading its event stream is dropped past this much unsent data. */
const MAX_BACKLOG = 1 << 20;

/** A fresh action token: 128 random bits, URL-safe. */
export function newToken(): string {
  return randomBytes(16).toString('base64url');
}

export class UiServer {
  readonly token: string;
  readonly #node: Node;
  readonly #host: string;
  readonly #port: number;
  readonly #tickMs: number;
  readonly #server: http.Server;
  readonly #metrics: Metrics;
  readonly #sampler: Sampler;
  readonly #list: Throttled<ProcessListRow[]>;
  readonly #tokenHash: Buffer;
  readonly #clients = new Set<http.ServerResponse>();
  #ticker: NodeJS.Timeout | null = null;
  #latest: Overview | null = null;
  readonly #pages = new Map<string, Throttled<unknown>>();
  #hosts: Set<string> | null = null;
  /** Milliseconds spent building views since start (the view's own cost, reported with the overview). */
  #costMs = 0;

  constructor(node: Node, opts: UiOptions) {
    this.#node = node;
    this.#host = opts.host ?? '127.0.0.1';
    this.#port = opts.port;
    this.#tickMs = opts.tickMs ?? 1000;
    this.token = opts.token ?? newToken();
    if (this.token.length < 8) throw new BeamlineError(ErrorCodes.ARG_INVALID, '--ui-token: must be at least 8 characters');
    this.#tokenHash = createHash('sha256').update(this.token).digest();
    this.#metrics = new Metrics(node);
    this.#sampler = new Sampler(node);
    // Half the view's 2 % budget for the one view that grows with the node.
    this.#list = new Throttled(() => processList(node), { minMs: 900, share: 0.01 });
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err) => this.#fail(res, err));
    });
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, this.#host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const addr = this.#server.address() as AddressInfo;
    const wildcard = addr.address === '0.0.0.0' || addr.address === '::';
    if (!wildcard) {
      const p = addr.port;
      const hosts = [`127.0.0.1:${p}`, `localhost:${p}`, `[::1]:${p}`, `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${p}`, `${this.#host}:${p}`];
      this.#hosts = new Set(hosts.map((h) => h.toLowerCase()));
    }
    return addr;
  }

  /** The address to open, with the token (the page keeps it and drops it from the address bar). */
  url(addr: AddressInfo): string {
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `http://${host}:${addr.port}/?token=${encodeURIComponent(this.token)}`;
  }

  async close(): Promise<void> {
    if (this.#ticker !== null) clearTimeout(this.#ticker);
    this.#ticker = null;
    for (const c of this.#clients) c.end();
    this.#clients.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Time spent building views so far (ms). */
  get costMs(): number {
    return this.#costMs;
  }

  // ───────────────────────────── routing ─────────────────────────────

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const host = (req.headers.host ?? '').toLowerCase();
    if (this.#hosts !== null && !this.#hosts.has(host)) {
      throw new BeamlineError(ErrorCodes.UI_FORBIDDEN, `live view: requests must name this server's address as Host (got ${JSON.stringify(host)})`);
    }
    const url = new URL(req.url ?? '/', 'http://view');
    const p = url.pathname;
    const method = req.method ?? 'GET';
    if (p === '/' || p === '/index.html') return this.#static(res, 'index.html');
    if (p.startsWith('/static/')) return this.#static(res, p.slice('/static/'.length));
    if (p === '/metrics') return this.#send(res, 200, await this.#metrics.text(), this.#metrics.contentType);
    if (!p.startsWith('/api/')) return this.#json(res, 404, { error: { code: ErrorCodes.NOPROC, message: `not found: ${p}` } });

    const route = p.slice('/api/'.length);
    const proc = /^process\/([^/]+)(\/history|\/query)?$/.exec(route);
    if (method === 'POST') {
      if (route === 'send') return this.#action(req, res, 'send');
      if (route === 'kill') return this.#action(req, res, 'kill');
      if (proc !== null && proc[2] === '/query') return this.#query(req, res, decodeURIComponent(proc[1]!));
      return this.#json(res, 405, { error: { code: ErrorCodes.ARG_INVALID, message: `POST ${p}: not an action` } });
    }
    if (method !== 'GET' && method !== 'HEAD') return this.#json(res, 405, { error: { code: ErrorCodes.ARG_INVALID, message: `${method} not allowed` } });
    switch (route) {
      case 'session':
        return this.#json(res, 200, { actions: this.#authorized(req) });
      case 'overview':
        return this.#json(res, 200, this.#latest ?? this.#timed(() => this.#sampler.sample()));
      case 'processes':
        return this.#json(res, 200, this.#page(url.searchParams));
      case 'tree':
        return this.#json(res, 200, this.#timed(() => treeWithRestarts(this.#node)));
      case 'events':
        return this.#events(req, res);
      default:
        break;
    }
    if (proc !== null && proc[2] === undefined) {
      const pid = decodeURIComponent(proc[1]!);
      const detail = this.#timed(() => processDetail(this.#node, pid));
      if (detail === null) return this.#json(res, 404, { error: { code: ErrorCodes.NOPROC, message: `no process ${pid} in ${this.#node.db}` } });
      return this.#json(res, 200, detail);
    }
    if (proc !== null && proc[2] === '/history') {
      const pid = decodeURIComponent(proc[1]!);
      if (this.#node.store.process(pid) === undefined && this.#node.processInfo(pid) === undefined) {
        return this.#json(res, 404, { error: { code: ErrorCodes.NOPROC, message: `no process ${pid} in ${this.#node.db}` } });
      }
      const lastParam = url.searchParams.get('last');
      const last = lastParam === null ? undefined : intParam('last', lastParam, 1, 100_000);
      const body = this.#timed(() => ({ pid, ...timeline(this.#node, pid, { last }) }));
      if (url.searchParams.get('download') === '1') res.setHeader('content-disposition', `attachment; filename="history-${pid.replace(/[^\w.-]/g, '_')}.json"`);
      return this.#json(res, 200, body);
    }
    return this.#json(res, 404, { error: { code: ErrorCodes.NOPROC, message: `not found: ${p}` } });
  }

  // ───────────────────────────── live ─────────────────────────────

  #events(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: 2000\n\n`);
    this.#clients.add(res);
    req.on('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0 && this.#ticker !== null) {
        clearTimeout(this.#ticker);
        this.#ticker = null;
        this.#latest = null;
      }
    });
    if (this.#ticker === null) {
      this.#tick();
    } else if (this.#latest !== null) {
      res.write(`event: overview\ndata: ${JSON.stringify(this.#latest)}\n\n`);
    }
  }

  /** One push to every connected page: the overview (the page refetches what else it shows). */
  #tick(): void {
    const started = performance.now();
    const frame = this.#timed(() => {
      this.#latest = this.#sampler.sample();
      return `event: overview\ndata: ${JSON.stringify(this.#latest)}\n\n`;
    });
    // Once a second, or less often on a node so big that a sample costs more
    // than 1 % of the interval (the rates stay right: they divide by the
    // time between samples).
    const cost = performance.now() - started;
    this.#ticker = setTimeout(() => this.#tick(), Math.max(this.#tickMs, cost / 0.01));
    this.#ticker.unref();
    for (const c of this.#clients) {
      if (c.writableLength > MAX_BACKLOG) {
        c.destroy();
        this.#clients.delete(c);
        continue;
      }
      c.write(frame);
    }
  }

  /**
   * One page of the table. Several pages (tabs) asking for the same page on
   * the same push share one answer, paced like the listing it is cut from.
   */
  #page(params: URLSearchParams): unknown {
    const q = processQuery(params);
    const key = JSON.stringify(q);
    let page = this.#pages.get(key);
    if (page === undefined) {
      if (this.#pages.size >= 32) this.#pages.clear();
      page = new Throttled(() => processPage(this.#node, this.#list.get(), q), { minMs: 900, share: 0.005 });
      this.#pages.set(key, page);
    }
    return this.#timed(() => page.get());
  }

  #timed<T>(fn: () => T): T {
    const t = performance.now();
    try {
      return fn();
    } finally {
      this.#costMs += performance.now() - t;
    }
  }

  // ───────────────────────────── actions ─────────────────────────────

  #authorized(req: http.IncomingMessage): boolean {
    const given = req.headers['x-beamline-token'];
    if (typeof given !== 'string' || given === '') return false;
    return timingSafeEqual(createHash('sha256').update(given).digest(), this.#tokenHash);
  }

  async #action(req: http.IncomingMessage, res: http.ServerResponse, what: 'send' | 'kill'): Promise<void> {
    if (!this.#authorized(req)) {
      req.resume();
      return this.#json(res, 403, { error: { code: ErrorCodes.UI_FORBIDDEN, message: `${what}: the live view is read-only without its token (header x-beamline-token)` } });
    }
    const body = await readJson(req);
    const node = this.#node;
    if (what === 'send') {
      const { to, msg } = body as { to?: unknown; msg?: unknown };
      if (typeof to !== 'string' || to === '') throw new BeamlineError(ErrorCodes.ARG_INVALID, 'send: body.to must be a pid or registered name');
      if (msg === undefined) throw new BeamlineError(ErrorCodes.ARG_INVALID, 'send: body.msg is missing');
      if (!node.send(to, msg, 'ui')) throw new BeamlineError(ErrorCodes.NOPROC, `send: no live process ${to}`, { pid: to });
    } else {
      const { pid, reason } = body as { pid?: unknown; reason?: unknown };
      if (typeof pid !== 'string' || pid === '') throw new BeamlineError(ErrorCodes.ARG_INVALID, 'kill: body.pid must be a pid');
      if (!node.kill(pid, reason ?? 'kill', 'ui')) throw new BeamlineError(ErrorCodes.NOPROC, `kill: no live process ${pid}`, { pid });
    }
    // Answer once the action is durable, as `runtime send|kill` does.
    await node.flush();
    this.#list.invalidate();
    this.#pages.clear();
    return this.#json(res, 200, { ok: true });
  }

  async #query(req: http.IncomingMessage, res: http.ServerResponse, pid: string): Promise<void> {
    const { name, args } = (await readJson(req)) as { name?: unknown; args?: unknown };
    if (typeof name !== 'string' || name === '') throw new BeamlineError(ErrorCodes.ARG_INVALID, 'query: body.name must be the name of an onQuery handler');
    if (args !== undefined && !Array.isArray(args)) throw new BeamlineError(ErrorCodes.ARG_INVALID, 'query: body.args must be an array');
    const answer = await this.#node.query(pid, name, (args as unknown[] | undefined) ?? []);
    return this.#json(res, 200, { answer: answer === undefined ? null : answer });
  }

  // ───────────────────────────── responses ─────────────────────────────

  #static(res: http.ServerResponse, rel: string): void {
    const file = path.resolve(STATIC, rel);
    if (!file.startsWith(STATIC) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      return this.#json(res, 404, { error: { code: ErrorCodes.NOPROC, message: `no static file ${rel}` } });
    }
    res.setHeader('cache-control', 'no-cache');
    this.#send(res, 200, fs.readFileSync(file), TYPES[path.extname(file)] ?? 'application/octet-stream');
  }

  #json(res: http.ServerResponse, status: number, body: unknown): void {
    res.setHeader('cache-control', 'no-store');
    this.#send(res, status, this.#timed(() => JSON.stringify(body)), 'application/json; charset=utf-8');
  }

  #send(res: http.ServerResponse, status: number, body: string | Buffer, type: string): void {
    if (res.headersSent) return void res.end();
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'x-content-type-options': 'nosniff' });
    res.end(body);
  }

  #fail(res: http.ServerResponse, err: unknown): void {
    const code = (err as BeamlineError)?.code;
    const status =
      code === ErrorCodes.UI_FORBIDDEN ? 403 : code === ErrorCodes.NOPROC ? 404 : code === ErrorCodes.ARG_INVALID || code === ErrorCodes.UNSERIALIZABLE ? 400 : 500;
    this.#json(res, status, { error: toErrorData(err, false) });
  }
}

/** `runtime tree`'s view, each worker child with its restart count from the journal. */
function treeWithRestarts(node: Node): unknown {
  const store = node.store;
  const walk = (t: TreeView): unknown => ({
    ...t,
    children: t.children.map((c) => (c.kind === 'supervisor' ? walk(c) : { ...c, restarts: c.pid === null ? 0 : (store.process(c.pid)?.restarts ?? 0) })),
  });
  return node.supervision.view().map(walk);
}

function processQuery(q: URLSearchParams): { state?: string; name?: string; script?: string; sort?: SortKey; desc?: boolean; offset?: number; limit?: number } {
  const sort = q.get('sort') ?? undefined;
  if (sort !== undefined && !(SORT_KEYS as readonly string[]).includes(sort)) {
    throw new BeamlineError(ErrorCodes.ARG_INVALID, `processes: sort must be one of ${SORT_KEYS.join(', ')} (got ${sort})`);
  }
  const offset = q.get('offset');
  const limit = q.get('limit');
  return {
    state: q.get('state') ?? undefined,
    name: q.get('name') ?? undefined,
    script: q.get('script') ?? undefined,
    sort: sort as SortKey | undefined,
    desc: q.get('desc') === '1' || q.get('desc') === 'true',
    offset: offset === null ? undefined : intParam('offset', offset, 0, 2 ** 31 - 1),
    limit: limit === null ? undefined : intParam('limit', limit, 1, 500),
  };
}

function intParam(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new BeamlineError(ErrorCodes.ARG_INVALID, `${name}: expected an integer from ${min} to ${max} (got ${value})`);
  return n;
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.destroy();
        reject(new BeamlineError(ErrorCodes.ARG_INVALID, `body over ${MAX_BODY} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(text === '' ? {} : JSON.parse(text));
      } catch {
        reject(new BeamlineError(ErrorCodes.ARG_INVALID, 'body: not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}
