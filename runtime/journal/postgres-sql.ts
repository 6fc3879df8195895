// The PostgreSQL store's SQL: the schema, and the text of every statement a
// node sends — a batch of journal events as one transaction's statements
// (values as escaped literals), the takeover of lapsed nodes, the inbox.
// Pure functions of their arguments: the store (postgres.ts) and the writer
// thread (pg-writer-thread.ts) both build their SQL here.

import { BeamlineError, ErrorCodes } from '../errors.js';
import { serialOf } from '../pid.js';
import { assertNever, type JournalEvent } from './events.js';

/** Message ids a node may allocate: [num × ID_RANGE, (num + 1) × ID_RANGE). 2^40: 2^34 per thread slot. */
export const ID_RANGE = 2 ** 40;

export const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE nodes (
  tag TEXT PRIMARY KEY,
  num BIGSERIAL UNIQUE,
  epoch BIGINT NOT NULL,
  status TEXT NOT NULL,
  address TEXT,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  lease_ms INTEGER NOT NULL,
  lease_until TIMESTAMPTZ NOT NULL
);
-- Counters and settings of one node (pid_next, mail_ids): nodes do not share them.
CREATE TABLE node_meta (tag TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (tag, key));
CREATE TABLE processes (
  pid TEXT PRIMARY KEY,
  serial BIGINT NOT NULL,
  owner TEXT NOT NULL,
  run INTEGER NOT NULL,
  status TEXT NOT NULL,
  script TEXT NOT NULL,
  args BYTEA NOT NULL,
  parent TEXT,
  root BOOLEAN NOT NULL,
  sup TEXT,
  spawned_at BIGINT NOT NULL,
  exited_at BIGINT,
  reason BYTEA,
  result BYTEA,
  last_message BYTEA,
  restarts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX processes_live ON processes(owner) WHERE status = 'live';
CREATE TABLE journal (
  seq BIGSERIAL PRIMARY KEY,
  pid TEXT NOT NULL,
  run INTEGER NOT NULL,
  at BIGINT NOT NULL,
  row BYTEA NOT NULL
);
CREATE INDEX journal_pid ON journal(pid, run, seq);
CREATE TABLE mailbox (
  seq BIGSERIAL PRIMARY KEY,
  id BIGINT NOT NULL UNIQUE,
  pid TEXT NOT NULL,
  sender TEXT NOT NULL,
  kind INTEGER NOT NULL,
  data BYTEA NOT NULL
);
CREATE INDEX mailbox_pid ON mailbox(pid, seq);
CREATE TABLE effects (
  pid TEXT NOT NULL,
  run INTEGER NOT NULL,
  step INTEGER NOT NULL,
  kind TEXT NOT NULL,
  at BIGINT,
  data BYTEA NOT NULL,
  done BOOLEAN NOT NULL DEFAULT false,
  ok BOOLEAN NOT NULL DEFAULT false,
  value BYTEA,
  PRIMARY KEY (pid, run, step)
);
-- Mail for processes of other nodes, in order of arrival (FIFO per sender): the owner moves it into the mailbox.
CREATE TABLE inbox (
  seq BIGSERIAL PRIMARY KEY,
  target TEXT NOT NULL,
  sender TEXT NOT NULL,
  kind INTEGER NOT NULL,
  data BYTEA NOT NULL,
  sent_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE links (a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY (a, b));
CREATE TABLE monitors (ref TEXT PRIMARY KEY, watcher TEXT NOT NULL, target TEXT NOT NULL);
CREATE TABLE names (name TEXT PRIMARY KEY, pid TEXT NOT NULL);
-- Supervisors are not processes: their owner is kept here, and moves with their trees.
CREATE TABLE supervisors (pid TEXT PRIMARY KEY, owner TEXT NOT NULL, data BYTEA NOT NULL);
-- Processes whose records their node paged out (see ProcessPaged).
CREATE TABLE paged (pid TEXT PRIMARY KEY);
-- The fence every commit passes first (see the file's header).
CREATE FUNCTION beamline_fence(node TEXT, ep BIGINT) RETURNS void AS $fn$
BEGIN
  PERFORM 1 FROM nodes WHERE tag = node AND epoch = ep AND status = 'up' AND lease_until > clock_timestamp() FOR SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the lease of node % (epoch %) lapsed: another node may own its processes', node, ep USING ERRCODE = 'BL001';
  END IF;
END $fn$ LANGUAGE plpgsql;
`;

/** Added after the first schema (no version change: a database without it has no process paged out). */
export const PAGED_TABLE = 'CREATE TABLE IF NOT EXISTS paged (pid TEXT PRIMARY KEY)';

/** Meta keys that belong to one node, not to the database. */
export const NODE_KEYS = new Set(['pid_next', 'mail_ids']);

// ---- SQL text with literals --------------------------------------------
// A batch goes to the server as one text (one round trip, one transaction):
// values are written as literals, never spliced unescaped.

export function lit(v: string | number | boolean | Uint8Array | null | undefined): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new BeamlineError(ErrorCodes.INTERNAL, `not a finite number for the journal: ${v}`);
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') {
    // standard_conforming_strings (on since 9.1): only the quote is special.
    if (v.includes('\0')) throw new BeamlineError(ErrorCodes.ARG_INVALID, `a text value for the journal contains a NUL character: ${JSON.stringify(v.slice(0, 40))}`);
    return `'${v.replace(/'/g, "''")}'`;
  }
  return `'\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}'::bytea`;
}

export interface SqlContext {
  /** The node whose commit this is: owner of what it spawns. */
  tag: string;
  seal: (bytes: Uint8Array | null, column: string) => Uint8Array | null;
}

/** The statements that apply `events`, in order; journal rows batched into multi-row inserts. */
export function eventsSql(events: readonly JournalEvent[], ctx: SqlContext): string[] {
  const out: string[] = [];
  let rounds: string[] = [];
  const flushRounds = () => {
    if (rounds.length === 0) return;
    out.push(`INSERT INTO journal (pid, run, at, row) VALUES ${rounds.join(',')}`);
    rounds = [];
  };
  const seal = ctx.seal;
  let notify = false;
  for (const ev of events) {
    switch (ev.type) {
      case 'process.spawned': {
        const x = ev.exit;
        out.push(
          `INSERT INTO processes (pid, serial, owner, run, status, script, args, parent, root, sup, spawned_at, exited_at, reason, result, last_message) VALUES (${[
            lit(ev.pid), lit(serialOf(ev.pid)), lit(ctx.tag), lit(ev.run), lit(x ? 'exited' : 'live'),
            lit(ev.script), lit(seal(ev.args, 'args')), lit(ev.parent), lit(ev.root), lit(ev.sup), lit(ev.at), lit(x?.at ?? null),
            lit(seal(x?.reason ?? null, 'reason')), lit(seal(x?.result ?? null, 'result')), lit(seal(x?.lastMessage ?? null, 'last_message')),
          ].join(', ')})`,
        );
        break;
      }
      case 'process.round':
        rounds.push(`(${lit(ev.pid)}, ${lit(ev.run)}, ${lit(ev.at)}, ${lit(seal(ev.row, 'row'))})`);
        break;
      case 'process.exited':
        out.push(
          `UPDATE processes SET status = 'exited', exited_at = ${lit(ev.at)}, reason = ${lit(seal(ev.reason, 'reason'))}, result = ${lit(seal(ev.result, 'result'))}, last_message = ${lit(seal(ev.lastMessage, 'last_message'))} WHERE pid = ${lit(ev.pid)} AND run = ${lit(ev.run)}`,
        );
        break;
      case 'process.paged':
        out.push(ev.out ? `INSERT INTO paged (pid) VALUES (${lit(ev.pid)}) ON CONFLICT DO NOTHING` : `DELETE FROM paged WHERE pid = ${lit(ev.pid)}`);
        break;
      case 'process.restarted':
        if (ev.args === undefined) {
          out.push(
            `UPDATE processes SET run = ${lit(ev.run)}, status = 'live', exited_at = NULL, reason = NULL, result = NULL, last_message = NULL, restarts = restarts + 1 WHERE pid = ${lit(ev.pid)}`,
          );
        } else {
          out.push(`UPDATE processes SET run = ${lit(ev.run)}, args = ${lit(seal(ev.args, 'args'))} WHERE pid = ${lit(ev.pid)}`);
        }
        if (ev.dropHistory === true) {
          // The old run's last rows may be among the pending ones: they go in first, then all go.
          flushRounds();
          out.push(`DELETE FROM journal WHERE pid = ${lit(ev.pid)} AND run < ${lit(ev.run)}`);
        }
        break;
      case 'history.pruned': {
        const before = lit(ev.before);
        flushRounds();
        out.push(`DELETE FROM journal WHERE pid IN (SELECT pid FROM processes WHERE status = 'exited' AND exited_at < ${before})`);
        out.push(`DELETE FROM processes WHERE status = 'exited' AND exited_at < ${before} AND sup IS NULL`);
        out.push(`DELETE FROM journal j USING processes p WHERE p.pid = j.pid AND j.at < ${before} AND j.run < p.run`);
        break;
      }
      case 'mail.put':
        out.push(`INSERT INTO mailbox (id, pid, sender, kind, data) VALUES (${lit(ev.id)}, ${lit(ev.to)}, ${lit(ev.from)}, ${lit(ev.kind)}, ${lit(seal(ev.data, 'mail'))})`);
        break;
      case 'mail.taken':
        out.push(`DELETE FROM mailbox WHERE id = ${lit(ev.id)}`);
        break;
      case 'mail.rewritten':
        out.push(`UPDATE mailbox SET kind = ${lit(ev.kind)}, data = ${lit(seal(ev.data, 'mail'))} WHERE id = ${lit(ev.id)}`);
        break;
      case 'mail.dropped':
        out.push(`DELETE FROM mailbox WHERE pid = ${lit(ev.pid)}`);
        break;
      case 'mail.remote':
        out.push(`INSERT INTO inbox (target, sender, kind, data) VALUES (${lit(ev.to)}, ${lit(ev.from)}, ${lit(ev.kind)}, ${lit(seal(ev.data, 'mail'))})`);
        notify = true;
        break;
      case 'inbox.taken':
        out.push(`DELETE FROM inbox WHERE seq = ${lit(ev.seq)}`);
        break;
      case 'effect.armed':
        out.push(
          `INSERT INTO effects (pid, run, step, kind, at, data, done, ok, value) VALUES (${[
            lit(ev.pid), lit(ev.run), lit(ev.step), lit(ev.kind), lit(ev.at), lit(seal(ev.data, 'effect')), lit(ev.done !== undefined),
            lit(ev.done?.ok === true), lit(seal(ev.done?.value ?? null, 'value')),
          ].join(', ')}) ON CONFLICT (pid, run, step) DO UPDATE SET kind = EXCLUDED.kind, at = EXCLUDED.at, data = EXCLUDED.data, done = EXCLUDED.done, ok = EXCLUDED.ok, value = EXCLUDED.value`,
        );
        break;
      case 'effect.done':
        out.push(`UPDATE effects SET done = true, ok = ${lit(ev.ok)}, value = ${lit(seal(ev.value, 'value'))} WHERE pid = ${lit(ev.pid)} AND run = ${lit(ev.run)} AND step = ${lit(ev.step)}`);
        break;
      case 'effect.cleared':
        out.push(
          ev.step === null
            ? `DELETE FROM effects WHERE pid = ${lit(ev.pid)} AND run = ${lit(ev.run)}`
            : `DELETE FROM effects WHERE pid = ${lit(ev.pid)} AND run = ${lit(ev.run)} AND step = ${lit(ev.step)}`,
        );
        break;
      case 'link.added':
        out.push(`INSERT INTO links (a, b) VALUES (${lit(ev.a)}, ${lit(ev.b)}) ON CONFLICT DO NOTHING`);
        break;
      case 'link.removed':
        out.push(`DELETE FROM links WHERE a = ${lit(ev.a)} AND b = ${lit(ev.b)}`);
        break;
      case 'monitor.added':
        out.push(`INSERT INTO monitors (ref, watcher, target) VALUES (${lit(ev.ref)}, ${lit(ev.watcher)}, ${lit(ev.target)}) ON CONFLICT (ref) DO UPDATE SET watcher = EXCLUDED.watcher, target = EXCLUDED.target`);
        break;
      case 'monitor.removed':
        out.push(`DELETE FROM monitors WHERE ref = ${lit(ev.ref)}`);
        break;
      case 'name.registered':
        // Names are cluster-wide: a name held by a live process (of any node) is not taken over; the
        // claim loses, and the commit's name check (namesCheckSql) tells the claimant's kernel.
        out.push(
          `INSERT INTO names (name, pid) VALUES (${lit(ev.name)}, ${lit(ev.pid)}) ON CONFLICT (name) DO UPDATE SET pid = EXCLUDED.pid
             WHERE NOT EXISTS (SELECT 1 FROM processes p WHERE p.pid = names.pid AND p.status = 'live' AND p.pid <> EXCLUDED.pid)`,
        );
        break;
      case 'name.unregistered':
        // Only this node's own claim goes: a name another node's process holds is not this node's to drop.
        out.push(`DELETE FROM names WHERE name = ${lit(ev.name)} AND pid IN (SELECT pid FROM processes WHERE owner = ${lit(ctx.tag)})`);
        break;
      case 'supervisor.state':
        out.push(
          ev.data === null
            ? `DELETE FROM supervisors WHERE pid = ${lit(ev.pid)}`
            : `INSERT INTO supervisors (pid, owner, data) VALUES (${lit(ev.pid)}, ${lit(ctx.tag)}, ${lit(seal(ev.data, 'supervisor'))}) ON CONFLICT (pid) DO UPDATE SET data = EXCLUDED.data`,
        );
        break;
      case 'meta.set':
        out.push(
          NODE_KEYS.has(ev.key)
            ? `INSERT INTO node_meta (tag, key, value) VALUES (${lit(ctx.tag)}, ${lit(ev.key)}, ${lit(ev.value)}) ON CONFLICT (tag, key) DO UPDATE SET value = EXCLUDED.value`
            : `INSERT INTO meta (key, value) VALUES (${lit(ev.key)}, ${lit(ev.value)}) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
        );
        break;
      default:
        assertNever(ev);
    }
  }
  flushRounds();
  // Sent when the transaction commits (never for one rolled back): the owners look in the inbox.
  if (notify) out.push(`NOTIFY ${INBOX_CHANNEL}`);
  return out;
}

/**
 * The claims of `events` that lost their name to another node's process
 * (see name.registered): a statement run last in the commit, returning
 * {name, pid} of each lost claim. Null when the batch registers no name.
 */
export function namesCheckSql(events: readonly JournalEvent[]): string | null {
  const claims = new Map<string, string>();
  for (const ev of events) {
    if (ev.type === 'name.registered') claims.set(ev.name, ev.pid);
    else if (ev.type === 'name.unregistered') claims.delete(ev.name);
  }
  if (claims.size === 0) return null;
  const values = [...claims].map(([name, pid]) => `(${lit(name)}, ${lit(pid)})`).join(', ');
  return `SELECT c.name, c.pid FROM (VALUES ${values}) AS c(name, pid) LEFT JOIN names n ON n.name = c.name WHERE n.pid IS DISTINCT FROM c.pid`;
}

/** The channel a commit with remote mail notifies; every node listens (polling is the fallback). */
export const INBOX_CHANNEL = 'beamline_inbox';

/**
 * What the inbox holds for live processes `tag` owns (`only`: just these
 * pids), in inbox order, with names resolved: the kernel takes each entry
 * (mail.put + inbox.taken in one commit), exactly as it takes a local send.
 */
export function inboxSql(tag: string, only: readonly string[] | null, limit = 2000): string {
  const which = only === null ? '' : ` AND p.pid IN (${only.map((pid) => lit(pid)).join(', ') || 'NULL'})`;
  // A notice (kind >= 16) for a process that already ended is taken too: its sender is told 'noproc'.
  return `SELECT i.seq, p.pid, i.sender, i.kind, i.data, p.status = 'live' AS live FROM inbox i
      JOIN processes p ON p.pid = COALESCE((SELECT n.pid FROM names n WHERE n.name = i.target), i.target)
     WHERE (p.status = 'live' OR i.kind >= 16) AND p.owner = ${lit(tag)}${which}
     ORDER BY i.seq LIMIT ${limit}`;
}

/**
 * Inbox entries nobody will take: mail whose target ended, and anything
 * naming no live process after a grace period (a notice to an ended process
 * is left to its owner, who answers it 'noproc').
 */
export function sweepInboxSql(graceMs: number): string {
  return `DELETE FROM inbox i WHERE NOT EXISTS (
      SELECT 1 FROM processes p WHERE p.status = 'live' AND p.pid = COALESCE((SELECT n.pid FROM names n WHERE n.name = i.target), i.target))
    AND ((i.kind < 16 AND EXISTS (SELECT 1 FROM processes p WHERE p.pid = i.target)) OR i.sent_at < now() - make_interval(secs => ${graceMs / 1000}))`;
}

// ---- taking over ----------------------------------------------------------

/**
 * The statements by which node `tag` takes over every node whose lease
 * lapsed (and every node that stopped cleanly with processes still live),
 * run in order inside one fenced transaction; the last returns the pids
 * taken. A lapsed node's epoch is bumped under its row's lock first, so a
 * commit it still has in flight either landed before (and is seen here) or
 * is refused by its fence. Two survivors claiming at once serialize on the
 * same row locks: each process moves once. A node's processes move together
 * (its trees stay whole), to the first survivor that claims them.
 */
export function claimSql(tag: string): string[] {
  const me = lit(tag);
  return [
    `UPDATE nodes SET status = 'down', epoch = epoch + 1 WHERE status = 'up' AND lease_until <= clock_timestamp() AND tag <> ${me}`,
    `UPDATE supervisors SET owner = ${me} WHERE owner IN (SELECT tag FROM nodes WHERE status = 'down')`,
    `UPDATE processes SET owner = ${me} WHERE status = 'live' AND owner IN (SELECT tag FROM nodes WHERE status = 'down') RETURNING pid`,
  ];
}
