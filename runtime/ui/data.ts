// The live view's data: JSON-ready views of a running node, read through
// Node's public methods only (stats, processes, processInfo, relationsOf,
// names and the journal store), never the kernel behind it. Every view here
// is a plain function of the node, so the endpoint tests call the same code
// the page does.

import { isErrorData } from '../errors.js';
import { commandView, describeReason, type CommandView, type PsRow } from '../control/inspect.js';
import { decode } from '../journal/codec.js';
import type { EffectRow } from '../journal/store.js';
import type { Node, NodeStats } from '../node.js';
import type { CommandTuple, Pid, RoundRecord } from '../protocol.js';

// ───────────────────────────── overview ─────────────────────────────

/** One point of the overview's charts: rates over the interval since the previous sample. */
export interface Sample {
  at: number;
  spawnedPerS: number;
  exitedPerS: number;
  wakesPerS: number;
  commitsPerS: number;
  /** Events per commit over the interval (0 when nothing was committed). */
  batch: number;
  /** Commit latency percentiles (ms) over the commits of the interval (or the most recent ones). */
  p50: number;
  p99: number;
  /** Per thread: share of the interval spent in slices (0..1). */
  busy: number[];
  rss: number;
  heapUsed: number;
}

export interface Overview {
  at: number;
  states: NodeStats['states'];
  totals: { spawned: number; exited: number; wakes: number; commits: number; events: number; timers: number };
  threads: NodeStats['threads'];
  rss: number;
  heapUsed: number;
  /** Oldest first; one point per sampler tick. */
  series: Sample[];
}

/** Percentile (0..1) of `values` (nearest rank); 0 for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/**
 * Turns successive Node.stats() snapshots into rates. It only runs while
 * someone looks (a page connected): nothing here is on the node's hot path.
 */
export class Sampler {
  readonly #node: Node;
  readonly #keep: number;
  #last: NodeStats | null = null;
  readonly #series: Sample[] = [];

  constructor(node: Node, keep = 120) {
    this.#node = node;
    this.#keep = keep;
  }

  /** Take a snapshot, append a point (from the second call on) and return the overview. */
  sample(): Overview {
    const now = this.#node.stats();
    const prev = this.#last;
    this.#last = now;
    if (prev !== null && now.at > prev.at) {
      const dt = (now.at - prev.at) / 1000;
      const commits = now.commits - prev.commits;
      const events = now.committedEvents - prev.committedEvents;
      // The latencies of this interval's commits (at most the writer's window).
      const recent = commits > 0 ? now.commitLatencies.slice(-commits) : [];
      this.#series.push({
        at: now.at,
        spawnedPerS: (now.spawned - prev.spawned) / dt,
        exitedPerS: (now.exited - prev.exited) / dt,
        wakesPerS: (now.wakes - prev.wakes) / dt,
        commitsPerS: commits / dt,
        batch: commits > 0 ? events / commits : 0,
        p50: percentile(recent, 0.5),
        p99: percentile(recent, 0.99),
        busy: now.threads.map((t, i) => Math.min(1, Math.max(0, (t.sliceMs - (prev.threads[i]?.sliceMs ?? 0)) / (dt * 1000)))),
        rss: now.rss,
        heapUsed: now.heapUsed,
      });
      if (this.#series.length > this.#keep) this.#series.splice(0, this.#series.length - this.#keep);
    }
    return overviewOf(now, this.#series);
  }
}

export function overviewOf(stats: NodeStats, series: Sample[] = []): Overview {
  return {
    at: stats.at,
    states: stats.states,
    totals: {
      spawned: stats.spawned,
      exited: stats.exited,
      wakes: stats.wakes,
      commits: stats.commits,
      events: stats.committedEvents,
      timers: stats.timers,
    },
    threads: stats.threads,
    rss: stats.rss,
    heapUsed: stats.heapUsed,
    series: [...series],
  };
}

// ───────────────────────────── processes ─────────────────────────────

/** A row of `runtime ps` (its identity and counters), with when it was spawned for sorting by age. */
export type ProcessListRow = Pick<PsRow, 'pid' | 'name' | 'script' | 'state' | 'run' | 'restarts' | 'mailbox'> & { spawnedAt: number };

/** One page of the table, plus the row-level detail (last step) only for that page. */
export interface ProcessPage {
  total: number;
  /** Processes in the node before filtering. */
  all: number;
  offset: number;
  limit: number;
  rows: Array<ProcessListRow & { lastStep: string; age: number }>;
}

export const SORT_KEYS = ['pid', 'name', 'script', 'state', 'run', 'restarts', 'mailbox', 'age'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface ProcessQuery {
  state?: string;
  name?: string;
  script?: string;
  sort?: SortKey;
  desc?: boolean;
  offset?: number;
  limit?: number;
}

/**
 * Every process the node holds (live, and dead ones a supervisor keeps for a
 * restart), one row each, from the kernel's table (state, script, run) and
 * the journal's brief of live rows (restarts, spawn time). 100,000
 * processes take a few hundred milliseconds: callers cache it (Throttled).
 */
export function processList(node: Node): ProcessListRow[] {
  const store = node.store;
  const names = new Map<Pid, string[]>();
  for (const [name, pid] of node.names()) names.set(pid, [...(names.get(pid) ?? []), name]);
  const mailbox = store.mailboxCounts();
  const brief = new Map<Pid, { restarts: number; spawnedAt: number }>();
  for (const s of store.liveSummaries?.() ?? []) brief.set(s.pid, s);
  const cwd = process.cwd();
  const rows: ProcessListRow[] = [];
  for (const proc of node.processes()) {
    // Not live in the journal: spawned since the last commit (nothing more
    // to read), or dead and held for a restart (its row has the count).
    const b = brief.get(proc.pid) ?? (proc.state === 'dead' ? store.process(proc.pid) : undefined);
    const n = names.get(proc.pid);
    rows.push({
      pid: proc.pid,
      name: n === undefined ? '-' : n.join(','),
      script: shortScript(proc.script, cwd),
      state: proc.state,
      run: proc.run,
      restarts: b?.restarts ?? 0,
      mailbox: mailbox.get(proc.pid) ?? 0,
      // Same synchronous pass: the node still holds `proc`.
      spawnedAt: b?.spawnedAt ?? node.processInfo(proc.pid)!.lastActive,
    });
  }
  return rows;
}

/** Filter, sort and page `rows` (from processList); the last step is read for the page's rows only. */
export function processPage(node: Node, rows: ProcessListRow[], q: ProcessQuery, now = Date.now()): ProcessPage {
  const name = q.name?.toLowerCase() ?? '';
  const script = q.script?.toLowerCase() ?? '';
  const state = q.state ?? '';
  const hits = rows.filter(
    (r) => (state === '' || r.state === state) && (name === '' || r.name.toLowerCase().includes(name)) && (script === '' || r.script.toLowerCase().includes(script)),
  );
  const key = q.sort ?? 'pid';
  const dir = q.desc ? -1 : 1;
  const cmp = comparator(key);
  hits.sort((a, b) => dir * cmp(a, b));
  const limit = Math.max(1, Math.min(500, q.limit ?? 50));
  const offset = Math.max(0, Math.min(q.offset ?? 0, Math.max(0, hits.length - 1)));
  const store = node.store;
  return {
    total: hits.length,
    all: rows.length,
    offset,
    limit,
    rows: hits.slice(offset, offset + limit).map((r) => {
      // The shown rows read their journal row: exact even where the listing is a cached second old.
      const row = store.process(r.pid);
      const restarts = row?.restarts ?? r.restarts;
      const spawnedAt = row?.spawnedAt ?? r.spawnedAt;
      return { ...r, restarts, spawnedAt, lastStep: lastStep(store.lastRound(r.pid, row?.run ?? r.run)?.row), age: now - spawnedAt };
    }),
  };
}

function comparator(key: SortKey): (a: ProcessListRow, b: ProcessListRow) => number {
  switch (key) {
    case 'pid':
      return (a, b) => pidOrder(a.pid) - pidOrder(b.pid) || a.pid.localeCompare(b.pid);
    case 'name':
    case 'script':
    case 'state':
      return (a, b) => a[key].localeCompare(b[key]);
    case 'run':
    case 'restarts':
    case 'mailbox':
      return (a, b) => a[key] - b[key];
    case 'age':
      // Oldest first: the longest-lived process has the greatest age.
      return (a, b) => a.spawnedAt - b.spawnedAt;
    default: {
      const never: never = key;
      throw new Error(`unknown sort key ${String(never)}`);
    }
  }
}

/** Pids are `<tag>.<serial>`: order by serial so p.10 comes after p.9. */
function pidOrder(pid: string): number {
  return Number(pid.slice(pid.indexOf('.') + 1));
}

function shortScript(file: string, cwd: string): string {
  return file.startsWith(`${cwd}/`) ? file.slice(cwd.length + 1) : file;
}

function lastStep(row: Uint8Array | undefined): string {
  if (row === undefined) return '-';
  const rec = decode(row) as RoundRecord;
  if (rec.x !== undefined) return `exit ${oneLine(rec.x)}`;
  const cmd = rec.c.at(-1);
  if (cmd !== undefined) return `${cmd[0]} ${cmd[1]}${cmd[2] ? `(${cmd[2]})` : ''}`;
  const res = rec.r.at(-1);
  return res === undefined ? '-' : `${res[0]} resolved`;
}

// ───────────────────────────── one process ─────────────────────────────

/** A journaled value made JSON-safe: nested msgpack decoded, errors kept as their data. */
export function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) {
    try {
      return plain(decode(value));
    } catch {
      return `<${value.length} bytes>`;
    }
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v)]));
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}

function oneLine(value: unknown, max = 80): string {
  const v = plain(value);
  const text = isErrorData(v) ? describeReason(v) : typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** One journal row, decoded: what resolved the process, what it issued, what it logged, how it ended. */
export interface TimelineEntry {
  seq: number;
  run: number;
  at: number;
  resolved: Array<{ step: number; ok: boolean; value: unknown; message?: { from: string; msg: unknown } }>;
  issued: CommandView[];
  logs: string[];
  exit?: unknown;
}

export function timeline(node: Node, pid: Pid, opts: { last?: number } = {}): { total: number; entries: TimelineEntry[] } {
  const rows = node.store.history(pid);
  const from = opts.last === undefined ? 0 : Math.max(0, rows.length - opts.last);
  return {
    total: rows.length,
    entries: rows.slice(from).map((row) => {
      const rec = decode(row.row) as RoundRecord;
      const entry: TimelineEntry = {
        seq: row.seq,
        run: row.run,
        at: row.at,
        resolved: rec.r.map(([step, ok, value]) => {
          const out: TimelineEntry['resolved'][number] = { step, ok, value: plain(value) };
          const m = messageOf(value);
          if (m !== null) out.message = m;
          return out;
        }),
        issued: rec.c.map((c: CommandTuple) => commandView(c, plain)),
        logs: rec.l ?? [],
      };
      if (rec.x !== undefined) entry.exit = plain(rec.x);
      return entry;
    }),
  };
}

/** A received message in a resolution: `{from, data}` with msgpack data. */
function messageOf(value: unknown): { from: string; msg: unknown } | null {
  if (typeof value === 'object' && value !== null && 'data' in value && (value as { data: unknown }).data instanceof Uint8Array) {
    const v = value as { from: string; data: Uint8Array };
    return { from: v.from, msg: plain(v.data) };
  }
  return null;
}

export interface PendingEffect {
  step: number;
  run: number;
  kind: string;
  /** Timers: when it fires (ms since epoch). */
  fireAt: number | null;
  /** HTTP calls: method and URL of the request. */
  method?: string;
  url?: string;
  /** HTTP calls in flight: which attempt is under way (1 = the first; more after 5xx/429 or network errors). */
  attempt?: number;
  done: boolean;
  request: unknown;
}

export interface ProcessDetail {
  pid: Pid;
  name: string[];
  script: string;
  args: unknown;
  parent: Pid | null;
  sup: string | null;
  state: string;
  status: 'live' | 'exited' | 'unknown';
  run: number;
  restarts: number;
  spawnedAt: number | null;
  exitedAt: number | null;
  /** Exit reason of a dead process (one line and as data). */
  exit: { reason: unknown; text: string; result: unknown } | null;
  links: Pid[];
  /** Monitors this process holds (target) and the ones on it (watcher). */
  monitoring: Array<{ ref: string; target: Pid }>;
  monitoredBy: Array<{ ref: string; watcher: Pid }>;
  effects: PendingEffect[];
  mailbox: { count: number; peek: Array<{ id: number; from: Pid; msg: unknown }> };
  /** Names of its onQuery handlers (each can be called from the page). */
  queries: string[];
}

/** Everything the process page shows but the timeline; null when neither the node nor its journal knows `pid`. */
export function processDetail(node: Node, pid: Pid, peek = 20): ProcessDetail | null {
  const store = node.store;
  const row = store.process(pid);
  const live = node.processInfo(pid);
  if (row === undefined && live === undefined) return null;
  const names = [...node.names()].filter(([, p]) => p === pid).map(([n]) => n);
  // The kernel's relations are current; the journal's trail them by one commit.
  const rel = node.relationsOf(pid) ?? null;
  const links = rel !== null ? rel.links : store.links().flatMap(([a, b]) => (a === pid ? [b] : b === pid ? [a] : []));
  const monitors = rel === null ? store.monitors() : null;
  const monitoring = rel !== null ? rel.monitoring : monitors!.filter((m) => m.watcher === pid).map(({ ref, target }) => ({ ref, target }));
  const monitoredBy = rel !== null ? rel.monitoredBy : monitors!.filter((m) => m.target === pid).map(({ ref, watcher }) => ({ ref, watcher }));
  const mail = store.mailbox(pid);
  const status = row?.status ?? 'unknown';
  let exit: ProcessDetail['exit'] = null;
  if (row !== undefined && row.status === 'exited') {
    const reason = row.reason === null ? 'normal' : plain(row.reason);
    exit = { reason, text: describeReason(reason), result: row.result === null ? null : plain(row.result) };
  } else if (live?.lastExit) {
    exit = { reason: plain(live.lastExit.reason), text: describeReason(plain(live.lastExit.reason)), result: plain(live.lastExit.result) };
  }
  return {
    pid,
    name: names,
    script: row?.script ?? live!.script,
    args: row === undefined ? null : plain(row.args),
    parent: row?.parent ?? live?.parent ?? null,
    sup: row?.sup ?? live?.sup ?? null,
    state: live?.state ?? (status === 'exited' ? 'exited' : 'parked'),
    status,
    run: live?.run ?? row?.run ?? 0,
    restarts: row?.restarts ?? 0,
    spawnedAt: row?.spawnedAt ?? null,
    exitedAt: row?.exitedAt ?? null,
    exit,
    links,
    monitoring,
    monitoredBy,
    effects: withAttempts(effectsOf(store.effects().filter((e) => e.pid === pid)), node.httpAttempts(pid)),
    mailbox: { count: mail.length, peek: mail.slice(0, peek).map((m) => ({ id: m.id, from: m.from, msg: plain(m.data) })) },
    queries: node.queryHandlers(pid),
  };
}

function withAttempts(effects: PendingEffect[], attempts: Array<{ step: number; attempt: number }>): PendingEffect[] {
  for (const { step, attempt } of attempts) {
    const e = effects.find((x) => x.step === step && x.kind === 'http');
    if (e !== undefined) e.attempt = attempt;
  }
  return effects;
}

function effectsOf(rows: EffectRow[]): PendingEffect[] {
  return rows
    .filter((e) => !e.done)
    .map((e) => {
      const request = e.data.length === 0 ? null : plain(e.data);
      const out: PendingEffect = { step: e.step, run: e.run, kind: e.kind, fireAt: e.at, done: e.done, request };
      if (e.kind === 'http' && typeof request === 'object' && request !== null) {
        const r = request as { url?: unknown; method?: unknown; req?: { url?: unknown; method?: unknown } };
        const req = r.req ?? r;
        if (typeof req.url === 'string') out.url = req.url;
        out.method = typeof req.method === 'string' ? req.method : 'GET';
      }
      return out;
    })
    .sort((a, b) => a.step - b.step);
}

// ───────────────────────────── pacing ─────────────────────────────

/**
 * A cached value that is rebuilt at most once per `minMs`, and never more
 * often than `share` of the time: a build that took 40 ms is reused for at
 * least 40 / share ms. This is what keeps the view's cost bounded on a big
 * node (100,000 processes) whatever the page asks for.
 */
export class Throttled<T> {
  readonly #build: () => T;
  readonly #minMs: number;
  readonly #share: number;
  #value: T | undefined;
  #at = -Infinity;
  #cost = 0;

  constructor(build: () => T, opts: { minMs?: number; share?: number } = {}) {
    this.#build = build;
    this.#minMs = opts.minMs ?? 1000;
    this.#share = opts.share ?? 0.02;
  }

  get(): T {
    const now = performance.now();
    if (this.#value === undefined || now - this.#at >= Math.max(this.#minMs, this.#cost / this.#share)) {
      this.#value = this.#build();
      const after = performance.now();
      this.#cost = after - now;
      this.#at = after;
    }
    return this.#value;
  }

  /** Drop the cached value (after an action changed it). */
  invalidate(): void {
    this.#value = undefined;
  }
}
