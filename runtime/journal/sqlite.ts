// The SQLite store: better-sqlite3, WAL, group commit.
//
// Opening is careful because a journal holds everything a user has
// (sqlite-open.ts): a file that is not ours, damaged or from a newer
// beamline is refused with nothing written to it, and a second node on the
// same file is refused by a lock the OS drops when its holder dies.
//
// The journal's files are owner-only (files.ts), and with a key every
// payload column is sealed with AES-256-GCM on its way in and opened on its
// way out (cipher.ts): everything above the store sees plain msgpack.

import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BeamlineError, ErrorCodes } from '../errors.js';
import { Cipher, keyIdsToRecord, openPayload, registerKeys, type Keyring } from './cipher.js';
import { assertOwned, ensurePrivateFile, exposureWarning } from './files.js';
import { assertNever, JOURNAL_APP, SCHEMA_VERSION, type JournalEvent } from './events.js';
import { toProcess, type Durability, type EffectRow, type HistoryRow, type MailRow, type ProcessRow, type RawProcess, type ReaderSpec, type Store, type StoreWriter } from './store.js';
import { acquireLock, checkHeader, validate } from './sqlite-open.js';
import { JournalWriter } from './writer.js';
import type { Pid } from '../protocol.js';

/** Processes whose records the kernel paged out (see ProcessPaged). */
const PAGED_TABLE = `CREATE TABLE IF NOT EXISTS paged (pid TEXT PRIMARY KEY) WITHOUT ROWID;`;

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE processes (
  pid TEXT PRIMARY KEY,
  run INTEGER NOT NULL,
  status TEXT NOT NULL,
  script TEXT NOT NULL,
  args BLOB NOT NULL,
  parent TEXT,
  root INTEGER NOT NULL,
  sup TEXT,
  spawned_at INTEGER NOT NULL,
  exited_at INTEGER,
  reason BLOB,
  result BLOB,
  last_message BLOB,
  restarts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX processes_live ON processes(status) WHERE status = 'live';
CREATE TABLE journal (
  seq INTEGER PRIMARY KEY,
  pid TEXT NOT NULL,
  run INTEGER NOT NULL,
  at INTEGER NOT NULL,
  row BLOB NOT NULL
);
CREATE INDEX journal_pid ON journal(pid, run, seq);
-- seq is arrival order at the kernel (FIFO per sender); id is the entry's
-- identity, allocated by the thread or kernel that created it.
CREATE TABLE mailbox (
  seq INTEGER PRIMARY KEY,
  id INTEGER NOT NULL UNIQUE,
  pid TEXT NOT NULL,
  sender TEXT NOT NULL,
  kind INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX mailbox_pid ON mailbox(pid, seq);
CREATE TABLE effects (
  pid TEXT NOT NULL,
  run INTEGER NOT NULL,
  step INTEGER NOT NULL,
  kind TEXT NOT NULL,
  at INTEGER,
  data BLOB NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  ok INTEGER NOT NULL DEFAULT 0,
  value BLOB,
  PRIMARY KEY (pid, run, step)
) WITHOUT ROWID;
CREATE TABLE links (a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE TABLE monitors (ref TEXT PRIMARY KEY, watcher TEXT NOT NULL, target TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE names (name TEXT PRIMARY KEY, pid TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE supervisors (pid TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE paged (pid TEXT PRIMARY KEY) WITHOUT ROWID;
`;

export interface OpenOptions {
  durability?: Durability;
  /** Take the single-writer lock (default true). Readers such as `runtime ps` pass false. */
  lock?: boolean;
  /** Open without creating or writing anything (inspection commands). */
  readonly?: boolean;
  /** The file was validated by whoever holds the lock (the journal writer's own connection). */
  trusted?: boolean;
  /** Keys for encryption at rest (see cipher.ts); null or absent: payloads are stored in clear. */
  keys?: Keyring | null;
  /** Where a warning about a journal readable by others goes (default: stderr). */
  warn?: (line: string) => void;
}

/** Open (or create) a journal file for one node. */
export function openJournal(file: string, opts: OpenOptions = {}): SqliteStore {
  const abs = path.resolve(file);
  const durability = opts.durability ?? 'full';
  const exists = fs.existsSync(abs) && fs.statSync(abs).size > 0;
  if (!exists && opts.readonly) {
    throw new BeamlineError(ErrorCodes.JOURNAL_MISSING, `${abs}: no journal at this path`, { file: abs });
  }
  const writable = !opts.readonly && !opts.trusted;
  // Another user's journal is refused before anything opens it for writing.
  if (exists && writable) assertOwned(abs, 'journal');
  if (exists && !opts.trusted) checkHeader(abs);
  const lock = opts.lock === false || opts.readonly ? null : acquireLock(abs);
  const keys = opts.keys ?? null;
  try {
    if (exists && !opts.trusted) validate(abs, keys);
    else if (writable) ensurePrivateFile(abs, 'journal', false);
    if (exists && writable) {
      const warning = exposureWarning(abs);
      if (warning !== null) (opts.warn ?? ((l: string) => process.stderr.write(`runtime: ${l}\n`)))(warning);
    }
    const db = new Database(abs, opts.readonly ? { readonly: true, fileMustExist: true } : {});
    const store = new SqliteStore(db, abs, durability, lock, !exists, opts.readonly === true, opts.trusted === true, keys);
    if (writable) store.recordKeys();
    return store;
  } catch (err) {
    lock?.close();
    throw err;
  }
}

type Stmt = Database.Statement;

/** Multi-row insert sizes, largest first (SQLite allows 32,766 parameters: 64 × 4 is far below). */
const ROUND_CHUNKS = [64, 16, 4, 1];

export class SqliteStore implements Store {
  readonly path: string;
  readonly tag: string;
  readonly durability: Durability;
  readonly #db: Database.Database;
  readonly #lock: Database.Database | null;
  readonly #s: Record<string, Stmt>;
  readonly #applyAll: (events: readonly JournalEvent[]) => void;
  #rounds: Array<Extract<JournalEvent, { type: 'process.round' }>> = [];
  readonly #roundMany = new Map<number, Stmt>();
  readonly #reads = new Map<string, Stmt>();
  readonly #cipher: Cipher | null;
  readonly #keys: Keyring | null;
  #registered = false;
  #closed = false;

  constructor(
    db: Database.Database,
    file: string,
    durability: Durability,
    lock: Database.Database | null,
    fresh: boolean,
    readonly: boolean,
    writer = false,
    keys: Keyring | null = null,
  ) {
    this.#db = db;
    this.#lock = lock;
    this.path = file;
    this.durability = durability;
    this.#keys = keys;
    this.#cipher = keys === null ? null : new Cipher(keys);
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
      // Checkpoint in bigger steps than the default: fewer stalls under load.
      db.pragma('wal_autocheckpoint = 4000');
      // The writer walks the indexes of every table on every commit; other
      // connections mostly read one process at a time. Page cache is RSS.
      db.pragma(`cache_size = ${writer ? -16384 : -4096}`);
      db.pragma('temp_store = MEMORY');
    }
    if (fresh) {
      db.transaction(() => {
        db.exec(SCHEMA);
        const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        put.run('app', JOURNAL_APP);
        put.run('schema_version', String(SCHEMA_VERSION));
        put.run('tag', randomBytes(3).readUIntBE(0, 3).toString(36).padStart(4, '0').slice(-4));
        put.run('created_at', new Date().toISOString());
      })();
    }
    // Added after the first schema (no version change: a journal without it
    // simply has no process paged out, and an older beamline ignores it).
    if (!readonly && !fresh) db.exec(PAGED_TABLE);
    this.tag = (db.prepare(`SELECT value FROM meta WHERE key = 'tag'`).get() as { value: string }).value;
    this.#s = readonly ? {} : this.#prepare();
    this.#applyAll = readonly
      ? () => {
          throw new BeamlineError(ErrorCodes.INTERNAL, 'journal opened read-only');
        }
      : db.transaction((events: readonly JournalEvent[]) => {
          for (const ev of events) this.#apply(ev);
          this.#insertRounds();
        });
  }

  #prepare(): Record<string, Stmt> {
    const db = this.#db;
    return {
      spawn: db.prepare(
        `INSERT INTO processes (pid, run, status, script, args, parent, root, sup, spawned_at, exited_at, reason, result, last_message)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      round: db.prepare('INSERT INTO journal (pid, run, at, row) VALUES (?, ?, ?, ?)'),
      pagedOut: db.prepare('INSERT OR IGNORE INTO paged (pid) VALUES (?)'),
      pagedIn: db.prepare('DELETE FROM paged WHERE pid = ?'),
      exit: db.prepare(
        `UPDATE processes SET status = 'exited', exited_at = ?, reason = ?, result = ?, last_message = ? WHERE pid = ? AND run = ?`,
      ),
      restart: db.prepare(
        `UPDATE processes SET run = ?, status = 'live', exited_at = NULL, reason = NULL, result = NULL, last_message = NULL, restarts = restarts + 1 WHERE pid = ?`,
      ),
      continued: db.prepare(`UPDATE processes SET run = ?, args = ? WHERE pid = ?`),
      dropEarlierRuns: db.prepare('DELETE FROM journal WHERE pid = ? AND run < ?'),
      // Exited processes that no supervisor may restart go entirely; of the
      // rest, only runs that ended (earlier runs of live processes) lose rows.
      pruneExitedRows: db.prepare(
        `DELETE FROM journal WHERE pid IN (SELECT pid FROM processes WHERE status = 'exited' AND exited_at < ?)`,
      ),
      pruneExited: db.prepare(`DELETE FROM processes WHERE status = 'exited' AND exited_at < ? AND sup IS NULL`),
      pruneOldRuns: db.prepare(
        `DELETE FROM journal WHERE at < ? AND run < (SELECT p.run FROM processes p WHERE p.pid = journal.pid)`,
      ),
      mailPut: db.prepare('INSERT INTO mailbox (id, pid, sender, kind, data) VALUES (?, ?, ?, ?, ?)'),
      mailTake: db.prepare('DELETE FROM mailbox WHERE id = ?'),
      mailRewrite: db.prepare('UPDATE mailbox SET kind = ?, data = ? WHERE id = ?'),
      mailDrop: db.prepare('DELETE FROM mailbox WHERE pid = ?'),
      effArm: db.prepare('INSERT OR REPLACE INTO effects (pid, run, step, kind, at, data, done, ok, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      effDone: db.prepare('UPDATE effects SET done = 1, ok = ?, value = ? WHERE pid = ? AND run = ? AND step = ?'),
      effClear: db.prepare('DELETE FROM effects WHERE pid = ? AND run = ? AND step = ?'),
      effClearRun: db.prepare('DELETE FROM effects WHERE pid = ? AND run = ?'),
      linkAdd: db.prepare('INSERT OR IGNORE INTO links (a, b) VALUES (?, ?)'),
      linkDel: db.prepare('DELETE FROM links WHERE a = ? AND b = ?'),
      monAdd: db.prepare('INSERT OR REPLACE INTO monitors (ref, watcher, target) VALUES (?, ?, ?)'),
      monDel: db.prepare('DELETE FROM monitors WHERE ref = ?'),
      nameAdd: db.prepare('INSERT OR REPLACE INTO names (name, pid) VALUES (?, ?)'),
      nameDel: db.prepare('DELETE FROM names WHERE name = ?'),
      supPut: db.prepare('INSERT OR REPLACE INTO supervisors (pid, data) VALUES (?, ?)'),
      supDel: db.prepare('DELETE FROM supervisors WHERE pid = ?'),
      meta: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
    };
  }

  append(events: readonly JournalEvent[]): void {
    if (events.length > 0) this.#applyAll(events);
  }

  /**
   * With a key: note in meta that this journal is encrypted and with which
   * key ids (before any sealed row is written), and let the threads that
   * read and write this journal find the key set (see cipher.ts).
   */
  recordKeys(): void {
    registerKeys(this.path, this.#keys);
    this.#registered = true;
    if (this.#cipher !== null) this.append(keyIdsToRecord(this.meta('key_ids'), this.#cipher));
  }

  /** Payload on its way in: sealed under the current key when encryption is on. */
  #seal(bytes: Uint8Array, column: string): Uint8Array;
  #seal(bytes: Uint8Array | null, column: string): Uint8Array | null;
  #seal(bytes: Uint8Array | null, column: string): Uint8Array | null {
    return bytes === null || this.#cipher === null ? bytes : this.#cipher.seal(bytes, column);
  }

  /** Payload on its way out: opened when sealed (a row written before encryption was on is plain). */
  #open(bytes: Uint8Array, column: string): Uint8Array;
  #open(bytes: Uint8Array | null, column: string): Uint8Array | null;
  #open(bytes: Uint8Array | null, column: string): Uint8Array | null {
    return bytes === null ? null : openPayload(this.#cipher, bytes, column);
  }

  // A batch too big to send in one piece arrives in parts (see writer.ts):
  // one transaction held open across them, committed with the last.
  beginBatch(): void {
    this.#db.exec('BEGIN');
  }

  applyPart(events: readonly JournalEvent[]): void {
    for (const ev of events) this.#apply(ev);
    this.#insertRounds();
  }

  commitBatch(): void {
    this.#db.exec('COMMIT');
  }

  rollbackBatch(): void {
    this.#rounds = [];
    if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
  }

  /**
   * Journal rows are most of every batch: insert them many per statement
   * (fewer trips into SQLite), in their order, after the batch's other events
   * (no other table depends on them within a transaction).
   */
  #insertRounds(): void {
    const rows = this.#rounds;
    if (rows.length === 0) return;
    this.#rounds = [];
    let i = 0;
    for (const size of ROUND_CHUNKS) {
      const stmt = size === 1 ? this.#s.round! : (this.#roundMany.get(size) ?? this.#prepareMany(size));
      while (rows.length - i >= size) {
        const params: unknown[] = [];
        for (let k = 0; k < size; k++) {
          const ev = rows[i + k]!;
          params.push(ev.pid, ev.run, ev.at, this.#seal(ev.row, 'row'));
        }
        stmt.run(...params);
        i += size;
      }
    }
  }

  #prepareMany(size: number): Stmt {
    const stmt = this.#db.prepare(`INSERT INTO journal (pid, run, at, row) VALUES ${Array.from({ length: size }, () => '(?, ?, ?, ?)').join(', ')}`);
    this.#roundMany.set(size, stmt);
    return stmt;
  }

  #apply(ev: JournalEvent): void {
    const s = this.#s;
    switch (ev.type) {
      case 'process.spawned': {
        const x = ev.exit;
        s.spawn!.run(
          ev.pid, ev.run, x ? 'exited' : 'live', ev.script, this.#seal(ev.args, 'args'), ev.parent, ev.root ? 1 : 0, ev.sup, ev.at, x?.at ?? null,
          this.#seal(x?.reason ?? null, 'reason'), this.#seal(x?.result ?? null, 'result'), this.#seal(x?.lastMessage ?? null, 'last_message'),
        );
        return;
      }
      case 'process.round':
        this.#rounds.push(ev);
        return;
      case 'process.exited':
        s.exit!.run(ev.at, this.#seal(ev.reason, 'reason'), this.#seal(ev.result, 'result'), this.#seal(ev.lastMessage, 'last_message'), ev.pid, ev.run);
        return;
      case 'process.paged':
        if (ev.out) s.pagedOut!.run(ev.pid);
        else s.pagedIn!.run(ev.pid);
        return;
      case 'process.restarted':
        if (ev.args === undefined) s.restart!.run(ev.run, ev.pid);
        else s.continued!.run(ev.run, this.#seal(ev.args, 'args'), ev.pid);
        if (ev.dropHistory === true) {
          // Rows wait in #rounds until the end of the batch: the old run's
          // last rows may be among them, and must go too.
          this.#insertRounds();
          s.dropEarlierRuns!.run(ev.pid, ev.run);
        }
        return;
      case 'history.pruned':
        s.pruneExitedRows!.run(ev.before);
        s.pruneExited!.run(ev.before);
        s.pruneOldRuns!.run(ev.before);
        return;
      case 'mail.put':
        s.mailPut!.run(ev.id, ev.to, ev.from, ev.kind, this.#seal(ev.data, 'mail'));
        return;
      case 'mail.taken':
        s.mailTake!.run(ev.id);
        return;
      case 'mail.rewritten':
        s.mailRewrite!.run(ev.kind, this.#seal(ev.data, 'mail'), ev.id);
        return;
      case 'mail.dropped':
        s.mailDrop!.run(ev.pid);
        return;
      case 'mail.remote':
      case 'inbox.taken':
        // One node owns every process of a SQLite journal: nothing is ever remote.
        throw new BeamlineError(ErrorCodes.INTERNAL, `${ev.type}: a SQLite journal has one node, nothing is remote`);
      case 'effect.armed':
        s.effArm!.run(ev.pid, ev.run, ev.step, ev.kind, ev.at, this.#seal(ev.data, 'effect'), ev.done ? 1 : 0, ev.done?.ok ? 1 : 0, this.#seal(ev.done?.value ?? null, 'value'));
        return;
      case 'effect.done':
        s.effDone!.run(ev.ok ? 1 : 0, this.#seal(ev.value, 'value'), ev.pid, ev.run, ev.step);
        return;
      case 'effect.cleared':
        if (ev.step === null) s.effClearRun!.run(ev.pid, ev.run);
        else s.effClear!.run(ev.pid, ev.run, ev.step);
        return;
      case 'link.added':
        s.linkAdd!.run(ev.a, ev.b);
        return;
      case 'link.removed':
        s.linkDel!.run(ev.a, ev.b);
        return;
      case 'monitor.added':
        s.monAdd!.run(ev.ref, ev.watcher, ev.target);
        return;
      case 'monitor.removed':
        s.monDel!.run(ev.ref);
        return;
      case 'name.registered':
        s.nameAdd!.run(ev.name, ev.pid);
        return;
      case 'name.unregistered':
        s.nameDel!.run(ev.name);
        return;
      case 'supervisor.state':
        if (ev.data === null) s.supDel!.run(ev.pid);
        else s.supPut!.run(ev.pid, this.#seal(ev.data, 'supervisor'));
        return;
      case 'meta.set':
        s.meta!.run(ev.key, ev.value);
        return;
      default:
        assertNever(ev);
    }
  }

  /** Read statements, prepared once each (preparing costs more than most lookups). */
  #read(sql: string): Stmt {
    let stmt = this.#reads.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql);
      this.#reads.set(sql, stmt);
    }
    return stmt;
  }

  meta(key: string): string | undefined {
    return (this.#read('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  liveRoots(): ProcessRow[] {
    return (this.#read(`SELECT * FROM processes WHERE status = 'live' AND root = 1`).all() as RawProcess[]).map((r) => this.#toProcess(r));
  }

  pagedOut(): Set<Pid> {
    // A journal opened read-only may predate the table.
    if (this.#read(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'paged'`).get() === undefined) return new Set();
    return new Set((this.#read(`SELECT paged.pid FROM paged JOIN processes USING (pid) WHERE status = 'live'`).all() as Array<{ pid: Pid }>).map((r) => r.pid));
  }

  liveUnpaged(): ProcessRow[] {
    return (this.#read(`SELECT * FROM processes WHERE status = 'live' AND pid NOT IN (SELECT pid FROM paged) ORDER BY rowid`).all() as RawProcess[]).map((r) => this.#toProcess(r));
  }

  liveProcesses(): ProcessRow[] {
    return (this.#read(`SELECT * FROM processes WHERE status = 'live' ORDER BY rowid`).all() as RawProcess[]).map((r) => this.#toProcess(r));
  }

  processPage(opts: { all: boolean; after: number; limit: number }): ProcessRow[] {
    // The serial is the pid's part after the dot (see pid.ts); the filter and
    // the order scan the table without materialising rows outside the page.
    const serial = `CAST(substr(pid, instr(pid, '.') + 1) AS INTEGER)`;
    const live = opts.all ? '' : `status = 'live' AND `;
    const sql = `SELECT * FROM processes WHERE ${live}${serial} > ? ORDER BY ${serial} LIMIT ?`;
    return (this.#read(sql).all(opts.after, opts.limit > 0 ? opts.limit : -1) as RawProcess[]).map((r) => this.#toProcess(r));
  }

  liveSummaries(): Array<{ pid: Pid; restarts: number; spawnedAt: number }> {
    return this.#read(`SELECT pid, restarts, spawned_at AS spawnedAt FROM processes WHERE status = 'live'`).all() as Array<{
      pid: Pid;
      restarts: number;
      spawnedAt: number;
    }>;
  }

  process(pid: Pid): ProcessRow | undefined {
    const raw = this.#read('SELECT * FROM processes WHERE pid = ?').get(pid) as RawProcess | undefined;
    return raw && this.#toProcess(raw);
  }

  processes(limit = 100_000): ProcessRow[] {
    return (this.#read('SELECT * FROM processes ORDER BY rowid LIMIT ?').all(limit) as RawProcess[]).map((r) => this.#toProcess(r));
  }

  history(pid: Pid, run?: number): HistoryRow[] {
    const rows =
      run === undefined
        ? this.#read('SELECT seq, run, at, row FROM journal WHERE pid = ? ORDER BY seq').all(pid)
        : this.#read('SELECT seq, run, at, row FROM journal WHERE pid = ? AND run = ? ORDER BY seq').all(pid, run);
    for (const r of rows as HistoryRow[]) r.row = this.#open(r.row, 'row');
    return rows as HistoryRow[];
  }

  mailbox(pid: Pid): MailRow[] {
    return (this.#read('SELECT id, pid, sender, kind, data FROM mailbox WHERE pid = ? ORDER BY seq').all(pid) as Array<
      MailRow & { sender: string }
    >).map((r) => ({ id: r.id, pid: r.pid, from: r.sender, kind: r.kind, data: this.#open(r.data, 'mail') }));
  }

  mailboxCounts(): Map<Pid, number> {
    const rows = this.#read('SELECT pid, count(*) AS n FROM mailbox GROUP BY pid').all() as Array<{ pid: string; n: number }>;
    return new Map(rows.map((r) => [r.pid, r.n]));
  }

  historyLength(pid: Pid, run: number): number {
    return (this.#read('SELECT count(*) AS n FROM journal WHERE pid = ? AND run = ?').get(pid, run) as { n: number }).n;
  }

  lastRound(pid: Pid, run: number): HistoryRow | undefined {
    const row = this.#read('SELECT seq, run, at, row FROM journal WHERE pid = ? AND run = ? ORDER BY seq DESC LIMIT 1').get(pid, run) as
      | HistoryRow
      | undefined;
    return row && { ...row, row: this.#open(row.row, 'row') };
  }

  effects(): EffectRow[] {
    return (this.#read('SELECT * FROM effects').all() as Array<Omit<EffectRow, 'done' | 'ok'> & { done: number; ok: number }>).map(
      (r) => ({ ...r, data: this.#open(r.data, 'effect'), value: this.#open(r.value, 'value'), done: r.done === 1, ok: r.ok === 1 }),
    );
  }

  links(): Array<[Pid, Pid]> {
    return (this.#read('SELECT a, b FROM links').all() as Array<{ a: string; b: string }>).map((r) => [r.a, r.b]);
  }

  monitors(): Array<{ ref: string; watcher: Pid; target: Pid }> {
    return this.#read('SELECT ref, watcher, target FROM monitors').all() as Array<{ ref: string; watcher: Pid; target: Pid }>;
  }

  names(): Array<[string, Pid]> {
    return (this.#read('SELECT name, pid FROM names').all() as Array<{ name: string; pid: string }>).map((r) => [r.name, r.pid]);
  }

  supervisors(): Array<{ pid: Pid; data: Uint8Array }> {
    return (this.#read('SELECT pid, data FROM supervisors').all() as Array<{ pid: Pid; data: Uint8Array }>).map((r) => ({ pid: r.pid, data: this.#open(r.data, 'supervisor') }));
  }

  /** Next unallocated message id per id slot (see ID_STRIDE in protocol.ts). */
  mailIdCounters(stride: number): Map<number, number> {
    const out = new Map<number, number>();
    const saved = this.meta('mail_ids');
    if (saved !== undefined) for (const [slot, next] of JSON.parse(saved) as Array<[number, number]>) out.set(slot, next);
    const rows = this.#read(`SELECT id % ${stride} AS slot, max(id) AS m FROM mailbox GROUP BY id % ${stride}`).all() as Array<{
      slot: number;
      m: number;
    }>;
    for (const r of rows) out.set(r.slot, Math.max(out.get(r.slot) ?? 0, r.m + stride));
    return out;
  }

  writer(): StoreWriter {
    return JournalWriter.sqlite(this.path, this.durability);
  }

  readerSpec(): ReaderSpec {
    return { kind: 'sqlite', path: this.path, keys: this.#keys };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#registered) registerKeys(this.path, null);
    this.#db.close();
    this.#lock?.close();
  }

  #toProcess(r: RawProcess): ProcessRow {
    return toProcess(r, (b, column) => this.#open(b, column));
  }
}
