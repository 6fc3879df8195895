// Shared test helpers: temporary journals, a node per test, journal readers.
// Everything is real: SQLite files on disk, worker threads, child processes.

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
