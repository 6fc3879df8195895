// The HTTP gateway (`runtime start --http HOST:PORT`).
//
//   POST /call/<name|pid>   body: JSON
//     → the process gets {type: 'call', from, body}
//     ← 200 with the first message it sends to `from`, as JSON
//
// 404 unknown target (or path), 405 not POST, 400 bad JSON (or nested past
// what the journal can record), 413 body over
// the limit, 504 no answer in time. `from` is a reply port: an address the
// kernel recognises, whose message is handed back here only once the send
// that produced it is committed — the client never sees an answer the
// journal could lose.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jsonNestsDeeperThan, MAX_NESTING } from '../journal/codec.js';
import { BeamlineError, ErrorCodes } from '../errors.js';
import type { Node } from '../node.js';

export interface GatewayOptions {
  host: string;
  port: number;
  /** How long a call may wait for its answer (default 30 s). */
  timeoutMs?: number;
  /** Largest accepted request body (default 1 MiB). */
  maxBodyBytes?: number;
}

const PREFIX = '/call/';

export class Gateway {
  readonly #node: Node;
  readonly #opts: Required<GatewayOptions>;
  readonly #server: http.Server;

  constructor(node: Node, opts: GatewayOptions) {
    this.#node = node;
    this.#opts = { host: opts.host, port: opts.port, timeoutMs: opts.timeoutMs ?? 30_000, maxBodyBytes: opts.maxBodyBytes ?? 1 << 20 };
    this.#server = http.createServer({ keepAlive: true }, (req, res) => this.#handle(req, res));
    this.#server.keepAliveTimeout = 65_000;
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.port, this.#opts.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return this.#server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    if (!url.startsWith(PREFIX) || url.length === PREFIX.length) return reply(res, 404, { error: 'not found; POST /call/<name|pid>' }, req);
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return reply(res, 405, { error: 'use POST' }, req);
    }
    let target: string;
    try {
      target = decodeURIComponent(url.slice(PREFIX.length).split('?')[0]!);
    } catch {
      return reply(res, 400, { error: 'bad target in path' }, req);
    }
    // A dead process still in the table is restarting under its supervisor: the call waits for its next run.
    if (!this.#node.exists(target)) return reply(res, 404, { error: `no process ${target}` }, req);

    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.#opts.maxBodyBytes) return reply(res, 413, { error: `body over ${this.#opts.maxBodyBytes} bytes` }, req);
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > this.#opts.maxBodyBytes) {
        refused = true;
        reply(res, 413, { error: `body over ${this.#opts.maxBodyBytes} bytes` }, req);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      let body: unknown;
      const text = Buffer.concat(chunks).toString('utf8');
      // Checked before parsing: such a body could not be recorded, and the
      // encoder's recursion would overflow the node's stack.
      if (jsonNestsDeeperThan(text)) return reply(res, 400, { error: `body is nested deeper than ${MAX_NESTING} levels` }, req);
      try {
        body = text.length === 0 ? null : JSON.parse(text);
      } catch {
        return reply(res, 400, { error: 'body is not JSON' }, req);
      }
      try {
        this.#call(target, body, res, req);
      } catch (err) {
        // Nothing a client sends may take the node down: refuse this request alone.
        if (err instanceof BeamlineError && err.code === ErrorCodes.UNSERIALIZABLE) return reply(res, 400, { error: err.message }, req);
        reply(res, 500, { error: `the call could not be delivered: ${err instanceof Error ? err.message : String(err)}` }, req);
      }
    });
  }

  #call(target: string, body: unknown, res: http.ServerResponse, req: http.IncomingMessage): void {
    const node = this.#node;
    let done = false;
    const port = node.openPort((answer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      node.closePort(port);
      reply(res, 200, answer, req);
    });
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      node.closePort(port);
      reply(res, 504, { error: `no answer from ${target} within ${this.#opts.timeoutMs} ms` }, req);
    }, this.#opts.timeoutMs);
    res.on('close', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      node.closePort(port);
    });
    let delivered: boolean;
    try {
      delivered = node.sendRequest(target, { type: 'call', from: port, body }, port);
    } catch (err) {
      done = true;
      clearTimeout(timer);
      node.closePort(port);
      throw err;
    }
    if (!delivered) {
      done = true;
      clearTimeout(timer);
      node.closePort(port);
      reply(res, 404, { error: `no process ${target}` }, req);
    }
  }
}

function reply(res: http.ServerResponse, status: number, payload: unknown, req: http.IncomingMessage): void {
  if (res.headersSent) return;
  const text = JSON.stringify(payload === undefined ? null : payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
  // A refused upload: stop reading it, close when the client is done.
  if (status === 413) req.resume();
}
