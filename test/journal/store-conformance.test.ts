// The two stores behind one interface (store.ts): SQLite for one node,
// PostgreSQL for several. The same event sequences are applied to each —
// directly (`store.append`) and through the store's writer thread
// (`store.writer().commit`) — and every read of the interface must give the
// same answers. Where they differ on purpose (a PostgreSQL node sees only its
// own processes; message id ranges per node) that is tested on its own below.
// Real stores: a SQLite file in a temp folder, a fresh database of a real
// PostgreSQL server per test.

import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Packr } from 'msgpackr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseKeys, type Keyring } from '../../dist/runtime/journal/cipher.js';
import { SCHEMA_VERSION, type JournalEvent } from '../../dist/runtime/journal/events.js';
import { openPostgres, type PostgresStore } from '../../dist/runtime/journal/postgres.js';
import { openJournal } from '../../dist/runtime/journal/sqlite.js';
import type { Store } from '../../dist/runtime/journal/store.js';
import { tmpdir } from '../helpers.js';
import { startPostgres, type Postgres } from '../postgres.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const enc = (v: unknown): Uint8Array => packr.pack(v);
const b = (s: string): Uint8Array => Buffer.from(s);
/** Bytes as text, so that Buffers from either driver compare equal. */
const t = (x: Uint8Array | null | undefined): string | null => (x === null || x === undefined ? null : Buffer.from(x).toString());

let server: Postgres;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

const opened: Store[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
});

interface Kind {
  name: 'sqlite' | 'postgres';
  /** A fresh, empty store; `where` names it for reopening and raw reads. */
  fresh(keys?: Keyring | null): Promise<{ store: Store; where: string }>;
  reopen(where: string, keys?: Keyring | null): Store;
  /** Every stored byte column of the journal, raw (sealed or not). */
  rawBytes(where: string): Promise<Buffer>;
}

function track<S extends Store>(s: S): S {
  opened.push(s);
  return s;
}

const sqlite: Kind = {
  name: 'sqlite',
  async fresh(keys = null) {
    const where = path.join(tmpdir(), 'journal.db');
    return { store: track(openJournal(where, { keys })), where };
  },
  reopen: (where, keys = null) => track(openJournal(where, { keys })),
  async rawBytes(where) {
    const db = new Database(where, { readonly: true });
    try {
      return Buffer.concat(
        [
          'SELECT row AS x FROM journal',
          'SELECT args AS x FROM processes UNION ALL SELECT reason FROM processes UNION ALL SELECT result FROM processes UNION ALL SELECT last_message FROM processes',
          'SELECT data AS x FROM mailbox',
          'SELECT data AS x FROM effects UNION ALL SELECT value FROM effects',
          'SELECT data AS x FROM supervisors',
        ].flatMap((sql) => (db.prepare(sql).all() as Array<{ x: Buffer | null }>).map((r) => r.x ?? Buffer.alloc(0))),
      );
    } finally {
      db.close();
    }
  },
};

const postgres: Kind = {
  name: 'postgres',
  async fresh(keys = null) {
    const where = await server.database();
    return { store: track(openPostgres(where, { keys })), where };
  },
  reopen: (where, keys = null) => track(openPostgres(where, { keys })),
  async rawBytes(where) {
    return withClient(where, async (c) => {
      const parts: Buffer[] = [];
      for (const sql of [
        'SELECT row AS x FROM journal',
        'SELECT args AS x FROM processes UNION ALL SELECT reason FROM processes UNION ALL SELECT result FROM processes UNION ALL SELECT last_message FROM processes',
        'SELECT data AS x FROM mailbox',
        'SELECT data AS x FROM effects UNION ALL SELECT value FROM effects',
        'SELECT data AS x FROM supervisors',
      ]) {
        for (const r of (await c.query<{ x: Buffer | null }>(sql)).rows) parts.push(r.x ?? Buffer.alloc(0));
      }
      return Buffer.concat(parts);
    });
  },
};

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

type Apply = (store: Store, events: JournalEvent[]) => Promise<void>;
const modes: Array<{ mode: string; apply: Apply }> = [
  { mode: 'append', apply: async (store, events) => store.append(events) },
  {
    mode: 'writer',
    apply: async (store, events) => {
      const w = store.writer();
      try {
        await w.commit(events);
      } finally {
        await w.close();
      }
    },
  },
];

function spawned(pid: string, at: number, more: Partial<Extract<JournalEvent, { type: 'process.spawned' }>> = {}): JournalEvent {
  return { type: 'process.spawned', pid, run: 1, at, script: '/s.js', args: enc([pid]), parent: null, root: false, sup: null, ...more };
}
const round = (pid: string, run: number, at: number, text: string): JournalEvent => ({ type: 'process.round', pid, run, at, row: b(text) });

/** A process row in comparable form (bytes as text). */
function proc(store: Store, pid: string) {
  const r = store.process(pid);
  if (r === undefined) return undefined;
  return { ...r, args: t(r.args), reason: t(r.reason), result: t(r.result), lastMessage: t(r.lastMessage) };
}
const hist = (store: Store, pid: string, run?: number) => store.history(pid, run).map((r) => [r.run, r.at, t(r.row)]);

const cases = [sqlite, postgres].flatMap((kind) => modes.map((m) => ({ ...m, kind, label: `${kind.name}, ${m.mode}` })));

describe.each(cases)('store conformance ($label)', ({ kind, apply }) => {
  it('process rows: spawned live / already exited, exited, restarted, continueAsNew with args and with dropHistory (old run rows in the same batch)', async () => {
    const { store } = await kind.fresh();
    const p = (n: number) => `${store.tag}.${n}`;
    await apply(store, [
      spawned(p(1), 1000, { root: true }),
      spawned(p(2), 1001, { exit: { at: 1001, reason: b('normal'), result: b('r2'), lastMessage: null } }),
      spawned(p(3), 1002, { parent: p(1), sup: 'S/c' }),
      spawned(p(4), 1003, { root: true }),
      spawned(p(5), 1004),
      round(p(1), 1, 1010, 'p1-a'),
      round(p(3), 1, 1011, 'p3-a'),
      round(p(1), 1, 1012, 'p1-b'),
      round(p(5), 1, 1013, 'p5-a'),
    ]);
    await apply(store, [
      { type: 'process.exited', pid: p(3), run: 1, at: 1020, reason: b('crash'), result: null, lastMessage: b('lm') },
      { type: 'process.restarted', pid: p(3), run: 2, at: 1021 },
      round(p(3), 2, 1022, 'p3-b'),
      round(p(4), 1, 1023, 'p4-old-1'),
      round(p(4), 1, 1024, 'p4-old-2'),
      { type: 'process.restarted', pid: p(4), run: 2, at: 1025, args: enc(['snap']), dropHistory: true },
      round(p(4), 2, 1026, 'p4-new'),
      { type: 'process.restarted', pid: p(5), run: 2, at: 1027, args: enc(['next']) },
      round(p(5), 2, 1028, 'p5-b'),
      // An exit naming another run than the current one changes nothing.
      { type: 'process.exited', pid: p(5), run: 1, at: 1029, reason: b('late'), result: null, lastMessage: null },
      { type: 'process.exited', pid: p(1), run: 1, at: 1030, reason: b('normal'), result: b('r1'), lastMessage: null },
    ]);

    expect(proc(store, p(1))).toEqual({
      pid: p(1), run: 1, status: 'exited', script: '/s.js', args: t(enc([p(1)])), parent: null, root: true, sup: null,
      spawnedAt: 1000, exitedAt: 1030, reason: 'normal', result: 'r1', lastMessage: null, restarts: 0,
    });
    expect(proc(store, p(2))).toMatchObject({ status: 'exited', exitedAt: 1001, reason: 'normal', result: 'r2', run: 1, restarts: 0 });
    expect(proc(store, p(3))).toEqual({
      pid: p(3), run: 2, status: 'live', script: '/s.js', args: t(enc([p(3)])), parent: p(1), root: false, sup: 'S/c',
      spawnedAt: 1002, exitedAt: null, reason: null, result: null, lastMessage: null, restarts: 1,
    });
    expect(proc(store, p(4))).toMatchObject({ run: 2, status: 'live', args: t(enc(['snap'])), restarts: 0, root: true });
    expect(proc(store, p(5))).toMatchObject({ run: 2, status: 'live', args: t(enc(['next'])), restarts: 0, exitedAt: null, reason: null });
    expect(store.process(`${store.tag}.99`)).toBeUndefined();

    expect(store.liveProcesses().map((r) => r.pid)).toEqual([p(3), p(4), p(5)]);
    expect(store.liveRoots().map((r) => r.pid)).toEqual([p(4)]);
    expect(store.processes().map((r) => r.pid)).toEqual([p(1), p(2), p(3), p(4), p(5)]);
    expect(store.processes(2).map((r) => r.pid)).toEqual([p(1), p(2)]);
    expect(
      store
        .liveSummaries!()
        .map((r) => ({ ...r }))
        .sort((x, y) => x.pid.localeCompare(y.pid)),
    ).toEqual([
      { pid: p(3), restarts: 1, spawnedAt: 1002 },
      { pid: p(4), restarts: 0, spawnedAt: 1003 },
      { pid: p(5), restarts: 0, spawnedAt: 1004 },
    ]);
    expect(store.processPage!({ all: false, after: 0, limit: 0 }).map((r) => r.pid)).toEqual([p(3), p(4), p(5)]);
    expect(store.processPage!({ all: false, after: 3, limit: 1 }).map((r) => r.pid)).toEqual([p(4)]);
    expect(store.processPage!({ all: true, after: 1, limit: 2 }).map((r) => r.pid)).toEqual([p(2), p(3)]);
    expect(store.processPage!({ all: true, after: 5, limit: 10 })).toEqual([]);

    // History: commit order, filtered by run; dropHistory took the old run's rows of the same batch too.
    expect(hist(store, p(1))).toEqual([[1, 1010, 'p1-a'], [1, 1012, 'p1-b']]);
    expect(hist(store, p(3))).toEqual([[1, 1011, 'p3-a'], [2, 1022, 'p3-b']]);
    expect(hist(store, p(3), 1)).toEqual([[1, 1011, 'p3-a']]);
    expect(hist(store, p(3), 2)).toEqual([[2, 1022, 'p3-b']]);
    expect(hist(store, p(4))).toEqual([[2, 1026, 'p4-new']]);
    expect(hist(store, p(5))).toEqual([[1, 1013, 'p5-a'], [2, 1028, 'p5-b']]);
    const seqs = store.history(p(1)).map((r) => r.seq);
    expect(seqs[0]).toBeLessThan(seqs[1]!);
    expect(t(store.lastRound(p(1), 1)?.row)).toBe('p1-b');
    expect(store.lastRound(p(1), 1)?.seq).toBe(seqs[1]);
    expect(t(store.lastRound(p(3), 1)?.row)).toBe('p3-a');
    expect(store.lastRound(p(4), 1)).toBeUndefined();
    expect(store.lastRound(p(2), 1)).toBeUndefined();
    expect(store.historyLength!(p(1), 1)).toBe(2);
    expect(store.historyLength!(p(4), 1)).toBe(0);
    expect(store.historyLength!(p(4), 2)).toBe(1);
  });

  it('mailboxes: put in arrival order (not id order), taken, rewritten, dropped; counts per process', async () => {
    const { store } = await kind.fresh();
    const p = (n: number) => `${store.tag}.${n}`;
    await apply(store, [spawned(p(1), 1), spawned(p(2), 2), spawned(p(3), 3)]);
    await apply(store, [
      { type: 'mail.put', id: 50, to: p(1), from: p(2), kind: 0, data: b('m50') },
      { type: 'mail.put', id: 10, to: p(1), from: p(3), kind: 1, data: b('signal') },
      { type: 'mail.put', id: 30, to: p(1), from: p(2), kind: 0, data: b('m30') },
      { type: 'mail.put', id: 20, to: p(1), from: p(2), kind: 0, data: b('m20') },
      { type: 'mail.put', id: 60, to: p(2), from: p(1), kind: 0, data: b('to-p2') },
      { type: 'mail.put', id: 70, to: p(3), from: p(1), kind: 0, data: b('to-p3') },
    ]);
    await apply(store, [
      { type: 'mail.taken', id: 30 },
      { type: 'mail.rewritten', id: 10, kind: 0, data: b('exit-message') },
      { type: 'mail.dropped', pid: p(2) },
      { type: 'mail.put', id: 5, to: p(1), from: p(3), kind: 0, data: b('m5') },
    ]);
    expect(store.mailbox(p(1)).map((m) => ({ ...m, data: t(m.data) }))).toEqual([
      { id: 50, pid: p(1), from: p(2), kind: 0, data: 'm50' },
      { id: 10, pid: p(1), from: p(3), kind: 0, data: 'exit-message' },
      { id: 20, pid: p(1), from: p(2), kind: 0, data: 'm20' },
      { id: 5, pid: p(1), from: p(3), kind: 0, data: 'm5' },
    ]);
    expect(store.mailbox(p(2))).toEqual([]);
    expect([...store.mailboxCounts()].sort()).toEqual([
      [p(1), 4],
      [p(3), 1],
    ]);
  });

  it('paged out: set, set again, read back; only live processes are listed', async () => {
    const { store } = await kind.fresh();
    const p = (n: number) => `${store.tag}.${n}`;
    await apply(store, [spawned(p(1), 1), spawned(p(2), 2), spawned(p(3), 3)]);
    expect([...store.pagedOut!()]).toEqual([]);
    await apply(store, [
      { type: 'process.paged', pid: p(1), out: true },
      { type: 'process.paged', pid: p(2), out: true },
      { type: 'process.paged', pid: p(2), out: true },
      { type: 'process.paged', pid: p(3), out: true },
    ]);
    expect([...store.pagedOut!()].sort()).toEqual([p(1), p(2), p(3)]);
    expect(store.liveUnpaged!()).toEqual([]);
    await apply(store, [
      { type: 'process.paged', pid: p(2), out: false },
      { type: 'process.exited', pid: p(3), run: 1, at: 9, reason: b('normal'), result: null, lastMessage: null },
    ]);
    expect([...store.pagedOut!()].sort()).toEqual([p(1)]);
    expect(store.liveUnpaged!().map((r) => r.pid)).toEqual([p(2)]);
  });

  it('effects: armed, armed already done, done, cleared by step and by run, an armed one armed again replaces it', async () => {
    const { store } = await kind.fresh();
    const p = (n: number) => `${store.tag}.${n}`;
    await apply(store, [spawned(p(1), 1), spawned(p(2), 2)]);
    await apply(store, [
      { type: 'effect.armed', pid: p(1), run: 1, step: 1, kind: 'timer', at: 5000, data: b('') },
      { type: 'effect.armed', pid: p(1), run: 1, step: 2, kind: 'spawn', at: null, data: b(''), done: { ok: true, value: b('child') } },
      { type: 'effect.armed', pid: p(1), run: 1, step: 3, kind: 'http', at: null, data: b('req') },
      { type: 'effect.armed', pid: p(1), run: 1, step: 4, kind: 'http', at: null, data: b('req4') },
      { type: 'effect.armed', pid: p(2), run: 1, step: 1, kind: 'timer', at: 7000, data: b('') },
      { type: 'effect.armed', pid: p(2), run: 2, step: 1, kind: 'timer', at: 8000, data: b('') },
      { type: 'effect.armed', pid: p(2), run: 2, step: 2, kind: 'http', at: null, data: b('r') },
    ]);
    await apply(store, [
      { type: 'effect.done', pid: p(1), run: 1, step: 3, ok: false, value: b('refused') },
      { type: 'effect.cleared', pid: p(1), run: 1, step: 4 },
      { type: 'effect.cleared', pid: p(2), run: 2, step: null },
      // Re-armed (a timer re-issued after a restart of the kernel): one row, the new one.
      { type: 'effect.armed', pid: p(1), run: 1, step: 1, kind: 'timer', at: 6000, data: b('again') },
      { type: 'effect.armed', pid: p(1), run: 1, step: 2, kind: 'spawn', at: null, data: b('') },
    ]);
    const rows = store
      .effects()
      .map((e) => ({ ...e, data: t(e.data), value: t(e.value) }))
      .sort((x, y) => x.pid.localeCompare(y.pid) || x.run - y.run || x.step - y.step);
    expect(rows).toEqual([
      { pid: p(1), run: 1, step: 1, kind: 'timer', at: 6000, data: 'again', done: false, ok: false, value: null },
      { pid: p(1), run: 1, step: 2, kind: 'spawn', at: null, data: '', done: false, ok: false, value: null },
      { pid: p(1), run: 1, step: 3, kind: 'http', at: null, data: 'req', done: true, ok: false, value: 'refused' },
      { pid: p(2), run: 1, step: 1, kind: 'timer', at: 7000, data: '', done: false, ok: false, value: null },
    ]);
    await apply(store, [{ type: 'effect.armed', pid: p(2), run: 1, step: 2, kind: 'spawn', at: null, data: b(''), done: { ok: true, value: b('c') } }]);
    expect(store.effects().find((e) => e.pid === p(2) && e.step === 2)).toMatchObject({ done: true, ok: true, at: null });
  });

  it('links, monitors, names (register, re-register, unregister), supervisors, meta', async () => {
    const { store } = await kind.fresh();
    const p = (n: number) => `${store.tag}.${n}`;
    await apply(store, [spawned(p(1), 1), spawned(p(2), 2), spawned(p(3), 3)]);
    await apply(store, [
      { type: 'link.added', a: p(1), b: p(2) },
      { type: 'link.added', a: p(2), b: p(3) },
      { type: 'link.added', a: p(1), b: p(2) },
      { type: 'link.added', a: p(3), b: p(1) },
      { type: 'monitor.added', ref: 'r1', watcher: p(1), target: p(2) },
      { type: 'monitor.added', ref: 'r2', watcher: p(2), target: p(3) },
      { type: 'monitor.added', ref: 'r3', watcher: p(3), target: p(1) },
      { type: 'name.registered', name: 'svc', pid: p(1) },
      { type: 'name.registered', name: 'other', pid: p(1) },
      { type: 'name.registered', name: 'third', pid: p(3) },
      { type: 'supervisor.state', pid: `${store.tag}.s1`, data: b('tree-1') },
      { type: 'supervisor.state', pid: `${store.tag}.s2`, data: b('tree-2') },
      { type: 'meta.set', key: 'k', value: 'v' },
    ]);
    await apply(store, [
      { type: 'link.removed', a: p(2), b: p(3) },
      { type: 'link.removed', a: p(9), b: p(1) },
      { type: 'monitor.added', ref: 'r1', watcher: p(1), target: p(3) },
      { type: 'monitor.removed', ref: 'r2' },
      // A name passes on as the kernel passes it: its holder lets go first. (A claim on a name a live
      // process holds loses on PostgreSQL, where names are cluster-wide: test/cluster/names.test.ts.)
      { type: 'name.unregistered', name: 'svc' },
      { type: 'name.registered', name: 'svc', pid: p(2) },
      { type: 'name.unregistered', name: 'other' },
      { type: 'supervisor.state', pid: `${store.tag}.s1`, data: null },
      { type: 'supervisor.state', pid: `${store.tag}.s2`, data: b('tree-2b') },
      { type: 'meta.set', key: 'k', value: 'v2' },
    ]);
    expect(store.links().map(([a, c]) => `${a}-${c}`).sort()).toEqual([`${p(1)}-${p(2)}`, `${p(3)}-${p(1)}`].sort());
    expect(store.monitors().map((m) => ({ ...m })).sort((x, y) => x.ref.localeCompare(y.ref))).toEqual([
      { ref: 'r1', watcher: p(1), target: p(3) },
      { ref: 'r3', watcher: p(3), target: p(1) },
    ]);
    expect(store.names().sort()).toEqual([
      ['svc', p(2)],
      ['third', p(3)],
    ]);
    expect(store.supervisors().map((s) => [s.pid, t(s.data)])).toEqual([[`${store.tag}.s2`, 'tree-2b']]);
    expect(store.meta('k')).toBe('v2');
    expect(store.meta('nothing-here')).toBeUndefined();
    expect(store.meta('schema_version')).toBe(String(SCHEMA_VERSION));
  });

  it('history.pruned: exited processes without a supervisor go whole; supervised ones keep their row; earlier runs of live ones lose old rows', async () => {
    const { store } = await kind.fresh();
    const p = (n: number) => `${store.tag}.${n}`;
    await apply(store, [
      spawned(p(1), 100, { exit: { at: 1000, reason: b('normal'), result: null, lastMessage: null } }),
      spawned(p(2), 100, { sup: 'S/a' }),
      spawned(p(3), 100),
      spawned(p(4), 100),
      round(p(2), 1, 500, 'p2-a'),
      round(p(3), 1, 500, 'p3-run1-old'),
      round(p(3), 1, 2500, 'p3-run1-new'),
      round(p(4), 1, 600, 'p4-a'),
    ]);
    await apply(store, [
      { type: 'process.exited', pid: p(2), run: 1, at: 1200, reason: b('crash'), result: null, lastMessage: null },
      { type: 'process.restarted', pid: p(3), run: 2, at: 1300 },
      round(p(3), 2, 1400, 'p3-run2'),
      { type: 'process.exited', pid: p(4), run: 1, at: 5000, reason: b('normal'), result: null, lastMessage: null },
    ]);
    await apply(store, [{ type: 'history.pruned', before: 2000 }]);
    expect(store.process(p(1))).toBeUndefined();
    expect(proc(store, p(2))).toMatchObject({ status: 'exited', sup: 'S/a' });
    expect(hist(store, p(2))).toEqual([]);
    expect(hist(store, p(3))).toEqual([[1, 2500, 'p3-run1-new'], [2, 1400, 'p3-run2']]);
    expect(hist(store, p(4))).toEqual([[1, 600, 'p4-a']]);
    expect(store.processes().map((r) => r.pid)).toEqual([p(2), p(3), p(4)]);
  });

  it('mailIdCounters gives back the counters saved, pid_next reads back', async () => {
    const { store } = await kind.fresh();
    // A PostgreSQL node allocates from a range of its own (see below); SQLite from 0.
    const base = kind.name === 'postgres' ? (store as PostgresStore).node!.idBase : 0;
    await apply(store, [spawned(`${store.tag}.1`, 1), { type: 'mail.put', id: base + 8, to: `${store.tag}.1`, from: `${store.tag}.1`, kind: 0, data: b('x') }]);
    await apply(store, [
      { type: 'meta.set', key: 'mail_ids', value: JSON.stringify([[0, base + 100], [1, base + 201], [3, base + 43]]) },
      { type: 'meta.set', key: 'pid_next', value: '17' },
    ]);
    const counters = store.mailIdCounters(4);
    expect([0, 1, 3].map((slot) => counters.get(slot))).toEqual([base + 100, base + 201, base + 43]);
    expect(store.meta('pid_next')).toBe('17');
  });

  it('text with quotes, backslashes, dollar signs and non-ASCII reads back as written', async () => {
    const { store } = await kind.fresh();
    const odd = `it's "q" \\x00 \\' $fn$ ü 🎉 %s ;--`;
    const pid = `${store.tag}.1`;
    await apply(store, [
      spawned(pid, 1, { script: `/tmp/${odd}.js`, sup: `${store.tag}.s/${odd}` }),
      { type: 'name.registered', name: odd, pid },
      { type: 'monitor.added', ref: odd, watcher: pid, target: pid },
      { type: 'meta.set', key: odd, value: odd },
      { type: 'mail.put', id: 1, to: pid, from: odd, kind: 0, data: b(odd) },
    ]);
    expect(store.process(pid)).toMatchObject({ script: `/tmp/${odd}.js`, sup: `${store.tag}.s/${odd}` });
    expect(store.names()).toEqual([[odd, pid]]);
    expect(store.monitors()).toEqual([{ ref: odd, watcher: pid, target: pid }]);
    expect(store.meta(odd)).toBe(odd);
    expect(store.mailbox(pid).map((m) => [m.from, t(m.data)])).toEqual([[odd, odd]]);
  });

  it('a large batch (thousands of events, megabytes) commits whole', async () => {
    const { store } = await kind.fresh();
    const pid = `${store.tag}.1`;
    const big = 'x'.repeat(2000);
    const events: JournalEvent[] = [spawned(pid, 1)];
    for (let i = 0; i < 3000; i++) {
      events.push(round(pid, 1, 10 + i, `${i}:${big}`));
      events.push({ type: 'mail.put', id: 100 + i, to: pid, from: pid, kind: 0, data: b(`${i}`) });
      if (i % 2 === 0) events.push({ type: 'mail.taken', id: 100 + i });
    }
    await apply(store, events);
    expect(store.historyLength!(pid, 1)).toBe(3000);
    const h = store.history(pid, 1);
    expect(h.map((r) => Number(t(r.row)!.split(':')[0]))).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(store.mailboxCounts().get(pid)).toBe(1500);
    expect(t(store.mailbox(pid)[0]!.data)).toBe('1');
  });

  it('encryption: payloads are sealed in the database and open on read; reopened without the key: BL_JOURNAL_KEY', async () => {
    const marker = `PLAIN${crypto.randomBytes(4).toString('hex')}`;
    const keys = parseKeys(crypto.randomBytes(32).toString('base64'), 'test key');
    const { store, where } = await kind.fresh(keys);
    const p = (n: number) => `${store.tag}.${n}`;
    const m = (what: string) => b(`${marker}-${what}`);
    await apply(store, [
      spawned(p(1), 1, { args: m('args') }),
      spawned(p(2), 2, { exit: { at: 3, reason: m('reason'), result: m('result'), lastMessage: m('last') } }),
      round(p(1), 1, 4, `${marker}-row`),
      { type: 'mail.put', id: 1, to: p(1), from: p(2), kind: 0, data: m('mail') },
      { type: 'effect.armed', pid: p(1), run: 1, step: 1, kind: 'http', at: null, data: m('request') },
      { type: 'effect.done', pid: p(1), run: 1, step: 1, ok: true, value: m('response') },
      { type: 'supervisor.state', pid: `${store.tag}.s`, data: m('supervisor') },
    ]);
    expect(t(store.process(p(1))!.args)).toBe(`${marker}-args`);
    expect(proc(store, p(2))).toMatchObject({ reason: `${marker}-reason`, result: `${marker}-result`, lastMessage: `${marker}-last` });
    expect(hist(store, p(1))).toEqual([[1, 4, `${marker}-row`]]);
    expect(t(store.mailbox(p(1))[0]!.data)).toBe(`${marker}-mail`);
    expect(store.effects().map((e) => [t(e.data), t(e.value)])).toEqual([[`${marker}-request`, `${marker}-response`]]);
    expect(store.supervisors().map((s) => t(s.data))).toEqual([`${marker}-supervisor`]);

    const raw = await kind.rawBytes(where);
    expect(raw.length).toBeGreaterThan(0);
    expect(raw.includes(Buffer.from(marker))).toBe(false);
    store.close();
    expect(() => kind.reopen(where)).toThrow(expect.objectContaining({ code: 'BL_JOURNAL_KEY' }));
    const again = kind.reopen(where, keys);
    expect(t(again.process(p(1))!.args)).toBe(`${marker}-args`);
  });

  it('without a key the same payloads are stored plain (the search above can fail)', async () => {
    const marker = `PLAIN${crypto.randomBytes(4).toString('hex')}`;
    const { store, where } = await kind.fresh();
    await apply(store, [round(`${store.tag}.1`, 1, 1, `${marker}-row`)]);
    expect((await kind.rawBytes(where)).includes(Buffer.from(marker))).toBe(true);
  });
});

describe('PostgreSQL store: what differs on purpose, and bad input', () => {
  it('a node sees only the processes it owns; a read-only store sees every node\'s', async () => {
    const url = await server.database();
    const a = track(openPostgres(url));
    const c = track(openPostgres(url));
    expect(a.tag).not.toBe(c.tag);
    const setup = (s: PostgresStore) => {
      const p = `${s.tag}.1`;
      s.append([
        spawned(p, 1, { root: true }),
        { type: 'mail.put', id: s.node!.idBase + 1, to: p, from: p, kind: 0, data: b('m') },
        { type: 'effect.armed', pid: p, run: 1, step: 1, kind: 'timer', at: 9, data: b('') },
        { type: 'name.registered', name: `n-${s.tag}`, pid: p },
        { type: 'monitor.added', ref: `r-${s.tag}`, watcher: p, target: p },
        { type: 'link.added', a: p, b: p },
        { type: 'supervisor.state', pid: `${s.tag}.s`, data: b('tree') },
      ]);
      return p;
    };
    const pa = setup(a);
    const pc = setup(c);
    for (const [s, mine] of [
      [a, pa],
      [c, pc],
    ] as const) {
      expect(s.liveProcesses().map((r) => r.pid)).toEqual([mine]);
      expect(s.liveRoots().map((r) => r.pid)).toEqual([mine]);
      expect(s.liveSummaries().map((r) => r.pid)).toEqual([mine]);
      expect([...s.mailboxCounts().keys()]).toEqual([mine]);
      expect(s.effects().map((e) => e.pid)).toEqual([mine]);
      expect(s.names().map(([, pid]) => pid)).toEqual([mine]);
      expect(s.monitors().map((m) => m.watcher)).toEqual([mine]);
      expect(s.links()).toEqual([[mine, mine]]);
      expect(s.supervisors().map((x) => x.pid)).toEqual([`${s.tag}.s`]);
    }
    // Message ids: each node a range of its own.
    expect(a.node!.idBase).not.toBe(c.node!.idBase);
    expect(a.mailIdCounters(2).get(0)).toBe(a.node!.idBase);

    const ro = track(openPostgres(url, { readonly: true }));
    expect(ro.node).toBeNull();
    expect(ro.liveProcesses().map((r) => r.pid).sort()).toEqual([pa, pc].sort());
    expect([...ro.mailboxCounts().keys()].sort()).toEqual([pa, pc].sort());
    expect(ro.effects()).toHaveLength(2);
    expect(ro.names()).toHaveLength(2);
    expect(ro.supervisors()).toHaveLength(2);
    expect(ro.owners()).toEqual(new Map([[pa, a.tag], [pc, c.tag]]));
    expect(() => ro.append([{ type: 'meta.set', key: 'x', value: 'y' }])).toThrow();
  });

  it('several nodes opening one empty database within moments of each other all come up on one schema (none takes the others\' tables for foreign)', async () => {
    const opener = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.module).then(({ openPostgres }) => {
        Atomics.wait(new Int32Array(workerData.go), 0, 0);
        // Staggered across the time one of them takes to create the schema: some look while it commits.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.delay);
        try {
          const s = openPostgres(workerData.url);
          parentPort.postMessage({ tag: s.tag });
          s.close();
        } catch (err) {
          parentPort.postMessage({ error: String(err.message) });
        }
      });`;
    const module = new URL('../../dist/runtime/journal/postgres.js', import.meta.url).href;
    for (let round = 0; round < 6; round++) {
      const url = await server.database();
      const go = new SharedArrayBuffer(4);
      const workers = Array.from({ length: 8 }, (_, i) => new Worker(opener, { eval: true, workerData: { module, url, go, delay: i * 12 } }));
      const results = workers.map((w) => new Promise<{ tag?: string; error?: string }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      }));
      await new Promise((r) => setTimeout(r, 300)); // every worker has loaded the module and waits
      Atomics.store(new Int32Array(go), 0, 1);
      Atomics.notify(new Int32Array(go), 0);
      const got = await Promise.all(results);
      await Promise.all(workers.map((w) => w.terminate()));
      expect(got.filter((g) => g.error !== undefined)).toEqual([]);
      expect(new Set(got.map((g) => g.tag)).size).toBe(8);
    }
  });

  it('a text value with a NUL character (which PostgreSQL text cannot hold) is refused whole with BL_ARG_INVALID, nothing of the batch committed', async () => {
    const store = track(openPostgres(await server.database()));
    const pid = `${store.tag}.1`;
    const err = catchErr(() => store.append([spawned(pid, 1), { type: 'name.registered', name: 'a\0b', pid }]));
    expect(err.code).toBe('BL_ARG_INVALID');
    expect(err.message).not.toContain('\n');
    expect(store.process(pid)).toBeUndefined();
    expect(store.names()).toEqual([]);
  });

  it('a database holding someone else\'s tables is refused with BL_JOURNAL_FOREIGN and nothing is created', async () => {
    const url = await server.database();
    await withClient(url, (c) => c.query('CREATE TABLE invoices (id int PRIMARY KEY, total numeric)'));
    const err = catchErr(() => openPostgres(url));
    expect(err.code).toBe('BL_JOURNAL_FOREIGN');
    expect(err.message).not.toContain('\n');
    const tables = await withClient(url, (c) => c.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`));
    expect(tables.rows.map((r) => r.tablename)).toEqual(['invoices']);
    // A 'meta' table of another application: refused as well.
    const url2 = await server.database();
    await withClient(url2, (c) => c.query(`CREATE TABLE meta (key text PRIMARY KEY, value text); INSERT INTO meta VALUES ('app', 'other')`));
    expect(catchErr(() => openPostgres(url2)).code).toBe('BL_JOURNAL_FOREIGN');
  });

  it('a journal of a newer schema version is refused with BL_JOURNAL_VERSION, left untouched', async () => {
    const url = await server.database();
    track(openPostgres(url)).close();
    const newer = String(SCHEMA_VERSION + 1);
    await withClient(url, (c) => c.query(`UPDATE meta SET value = $1 WHERE key = 'schema_version'`, [newer]));
    const nodesBefore = await withClient(url, (c) => c.query('SELECT count(*)::int AS n FROM nodes'));
    const err = catchErr(() => openPostgres(url));
    expect(err.code).toBe('BL_JOURNAL_VERSION');
    expect(err.message).not.toContain('\n');
    const after = await withClient(url, async (c) => ({
      version: (await c.query(`SELECT value FROM meta WHERE key = 'schema_version'`)).rows[0].value,
      nodes: (await c.query('SELECT count(*)::int AS n FROM nodes')).rows[0].n,
    }));
    expect(after).toEqual({ version: newer, nodes: nodesBefore.rows[0].n });
    expect(catchErr(() => openPostgres(url, { readonly: true })).code).toBe('BL_JOURNAL_VERSION');
  });

  it('a URL to a port nothing listens on: BL_JOURNAL_UNAVAILABLE within a bounded time, one line', async () => {
    const port = await closedPort();
    const started = Date.now();
    const err = catchErr(() => openPostgres(`postgres://beamline:secret@127.0.0.1:${port}/nowhere`));
    expect(err.code).toBe('BL_JOURNAL_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(err.message).not.toContain('\n');
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).not.toContain('secret');
  });
});

function catchErr(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected an error, got none');
}

/** A port of 127.0.0.1 nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
