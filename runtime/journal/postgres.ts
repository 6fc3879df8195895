// The PostgreSQL store: the same interface and the same event union as the
// SQLite store (sqlite.ts), for several nodes on one database.
//
// Coordination is PostgreSQL's own, no consensus of ours: every node has a
// row in `nodes` with a lease (lease_until, on the database's clock) and an
// epoch; every live process has an owner. A node's commits are fenced: each
// transaction first checks, holding a share lock on its node row, that the
// node's epoch is unchanged and its lease unexpired, else the whole batch is
// refused (pg-writer-thread.ts). A survivor takes over a node whose lease
// lapsed by bumping its epoch under that row's lock — after which no late
// commit of the old owner can land — and moving its processes to itself.
//
// Reads are synchronous, as the interface is (SyncPg, pg-sync.ts); group
// commits go through the writer thread's own async connection. The SQL
// both send is built in postgres-sql.ts.
//
// Pids carry the node's tag, fresh for each node that starts, so two nodes
// never allocate the same pid. Message ids must be unique in the shared
// mailbox table: each node gets a range of its own (ID_RANGE ids from
// num × ID_RANGE, `num` from the nodes table's sequence).

import { randomBytes } from 'node:crypto';
import { BeamlineError, ErrorCodes } from '../errors.js';
import { Cipher, keyIdsToRecord, openPayload, registerKeys, type Keyring } from './cipher.js';
import { JOURNAL_APP, SCHEMA_VERSION, type JournalEvent } from './events.js';
import { claimSql, eventsSql, ID_RANGE, inboxSql, INBOX_CHANNEL, lit, NODE_KEYS, PAGED_TABLE, SCHEMA } from './postgres-sql.js';
import { PgQueryError, redactUrl, SyncPg } from './pg-sync.js';
import { toProcess, type Durability, type EffectRow, type HistoryRow, type InboxMail, type MailRow, type ProcessRow, type RawProcess, type ReaderSpec, type Store, type StoreWriter } from './store.js';
import { pgWriter } from './pg-writer.js';
import type { Pid } from '../protocol.js';

// ---- opening --------------------------------------------------------------

/** Default lease: a node silent this long loses its processes to the survivors. */
export const DEFAULT_LEASE_MS = 5000;

export interface PgOpenOptions {
  durability?: Durability;
  keys?: Keyring | null;
  /** Read only (inspection commands): no node is registered, nothing is written. */
  readonly?: boolean;
  /** How long a node's lease lasts without a heartbeat (ms). */
  leaseMs?: number;
  /** The node's control address, shown by `runtime nodes`. */
  address?: string | null;
  warn?: (line: string) => void;
}

export function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//.test(s);
}

export interface NodeIdentity {
  tag: string;
  epoch: number;
  /** Date.now() just before the node's row was written: its first lease runs from no earlier than this. */
  registeredAt: number;
  /** Start of this node's message id range. */
  idBase: number;
  leaseMs: number;
}

/** Open a PostgreSQL database as a beamline store: validate (or create) the schema, then register this node. */
export function openPostgres(url: string, opts: PgOpenOptions = {}): PostgresStore {
  const name = redactUrl(url);
  const db = new SyncPg(url);
  try {
    ensureSchema(db, name, opts.readonly === true);
    checkKeys(db, name, opts.keys ?? null);
    const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    if (!Number.isInteger(leaseMs) || leaseMs < 500) {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `--lease: must be at least 500 ms (got ${String(opts.leaseMs)})`);
    }
    const node = opts.readonly ? null : registerNode(db, leaseMs, opts.address ?? null);
    if (node !== null) claimAtBoot(db, node);
    const store = new PostgresStore(db, url, name, opts.durability ?? 'full', node, opts.keys ?? null);
    if (!opts.readonly) store.recordKeys();
    return store;
  } catch (err) {
    db.close();
    throw translate(err, name);
  }
}

/** A query's failure as one line naming the database (connection refused, auth, …). */
function translate(err: unknown, name: string): Error {
  if (err instanceof BeamlineError) return err;
  // SyncPg's errors carry `sqlstate`; the async driver's (the writer thread) carry `code`.
  const e = err as PgQueryError & { code?: string };
  const code = e.sqlstate ?? e.code ?? null;
  // A socket error (ECONNREFUSED, ENOTFOUND, …) carries an errno name, not a five-character SQLSTATE: the server is away.
  if (code === null || !/^[0-9A-Z]{5}$/.test(code) || code.startsWith('08') || code === '57P03' || code === '3D000' || code.startsWith('28')) {
    return new BeamlineError(ErrorCodes.JOURNAL_UNAVAILABLE, `${name}: cannot use the PostgreSQL store (${e.message})`, { file: name, cause: err });
  }
  return new BeamlineError(ErrorCodes.JOURNAL_CORRUPT, `${name}: ${e.message}`, { file: name, cause: err });
}

function ensureSchema(db: SyncPg, name: string, readonly: boolean): void {
  const has = db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'meta'`)[0]!.n > 0;
  if (!has) {
    if (readonly) throw new BeamlineError(ErrorCodes.JOURNAL_MISSING, `${name}: no beamline journal in this database`, { file: name });
    // Two nodes creating the schema at once: the advisory lock lets one do it; the other finds it made.
    // Whether the database holds someone else's tables is asked under the same lock: asked before it,
    // a node saw no journal, then the tables another node had just created, and took them for foreign.
    try {
      db.query(
        `BEGIN; SELECT pg_advisory_xact_lock(7307551); ` +
          `DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'meta') THEN ` +
          `IF EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema()) THEN RAISE EXCEPTION 'foreign tables' USING ERRCODE = 'BL002'; END IF; ` +
          `EXECUTE ${lit(SCHEMA)}; ` +
          `INSERT INTO meta (key, value) VALUES ('app', ${lit(JOURNAL_APP)}), ('schema_version', ${lit(String(SCHEMA_VERSION))}), ('created_at', ${lit(new Date().toISOString())}); ` +
          `END IF; END $do$; COMMIT`,
      );
    } catch (err) {
      if ((err as PgQueryError).sqlstate !== 'BL002') throw err;
      throw new BeamlineError(
        ErrorCodes.JOURNAL_FOREIGN,
        `${name}: the database has tables but no beamline journal; it was left untouched (use an empty database or schema)`,
        { file: name },
      );
    }
  }
  const rows = db.query<{ key: string; value: string }>(`SELECT key, value FROM meta WHERE key IN ('app', 'schema_version')`);
  const meta = new Map(rows.map((r) => [r.key, r.value]));
  if (meta.get('app') !== JOURNAL_APP) {
    throw new BeamlineError(ErrorCodes.JOURNAL_FOREIGN, `${name}: a 'meta' table but not a beamline journal; it was left untouched`, { file: name });
  }
  const version = Number(meta.get('schema_version'));
  if (!Number.isInteger(version) || version > SCHEMA_VERSION || version < 1) {
    throw new BeamlineError(
      ErrorCodes.JOURNAL_VERSION,
      `${name}: journal schema version ${String(meta.get('schema_version'))} is not supported by this beamline (knows 1..${SCHEMA_VERSION}); upgrade beamline — the database was left untouched`,
      { file: name, version },
    );
  }
  if (!readonly) db.query(`BEGIN; SELECT pg_advisory_xact_lock(7307551); ${PAGED_TABLE}; COMMIT`);
}

function checkKeys(db: SyncPg, name: string, keys: Keyring | null): void {
  const used = db.query<{ value: string }>(`SELECT value FROM meta WHERE key = 'key_ids'`)[0]?.value;
  if (used === undefined || used === '') return;
  const ids = used.split(',');
  const have = new Set((keys?.keys ?? []).map((k) => k.id));
  const missing = ids.filter((id) => !have.has(id));
  if (missing.length > 0) {
    throw new BeamlineError(
      ErrorCodes.JOURNAL_KEY,
      keys === null
        ? `${name}: the journal is encrypted (key ${ids.join(', ')}) and no key was given; pass --journal-key FILE or set BEAMLINE_JOURNAL_KEY`
        : `${name}: the journal has rows encrypted with key ${missing.join(', ')}, which the keys given do not include`,
      { file: name },
    );
  }
}

/** Take over what lapsed nodes left before this node recovers (the writer thread keeps doing it while the node runs). */
function claimAtBoot(db: SyncPg, node: NodeIdentity): void {
  db.query('BEGIN');
  try {
    db.query(`SELECT beamline_fence(${lit(node.tag)}, ${lit(node.epoch)})`);
    for (const sql of claimSql(node.tag)) db.query(sql);
    db.query('COMMIT');
  } catch (err) {
    try {
      db.query('ROLLBACK');
    } catch {
      /* the error below says what went wrong */
    }
    throw err;
  }
}

function registerNode(db: SyncPg, leaseMs: number, address: string | null): NodeIdentity {
  for (let attempt = 0; ; attempt++) {
    const tag = randomBytes(3).readUIntBE(0, 3).toString(36).padStart(4, '0').slice(-4);
    const registeredAt = Date.now();
    try {
      const row = db.query<{ num: number }>(
        `INSERT INTO nodes (tag, epoch, status, address, lease_ms, lease_until) VALUES ($1, 1, 'up', $2, $3::int, clock_timestamp() + make_interval(secs => $3::int / 1000.0)) RETURNING num`,
        [tag, address, leaseMs],
      )[0]!;
      return { tag, epoch: 1, registeredAt, idBase: row.num * ID_RANGE, leaseMs };
    } catch (err) {
      if ((err as PgQueryError).sqlstate === '23505' && attempt < 20) continue; // tag taken: draw again
      throw err;
    }
  }
}

// ---- the store --------------------------------------------------------------

export class PostgresStore implements Store {
  /** The database's URL without its password: what messages and `runtime ps` show. */
  readonly path: string;
  readonly tag: string;
  readonly durability: Durability;
  /** This node's identity, null for a read-only store. */
  readonly node: NodeIdentity | null;
  readonly #db: SyncPg;
  readonly #url: string;
  readonly #keys: Keyring | null;
  readonly #cipher: Cipher | null;
  #registered = false;
  #closed = false;

  constructor(db: SyncPg, url: string, name: string, durability: Durability, node: NodeIdentity | null, keys: Keyring | null) {
    this.#db = db;
    this.#url = url;
    this.path = name;
    this.durability = durability;
    this.node = node;
    this.tag = node?.tag ?? '----';
    this.#keys = keys;
    this.#cipher = keys === null ? null : new Cipher(keys);
  }

  /** With a key: note in meta which key ids the journal was written with, and let the threads find the key set. */
  recordKeys(): void {
    registerKeys(this.path, this.#keys);
    this.#registered = true;
    if (this.#cipher !== null) this.append(keyIdsToRecord(this.meta('key_ids'), this.#cipher));
  }

  #seal = (bytes: Uint8Array | null, column: string): Uint8Array | null =>
    bytes === null || this.#cipher === null ? bytes : this.#cipher.seal(bytes, column);

  #open(bytes: Uint8Array, column: string): Uint8Array;
  #open(bytes: Uint8Array | null, column: string): Uint8Array | null;
  #open(bytes: Uint8Array | null, column: string): Uint8Array | null {
    return bytes === null ? null : openPayload(this.#cipher, bytes, column);
  }

  get multiNode(): boolean {
    return this.node !== null;
  }

  /** What the inbox holds for `pids` (processes just taken over), in order: see inboxSql. */
  inbox(pids: readonly Pid[]): InboxMail[] {
    if (this.node === null) return [];
    return this.#q<InboxMail>(inboxSql(this.tag, pids, 1_000_000)).map((r) => ({ ...r, data: this.#open(r.data, 'mail') }));
  }

  /**
   * Mail from outside any node (`runtime send --store`, from any machine):
   * an inbox row for `target` (a pid or a name), committed and notified at
   * once. Whichever node owns the target when it looks takes it — also one
   * that takes the process over later. False when no live process answers
   * to `target`.
   */
  postToInbox(target: string, from: string, kind: number, data: Uint8Array): boolean {
    if (!this.isLive(target)) return false;
    try {
      this.#db.query(
        [
          'BEGIN',
          `INSERT INTO inbox (target, sender, kind, data) VALUES (${lit(target)}, ${lit(from)}, ${lit(kind)}, ${lit(this.#seal(data, 'mail'))})`,
          `NOTIFY ${INBOX_CHANNEL}`,
          'COMMIT',
        ].join(';\n'),
      );
    } catch (err) {
      try {
        this.#db.query('ROLLBACK');
      } catch {
        /* the error below says what went wrong */
      }
      throw translate(err, this.path);
    }
    return true;
  }

  /**
   * Whether a pid, or the process a name is registered to, is live on some
   * node — with `elsewhere`, on a node other than this one (this node's own
   * processes are its kernel's to judge: what it has recorded may not be
   * committed yet).
   */
  isLive(target: string, elsewhere = false): boolean {
    const owner = elsewhere && this.node !== null ? ` AND owner <> ${lit(this.tag)}` : '';
    return (
      this.#q<{ n: number }>(
        `SELECT count(*)::int AS n FROM processes WHERE status = 'live'${owner} AND pid = COALESCE((SELECT pid FROM names WHERE name = $1), $1)`,
        [target],
      )[0]!.n > 0
    );
  }

  /** The fence statement of this node's transactions (see the file's header). */
  fenceSql(): string {
    if (this.node === null) throw new BeamlineError(ErrorCodes.INTERNAL, `${this.path}: store opened read-only`);
    return `SELECT beamline_fence(${lit(this.node.tag)}, ${lit(this.node.epoch)})`;
  }

  append(events: readonly JournalEvent[]): void {
    if (events.length === 0) return;
    const body = eventsSql(events, { tag: this.tag, seal: this.#seal });
    try {
      this.#db.query(['BEGIN', this.fenceSql(), ...body, 'COMMIT'].join(';\n'));
    } catch (err) {
      try {
        this.#db.query('ROLLBACK');
      } catch {
        /* the error below says what went wrong */
      }
      throw fenceError(err, this.path, this.tag);
    }
  }

  #q<T>(sql: string, params?: unknown[]): T[] {
    try {
      return this.#db.query<T>(sql, params);
    } catch (err) {
      throw translate(err, this.path);
    }
  }

  /** The owner filter of this node's reads: a read-only store (inspection) sees every node's processes. */
  #mine(column = 'owner'): string {
    return this.node === null ? 'true' : `${column} = ${lit(this.tag)}`;
  }

  meta(key: string): string | undefined {
    if (NODE_KEYS.has(key)) {
      return this.#q<{ value: string }>('SELECT value FROM node_meta WHERE tag = $1 AND key = $2', [this.tag, key])[0]?.value;
    }
    return this.#q<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key])[0]?.value;
  }

  liveRoots(): ProcessRow[] {
    return this.#procs(`SELECT * FROM processes WHERE status = 'live' AND root AND ${this.#mine()} ORDER BY serial`);
  }

  liveProcesses(): ProcessRow[] {
    return this.#procs(`SELECT * FROM processes WHERE status = 'live' AND ${this.#mine()} ORDER BY spawned_at, serial`);
  }

  processPage(opts: { all: boolean; after: number; limit: number }): ProcessRow[] {
    const live = opts.all ? '' : `status = 'live' AND `;
    const limit = opts.limit > 0 ? `LIMIT ${Math.floor(opts.limit)}` : '';
    return this.#procs(`SELECT * FROM processes WHERE ${live}serial > $1 ORDER BY serial, pid ${limit}`, [opts.after]);
  }

  pagedOut(): Set<Pid> {
    return new Set(this.#q<{ pid: Pid }>(`SELECT paged.pid FROM paged JOIN processes USING (pid) WHERE status = 'live' AND ${this.#mine('processes.owner')}`).map((r) => r.pid));
  }

  liveUnpaged(): ProcessRow[] {
    return this.#procs(`SELECT * FROM processes WHERE status = 'live' AND ${this.#mine()} AND pid NOT IN (SELECT pid FROM paged) ORDER BY spawned_at, serial`);
  }

  liveSummaries(): Array<{ pid: Pid; restarts: number; spawnedAt: number }> {
    return this.#q(`SELECT pid, restarts, spawned_at AS "spawnedAt" FROM processes WHERE status = 'live' AND ${this.#mine()}`);
  }

  process(pid: Pid): ProcessRow | undefined {
    return this.#procs('SELECT * FROM processes WHERE pid = $1', [pid])[0];
  }

  processes(limit = 100_000): ProcessRow[] {
    return this.#procs('SELECT * FROM processes ORDER BY spawned_at, serial LIMIT $1', [limit]);
  }

  /** Which node owns each live process (`runtime ps` NODE). */
  owners(): Map<Pid, string> {
    return new Map(this.#q<{ pid: string; owner: string }>(`SELECT pid, owner FROM processes WHERE status = 'live'`).map((r) => [r.pid, r.owner]));
  }

  /** The nodes of this database, newest first (`runtime nodes`). */
  nodes(): Array<{ tag: string; epoch: number; status: string; address: string | null; heartbeatAgeMs: number; leaseMs: number; expired: boolean; processes: number }> {
    return this.#q(
      `SELECT n.tag, n.epoch, n.status, n.address, n.lease_ms AS "leaseMs",
              (extract(epoch FROM clock_timestamp() - n.heartbeat_at) * 1000)::int AS "heartbeatAgeMs",
              (n.lease_until <= clock_timestamp()) AS expired,
              (SELECT count(*)::int FROM processes p WHERE p.owner = n.tag AND p.status = 'live') AS processes
         FROM nodes n ORDER BY n.num DESC`,
    );
  }

  history(pid: Pid, run?: number): HistoryRow[] {
    const rows =
      run === undefined
        ? this.#q<HistoryRow>('SELECT seq, run, at, row FROM journal WHERE pid = $1 ORDER BY seq', [pid])
        : this.#q<HistoryRow>('SELECT seq, run, at, row FROM journal WHERE pid = $1 AND run = $2 ORDER BY seq', [pid, run]);
    for (const r of rows) r.row = this.#open(r.row, 'row');
    return rows;
  }

  mailbox(pid: Pid): MailRow[] {
    return this.#q<MailRow & { sender: string }>('SELECT id, pid, sender, kind, data FROM mailbox WHERE pid = $1 ORDER BY seq', [pid]).map((r) => ({
      id: r.id,
      pid: r.pid,
      from: r.sender,
      kind: r.kind,
      data: this.#open(r.data, 'mail'),
    }));
  }

  mailboxCounts(): Map<Pid, number> {
    const rows = this.#q<{ pid: string; n: number }>(
      `SELECT m.pid, count(*)::int AS n FROM mailbox m JOIN processes p ON p.pid = m.pid WHERE ${this.#mine('p.owner')} GROUP BY m.pid`,
    );
    return new Map(rows.map((r) => [r.pid, r.n]));
  }

  historyLength(pid: Pid, run: number): number {
    return this.#q<{ n: number }>('SELECT count(*)::int AS n FROM journal WHERE pid = $1 AND run = $2', [pid, run])[0]!.n;
  }

  lastRound(pid: Pid, run: number): HistoryRow | undefined {
    const row = this.#q<HistoryRow>('SELECT seq, run, at, row FROM journal WHERE pid = $1 AND run = $2 ORDER BY seq DESC LIMIT 1', [pid, run])[0];
    return row && { ...row, row: this.#open(row.row, 'row') };
  }

  effects(): EffectRow[] {
    return this.#q<EffectRow>(`SELECT e.* FROM effects e JOIN processes p ON p.pid = e.pid WHERE ${this.#mine('p.owner')}`).map((r) => ({
      ...r,
      data: this.#open(r.data, 'effect'),
      value: this.#open(r.value, 'value'),
    }));
  }

  links(): Array<[Pid, Pid]> {
    return this.#q<{ a: string; b: string }>(
      `SELECT a, b FROM links WHERE ${this.node === null ? 'true' : `a IN (SELECT pid FROM processes WHERE ${this.#mine()}) OR b IN (SELECT pid FROM processes WHERE ${this.#mine()})`}`,
    ).map((r) => [r.a, r.b]);
  }

  monitors(): Array<{ ref: string; watcher: Pid; target: Pid }> {
    return this.#q(
      `SELECT ref, watcher, target FROM monitors WHERE ${this.node === null ? 'true' : `watcher IN (SELECT pid FROM processes WHERE ${this.#mine()}) OR target IN (SELECT pid FROM processes WHERE ${this.#mine()})`}`,
    );
  }

  names(): Array<[string, Pid]> {
    return this.#q<{ name: string; pid: string }>(
      `SELECT n.name, n.pid FROM names n JOIN processes p ON p.pid = n.pid WHERE ${this.#mine('p.owner')}`,
    ).map((r) => [r.name, r.pid]);
  }

  supervisors(): Array<{ pid: Pid; data: Uint8Array }> {
    return this.#q<{ pid: Pid; data: Uint8Array }>(`SELECT pid, data FROM supervisors WHERE ${this.#mine()}`).map(
      (r) => ({ pid: r.pid, data: this.#open(r.data, 'supervisor') }),
    );
  }

  /** This node's counters: from its own saved state, else the start of its id range. */
  mailIdCounters(stride: number): Map<number, number> {
    const out = new Map<number, number>();
    const base = this.node?.idBase ?? 0;
    for (let slot = 0; slot < stride; slot++) out.set(slot, base + slot);
    const saved = this.meta('mail_ids');
    if (saved !== undefined) for (const [slot, next] of JSON.parse(saved) as Array<[number, number]>) out.set(slot, Math.max(out.get(slot)!, next));
    return out;
  }

  writer(): StoreWriter {
    if (this.node === null) throw new BeamlineError(ErrorCodes.INTERNAL, `${this.path}: store opened read-only`);
    return pgWriter({ url: this.#url, name: this.path, node: this.node, durability: this.durability });
  }

  readerSpec(): ReaderSpec {
    return { kind: 'postgres', url: this.#url, keys: this.#keys };
  }

  /** A clean stop: the lease ends now, so the survivors (or the next node) take what is still live at once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#registered) registerKeys(this.path, null);
    if (this.node !== null) {
      try {
        // Briefly: a node stopping because the database went silent must not wait on it.
        this.#db.query(`UPDATE nodes SET status = 'down', lease_until = clock_timestamp() WHERE tag = $1 AND epoch = $2`, [this.node.tag, this.node.epoch], 2000);
      } catch {
        /* the lease lapses on its own */
      }
    }
    this.#db.close();
  }

  #procs(sql: string, params?: unknown[]): ProcessRow[] {
    return this.#q<RawProcess>(sql, params).map((r) => toProcess(r, (b, column) => this.#open(b, column)));
  }


  /**
   * Record where this node's control server listens (`host:/path/to.sock`),
   * once it does: the CLI finds a process's node here and talks to it.
   */
  setAddress(address: string): void {
    if (this.node === null) throw new BeamlineError(ErrorCodes.INTERNAL, `${this.path}: store opened read-only`);
    this.#q('UPDATE nodes SET address = $1 WHERE tag = $2 AND epoch = $3', [address, this.node.tag, this.node.epoch]);
  }

  /** The process or supervisor a pid or a name stands for, with its owner (the CLI's control commands). */
  ownerOf(target: string): { pid: Pid; owner: string; live: boolean } | undefined {
    return this.#q<{ pid: Pid; owner: string; live: boolean }>(
      `WITH t AS (SELECT coalesce((SELECT pid FROM names WHERE name = $1), $1) AS pid)
       SELECT p.pid, p.owner, p.status = 'live' AS live FROM processes p, t WHERE p.pid = t.pid
       UNION ALL SELECT s.pid, s.owner, true AS live FROM supervisors s, t WHERE s.pid = t.pid
       LIMIT 1`,
      [target],
    )[0];
  }
}

/** A commit the fence refused, as the one-line error the node stops with. */
export function fenceError(err: unknown, name: string, tag: string): Error {
  // SyncPg's errors carry `sqlstate`; the writer thread's come straight from pg, which calls it `code`.
  const e = err as PgQueryError & { code?: string };
  if ((e.sqlstate ?? e.code) === 'BL001') {
    return new BeamlineError(ErrorCodes.LEASE_LOST, `${name}: node ${tag} lost its lease; it stops so that the node now owning its processes is the only one writing`, {
      file: name,
    });
  }
  return translate(err, name);
}
