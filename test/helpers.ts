// Shared test helpers: temporary journals, a node per test, journal readers.
// Everything is real: SQLite files on disk, worker threads, child processes.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach } from 'vitest';
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

/** Open a node on a fresh (or given) journal; close it with `await node.close()`. */
export async function openNode(opts: NodeOptions = {}): Promise<Node> {
  const db = opts.db ?? path.join(tmpdir(), 'journal.db');
  return Node.open({ threads: 2, log: () => {}, ...opts, db });
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

export function query<T>(db: string, sql: string, ...params: unknown[]): T[] {
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
