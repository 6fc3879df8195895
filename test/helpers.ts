// Shared test helpers: temporary journals, a node per test, journal readers.
// Everything is real: SQLite files on disk, worker threads, child processes.

import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, inject } from 'vitest';
import pg from 'pg';
import { SyncPg } from '../dist/runtime/journal/pg-sync.js';
import { Packr } from 'msgpackr';
import { Node, type NodeOptions } from '../dist/runtime/node.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
export const CLI = path.join(ROOT, 'dist', 'runtime', 'cli', 'main.js');

const unpackr = new Packr({ useRecords: false, mapsAsObjects: true });

export function tmpdir(prefix = 'beamline-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

/**
 * Which store the nodes of this run use: `BEAMLINE_TEST_STORE=postgres` (the
 * second pass of `npm test`, vitest.pg.config.ts) puts every node on a fresh
 * database of the run's PostgreSQL server; otherwise a SQLite file.
 */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.BEAMLINE_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
export const ON_PG = TEST_STORE === 'postgres';

/** On PostgreSQL: the database standing in for each journal path a test named (reopened under the same path, it is the same database). */
const pgByPath = new Map<string, string>();

async function freshPgDatabase(): Promise<string> {
  const admin = inject('pgAdminUrl');
  if (admin === undefined) throw new Error('BEAMLINE_TEST_STORE=postgres needs the server of vitest.pg.config.ts: run `npx vitest run -c vitest.pg.config.ts …`');
  const name = `t_${crypto.randomBytes(8).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return admin.replace(/\/postgres$/, `/${name}`);
}

/**
 * The PostgreSQL URL a journal path stands for in this run, or null when it
 * is a SQLite file (always under SQLite; under PostgreSQL, a file some test
 * wrote through a `runtime` child). A node's `db` on PostgreSQL is `<url>#<tag>`.
 */
export function pgUrlOf(db: string): string | null {
  if (/^postgres(ql)?:\/\//.test(db)) return db.replace(/#[^/]*$/, '');
  return pgByPath.get(path.resolve(db)) ?? null;
}

/** Open a node on a fresh (or given) journal; close it with `await node.close()`. */
export async function openNode(opts: NodeOptions = {}): Promise<Node> {
  if (ON_PG && opts.store === undefined) {
    const { db: given, ...rest } = opts;
    let url = given === undefined ? null : pgUrlOf(given);
    if (url === null) {
      url = await freshPgDatabase();
      if (given !== undefined) pgByPath.set(path.resolve(given), url);
    }
    return Node.open({ threads: 2, log: () => {}, ...rest, store: url });
  }
  const db = opts.db ?? path.join(tmpdir(), 'journal.db');
  return Node.open({ threads: 2, log: () => {}, ...opts, db });
}

/** One synchronous connection per database for the readers below (its thread does not keep the process alive). */
const pgReaders = new Map<string, SyncPg>();
function pgReader(url: string): SyncPg {
  let c = pgReaders.get(url);
  if (c === undefined) {
    c = new SyncPg(url);
    pgReaders.set(url, c);
  }
  return c;
}

export interface Row {
  pid: string;
  run: number;
  r: Array<[number, boolean, unknown]>;
  c: Array<[number, string, string | null, unknown, number, unknown]>;
  l?: string[];
  x?: unknown;
}

/** Every journal row of a journal file, decoded, in commit order. */
export function readRows(db: string, pid?: string): Row[] {
  const url = pgUrlOf(db);
  if (url !== null) {
    const rows = pgReader(url).query<{ pid: string; run: number; row: Buffer }>(
      pid === undefined ? 'SELECT pid, run, row FROM journal ORDER BY seq' : 'SELECT pid, run, row FROM journal WHERE pid = $1 ORDER BY seq',
      pid === undefined ? [] : [pid],
    );
    return rows.map((r) => ({ pid: r.pid, run: r.run, ...(unpackr.unpack(Buffer.from(r.row)) as Omit<Row, 'pid' | 'run'>) }));
  }
  const conn = new Database(db, { readonly: true });
  try {
    const rows = (
      pid === undefined
        ? conn.prepare('SELECT pid, run, row FROM journal ORDER BY seq').all()
        : conn.prepare('SELECT pid, run, row FROM journal WHERE pid = ? ORDER BY seq').all(pid)
    ) as Array<{ pid: string; run: number; row: Buffer }>;
    return rows.map((r) => ({ pid: r.pid, run: r.run, ...(unpackr.unpack(r.row) as Omit<Row, 'pid' | 'run'>) }));
  } finally {
    conn.close();
  }
}

/**
 * Rows of a journal table. On PostgreSQL the same SQL runs there (`?`
 * placeholders become `$n`); tables hold the same columns plus the owner
 * columns of several nodes (processes.serial/owner, supervisors.owner).
 */
export function query<T>(db: string, sql: string, ...params: unknown[]): T[] {
  const url = pgUrlOf(db);
  if (url !== null) {
    let n = 0;
    return pgReader(url).query<T>(sql.replace(/\?/g, () => `$${++n}`), params);
  }
  const conn = new Database(db, { readonly: true });
  try {
    return conn.prepare(sql).all(...params) as T[];
  } finally {
    conn.close();
  }
}

export function decode(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` until it returns a truthy value (or fail after `ms`). */
export async function until<T>(fn: () => T | Promise<T>, ms = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * The two ways a process must behave the same, for describe.each / it.each
 * ([label, node options]): kept in its thread's memory between wakes (the hot
 * path), and rebuilt by replay from its journal on every wake.
 */
export const REPLAY_MODES = [
  ['hot path', { evictIdleMs: 1e9 }],
  ['replay on every wake', { evictIdleMs: 0 }],
] as const;

/**
 * A node factory for one test file: every node it opens is closed after each
 * test, so a failing test never leaks threads into the next.
 */
export function nodesPerTest(): (opts?: NodeOptions) => Promise<Node> {
  const open: Node[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((n) => n.close()));
  });
  return async (opts = {}) => {
    const n = await openNode(opts);
    open.push(n);
    return n;
  };
}

// ───────────────────────────── `runtime` as a child process ─────────────────────────────

export interface CliRun {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves when the child has exited and its output is complete. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const cliChildren = new Set<ChildProcess>();

/**
 * Start `node dist/runtime/cli/main.js ...args`. Always asynchronous: servers
 * the tests start live in the test's own event loop, which spawnSync would block.
 */
export function startCli(args: string[], cwd = ROOT): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  cliChildren.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close' comes after the child's stdio is drained, so the output is complete.
    child.on('close', (code, signal) => {
      cliChildren.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
  };
}

/** Run a command to completion (SIGKILLed and reported as hung after `ms`). */
export async function runCli(
  args: string[],
  ms = 30_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; hung: boolean }> {
  const run = startCli(args);
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    run.child.kill('SIGKILL');
  }, ms);
  const { code, signal } = await run.exited;
  clearTimeout(timer);
  return { code, signal, stdout: run.stdout, stderr: run.stderr, hung };
}

/** For afterEach: SIGKILL every `runtime` child still running and wait until they are gone. */
export async function killCliLeftovers(): Promise<void> {
  const left = [...cliChildren];
  for (const child of left) child.kill('SIGKILL');
  await Promise.all(left.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)))));
  cliChildren.clear();
}

/**
 * Resolves once `node` has nothing left to do right now: no process queued
 * or running, no slice in flight, no commit under way, and everything
 * recorded is committed — twice in a row, so work a last slice or commit
 * started is seen too. Use it before asserting that something did NOT
 * happen, instead of sleeping: whatever would have happened (a restart, an
 * exit, a shutdown) is a slice or a commit, and both are waited for here.
 * Timers still armed are not waited for.
 */
export async function settled(node: Node, ms = 20_000): Promise<void> {
  const idle = () => {
    const s = node.kernel.stats();
    return s.queued === 0 && s.slicesInFlight === 0 && !s.committing;
  };
  const deadline = Date.now() + ms;
  let quiet = 0;
  while (quiet < 2) {
    await node.kernel.flush();
    await new Promise((r) => setImmediate(r));
    quiet = idle() ? quiet + 1 : 0;
    if (quiet === 0) {
      if (Date.now() > deadline) throw new Error(`node did not settle within ${ms} ms: ${JSON.stringify(node.kernel.stats())}`);
      await sleep(5);
    }
  }
}
