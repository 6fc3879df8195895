// The control socket: a Unix domain socket beside the journal, owner-only,
// speaking one JSON object per line. `runtime ps|tree|history|send|kill|query|spawn`
// talk to a running node through it; with no node running, the inspection
// commands read the journal instead.
//
// Everything that arrives is checked here, as the CLI checks its arguments:
// a line is at most MAX_LINE bytes, nests at most MAX_NESTING levels, and is
// one known command with fields of the right types (one-line BL_ARG_INVALID
// otherwise). A connection's requests are answered one at a time, and the
// next is read only once the last answer has been taken by the client.
//
// Other local users: the socket is created 0600, beside the journal only when
// the journal's directory is the owner's and closed to others, else in a
// private 0700 run directory ($XDG_RUNTIME_DIR/beamline, or
// <tmpdir>/beamline-<uid>). A socket (or run directory) that belongs to
// another user is refused with BL_UNSAFE_PATH, by the node and by clients.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BeamlineError, ErrorCodes, toErrorData, type ErrorData, revive } from '../errors.js';
import { jsonNestsDeeperThan, MAX_NESTING } from '../journal/codec.js';
import type { Node } from '../node.js';
import type { Pid } from '../protocol.js';
import { historyJson, historyLines, psRows } from './inspect.js';

/** Longest request line (a spawn's or send's JSON arguments included). */
export const MAX_LINE = 8 << 20;

const uid = (): number => process.getuid?.() ?? -1;

/**
 * Where a journal's node listens. Unix socket paths are short (~107 bytes);
 * a long one, or one in a directory others may write to, moves to the
 * owner's private run directory.
 */
export function socketPath(journal: string): string {
  // A node on PostgreSQL (`<url>#<tag>`): one socket per node, in the run directory.
  if (/^postgres(ql)?:\/\//.test(journal)) return path.join(runDir(), `${createHash('sha1').update(journal).digest('hex').slice(0, 16)}.sock`);
  const abs = path.resolve(journal);
  const beside = `${abs}.sock`;
  if (Buffer.byteLength(beside) < 100 && privateDir(path.dirname(abs))) return beside;
  return path.join(runDir(), `${createHash('sha1').update(abs).digest('hex').slice(0, 16)}.sock`);
}

/** The directory exists, is ours, and nobody else may create or replace files in it. */
function privateDir(dir: string): boolean {
  try {
    const st = fs.statSync(dir);
    return st.uid === uid() && (st.mode & 0o022) === 0;
  } catch {
    return true; // not created yet: the journal's opening creates it (0755 at most, under our umask)
  }
}

/** The owner's private run directory, created 0700; refused if someone else made it or opened it. */
export function runDir(): string {
  const xdg = process.env['XDG_RUNTIME_DIR'];
  const dir = xdg !== undefined && xdg !== '' && path.isAbsolute(xdg) ? path.join(xdg, 'beamline') : path.join(os.tmpdir(), `beamline-${uid()}`);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid() || (st.mode & 0o077) !== 0) {
    const why = !st.isDirectory() ? 'is not a directory' : st.uid !== uid() ? `belongs to uid ${st.uid}, not ${uid()}` : `is open to others (mode ${(st.mode & 0o777).toString(8)})`;
    throw new BeamlineError(ErrorCodes.UNSAFE_PATH, `control socket directory ${dir} ${why}; remove it or set XDG_RUNTIME_DIR to a private directory`, {
      file: dir,
    });
  }
  return dir;
}

/** Refuse a socket file that is not a socket, or not ours. Absent: fine. */
function checkSocketFile(file: string, who: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return false;
  }
  if (st.uid !== uid()) {
    throw new BeamlineError(ErrorCodes.UNSAFE_PATH, `${who}: control socket ${file} belongs to uid ${st.uid}, not ${uid()}; refusing it (another user may be impersonating the node)`, {
      file,
    });
  }
  if (!st.isSocket()) throw new BeamlineError(ErrorCodes.UNSAFE_PATH, `${who}: ${file} is in the control socket's place but is not a socket; move it away`, { file });
  return true;
}

export type ControlRequest =
  | { cmd: 'ps'; all?: boolean; limit?: number; after?: string }
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
  readonly #node: Node;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #path: string | null = null;

  constructor(node: Node) {
    this.#node = node;
    this.#server = net.createServer((socket) => this.#connection(socket));
  }

  /** Where it listens (known once `listen` has checked the place). */
  get path(): string {
    return this.#path ?? socketPath(this.#node.db);
  }

  async listen(): Promise<string> {
    // We hold the journal's lock, so a socket of ours already there was left
    // by a node that died (kill -9): it is ours to replace. Anyone else's is
    // refused, never deleted or listened beside.
    const file = socketPath(this.#node.db);
    if (checkSocketFile(file, 'start')) fs.unlinkSync(file);
    this.#path = file;
    const old = process.umask(0o177); // created 0600: no moment when it is open to others
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(file, () => {
          this.#server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    fs.chmodSync(file, 0o600);
    return file;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    if (this.#path === null) return; // never listened: whatever is there is not ours
    try {
      fs.unlinkSync(this.#path);
    } catch {
      /* gone */
    }
  }

  #connection(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    // The unfinished line, as the chunks it came in: only each new chunk is
    // searched for a newline, never what was buffered before.
    let partial: Buffer[] = [];
    let partialBytes = 0;
    const lines: string[] = [];
    let busy = false;
    let refused = false;
    const refuse = () => {
      refused = true;
      partial = [];
      lines.length = 0;
      const err = new BeamlineError(ErrorCodes.ARG_INVALID, `control request over ${MAX_LINE} bytes without a newline; closing the connection`);
      // What still arrives is read and dropped (never kept), so the client
      // is not stuck writing into a full socket; it is cut off a moment
      // after the refusal has gone out.
      socket.resume();
      socket.end(`${JSON.stringify({ id: null, ok: false, error: toErrorData(err, false) })}\n`, () => {
        setTimeout(() => socket.destroy(), 1000).unref();
      });
    };
    const pump = async () => {
      if (busy) return;
      busy = true;
      socket.pause();
      while (lines.length > 0 && !socket.destroyed) {
        const text = await this.#answer(lines.shift()!);
        if (socket.destroyed || refused) break;
        // Backpressure: the next request waits until this answer is taken.
        if (!socket.write(text)) await drained(socket);
      }
      busy = false;
      if (!refused && !socket.destroyed) socket.resume();
    };
    socket.on('data', (chunk: Buffer) => {
      if (refused) return;
      let start = 0;
      for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
        const piece = chunk.subarray(start, nl);
        if (partialBytes + piece.length > MAX_LINE) return refuse();
        lines.push(partial.length === 0 ? piece.toString('utf8') : Buffer.concat([...partial, piece]).toString('utf8'));
        partial = [];
        partialBytes = 0;
        start = nl + 1;
      }
      if (start < chunk.length) {
        const rest = chunk.subarray(start);
        if (partialBytes + rest.length > MAX_LINE) return refuse();
        partial.push(rest);
        partialBytes += rest.length;
      }
      if (lines.length > 0) void pump();
    });
  }

  /** One request line in, one reply line out (never throws). */
  async #answer(line: string): Promise<string> {
    let id: string | number | null = null;
    try {
      const parsed = parseRequest(line);
      id = parsed.id;
      const result = await this.#handle(parsed.req);
      return `${JSON.stringify({ id, ok: true, result })}\n`;
    } catch (err) {
      return `${JSON.stringify({ id, ok: false, error: toErrorData(err, false) })}\n`;
    }
  }

  async #handle(req: ControlRequest): Promise<unknown> {
    const node = this.#node;
    switch (req.cmd) {
      case 'ps':
        await node.flush();
        return psRows(node.store, node, { all: req.all, limit: req.limit, after: req.after });
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

function drained(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

// ───────────────────────────── request validation ─────────────────────────────

type Check = (v: unknown) => string | null;
const str: Check = (v) => (typeof v === 'string' && v.length > 0 && v.length <= 4096 ? null : 'a non-empty string');
const bool: Check = (v) => (typeof v === 'boolean' ? null : 'true or false');
const list: Check = (v) => (Array.isArray(v) ? null : 'a list');
const count: Check = (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? null : 'an integer >= 0');
const any: Check = (v) => (v === undefined ? 'a JSON value' : null);
const time: Check = (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? null : 'a time in milliseconds since 1970 (an integer >= 0)');

/** Per command: its fields, each [check, required]. */
const COMMANDS: Record<ControlRequest['cmd'], Record<string, [Check, boolean]>> = {
  ps: { all: [bool, false], limit: [count, false], after: [str, false] },
  tree: {},
  history: { pid: [str, true], json: [bool, false] },
  send: { to: [str, true], msg: [any, true] },
  kill: { pid: [str, true], reason: [any, false] },
  query: { pid: [str, true], name: [str, true], args: [list, false] },
  spawn: { script: [str, true], args: [list, true], wait: [bool, true] },
  startChild: { sup: [str, true], args: [list, true] },
  prune: { before: [time, true] },
  resume: { pid: [str, true] },
};

/**
 * One control line, checked: JSON, an object, nested at most MAX_NESTING
 * (deeper ones cannot be recorded, and would overflow the kernel's encoder),
 * a known `cmd`, no unknown fields, each field of its type.
 */
export function parseRequest(line: string): { id: string | number | null; req: ControlRequest } {
  const bad = (msg: string) => new BeamlineError(ErrorCodes.ARG_INVALID, `control request: ${msg}`);
  if (jsonNestsDeeperThan(line)) throw bad(`nested deeper than ${MAX_NESTING} levels`);
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('must be a JSON object');
  const obj = raw as Record<string, unknown>;
  const id = obj['id'] ?? null;
  if (id !== null && typeof id !== 'number' && typeof id !== 'string') throw bad('id: must be a number or a string');
  const cmd = obj['cmd'];
  if (typeof cmd !== 'string' || !Object.hasOwn(COMMANDS, cmd)) {
    throw bad(`unknown cmd ${JSON.stringify(cmd) ?? 'undefined'} (known: ${Object.keys(COMMANDS).join(', ')})`);
  }
  const fields = COMMANDS[cmd as ControlRequest['cmd']];
  for (const key of Object.keys(obj)) {
    if (key !== 'id' && key !== 'cmd' && !Object.hasOwn(fields, key)) throw bad(`${cmd}: unknown field ${JSON.stringify(key)}`);
  }
  for (const [key, [check, required]] of Object.entries(fields)) {
    const v = obj[key];
    if (v === undefined && !required) continue;
    const want = v === undefined ? 'required' : check(v);
    if (want !== null) throw bad(`${cmd}.${key}: ${want === 'required' ? 'missing' : `must be ${want}`}`);
  }
  const { id: _id, ...req } = obj;
  return { id: id as string | number | null, req: req as ControlRequest };
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
  let file: string;
  try {
    file = socketPath(journal);
  } catch (err) {
    return Promise.reject(err);
  }
  return requestAt<T>(file, journal, req);
}

/**
 * Send one request to the control socket `file` (a node on PostgreSQL
 * records its socket in the nodes table: the CLI finds it there); `journal`
 * names the node in errors. `signal` gives up on it (the connection is
 * closed, the promise rejects with the signal's reason): a node that stopped
 * answering but still holds its socket would otherwise be waited on forever.
 */
export function requestAt<T = unknown>(file: string, journal: string, req: ControlRequest, signal?: AbortSignal): Promise<T> {
  try {
    // Someone else's socket in our socket's place would receive what we send and answer in the node's name.
    if (!checkSocketFile(file, req.cmd)) return Promise.reject(new NoNodeError(`no node is running on ${journal}`));
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise<T>((resolve, reject) => {
    const socket = net.connect(file);
    if (signal !== undefined) {
      const abort = () => {
        socket.destroy();
        reject(signal.reason);
      };
      if (signal.aborted) abort();
      signal.addEventListener('abort', abort, { once: true });
      socket.on('close', () => signal.removeEventListener('abort', abort));
    }
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
