// `runtime ps | tree | history | send | kill | query`: talk to the node that
// runs on the journal through its control socket; with no node running,
// ps/tree/history read the journal (read-only: nothing is written).

import fs from 'node:fs';
import path from 'node:path';
import { describeReason, formatTable, historyJson, historyLines, psRows, type HistoryExport, type PsRow } from '../control/inspect.js';
import { killOffline } from '../control/offline-kill.js';
import { NoNodeError, request } from '../control/socket.js';
import { parseDuration } from '../config/duration.js';
import { BeamlineError, ErrorCodes } from '../errors.js';
import { openJournal } from '../journal/sqlite.js';
import { resolveKeys } from '../journal/cipher.js';
import { DEFAULT_DB } from '../node.js';
import { drawTree, viewFromJournal, type TreeView } from '../supervisor/view.js';
import { intOption, parseAnywhere, parseCommand, scriptArgs, UsageError } from './args.js';
import { looksLikePid } from '../pid.js';
import { anyNode, askNode, askOwner, elsewhere, formatNodes, nodeRows, whereFrom, type Where } from './cluster.js';
import { openPostgres, type PostgresStore } from '../journal/postgres.js';
import { encode } from '../journal/codec.js';
import { MAIL_MESSAGE, MAIL_SIGNAL } from '../protocol.js';

// Each command accepts exactly its own options: `history --json` or
// `tree --all` is refused, not silently ignored.
const dbOption = { db: { type: 'string' }, store: { type: 'string' }, 'journal-key': { type: 'string' } } as const;
const psOptions = { ...dbOption, json: { type: 'boolean' }, all: { type: 'boolean' }, limit: { type: 'string' }, after: { type: 'string' } } as const;

/** Rows `ps` shows by default: a page prints at once even when the node holds 100,000 processes. */
export const PS_PAGE = 1000;
const treeOptions = { ...dbOption, json: { type: 'boolean' } } as const;
const historyOptions = { ...dbOption, json: { type: 'boolean' } } as const;

/** Ask the live node; when none runs, `offline` answers from the journal (or null: a live node is required). */
async function ask<T>(db: string, req: Parameters<typeof request>[1], offline: (() => T) | null): Promise<T> {
  try {
    return await request<T>(db, req);
  } catch (err) {
    if (!(err instanceof NoNodeError)) throw err;
    if (offline === null) {
      throw new BeamlineError(ErrorCodes.NO_NODE, `${req.cmd}: no node is running on ${db}; start one with 'runtime start' or 'runtime spawn'`);
    }
    return offline();
  }
}

/** The key file given with --journal-key (or none: BEAMLINE_JOURNAL_KEY, else no key). */
let journalKey: string | undefined;

/**
 * Several nodes (--store URL): the database opened read-only — every node's
 * processes, no node registered — for the length of `fn`.
 */
async function useStore<T>(url: string, fn: (store: PostgresStore) => T | Promise<T>): Promise<T> {
  const store = openPostgres(url, { readonly: true, keys: resolveKeys(journalKey) });
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/** The PostgreSQL URL, or the SQLite file (--db, default .beamline/journal.db). */
function where(values: Record<string, string | boolean | undefined>): Where {
  journalKey = values['journal-key'] as string | undefined;
  return whereFrom(values);
}

function readJournal<T>(db: string, fn: (store: ReturnType<typeof openJournal>) => T): T {
  const store = openJournal(db, { readonly: true, keys: resolveKeys(journalKey) });
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/**
 * With no node running, ps and tree show what the journal last recorded:
 * say so (on stderr, so stdout stays the table or the JSON), or a killed
 * node's processes would read as if they were still running.
 */
function offlineNote(db: string): void {
  process.stderr.write(`runtime: no node is running on ${db}: these are the last recorded states (a live process resumes when a node starts on this journal)\n`);
}

export async function psCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, psOptions);
  journalKey = values['journal-key'] as string | undefined;
  if (rest.length > 0) throw new UsageError(`ps: unexpected arguments: ${rest.join(' ')}`);
  const at = where(values);
  const db = (values.db as string | undefined) ?? DEFAULT_DB;
  const limit = intOption('limit', values.limit, 0, 2 ** 31 - 1) ?? PS_PAGE;
  const after = values.after as string | undefined;
  if (after !== undefined && !looksLikePid(after)) throw new UsageError(`--after: expected a pid such as ab12.1000 (got ${after})`);
  // One row more than the page: whether there is a next page, without counting them all.
  const page = { all: values.all === true, limit: limit === 0 ? 0 : limit + 1, ...(after === undefined ? {} : { after }) };
  let rows =
    at.kind === 'postgres'
      ? // Every node's processes, as committed; NODE is the owner of each live one.
        await useStore(at.url, (store) => {
          const owners = store.owners();
          return psRows(store, null, page).map((r) => ({ ...r, node: owners.get(r.pid) ?? '-' }));
        })
      : await ask<PsRow[]>(db, { cmd: 'ps', ...page }, () => {
          const offline = readJournal(db, (store) => psRows(store, null, page));
          offlineNote(db);
          return offline;
        });
  const more = limit > 0 && rows.length > limit;
  if (more) rows = rows.slice(0, limit);
  process.stdout.write(values.json ? `${JSON.stringify(rows)}\n` : `${formatTable(rows)}\n`);
  if (more) {
    // On stderr: stdout stays the table (or the JSON) of this page.
    process.stderr.write(`runtime: showing the first ${limit} processes; next page: --after ${rows.at(-1)!.pid}; all at once: --limit 0\n`);
  }
  return 0;
}

export async function treeCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, treeOptions);
  journalKey = values['journal-key'] as string | undefined;
  if (rest.length > 0) throw new UsageError(`tree: unexpected arguments: ${rest.join(' ')}`);
  const at = where(values);
  const db = (values.db as string | undefined) ?? DEFAULT_DB;
  const views =
    at.kind === 'postgres'
      ? await useStore(at.url, viewFromJournal)
      : await ask<TreeView[]>(db, { cmd: 'tree' }, () => {
          const offline = readJournal(db, viewFromJournal);
          offlineNote(db);
          return offline;
        });
  if (values.json) process.stdout.write(`${JSON.stringify(views)}\n`);
  else process.stdout.write(views.length === 0 ? 'no supervision tree in this journal\n' : `${drawTree(views)}\n`);
  return 0;
}

export async function historyCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseAnywhere(argv, historyOptions);
  journalKey = values['journal-key'] as string | undefined;
  const [pid, ...extra] = rest;
  if (pid === undefined || extra.length > 0) throw new UsageError('history: usage: runtime history [--db FILE | --store URL] [--json] PID');
  const at = where(values);
  const db = (values.db as string | undefined) ?? DEFAULT_DB;
  if (at.kind === 'postgres') {
    const doc = await useStore(at.url, (store) => {
      const found = values.json === true ? historyJson(store, pid) : historyLines(store, pid);
      if (found === null) throw new BeamlineError(ErrorCodes.NOPROC, `history: no process ${pid} in ${store.path}`, { pid });
      return found;
    });
    process.stdout.write(Array.isArray(doc) ? `${doc.join('\n')}\n` : `${JSON.stringify(doc, null, 2)}\n`);
    return 0;
  }
  if (values.json === true) {
    const doc = await ask<HistoryExport | null>(db, { cmd: 'history', pid, json: true }, () => readJournal(db, (store) => historyJson(store, pid)));
    if (doc === null) throw new BeamlineError(ErrorCodes.NOPROC, `history: no process ${pid} in ${db}`, { pid });
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return 0;
  }
  const lines = await ask<string[] | null>(db, { cmd: 'history', pid }, () => readJournal(db, (store) => historyLines(store, pid)));
  if (lines === null) throw new BeamlineError(ErrorCodes.NOPROC, `history: no process ${pid} in ${db}`, { pid });
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export async function sendCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, dbOption);
  const [to, json, ...extra] = rest;
  if (to === undefined || json === undefined || extra.length > 0) throw new UsageError('send: usage: runtime send [--db FILE | --store URL] PID|NAME JSON');
  let msg: unknown;
  try {
    msg = JSON.parse(json);
  } catch (err) {
    throw new UsageError(`send: message is not JSON: ${(err as Error).message}`);
  }
  const at = where(values);
  if (at.kind === 'postgres') {
    // Through the database, from any machine: the inbox row is the message, and whichever node owns
    // the target takes it (also a node that takes it over after its owner died).
    const data = encode(msg);
    await useStore(at.url, (store) => {
      if (!store.postToInbox(to, 'cli', MAIL_MESSAGE, data)) throw new BeamlineError(ErrorCodes.NOPROC, `send: no live process ${to} in ${store.path}`, { pid: to });
    });
  } else await ask(at.db, { cmd: 'send', to, msg }, null);
  return 0;
}

/**
 * `runtime kill PID [REASON]`. Through a running node: the signal is sent and,
 * for the default untrappable 'kill', the command waits until the process has
 * ended (or been restarted by its supervisor) so exit 0 means it is gone. With
 * no node running, the exit is recorded in the journal (see offline-kill.ts):
 * a process must always be killable, even one nothing will ever resume.
 */
export async function killCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, dbOption);
  const [pid, reasonArg, ...extra] = rest;
  if (pid === undefined || extra.length > 0) throw new UsageError('kill: usage: runtime kill [--db FILE | --store URL] PID|NAME [REASON]');
  const at = where(values);
  const db = (values.db as string | undefined) ?? DEFAULT_DB;
  const reason = reasonArg === undefined ? 'kill' : scriptArgs([reasonArg])[0];
  if (at.kind === 'postgres') return useStore(at.url, (store) => killOnOwner(store, pid, reason));
  let before: PsRow | undefined;
  try {
    before = (await request<PsRow[]>(db, { cmd: 'ps', all: false })).find((r) => r.pid === pid || r.name.split(',').includes(pid));
    await request(db, { cmd: 'kill', pid, reason });
  } catch (err) {
    if (!(err instanceof NoNodeError)) throw err;
    if (!fs.existsSync(db)) throw missingJournal(db);
    const done = killOffline(db, pid, reason);
    process.stdout.write(`${done.pid} ${describeReason(done.reason)} (no node is running: the exit is recorded in ${db})\n`);
    return 0;
  }
  if (reason === 'kill' && before !== undefined) {
    // Gone, or restarted by its supervisor (same pid, next run).
    const deadline = Date.now() + 30_000;
    for (;;) {
      const row = (await request<PsRow[]>(db, { cmd: 'ps', all: true })).find((r) => r.pid === before.pid);
      if (row === undefined || row.state.startsWith('exited') || row.run > before.run) break;
      if (Date.now() > deadline) {
        throw new BeamlineError(ErrorCodes.INTERNAL, `kill: process ${before.pid} did not end within 30 s of an untrappable kill`, { pid: before.pid });
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return 0;
}

/**
 * `runtime kill --store URL`: through the node owning the process; for an
 * untrappable 'kill', exit 0 once the database says it ended (or restarted).
 * A process whose node is down is refused (BL_NO_NODE): it moves to a
 * running node within a lease period, and is killed there.
 */
async function killOnOwner(store: PostgresStore, target: string, reason: unknown): Promise<number> {
  const before = store.ownerOf(target);
  const run = before === undefined ? undefined : store.process(before.pid)?.run;
  const owner = before === undefined ? undefined : nodeRows(store).find((n) => n.tag === before.owner);
  let pid: string;
  if (before !== undefined && run !== undefined && before.live && owner?.status === 'up' && elsewhere(owner)) {
    // Its node runs on another machine: the exit signal goes through the database, as a send does.
    if (!store.postToInbox(before.pid, 'cli', MAIL_SIGNAL, encode({ reason }))) {
      throw new BeamlineError(ErrorCodes.NOPROC, `kill: no live process ${target} in ${store.path}`, { pid: target });
    }
    pid = before.pid;
  } else {
    pid = (await askOwner(store, 'kill', target, (p) => ({ cmd: 'kill', pid: p, reason }))).pid;
  }
  if (reason !== 'kill' || run === undefined) return 0;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const row = store.process(pid);
    if (row === undefined || row.status === 'exited' || row.run > run) return 0;
    if (Date.now() > deadline) throw new BeamlineError(ErrorCodes.INTERNAL, `kill: process ${pid} did not end within 30 s of an untrappable kill`, { pid });
    await new Promise((r) => setTimeout(r, 25));
  }
}

function missingJournal(db: string): BeamlineError {
  return new BeamlineError(ErrorCodes.JOURNAL_MISSING, `${path.resolve(db)}: no journal at this path (no node ever ran here; pass --db FILE)`, { file: db });
}

/** `runtime resume PID`: retry a process paused by --on-divergence pause under the script as it is now. */
export async function resumeCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, dbOption);
  const [pid, ...extra] = rest;
  if (pid === undefined || extra.length > 0) throw new UsageError('resume: usage: runtime resume [--db FILE | --store URL] PID');
  const at = where(values);
  if (at.kind === 'postgres') await useStore(at.url, (store) => askOwner(store, 'resume', pid, (p) => ({ cmd: 'resume', pid: p })));
  else await ask(at.db, { cmd: 'resume', pid }, null);
  process.stdout.write(`resumed ${pid}\n`);
  return 0;
}

export async function queryCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, dbOption);
  const [pid, name, ...args] = rest;
  if (pid === undefined || name === undefined) throw new UsageError('query: usage: runtime query [--db FILE | --store URL] PID NAME [ARGS...]');
  const at = where(values);
  const answer =
    at.kind === 'postgres'
      ? (await useStore(at.url, (store) => askOwner(store, 'query', pid, (p) => ({ cmd: 'query', pid: p, name, args: scriptArgs(args) })))).result
      : await ask(at.db, { cmd: 'query', pid, name, args: scriptArgs(args) }, null);
  process.stdout.write(`${JSON.stringify(answer ?? null)}\n`);
  return 0;
}

export async function startChildCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, dbOption);
  const [sup, ...args] = rest;
  if (sup === undefined) throw new UsageError('start-child: usage: runtime start-child [--db FILE | --store URL] SUPERVISOR [ARGS...]');
  const at = where(values);
  const out =
    at.kind === 'postgres'
      ? (await useStore(at.url, (store) => askOwner<{ pid: string }>(store, 'start-child', sup, (p) => ({ cmd: 'startChild', sup: p, args: scriptArgs(args) })))).result
      : await ask<{ pid: string }>(at.db, { cmd: 'startChild', sup, args: scriptArgs(args) }, null);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}

/**
 * `runtime prune --keep DURATION`: forget the history of processes (and runs)
 * that ended more than DURATION ago. Through the running node, or, with none,
 * on the journal directly (taking its lock, so no node can start meanwhile).
 */
export async function pruneCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, { ...dbOption, keep: { type: 'string' } });
  if (rest.length > 0 || values.keep === undefined) throw new UsageError('prune: usage: runtime prune [--db FILE | --store URL] --keep DURATION (e.g. 7d)');
  const at = where(values);
  const db = (values.db as string | undefined) ?? DEFAULT_DB;
  const before = Date.now() - parseDuration(values.keep, '--keep');
  if (at.kind === 'postgres') {
    // The history of every node's processes is in the one database: any running node prunes it (a commit needs a node's lease).
    await useStore(at.url, (store) => askNode(store, anyNode(store, 'prune'), 'prune', { cmd: 'prune', before }));
  } else {
    try {
      await request(db, { cmd: 'prune', before });
    } catch (err) {
      if (!(err instanceof NoNodeError)) throw err;
      const store = openJournal(db, { keys: resolveKeys(values['journal-key'] as string | undefined) });
      try {
        store.append([{ type: 'history.pruned', before }]);
      } finally {
        store.close();
      }
    }
  }
  process.stdout.write(`pruned the history of what ended before ${new Date(before).toISOString()}\n`);
  return 0;
}

/**
 * `runtime nodes --store URL`: the nodes of a PostgreSQL store, their
 * heartbeats, leases and the live processes each owns.
 */
export async function nodesCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, { ...dbOption, json: { type: 'boolean' } });
  if (rest.length > 0) throw new UsageError(`nodes: unexpected arguments: ${rest.join(' ')}`);
  const at = where(values);
  if (at.kind !== 'postgres') {
    throw new BeamlineError(
      ErrorCodes.ARG_INVALID,
      `nodes: ${path.resolve(at.db)} is a SQLite journal, run by one node at a time; nodes belong to a PostgreSQL store (--store postgres://user@host/db or BEAMLINE_STORE)`,
      { file: at.db },
    );
  }
  const rows = await useStore(at.url, nodeRows);
  process.stdout.write(values.json === true ? `${JSON.stringify(rows)}\n` : rows.length === 0 ? 'no node has run on this store\n' : `${formatNodes(rows)}\n`);
  return 0;
}
