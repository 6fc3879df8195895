// The control socket: a Unix domain socket beside the journal, owner-only,
// speaking one JSON object per line. `runtime ps|tree|history|send|kill|query|spawn`
// talk to a running node through it; with no node running, the inspection
// commands read the journal instead.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BeamlineError, ErrorCodes, toErrorData, type ErrorData, revive } from '../errors.js';
import type { Node } from '../node.js';
import type { Pid } from '../protocol.js';
import { historyJson, historyLines, psRows } from './inspect.js';

/** Where a journal's node listens. Unix socket paths are short (~107 bytes), so long ones move to the temp dir. */
export function socketPath(journal: string): string {
  const abs = path.resolve(journal);
  const beside = `${abs}.sock`;
  if (Buffer.byteLength(beside) < 100) return beside;
  return path.join(os.tmpdir(), `beamline-${createHash('sha1').update(abs).digest('hex').slice(0, 16)}.sock`);
}

export type ControlRequest =
  | { cmd: 'ps'; all?: boolean }
  | { cmd: 'tree' }
  | { cmd: 'history'; pid: string; json?: boolean }
  | { cmd: 'send'; to: string; msg: unknown }
  | { cmd: 'kill'; pid: string; reason?: unknown }
  | { cmd: 'resume'; pid: string }
  | { cmd: 'query'; pid: string; name: string; args?: unknown[] }
  | { cmd: 'spawn'; script: string; args: unknown[]; wait: boolean }
  | { cmd: 'startChild'; sup: string; args: unknown[] }
  | { cmd: 'prune'; before: number };

export class ControlServer {
  readonly path: string;
  readonly #node: Node;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  constructor(node: Node) {
    this.#node = node;
    this.path = socketPath(node.db);
    this.#server = net.createServer((socket) => this.#connection(socket));
  }

  async listen(): Promise<string> {
    // We hold the journal's lock, so a socket file already there was left by
    // a node that died (kill -9): it is ours to replace.
    try {
      fs.unlinkSync(this.path);
    } catch {
      /* absent */
    }
    const old = process.umask(0o077);
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(this.path, () => {
          this.#server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    fs.chmodSync(this.path, 0o600);
    return this.path;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    try {
      fs.unlinkSync(this.path);
    } catch {
      /* gone */
    }
  }

  #connection(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        void this.#answer(socket, line);
      }
    });
  }

  async #answer(socket: net.Socket, line: string): Promise<void> {
    let id: unknown = null;
    try {
      const req = JSON.parse(line) as ControlRequest & { id?: unknown };
      id = req.id ?? null;
      const result = await this.#handle(req);
      socket.write(`${JSON.stringify({ id, ok: true, result })}\n`);
    } catch (err) {
      socket.write(`${JSON.stringify({ id, ok: false, error: toErrorData(err, false) })}\n`);
    }
  }

  async #handle(req: ControlRequest): Promise<unknown> {
    const node = this.#node;
    switch (req.cmd) {
      case 'ps':
        await node.flush();
        return psRows(node.store, node, { all: req.all });
      case 'tree':
        return node.supervision.view();
      case 'history': {
        await node.flush();
        const lines = req.json === true ? historyJson(node.store, req.pid) : historyLines(node.store, req.pid);
        if (lines === null) throw new BeamlineError(ErrorCodes.NOPROC, `history: no process ${req.pid} in ${node.db}`, { pid: req.pid });
        return lines;
      }
      case 'send':
        if (!node.send(req.to, req.msg, 'cli')) throw new BeamlineError(ErrorCodes.NOPROC, `send: no live process ${req.to}`, { pid: req.to });
        await committed(node);
        return true;
      case 'kill':
        if (!node.kill(req.pid, req.reason ?? 'kill', 'cli')) throw new BeamlineError(ErrorCodes.NOPROC, `kill: no live process ${req.pid}`, { pid: req.pid });
        await committed(node);
        return true;
      case 'resume':
        await node.resume(req.pid);
        return true;
      case 'query':
        return node.query(req.pid, req.name, req.args ?? []);
      case 'spawn': {
        const pid = await node.spawn(req.script, req.args);
        if (!req.wait) return { pid };
        const exit = await node.waitExit(pid);
        return { pid, exit };
      }
      case 'startChild':
        return { pid: node.supervision.startChild(req.sup, req.args) };
      case 'prune':
        await node.prune(req.before);
        return true;
      default:
        throw new BeamlineError(ErrorCodes.ARG_INVALID, `unknown control command ${JSON.stringify((req as { cmd?: unknown }).cmd)}`);
    }
  }
}

function committed(node: Node): Promise<void> {
  return node.flush();
}

/** No node is listening on this journal's socket. */
export class NoNodeError extends Error {
  override get name(): string {
    return 'NoNodeError';
  }
}

/** Send one request to the node running on `journal`. */
export function request<T = unknown>(journal: string, req: ControlRequest): Promise<T> {
  const file = socketPath(journal);
  return new Promise<T>((resolve, reject) => {
    const socket = net.connect(file);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ id: 1, ...req })}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      socket.end();
      const res = JSON.parse(buffer.slice(0, nl)) as { ok: boolean; result?: T; error?: ErrorData };
      if (res.ok) resolve(res.result as T);
      else reject(revive(res.error!));
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new NoNodeError(`no node is running on ${journal}`));
      else reject(err);
    });
    socket.on('close', () => {
      if (!buffer.includes('\n')) reject(new NoNodeError(`the node on ${journal} closed the connection`));
    });
  });
}

export type { Pid };
