// Failure model, row "damaged row": a journal row that no longer decodes (a
// torn write, a hand edit, a bad disk). Real `runtime start` nodes on a real
// journal, edited between runs with SQLite.
//
// Before: a row cut to 5 bytes failed every slice of its thread, which the
// kernel handed back and retried ~2,800 times a second (100% CPU, the
// gateway silent, SIGTERM ignored); a row set to one invalid byte replayed as
// an empty history (a TypeError, then the supervisor quietly restarted the
// process as run 2); `runtime history` died with `rec.r is not iterable`; a
// damaged supervisor record gave an internal error and a hung node.
// Now the one process fails with BL_JOURNAL_CORRUPT naming pid and row, said
// on stderr; everything else answers, SIGTERM stops the node with exit 0, and
// the journal keeps every row, the damaged one included, as it was.

import path from 'node:path';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { query, tmpdir } from '../helpers.js';
import { cli, cliJson, found, killLeftovers, startNode, SUP, workerIn, type StartedNode, type SupView } from '../fixtures/supervisor/support.js';

afterEach(async () => {
  await killLeftovers();
});

const TREE = path.join(SUP, 'gateway.yaml');

async function post(base: string, target: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await request(`${base}/call/${target}`, { method: 'POST', body: JSON.stringify(body), headersTimeout: 60_000 });
  const text = await res.body.text();
  return { status: res.statusCode, json: text.length > 0 ? (JSON.parse(text) as unknown) : null };
}

async function stop(node: StartedNode): Promise<number | null> {
  node.child.kill('SIGTERM');
  const timer = setTimeout(() => node.child.kill('SIGKILL'), 30_000);
  const { code, signal } = await node.exited;
  clearTimeout(timer);
  return signal === 'SIGKILL' ? -9 : code;
}

/**
 * A journal whose counter has answered five calls (count 5), the node then
 * killed -9 so the tree is live in the journal (SIGTERM would stop it).
 */
async function counted(): Promise<{ db: string; counter: string }> {
  const db = path.join(tmpdir(), 'journal.db');
  const node = await startNode(TREE, db, ['--http', '127.0.0.1:0']);
  for (let i = 1; i <= 5; i++) expect(await post(node.url!, 'counter', { by: 1 })).toEqual({ status: 200, json: { count: i } });
  const view = (await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!;
  node.child.kill('SIGKILL');
  await node.exited;
  return { db, counter: workerIn(view, 'counter').pid! };
}

interface JRow {
  seq: number;
  pid: string;
  run: number;
  row: Buffer;
}
const allRows = (db: string) => query<JRow>(db, 'SELECT seq, pid, run, row FROM journal ORDER BY seq');

function damage(db: string, seq: number, bytes: (row: Buffer) => Buffer): Buffer {
  const conn = new Database(db);
  try {
    const row = (conn.prepare('SELECT row FROM journal WHERE seq = ?').get(seq) as { row: Buffer }).row;
    const bad = bytes(row);
    conn.prepare('UPDATE journal SET row = ? WHERE seq = ?').run(bad, seq);
    return bad;
  } finally {
    conn.close();
  }
}

const damages: Array<[string, (row: Buffer) => Buffer]> = [
  ['cut to 5 bytes', (row) => row.subarray(0, 5)],
  ['set to one invalid byte', () => Buffer.from([0xc1])],
  ['set to a bare number', () => Buffer.from([0x07])],
];

describe('a journal row that does not decode', () => {
  it.each(damages)('%s: fails that process with BL_JOURNAL_CORRUPT (pid, seq); the node answers, stops on SIGTERM and keeps every row', async (_what, how) => {
    const { db, counter } = await counted();
    const before = allRows(db);
    // The counter's last row of run 1 (the answer to the fifth call).
    const target = before.filter((r) => r.pid === counter && r.run === 1).at(-1)!;
    expect(target.row.length).toBeGreaterThan(5);
    const bad = damage(db, target.seq, how);

    const node = await startNode(TREE, db, ['--http', '127.0.0.1:0']);
    // Said on stderr, naming the process and the row.
    await found(() => node.stderr.includes('BL_JOURNAL_CORRUPT'), 30_000, 'the damage to be reported');
    const said = node.stderr.split('\n').find((l) => l.includes('BL_JOURNAL_CORRUPT'))!;
    expect(said).toContain(counter);
    expect(said).toContain(`seq ${target.seq}`);
    // The rest of the node answers (echo never touched the damaged row).
    expect(await post(node.url!, 'echo', { text: 'still here' })).toMatchObject({ status: 200 });
    const hist = await cli(['history', '--db', db, counter]);
    expect(hist.hung).toBe(false);
    expect(await stop(node)).toBe(0);
    // No thread retried the slice in a loop.
    expect(node.stderr).not.toMatch(/slice on thread \d+ failed/);
    expect(node.stderr).not.toMatch(/internal error|TypeError/);
    // Its supervisor restarted it as run 2 from its arguments (the counter's
    // state is gone with the row; the failure above said so).
    const runs = query<{ run: number }>(db, 'SELECT run FROM processes WHERE pid = ?', counter)[0]!;
    expect(runs.run).toBeGreaterThanOrEqual(2);
    // Nothing committed was lost or rewritten: every row from before is there
    // byte for byte, the damaged one as it was left.
    const after = new Map(allRows(db).map((r) => [r.seq, r]));
    for (const r of before) {
      const now = after.get(r.seq);
      expect(now, `row ${r.seq}`).toBeDefined();
      expect(Buffer.compare(now!.row, r.seq === target.seq ? bad : r.row), `row ${r.seq}`).toBe(0);
    }
  }, 120_000);

  it('runtime history prints one line naming the row, and exits non-zero', async () => {
    const { db, counter } = await counted();
    const target = allRows(db).filter((r) => r.pid === counter).at(-1)!;
    damage(db, target.seq, () => Buffer.from([0xc1]));
    const out = await cli(['history', '--db', db, counter]);
    expect(out.hung).toBe(false);
    expect(out.code).not.toBe(0);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toContain('BL_JOURNAL_CORRUPT');
    expect(out.stderr).toContain(`seq ${target.seq}`);
    expect(out.stderr).toContain(counter);
    expect(out.stderr).not.toMatch(/internal error|is not iterable/);
    // ps still lists every process, the damaged one marked.
    const ps = await cli(['ps', '--db', db]);
    expect(ps.code).toBe(0);
    expect(ps.stdout.split('\n').find((l) => l.startsWith(`${counter} `))).toContain(`damaged row (seq ${target.seq})`);
  }, 120_000);

  it('a damaged supervisor record: start refuses with one line BL_JOURNAL_CORRUPT and exits; tree says the same', async () => {
    const { db } = await counted();
    const sup = query<{ pid: string; data: Buffer }>(db, 'SELECT pid, data FROM supervisors')[0]!;
    const conn = new Database(db);
    conn.prepare('UPDATE supervisors SET data = ? WHERE pid = ?').run(Buffer.from([0x93, 0x01]), sup.pid);
    conn.close();
    const rowsBefore = allRows(db).length;

    const start = await cli(['start', '--db', db, '--threads', '2', TREE], 60_000);
    expect(start.hung).toBe(false);
    expect(start.code).not.toBe(0);
    const lines = start.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('BL_JOURNAL_CORRUPT');
    expect(lines[0]).toContain(sup.pid);
    expect(lines[0]).not.toMatch(/internal error/);

    const tree = await cli(['tree', '--db', db]);
    expect(tree.hung).toBe(false);
    expect(tree.code).not.toBe(0);
    expect(tree.stderr.trim().split('\n')).toHaveLength(1);
    expect(tree.stderr).toContain('BL_JOURNAL_CORRUPT');
    expect(allRows(db).length).toBe(rowsBefore);
  }, 120_000);
});
