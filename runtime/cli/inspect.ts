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
import { drawTree, viewFromJournal, type TreeView } from '../supervisor/supervisor.js';
import { intOption, parseAnywhere, parseCommand, scriptArgs, UsageError } from './args.js';
import { looksLikePid } from '../pid.js';

// Each command accepts exactly its own options: `history --json` or
// `tree --all` is refused, not silently ignored.
const dbOption = { db: { type: 'string' }, 'journal-key': { type: 'string' } } as const;
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
  const db = (values.db as string | undefined) ?? DEFAULT_DB;
  const limit = intOption('limit', values.limit, 0, 2 ** 31 - 1) ?? PS_PAGE;
  const after = values.after as string | undefined;
  if (after !== undefined && !looksLikePid(after)) throw new UsageError(`--after: expected a pid such as ab12.1000 (got ${after})`);
  // One row more than the page: whether there is a next page, without counting them all.
  const page = { all: values.all === true, limit: limit === 0 ? 0 : limit + 1, ...(after === undefined ? {} : { after }) };
  let rows = await ask<PsRow[]>(db, { cmd: 'ps', ...page }, () => {
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
  const db = (values.db as string | undefined) ?? DEFAULT_DB;
  const views = await ask<TreeView[]>(db, { cmd: 'tree' }, () => {
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
  if (pid === undefined || extra.length > 0) throw new UsageError('history: usage: runtime history [--db FILE] [--json] PID');
  const db = (values.db as string | undefined) ?? DEFAULT_DB;
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
  if (to === undefined || json === undefined || extra.length > 0) throw new UsageError('send: usage: runtime send [--db FILE] PID|NAME JSON');
  let msg: unknown;
  try {
    msg = JSON.parse(json);
  } catch (err) {
    throw new UsageError(`send: message is not JSON: ${(err as Error).message}`);
  }
  await ask((values.db as string | undefined) ?? DEFAULT_DB, { cmd: 'send', to, msg }, null);
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
  if (pid === undefined || extra.length > 0) throw new UsageError('kill: usage: runtime kill [--db FILE] PID|NAME [REASON]');
  const db = (values.db as string | undefined) ?? DEFAULT_DB;
  const reason = reasonArg === undefined ? 'kill' : scriptArgs([reasonArg])[0];
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

function missingJournal(db: string): BeamlineError {
  return new BeamlineError(ErrorCodes.JOURNAL_MISSING, `${path.resolve(db)}: no journal at this path (no node ever ran here; pass --db FILE)`, { file: db });
}

/** `runtime resume PID`: retry a process paused by --on-divergence pause under the script as it is now. */
export async function resumeCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, dbOption);
  const [pid, ...extra] = rest;
  if (pid === undefined || extra.length > 0) throw new UsageError('resume: usage: runtime resume [--db FILE] PID');
  await ask((values.db as string | undefined) ?? DEFAULT_DB, { cmd: 'resume', pid }, null);
  process.stdout.write(`resumed ${pid}\n`);
  return 0;
}

export async function queryCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, dbOption);
  const [pid, name, ...args] = rest;
  if (pid === undefined || name === undefined) throw new UsageError('query: usage: runtime query [--db FILE] PID NAME [ARGS...]');
  const answer = await ask((values.db as string | undefined) ?? DEFAULT_DB, { cmd: 'query', pid, name, args: scriptArgs(args) }, null);
  process.stdout.write(`${JSON.stringify(answer ?? null)}\n`);
  return 0;
}

export async function startChildCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, dbOption);
  const [sup, ...args] = rest;
  if (sup === undefined) throw new UsageError('start-child: usage: runtime start-child [--db FILE] SUPERVISOR [ARGS...]');
  const out = await ask<{ pid: string }>((values.db as string | undefined) ?? DEFAULT_DB, { cmd: 'startChild', sup, args: scriptArgs(args) }, null);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}

/**
 * `runtime prune --keep DURATION`: forget the history of processes (and runs)
 * that ended more than DURATION ago. Through the running node, or, with none,
 * on the journal directly (taking its lock, so no node can start meanwhile).
 */
export async function pruneCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, { db: { type: 'string' }, keep: { type: 'string' }, 'journal-key': { type: 'string' } });
  if (rest.length > 0 || values.keep === undefined) throw new UsageError('prune: usage: runtime prune [--db FILE] --keep DURATION (e.g. 7d)');
  const db = (values.db as string | undefined) ?? DEFAULT_DB;
  const before = Date.now() - parseDuration(values.keep, '--keep');
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
  process.stdout.write(`pruned the history of what ended before ${new Date(before).toISOString()}\n`);
  return 0;
}
