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
//
// 502 the target exited before it answered (the call watches its target for
// its duration, like gen_server:call; the body names the exit reason).
// 503 (with Retry-After) past the bound on requests in flight, per connection
// or in all: a client that pipelines thousands of requests, or never reads
// its answers, holds at most `maxInFlightPerConnection` of the node's work.
// A request counts from its arrival until its answer is handed to the OS, so
// answers a client does not read count too; once a connection's unread
// answers pass the socket's buffer, Node stops reading from it.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jsonNestsDeeperThan, MAX_NESTING } from '../journal/codec.js';
import { BeamlineError, ErrorCodes } from '../errors.js';
import type { Node } from '../node.js';
import { describeReason } from '../control/inspect.js';

export interface GatewayOptions {
  host: string;
  port: number;
  /** How long a call may wait for its answer (default 30 s). */
  timeoutMs?: number;
  /** Largest accepted request body (default 1 MiB). */
  maxBodyBytes?: number;
  /** Requests one connection may have in flight (unanswered, or answered but unread); more get 503 (default 32). */
  maxInFlightPerConnection?: number;
  /** Requests in flight over all connections; more get 503 (default 1024). */
  maxInFlight?: number;
}

/** What the gateway holds right now, and the most it ever held (for tests and monitoring). */
export interface GatewayStats {
  inFlight: number;
  peakInFlight: number;
  /** The most one connection ever had in flight. */
  peakPerConnection: number;
  /** Requests accepted (not refused with 503) since start. */
  accepted: number;
  /** Requests refused with 503. */
  refused: number;
}

interface Conn {
  inFlight: number;
}

/** Seconds a 503 asks the client to wait. */
const RETRY_AFTER_S = 1;

const PREFIX = '/call/';

/** A parsed call waiting for the end of this turn of the event loop (see #arrive). */
interface Arrived {
  target: string;
  body: unknown;
  res: http.ServerResponse;
  req: http.IncomingMessage;
}

export class Gateway {
  readonly #node: Node;
  readonly #opts: Required<GatewayOptions>;
  readonly #server: http.Server;
  readonly #conns = new WeakMap<object, Conn>();
  readonly #stats: GatewayStats = { inFlight: 0, peakInFlight: 0, peakPerConnection: 0, accepted: 0, refused: 0 };
  /** One exit watch per called pid, shared by every call waiting on it (see #watch). */
  readonly #watches = new Map<string, { run: number; calls: Set<(reason: unknown) => void> }>();
  /** Calls parsed in this turn of the event loop, delivered together at its end (see #arrive). */
  #arrived: Arrived[] = [];

  constructor(node: Node, opts: GatewayOptions) {
    this.#node = node;
    const perConn = opts.maxInFlightPerConnection ?? 32;
    const total = opts.maxInFlight ?? 1024;
    for (const [name, v] of [
      ['maxInFlightPerConnection', perConn],
      ['maxInFlight', total],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new BeamlineError(ErrorCodes.ARG_INVALID, `gateway: ${name} must be an integer >= 1 (got ${String(v)})`);
    }
    this.#opts = {
      host: opts.host,
      port: opts.port,
      timeoutMs: opts.timeoutMs ?? 30_000,
      maxBodyBytes: opts.maxBodyBytes ?? 1 << 20,
      maxInFlightPerConnection: perConn,
      maxInFlight: total,
    };
    this.#server = http.createServer({ keepAlive: true }, (req, res) => this.#admit(req, res));
    this.#server.keepAliveTimeout = 65_000;
  }

  get stats(): GatewayStats {
    return { ...this.#stats };
  }

  /** Count the request until its answer is flushed (or its connection is gone); refuse it past a bound. */
  #admit(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    let conn = this.#conns.get(socket);
    if (conn === undefined) {
      conn = { inFlight: 0 };
      this.#conns.set(socket, conn);
    }
    const c = conn;
    const stats = this.#stats;
    const over = c.inFlight >= this.#opts.maxInFlightPerConnection || stats.inFlight >= this.#opts.maxInFlight;
    // A refusal counts against its connection too: a client that never reads
    // its 503s must not pile them up either.
    c.inFlight++;
    if (!over) stats.inFlight++;
    stats.peakPerConnection = Math.max(stats.peakPerConnection, c.inFlight);
    stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
    res.once('close', () => {
      c.inFlight--;
      if (!over) stats.inFlight--;
    });
    if (over) {
      stats.refused++;
      res.setHeader('retry-after', String(RETRY_AFTER_S));
      const which = c.inFlight > this.#opts.maxInFlightPerConnection ? `${this.#opts.maxInFlightPerConnection} on this connection` : `${this.#opts.maxInFlight} in all`;
      return reply(res, 503, { error: `too many requests in flight (at most ${which}); retry after ${RETRY_AFTER_S} s` }, req);
    }
    stats.accepted++;
    this.#handle(req, res);
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
      this.#arrive({ target, body, res, req });
    });
  }

  /**
   * Calls go to the kernel once per turn of the event loop, all together
   * (setImmediate runs right after the turn's I/O callbacks). Handed over one
   * by one, the first call of a burst — the clients answered by one commit
   * come back together — left alone in a slice of its own, the rest waited
   * for that slice's round trip to the process's thread, and the lone call's
   * commit then held back theirs: the calls split into groups that took
   * turns at the journal writer. Handed over together, they go in one slice.
   */
  #arrive(call: Arrived): void {
    this.#arrived.push(call);
    if (this.#arrived.length === 1) setImmediate(this.#deliverArrived);
  }

  readonly #deliverArrived = (): void => {
    const calls = this.#arrived;
    this.#arrived = [];
    for (const { target, body, res, req } of calls) {
      if (res.destroyed) continue; // the client left while the call waited for the turn's end
      try {
        this.#call(target, body, res, req);
      } catch (err) {
        // Nothing a client sends may take the node down: refuse this request alone.
        if (err instanceof BeamlineError && err.code === ErrorCodes.UNSERIALIZABLE) reply(res, 400, { error: err.message }, req);
        else reply(res, 500, { error: `the call could not be delivered: ${err instanceof Error ? err.message : String(err)}` }, req);
      }
    }
  };

  #call(target: string, body: unknown, res: http.ServerResponse, req: http.IncomingMessage): void {
    const node = this.#node;
    let done = false;
    const port = node.openPort((answer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      node.closePort(port);
      unwatch();
      reply(res, 200, answer, req);
    });
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      unwatch();
      node.closePort(port);
      reply(res, 504, { error: `no answer from ${target} within ${this.#opts.timeoutMs} ms` }, req);
    }, this.#opts.timeoutMs);
    // The answer (committed first) wins over the exit that may follow it.
    const unwatch = this.#watch(node.whereis(target) ?? target, (reason) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      node.closePort(port);
      reply(res, 502, { error: `${target} exited before it answered: ${describeReason(reason)}`, reason }, req);
    });
    res.on('close', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unwatch();
      node.closePort(port);
    });
    let delivered: boolean;
    try {
      delivered = node.sendRequest(target, { type: 'call', from: port, body }, port);
    } catch (err) {
      done = true;
      clearTimeout(timer);
      unwatch();
      node.closePort(port);
      throw err;
    }
    if (!delivered) {
      done = true;
      clearTimeout(timer);
      unwatch();
      node.closePort(port);
      reply(res, 404, { error: `no process ${target}` }, req);
    }
  }

  /**
   * Call `fn` with the exit reason when the current run of `pid` ends.
   * One kernel exit-wait per pid, shared by all its calls: a waiter cannot be
   * taken back from the kernel, so one per call would pile up on a process
   * that answers millions of calls and never exits. A process held dead for
   * a supervisor restart is not watched: the call is for its next run.
   */
  #watch(pid: string, fn: (reason: unknown) => void): () => void {
    const node = this.#node;
    const state = node.stateOf(pid);
    const run = node.runOf(pid);
    if (state === undefined || state === 'dead' || run === undefined) return () => {};
    let w = this.#watches.get(pid);
    if (w !== undefined && w.run !== run) w = undefined; // a stale watch of an earlier run: its exit is past
    if (w === undefined) {
      const watch = { run, calls: new Set<(reason: unknown) => void>() };
      w = watch;
      this.#watches.set(pid, watch);
      node.waitExit(pid).then(
        (info) => {
          if (this.#watches.get(pid) === watch) this.#watches.delete(pid);
          for (const call of watch.calls) call(info.reason);
        },
        () => {
          if (this.#watches.get(pid) === watch) this.#watches.delete(pid);
        },
      );
    }
    const calls = w.calls;
    calls.add(fn);
    return () => calls.delete(fn);
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
