// The PostgreSQL writer's thread: commits the kernel's batches, one fenced
// transaction each (postgres.ts), and keeps this node's lease alive.
//
// The lease is renewed on a connection of its own every third of the lease
// period, so a long commit never delays it. If no renewal has reached the
// database for a whole lease period (counted from when the last successful
// one was sent), the node must assume another node owns its processes now:
// the thread refuses every further commit and tells the kernel, which stops.
// The fence makes this safe even when the thread is too late to notice (a
// paused process): the database refuses the commit.

import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { BeamlineError, ErrorCodes, toErrorData } from '../errors.js';
import { Cipher, type Keyring } from './cipher.js';
import { decodeWire } from './codec.js';
import type { JournalEvent } from './events.js';
import { fenceError } from './postgres.js';
import { claimSql, eventsSql, INBOX_CHANNEL, inboxSql, lit, namesCheckSql, sweepInboxSql } from './postgres-sql.js';
import { openPayload } from './cipher.js';
import type { ClusterEvent, InboxMail } from './store.js';
import type { PgWriterData } from './pg-writer.js';
import type { BatchPart } from './writer.js';

pg.types.setTypeParser(20, (v: string) => Number(v));

const { url, name, node, durability, keys } = workerData as PgWriterData & { keys: Keyring | null };
const cipher = keys === null ? null : new Cipher(keys);
const seal = (bytes: Uint8Array | null, column: string): Uint8Array | null => (bytes === null || cipher === null ? bytes : cipher.seal(bytes, column));
const fence = `SELECT beamline_fence(${lit(node.tag)}, ${lit(node.epoch)})`;

const commits = new pg.Client({ connectionString: url });
const beats = new pg.Client({ connectionString: url });
// Listens for remote mail and reads the inbox: never queued behind a commit in flight.
const mail = new pg.Client({ connectionString: url });
const ready = Promise.all([commits.connect(), beats.connect(), mail.connect()]).then(async () => {
  // 'normal' durability: a commit returns before its WAL is flushed (a crash of the database may lose the last ones).
  if (durability === 'normal') await commits.query('SET synchronous_commit = off');
});
ready.catch(() => {});
for (const c of [commits, beats, mail]) c.on('error', () => {});

let fatal: Error | null = null;
function die(err: Error): void {
  if (fatal !== null) return;
  fatal = err;
  parentPort!.postMessage({ fatal: toErrorData(err, false) });
}

// ---- the lease ----
/**
 * The lease is known valid until this time (ms), from when the last renewal
 * that succeeded was sent — at first, from when the node registered (its
 * boot may have taken a while before this thread started).
 */
let validUntil = node.registeredAt + node.leaseMs;
const renew = `UPDATE nodes SET heartbeat_at = clock_timestamp(), lease_until = clock_timestamp() + make_interval(secs => ${node.leaseMs / 1000})
  WHERE tag = ${lit(node.tag)} AND epoch = ${lit(node.epoch)} AND status = 'up' AND lease_until > clock_timestamp()`;
let beating = false;
function beat(): void {
  if (fatal !== null || beating) return;
  beating = true;
  const sent = Date.now();
  ready
    .then(() => beats.query(renew))
    .then(
      (res) => {
        if (res.rowCount === 1) validUntil = sent + node.leaseMs;
        else die(new BeamlineError(ErrorCodes.LEASE_LOST, `${name}: node ${node.tag} lost its lease (another node took its processes over); it stops`, { file: name }));
      },
      () => {
        /* unreachable for now: the deadline below decides */
      },
    )
    .finally(() => {
      beating = false;
    });
}
// The first renewal as soon as the connections are up, then every third of the lease.
void ready.then(beat, () => {});
const heartbeat = setInterval(beat, Math.max(100, Math.floor(node.leaseMs / 3)));
const watchdog = setInterval(() => {
  // Stop a little before the lease ends on the database's side: clocks drift, and survivors wait a whole period.
  const margin = Math.min(500, node.leaseMs / 5);
  if (Date.now() > validUntil - margin) {
    die(new BeamlineError(ErrorCodes.LEASE_LOST, `${name}: node ${node.tag} could not renew its lease for ${node.leaseMs} ms (database unreachable); it stops before another node takes its processes over`, { file: name }));
  }
}, 50);

// ---- taking over lapsed nodes ----
// Every fifth of the lease (at most every second), in the commit queue (so it is ordered with this node's
// commits and fenced like them): what moved here is handed to the kernel,
// which rebuilds it by replay as at boot.
const claims = setInterval(() => {
  if (fatal !== null) return;
  chain = chain.then(async () => {
    if (fatal !== null) return;
    try {
      await ready;
      await commits.query('BEGIN');
      await commits.query(fence);
      const steps = claimSql(node.tag);
      for (const sql of steps.slice(0, -1)) await commits.query(sql);
      const moved = await commits.query<{ pid: string }>(steps[steps.length - 1]!);
      await commits.query('COMMIT');
      if (moved.rows.length > 0) post({ type: 'adopted', pids: moved.rows.map((r) => r.pid) });
    } catch (err) {
      await commits.query('ROLLBACK').catch(() => {});
      const e = fenceError(err, name, node.tag);
      if (e instanceof BeamlineError && e.code === ErrorCodes.LEASE_LOST) die(e);
      // Anything else (a lost connection): the next round tries again, the lease watchdog decides.
    }
  });
}, Math.max(100, Math.min(1000, Math.floor(node.leaseMs / 5))));

function post(ev: ClusterEvent): void {
  parentPort!.postMessage({ cluster: ev });
}

// ---- mail from other nodes ----
// A commit carrying remote mail notifies; every node then reads what the
// inbox holds for its own processes and hands it to its kernel, which takes
// each entry as it takes a local send (mail.put + inbox.taken, one commit).
// Entries still in the inbox are handed again on the next look; the kernel
// skips those it is already taking. Polling every second covers a lost
// notification, and a sweep drops mail nobody will take.
let inboxQueued = false;
let inboxChain: Promise<void> = Promise.resolve();
function inboxSoon(): void {
  if (inboxQueued || fatal !== null) return;
  inboxQueued = true;
  inboxChain = inboxChain.then(async () => {
    inboxQueued = false;
    if (fatal !== null) return;
    try {
      await ready;
      const after = landed;
      const res = await mail.query<InboxMail>(inboxSql(node.tag, null));
      if (res.rows.length === 0) return;
      for (const r of res.rows) r.data = openPayload(cipher, r.data, 'mail');
      post({ type: 'delivered', mail: res.rows, after });
    } catch {
      /* the next look tries again; a lost connection is the lease watchdog's to judge */
    }
  });
}
mail.on('notification', () => inboxSoon());
ready.then(() => mail.query(`LISTEN ${INBOX_CHANNEL}`)).then(() => inboxSoon(), () => {});
const inboxPoll = setInterval(inboxSoon, 1000);
const sweep = setInterval(() => {
  if (fatal !== null) return;
  chain = chain.then(() => commits.query(sweepInboxSql(2 * node.leaseMs)).catch(() => {}));
}, 5000);

// ---- commits ----
/** The kernel's commits landed so far (they land in the order they were sent: ids 1, 2, …). */
let landed = 0;
let failed = -1;
let parts: JournalEvent[] = [];
let chain: Promise<unknown> = Promise.resolve();

parentPort!.on('message', (msg: BatchPart | { close: true }) => {
  if ('close' in msg) {
    clearInterval(heartbeat);
    clearInterval(watchdog);
    clearInterval(claims);
    clearInterval(inboxPoll);
    clearInterval(sweep);
    // Not behind the queue: a query on a connection the network dropped may
    // never return (the kernel flushed what it needed before closing), and
    // such a connection may never answer the goodbye either.
    void Promise.race([Promise.allSettled([commits.end(), beats.end(), mail.end()]), new Promise((r) => setTimeout(r, 1000))]).then(() =>
      parentPort!.postMessage({ closed: true }),
    );
    return;
  }
  if (msg.id === failed) return;
  if (msg.part === 0) parts = [];
  for (const ev of decodeWire<JournalEvent[]>(msg.batch)) parts.push(ev);
  if (!msg.last) return;
  const events = parts;
  parts = [];
  const id = msg.id;
  chain = chain.then(async () => {
    if (fatal !== null) {
      parentPort!.postMessage({ id, ok: false, error: toErrorData(fatal, false) });
      return;
    }
    try {
      await ready;
      const check = namesCheckSql(events);
      const text = ['BEGIN', fence, ...eventsSql(events, { tag: node.tag, seal }), ...(check === null ? [] : [check]), 'COMMIT'].join(';\n');
      const results = await commits.query(text);
      landed = id;
      parentPort!.postMessage({ id, ok: true });
      if (check !== null) {
        // The check's rows: the result before COMMIT's.
        const all = results as unknown as Array<{ rows: Array<{ name: string; pid: string }> }>;
        const lost = all[all.length - 2]?.rows ?? [];
        if (lost.length > 0) post({ type: 'namesLost', names: lost });
      }
    } catch (err) {
      failed = id;
      await commits.query('ROLLBACK').catch(() => {});
      const e = fenceError(err, name, node.tag);
      if (e instanceof BeamlineError && e.code === ErrorCodes.LEASE_LOST) die(e);
      parentPort!.postMessage({ id, ok: false, error: toErrorData(e, false) });
    }
  });
});
