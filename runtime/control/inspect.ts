// What `runtime ps`, `history` and `tree` show, computed from the journal
// (plus the live kernel's view when a node runs). The same code serves both
// cases, so a crashed node's journal reads exactly like a running one.

// The two functions only: date-fns' index loads every function it has (~300 ms
// on a loaded 2-core machine), and this file is on every node's boot path.
import { format } from 'date-fns/format';
import { formatDistanceStrict } from 'date-fns/formatDistanceStrict';
import { isErrorData } from '../errors.js';
import { decode, decodeRound } from '../journal/codec.js';
import { serialOf } from '../pid.js';
import type { HistoryRow, ProcessRow, Store } from '../journal/store.js';
import type { ProcState } from '../kernel/kernel.js';
import { snapshotOf, type CommandTuple, type Pid, type RoundRecord } from '../protocol.js';

export interface PsRow {
  pid: Pid;
  name: string;
  script: string;
  state: string;
  run: number;
  restarts: number;
  mailbox: number;
  lastStep: string;
  age: string;
  /** Journal rows in the current run: what a recovery replays (a server's stay under its snapshot interval). */
  history: number;
  /** The owning node's tag, on a PostgreSQL store (`runtime ps --store`); '-' for a process no node owns any more. */
  node?: string;
}

/** One row per live process (and, with `all`, exited ones too). */
/** What a running node adds to the journal's view: its names and each process's state. */
export interface LiveView {
  names(): ReadonlyMap<string, Pid>;
  stateOf(pid: Pid): ProcState | undefined;
  /** True for a live process whose record is out of the kernel (hibernated): shown as such, and not read back to be shown. */
  isPagedOut?(pid: Pid): boolean;
}

/**
 * A page of `ps`: rows in pid order (by serial), those after `after` only,
 * at most `limit` (unset or 0: all). Only the page's rows have their last
 * round read: that read, one per row, is what made a 100,000-row ps slow.
 */
export function psRows(store: Store, kernel: LiveView | null, opts: { all?: boolean; now?: number; limit?: number; after?: string } = {}): PsRow[] {
  const now = opts.now ?? Date.now();
  const after = opts.after === undefined ? 0 : serialOf(opts.after);
  const limit = opts.limit ?? 0;
  let rows: ProcessRow[];
  if (store.processPage !== undefined) {
    rows = store.processPage({ all: opts.all === true, after, limit });
  } else {
    rows = (opts.all ? store.processes() : store.liveProcesses()).filter((r) => serialOf(r.pid) > after).sort((a, b) => serialOf(a.pid) - serialOf(b.pid));
    if (limit > 0) rows = rows.slice(0, limit);
  }
  const names = new Map<Pid, string[]>();
  for (const [name, pid] of kernel !== null ? kernel.names() : new Map(store.names())) {
    names.set(pid, [...(names.get(pid) ?? []), name]);
  }
  const mailbox = store.mailboxCounts();
  return rows.map((row) => {
    const last = store.lastRound(row.pid, row.run);
    const state = kernel?.isPagedOut?.(row.pid) === true ? 'hibernated' : (kernel?.stateOf(row.pid) ?? (row.status === 'live' ? (pausedAt(last) ? 'diverged' : 'parked') : 'dead'));
    return {
      pid: row.pid,
      name: (names.get(row.pid) ?? []).join(',') || '-',
      script: shortScript(row.script),
      state: row.status === 'exited' ? `exited(${short(reasonOf(row))})` : state,
      run: row.run,
      restarts: row.restarts,
      mailbox: mailbox.get(row.pid) ?? 0,
      lastStep: lastStep(last),
      age: formatDistanceStrict(row.spawnedAt, now),
      history: store.historyLength?.(row.pid, row.run) ?? 0,
    };
  });
}

export function formatTable(rows: PsRow[]): string {
  const header: Array<keyof PsRow> = ['pid', 'name', 'script', 'state', 'run', 'restarts', 'mailbox', 'history', 'lastStep', 'age'];
  const titles = ['PID', 'NAME', 'SCRIPT', 'STATE', 'RUN', 'RESTARTS', 'MAILBOX', 'HISTORY', 'LAST STEP', 'AGE'];
  // Several nodes (PostgreSQL): which node owns each process, after the pid.
  if (rows.some((r) => r.node !== undefined)) {
    header.splice(1, 0, 'node');
    titles.splice(1, 0, 'NODE');
  }
  const cells = [titles, ...rows.map((r) => header.map((h) => String(r[h] ?? '-')))];
  const widths = titles.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => c.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function lastStep(row: HistoryRow | undefined): string {
  if (row === undefined) return '-';
  let rec: RoundRecord;
  try {
    rec = decodeRound<RoundRecord>(row.row, { what: 'journal row', pid: '', seq: row.seq });
  } catch {
    // ps lists every process: one damaged row must not hide the others.
    return `damaged row (seq ${row.seq})`;
  }
  if (rec.x !== undefined) return `exit ${short(rec.x)}`;
  if (rec.d !== undefined) return `diverged at step ${String((rec.d as { details?: { step?: unknown } }).details?.step ?? '?')}`;
  const cmd = rec.c.at(-1);
  if (cmd !== undefined) return `${cmd[0]} ${cmd[1]}${cmd[2] ? `(${cmd[2]})` : ''}`;
  const res = rec.r.at(-1);
  return res === undefined ? '-' : `${res[0]} resolved`;
}

/** The run's last row says its replay diverged and it was paused (--on-divergence pause). */
function pausedAt(row: HistoryRow | undefined): boolean {
  return row !== undefined && (decode(row.row) as RoundRecord).d !== undefined;
}

function reasonOf(row: ProcessRow): unknown {
  return row.reason === null ? 'normal' : decode(row.reason);
}

function shortScript(file: string): string {
  const cwd = process.cwd();
  return file.startsWith(`${cwd}/`) ? file.slice(cwd.length + 1) : file;
}

/** An exit reason in one line: `TypeError: boom [CODE]` for an error, JSON otherwise. */
export function describeReason(reason: unknown): string {
  if (isErrorData(reason)) {
    return `${reason.error}: ${reason.message.split('\n')[0]}${reason.code ? ` [${reason.code}]` : ''}`;
  }
  try {
    return JSON.stringify(reason) ?? String(reason);
  } catch {
    return String(reason);
  }
}

/** A compact one-line rendering of any journaled value. */
export function short(value: unknown, max = 60): string {
  let text: string;
  if (value instanceof Uint8Array) {
    try {
      text = JSON.stringify(decode(value));
    } catch {
      text = `<${value.length} bytes>`;
    }
  } else if (isErrorData(value)) {
    text = describeReason(value);
  } else {
    try {
      text = typeof value === 'string' ? value : (JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? decode(v) : v)) ?? String(value));
    } catch {
      text = String(value);
    }
  }
  text = readable(text);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * A readable timeline of a process: spawn, every round, every run, the exit.
 * `pid` may be a registered name; a supervisor's pid gets its recorded state
 * (supervisors are kernel-side state machines, journaled whole: they have no
 * rounds).
 */
export function historyLines(store: Store, pidOrName: Pid): string[] | null {
  const pid = store.process(pidOrName) !== undefined ? pidOrName : (store.names().find(([name]) => name === pidOrName)?.[1] ?? pidOrName);
  const proc = store.process(pid);
  if (proc === undefined) return supervisorLines(store, pid);
  const lines: string[] = [];
  const t = (at: number) => format(at, 'yyyy-MM-dd HH:mm:ss.SSS');
  // A server's snapshot rides at the end of its run's arguments: show the arguments it was started with, and the snapshot at its run.
  const args = decode(proc.args) as unknown[];
  const snap = Array.isArray(args) ? snapshotOf(args) : undefined;
  const shownArgs = snap === undefined ? proc.args : args.slice(0, -1);
  lines.push(`${t(proc.spawnedAt)}  spawned ${shortScript(proc.script)} ${short(shownArgs)}${proc.parent ? ` by ${proc.parent}` : ''}`);
  let run = 1;
  let last = proc.spawnedAt;
  for (const row of store.history(pid)) {
    if (row.run !== run) {
      run = row.run;
      const how = snap !== undefined && run === proc.run ? `from its snapshot ${short(snap.state, 80)}; earlier history dropped` : 'restarted';
      lines.push(`${t(row.at)}  ── run ${run} (${how}) ──`);
    }
    const rec = decodeRound<RoundRecord>(row.row, { what: 'journal row', pid, seq: row.seq });
    const gap = row.at - last;
    last = row.at;
    const prefix = `${t(row.at)}  ${gap >= 1000 ? `+${formatDistanceStrict(0, gap)}` : `+${gap}ms`}`.padEnd(34);
    for (const [step, ok, value] of rec.r) lines.push(`${prefix}  ← ${step} ${ok ? 'resolved' : 'failed'} ${value === undefined ? '' : short(received(value))}`.trimEnd());
    for (const c of rec.c) lines.push(`${prefix}  → ${describeCommand(c)}`);
    for (const l of rec.l ?? []) lines.push(`${prefix}  log ${l}`);
    if (rec.x !== undefined) lines.push(`${prefix}  exit ${short(rec.x, 120)}`);
    if (rec.d !== undefined) lines.push(`${prefix}  diverged, paused: ${short(rec.d, 160)}`);
  }
  if (proc.status === 'live') lines.push(`(live, run ${proc.run})`);
  else if (proc.result !== null) lines.push(`result ${short(proc.result, 200)}`);
  return lines.map(readable);
}

interface SupRecordView {
  spec: { strategy: string; intensity: number; periodMs: number; file?: string };
  parent: Pid | null;
  idInParent: string | null;
  children: Array<{ id: string; pid: Pid | null; state: string }>;
  restarts: number[];
  status: string;
}

function supervisorLines(store: Store, pid: Pid): string[] | null {
  const row = store.supervisors().find((s) => s.pid === pid);
  if (row === undefined) return null;
  const rec = decode(row.data) as SupRecordView;
  const t = (at: number) => format(at, 'yyyy-MM-dd HH:mm:ss.SSS');
  const lines = [
    `supervisor ${pid} (${rec.spec.strategy}, at most ${rec.spec.intensity} restarts per ${formatDistanceStrict(0, rec.spec.periodMs)})${rec.spec.file ? ` from ${shortScript(rec.spec.file)}` : ''}${rec.parent ? `, child '${rec.idInParent}' of ${rec.parent}` : ''}: ${rec.status}`,
  ];
  for (const c of rec.children) lines.push(`  child ${c.id}: ${c.pid ?? '-'} (${c.state})`);
  lines.push(rec.restarts.length === 0 ? '  no restarts within the period' : `  restarts within the period: ${rec.restarts.map(t).join(', ')}`);
  lines.push(`(a supervisor's state is journaled whole on every change; each child has its own history: runtime history PID)`);
  return lines;
}

/**
 * Journaled records hold epoch milliseconds (a timer's fire time): show them
 * as times. Only in command records, where such numbers are times by contract.
 */
function times(value: unknown): unknown {
  if (typeof value === 'number' && value >= 1e12 && value < 1e13) return `at ${format(value, 'HH:mm:ss.SSS')}`;
  if (Array.isArray(value)) return value.map(times);
  if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, times(v)]));
  }
  return value;
}

/** The gateway's reply addresses (`<tag>.port<n>`) are not processes: name them for what they are. */
function readable(text: string): string {
  return text.replace(/\b[0-9a-z]{4}\.port(\d+)\b/g, 'http-call#$1');
}

function received(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && 'data' in value && (value as { data: unknown }).data instanceof Uint8Array) {
    const v = value as { from: string; data: Uint8Array };
    return { from: v.from, msg: decode(v.data) };
  }
  return value;
}

function describeCommand([step, native, key, record, done, result]: CommandTuple): string {
  const k = key === null ? '' : `(${short(key, 40)})`;
  let rec = record === null || record === undefined ? '' : ` ${short(times(record), 50)}`;
  // A call's headers are shown whole: the journaled form holds only ctx.secret references and [redacted].
  const headers = typeof record === 'object' && record !== null ? (record as { headers?: unknown }).headers : undefined;
  if (headers !== undefined) rec = ` ${short(times({ ...(record as object), headers: undefined }), 50)} headers ${short(headers, 200)}`;
  const inline = done === 1 ? (result === undefined || result === null ? '' : ` = ${short(received(result))}`) : done === 2 ? ` ! ${short(result)}` : ' …';
  return `${step} ${native}${k}${rec}${inline}`;
}

// ───────────────────────────── history as JSON ─────────────────────────────

/**
 * `runtime history PID --json`: a process's history, decoded, as one JSON
 * document — to read, to diff, and to keep as a fixture that `replay()`
 * checks a changed script against. The decoded fields are for people; the
 * base64 `row` of each round (and `argsBytes`) are the journal's exact bytes,
 * which is what replay uses, so nothing is lost to JSON (undefined, Dates,
 * binary data).
 */
export interface HistoryExport {
  format: 'beamline.history/1';
  pid: Pid;
  script: string;
  args: unknown;
  /** base64 of the msgpack argument array, as journaled. */
  argsBytes: string;
  parent: Pid | null;
  status: 'live' | 'exited';
  /** The current (or last) run. */
  run: number;
  restarts: number;
  spawnedAt: string;
  exitedAt: string | null;
  reason: unknown;
  result: unknown;
  rounds: HistoryRound[];
}

/** A journaled command as `history --json` and the live view show it. */
export interface CommandView {
  step: number;
  native: string;
  key: string | null;
  record: unknown;
  outcome: 'waits' | 'returned' | 'threw';
  result: unknown;
}

/** One CommandTuple, readable: `readable` turns its recorded values into what the reader can print. */
export function commandView([step, native, key, record, done, result]: CommandTuple, readable: (v: unknown) => unknown): CommandView {
  return { step, native, key, record: readable(record), outcome: done === 0 ? 'waits' : done === 1 ? 'returned' : 'threw', result: readable(result) };
}

export interface HistoryRound {
  seq: number;
  run: number;
  at: string;
  resolutions: Array<{ step: number; ok: boolean; value: unknown }>;
  commands: CommandView[];
  logs: string[];
  exit?: unknown;
  /** Replay diverged here and the process was paused (--on-divergence pause): the NonDeterminismError. */
  diverged?: unknown;
  /** base64 of the journal row (msgpack of the round record). */
  row: string;
}

export function historyJson(store: Store, pid: Pid): HistoryExport | null {
  const proc = store.process(pid);
  if (proc === undefined) return null;
  const iso = (at: number) => new Date(at).toISOString();
  return {
    format: 'beamline.history/1',
    pid: proc.pid,
    script: proc.script,
    args: jsonReadable(decode(proc.args)),
    argsBytes: Buffer.from(proc.args).toString('base64'),
    parent: proc.parent,
    status: proc.status,
    run: proc.run,
    restarts: proc.restarts,
    spawnedAt: iso(proc.spawnedAt),
    exitedAt: proc.exitedAt === null ? null : iso(proc.exitedAt),
    reason: proc.status === 'live' ? null : jsonReadable(reasonOf(proc)),
    result: proc.result === null ? null : jsonReadable(decode(proc.result)),
    rounds: store.history(pid).map((h) => {
      const rec = decode(h.row) as RoundRecord;
      const round: HistoryRound = {
        seq: h.seq,
        run: h.run,
        at: iso(h.at),
        resolutions: rec.r.map(([step, ok, value]) => ({ step, ok, value: jsonReadable(value) })),
        commands: rec.c.map((c) => commandView(c, jsonReadable)),
        logs: rec.l ?? [],
        row: Buffer.from(h.row).toString('base64'),
      };
      if (rec.x !== undefined) round.exit = jsonReadable(rec.x);
      if (rec.d !== undefined) round.diverged = jsonReadable(rec.d);
      return round;
    }),
  };
}

/** A journaled value made JSON-readable: message bytes decoded (`{$msgpack: value}`), other bytes as base64. */
function jsonReadable(value: unknown, depth = 0): unknown {
  if (value === undefined) return null;
  if (value instanceof Uint8Array) {
    try {
      return { $msgpack: jsonReadable(decode(value), depth + 1) };
    } catch {
      return { $bytes: Buffer.from(value).toString('base64') };
    }
  }
  if (depth > 64 || typeof value !== 'object' || value === null) return value;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => jsonReadable(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonReadable(v, depth + 1)]));
}
