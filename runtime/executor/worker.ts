// The executor: the Piscina task function, one call per scheduler slice.
//
// A thread holds the processes the kernel placed on it (`live`), parked on
// promises between slices. A slice applies the kernel's items (start, wake,
// drop), then runs rounds — one process at a time, each followed by a full
// microtask drain — until nothing is runnable or the budget is spent, and
// returns everything that happened as one report.
//
// One process per drain is deliberate: it costs about a microsecond, and it
// means the shared `current` cell always names the process whose code is
// running, so the kernel can blame exactly one process for a runaway loop or
// a thread that died.

import { AsyncLocalStorage } from 'node:async_hooks';
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { move } from 'piscina';
import { builtinNatives, createRegistry, type Registry } from '../../natives/registry.js';
import type { NativeDef } from '../../natives/api.js';
import { BeamlineError, ErrorCodes, isBeamlineError, toErrorData, type ErrorData } from '../errors.js';
import { decode, decodeRound, decodeWire, encode, encodeWire } from '../journal/codec.js';
import { openReader } from '../journal/reader.js';
import type { ReaderSpec, StoreReader } from '../journal/store.js';
import {
  ID_STRIDE,
  MAIL_MESSAGE,
  type MailKind,
  type MailMarker,
  type Pid,
  type QueryItem,
  type RoundOut,
  type RoundRecord,
  type SliceReport,
  type SliceTask,
  type StartItem,
} from '../protocol.js';
import { internScript } from '../intern.js';
import { makePid } from '../pid.js';
import { makeCtxFactory } from './ctx.js';
import { Proc, type MailEntry, type ThreadEnv } from './process.js';
import { RunQueue } from './run-queue.js';
import { loadScript, type ScriptFn } from './scripts.js';

export interface WorkerData {
  /** How to open this thread's read-only view of the journal (from the store). */
  journal: ReaderSpec;
  /** The node's pid tag (children spawned here get `<tag>.<serial>` from the slot's range). */
  tag: string;
  /** Float64 per slot: the serial of the process running now (0: none). */
  current: SharedArrayBuffer;
  /** Module paths of user natives (each default-exports a NativeDef or an array). */
  natives: string[];
  /** --max-mailbox: a process holding more unread messages than this fails with BL_MAILBOX_FULL (0: no bound). */
  maxMailbox: number;
}

const data = workerData as WorkerData;
const current = new Float64Array(data.current);

let registry: Registry = createRegistry(builtinNatives);
let makeCtx = makeCtxFactory(registry);
let nativesLoaded: Promise<void> | null = null;

const live = new Map<Pid, Proc>();
const names = new Map<string, Pid>();
const queue = new RunQueue<Proc>();
let reader: StoreReader | null = null;
let scopes: AsyncLocalStorage<object> | null = null;

let slot = -1;
let inSlice = false;
let wakeRequested = false;
let nextId = 0;
let pidNext = 0;
let pidEnd = 0;
let report: SliceReport = emptyReport();
let unstored: Array<[Proc, MailEntry]> = [];

// A script's stray promise rejection must not take the thread (and every
// process on it) down; the process that owns it keeps running.
process.on('unhandledRejection', () => {});

// Scripts must not use timers (they break replay), but if one does and its
// callback throws or calls process.exit, the thread dies: the `current` cell
// must then name the process that armed the timer, not whichever process's
// round happens to be running. So timers carry their owner.
let owner = 0;
const realSetTimeout = globalThis.setTimeout;
const realSetInterval = globalThis.setInterval;
function owned<A extends unknown[]>(cb: (...args: A) => void): (...args: A) => void {
  const armedBy = owner;
  return (...args: A) => {
    const previous = current[slot] ?? 0;
    current[slot] = armedBy;
    cb(...args); // if this throws, the thread dies with its owner named
    current[slot] = previous;
  };
}
globalThis.setTimeout = ((cb: (...a: unknown[]) => void, ms?: number, ...rest: unknown[]) =>
  realSetTimeout(typeof cb === 'function' ? owned(cb) : cb, ms, ...rest)) as typeof setTimeout;
globalThis.setInterval = ((cb: (...a: unknown[]) => void, ms?: number, ...rest: unknown[]) =>
  realSetInterval(typeof cb === 'function' ? owned(cb) : cb, ms, ...rest)) as typeof setInterval;

function emptyReport(): SliceReport {
  return { slot, rounds: [], mail: [], taken: [], trapped: [], busy: 0, failed: [], kept: [], nextId: 0, pidNext: 0, spawns: [], probes: [], queries: [], heap: 0, live: 0 };
}

const env: ThreadEnv = {
  maxMailbox: data.maxMailbox,
  get registry() {
    return registry;
  },
  deliver(from, to, bytes) {
    const pid = names.get(to) ?? to;
    const target = live.get(pid);
    if (target !== undefined && target.state !== 'exited') {
      target.receiveLocal(from.pid, bytes);
      return;
    }
    report.mail.push({ id: newMailId(), to, from: from.pid, kind: MAIL_MESSAGE, data: bytes, local: false });
  },
  newMailId,
  spawnHere(parent, step, child) {
    if (pidNext >= pidEnd) return null;
    const pid = makePid(data.tag, pidNext++);
    report.spawns.push({ parent: parent.pid, run: parent.run, step, pid, ...child });
    return pid;
  },
  whereis(name) {
    return names.get(name);
  },
  nameChanged(name, owner) {
    if (owner === null) names.delete(name);
    else names.set(name, owner);
  },
  taken(id) {
    report.taken.push(id);
  },
  trapped(id, bytes) {
    report.trapped.push({ id, data: bytes });
  },
  unstored(proc, entry) {
    unstored.push([proc, entry]);
  },
  ready(proc) {
    if (!proc.queued) {
      proc.queued = true;
      queue.push(proc, proc.starting);
    }
    // Work that appears between slices (a step function finished) needs the
    // kernel to send a slice; ask once.
    if (!inSlice && !wakeRequested && slot >= 0) {
      wakeRequested = true;
      parentPort?.postMessage({ beamline: 'wake', slot, threadId });
    }
  },
  currentScope() {
    return scopes?.getStore();
  },
  withinScope(scope, fn) {
    scopes ??= new AsyncLocalStorage<object>();
    return scopes.run(scope, fn);
  },
};

function newMailId(): number {
  const id = nextId;
  nextId += ID_STRIDE;
  return id;
}

const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// Idle compaction. A burst (a fan-out of thousands of spawns, a wave of
// timers) leaves the heap full of garbage that V8 collects only when it next
// needs room, and until then it is resident memory: 100,000 parked processes
// looked like 12 KB each instead of the ~3 KB they hold. When a slice leaves
// the thread with nothing to run and the heap has grown well past what the
// last full collection kept, collect once the thread has been quiet for a
// moment (COMPACT_GROWN_QUIET_MS). So does the other side of a burst:
// thousands of processes leaving the thread (hibernating servers, evictions)
// leave their frames in the heap until V8 needs room; a thread whose 50,000
// servers had all hibernated kept 130 MB. That collection waits for a second
// of quiet: processes also leave by the thousand in a wave of exits.
// Both wait for quiet because a full collection takes 40–200 ms: run the
// moment a thread's queue empties, it landed in the middle of a wave of
// 100,000 timers (the queue empties between two slices) and held up every
// wake behind it.
const collect = exposeGc();
let keptAfterGc = getHeapStatistics().used_heap_size;
/** The most processes the thread held since the last full collection. */
let peakSinceGc = 0;
/** The collection waiting for quiet: every slice cancels it (notQuiet), every idle slice end may arm one. */
let quietGc: ReturnType<typeof setTimeout> | null = null;
const COMPACT_GROWTH = 64 * 2 ** 20;
const COMPACT_LEFT = 10_000;
const COMPACT_GROWN_QUIET_MS = 200;
const COMPACT_QUIET_MS = 1000;

// Young-generation collection on quiet. Processes started in a burst keep
// their state (the suspended script, its pending call) in the young
// generation while they sleep, since a sleeping thread allocates nothing.
// The first scavenge of their wake wave then copies all of it and the next
// promotes it: pauses of 10-28 ms in the middle of the wave, on the wakes'
// path. Two minor collections once the thread has been quiet for a moment
// move it to the old generation while nothing waits (a survivor is promoted
// at its second scavenge). Cheap when little is live: a thread that merely
// filled its young generation between wakes pays, while idle, the scavenge
// it would have paid in its next slice.
const PROMOTE_MIN = 2 * 2 ** 20;
const PROMOTE_QUIET_MS = 20;

function compactNow(): void {
  if (inSlice || queue.size > 0) return;
  collect!();
  keptAfterGc = getHeapStatistics().used_heap_size;
  peakSinceGc = live.size;
}

/**
 * The young generation's size is asked here, once the thread is quiet, not
 * at the slice's end: that would cost every slice that leaves its thread
 * idle ~15 µs before its report leaves, on the path of every wake.
 */
function promoteNow(): void {
  if (inSlice || queue.size > 0 || youngBytes() < PROMOTE_MIN) return;
  collect!({ type: 'minor' });
  collect!({ type: 'minor' });
}

function youngBytes(): number {
  for (const space of getHeapSpaceStatistics()) if (space.space_name === 'new_space') return space.space_used_size;
  return 0;
}

function compactWhenIdle(heap: number, held: number, idle: boolean): void {
  peakSinceGc = Math.max(peakSinceGc, held);
  if (!idle || collect === null) return;
  if (heap >= keptAfterGc + COMPACT_GROWTH) afterQuiet(COMPACT_GROWN_QUIET_MS, compactNow);
  else if (peakSinceGc - held >= COMPACT_LEFT) afterQuiet(COMPACT_QUIET_MS, compactNow);
  else afterQuiet(PROMOTE_QUIET_MS, promoteNow);
}

/** Run `collection` once the thread has had no slice for `ms`. Called once per slice, after notQuiet: none is pending. */
function afterQuiet(ms: number, collection: () => void): void {
  quietGc = setTimeout(() => {
    quietGc = null;
    collection();
  }, ms);
  quietGc.unref();
}

/** A slice begins: the thread is not quiet (see compactWhenIdle). */
function notQuiet(): void {
  if (quietGc === null) return;
  clearTimeout(quietGc);
  quietGc = null;
}

function exposeGc(): ((opts?: { type: 'minor' | 'major' }) => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as (opts?: { type: 'minor' | 'major' }) => void;
  } catch {
    return null;
  }
}


async function loadUserNatives(): Promise<void> {
  if (data.natives.length === 0) return;
  const defs: NativeDef[] = [...builtinNatives];
  for (const file of data.natives) {
    const mod = (await import(file)) as { default: NativeDef | NativeDef[] };
    defs.push(...(Array.isArray(mod.default) ? mod.default : [mod.default]));
  }
  registry = createRegistry(defs);
  makeCtx = makeCtxFactory(registry);
}

/** The Piscina task: one slice. */
export default async function slice(buf: Uint8Array): Promise<Uint8Array> {
  nativesLoaded ??= loadUserNatives();
  await nativesLoaded;
  const task = decodeWire<SliceTask>(buf);
  slot = task.slot;
  inSlice = true;
  notQuiet();
  wakeRequested = false;
  nextId = task.idNext;
  pidNext = task.pidNext;
  pidEnd = task.pidEnd;
  report = emptyReport();
  unstored = [];
  try {
    for (const [name, pid] of task.names) {
      if (pid === null) names.delete(name);
      else names.set(name, pid);
    }
    for (const file of task.probes) {
      try {
        await loadScript(file);
        report.probes.push([file, null]);
      } catch (err) {
        report.probes.push([file, toErrorData(err, false)]);
      }
    }
    await applyItems(task);
    await runRounds(task.budgetMs);
    if (queries.length > 0) await answerQueries();
    if (touched.size > 0) reportHandlers();
    report.busy = queue.size;
    for (const [proc, entry] of unstored) {
      if (entry.taken || entry.stored) continue;
      entry.stored = true;
      report.mail.push({ id: entry.id, to: proc.pid, from: entry.from, kind: entry.kind as MailKind, data: entry.data, local: true });
    }
    report.nextId = nextId;
    report.pidNext = pidNext;
    report.heap = getHeapStatistics().used_heap_size;
    report.live = live.size;
    compactWhenIdle(report.heap, live.size, queue.size === 0);
    // msgpackr returns a view into its reusable buffer: copy into a buffer of
    // our own before transferring it, or the next pack would write into a
    // detached buffer.
    return move(new Uint8Array(encodeWire(report))) as Uint8Array;
  } finally {
    inSlice = false;
    current[slot] = 0;
  }
}

let queries: QueryItem[] = [];

// How many onQuery handlers each process had when they were last reported.
// Handlers are only ever added, so a changed count means new names: the
// report carries them only then (and once after a rebuild), not every slice.
const reportedHandlers = new WeakMap<Proc, number>();
const touched = new Set<Proc>();

function reportHandlers(): void {
  for (const proc of touched) {
    const size = proc.locals.queryCount;
    if ((reportedHandlers.get(proc) ?? 0) === size) continue;
    reportedHandlers.set(proc, size);
    (report.handlers ??= []).push([proc.pid, proc.run, proc.locals.queryNames]);
  }
  touched.clear();
}

/**
 * Queries run after the rounds, so a process started (or rebuilt) in this
 * slice has replayed and registered its handlers first.
 */
async function answerQueries(): Promise<void> {
  for (const q of queries) {
    const proc = live.get(q.pid);
    if (proc === undefined || proc.state !== 'live') {
      report.queries.push([q.id, false, toErrorData(new BeamlineError(ErrorCodes.NOPROC, `query: process ${q.pid} is not running`), false)]);
      continue;
    }
    try {
      const answer = await proc.query(q.name, q.args);
      encode(answer); // must be sendable back
      report.queries.push([q.id, true, answer]);
    } catch (err) {
      report.queries.push([q.id, false, toErrorData(err, false)]);
    }
  }
  queries = [];
}

async function applyItems(task: SliceTask): Promise<void> {
  const starts = task.items.filter((i): i is StartItem => i.op === 'start');
  const scripts = new Map<string, ScriptFn | ErrorData>();
  await Promise.all(
    [...new Set(starts.map((s) => versioned(s)))].map(async (file) => {
      try {
        scripts.set(file, await loadVersion(file));
      } catch (err) {
        scripts.set(file, toErrorData(err, false));
      }
    }),
  );
  for (const item of task.items) {
    switch (item.op) {
      case 'start':
        start(item, scripts.get(versioned(item))!);
        break;
      case 'wake': {
        const proc = live.get(item.pid);
        if (proc === undefined || proc.state === 'exited') {
          report.failed.push({ pid: item.pid, run: -1, reason: 'not live on this thread' });
          break;
        }
        proc.push(item.marks);
        env.ready(proc);
        break;
      }
      case 'drop': {
        // A process with work running on this thread (a step's fn), or with
        // markers it has not applied yet, stays: the kernel is told, and
        // evicts it another time. Dropping it would lose those markers.
        const proc = live.get(item.pid);
        if (proc !== undefined && (proc.busy || proc.hasWork)) report.kept.push(item.pid);
        else live.delete(item.pid);
        break;
      }
      case 'query':
        queries.push(item);
        break;
    }
  }
}

/** A start's script and version, as one key: `file` or `file#v` (resumed after a fix). */
function versioned(item: StartItem): string {
  return item.v === undefined || item.v === 0 ? item.script : `${item.script}#${item.v}`;
}

function loadVersion(key: string): Promise<ScriptFn> {
  const hash = key.lastIndexOf('#');
  return hash < 0 ? loadScript(key) : loadScript(key.slice(0, hash), Number(key.slice(hash + 1)));
}

function start(item: StartItem, script: ScriptFn | ErrorData): void {
  const old = live.get(item.pid);
  if (old !== undefined) live.delete(item.pid);
  if (typeof script !== 'function') {
    report.rounds.push(exitNow(item.pid, item.run, script));
    return;
  }
  let args: unknown[];
  try {
    let bytes = item.args;
    if (bytes === null) {
      reader ??= openReader(data.journal);
      bytes = reader.args(item.pid);
      if (bytes === null) throw new BeamlineError(ErrorCodes.JOURNAL_CORRUPT, `process ${item.pid} is not in the journal`, { pid: item.pid });
    }
    args = decode(bytes) as unknown[];
  } catch (err) {
    report.rounds.push(exitNow(item.pid, item.run, toErrorData(err, false)));
    return;
  }
  const proc = new Proc(env, { pid: item.pid, run: item.run, script: internScript(item.script), args, fn: script, ctx: makeCtx });
  if (item.cold) {
    let rounds: RoundRecord[];
    let mailbox: MailMarker[];
    try {
      reader ??= openReader(data.journal);
      rounds = reader.history(item.pid, item.run).map(({ seq, row }) => decodeRound<RoundRecord>(row, { what: 'journal row', pid: item.pid, seq }));
      mailbox = reader.mailbox(item.pid).map((m) => ({ m: 'mail', id: m.id, from: m.sender, kind: m.kind as 0 | 1, data: m.data }));
    } catch (err) {
      // A damaged row fails this process, named, and nothing else: thrown
      // out of the slice it would fail the whole slice, which the kernel
      // hands back and retries forever.
      report.rounds.push(exitNow(item.pid, item.run, toErrorData(err, false), err));
      return;
    }
    proc.replay(rounds, mailbox);
  }
  proc.push(item.marks);
  live.set(item.pid, proc);
  touched.add(proc);
  env.ready(proc);
}

function exitNow(pid: Pid, run: number, reason: ErrorData, damage?: unknown): RoundOut {
  // A damaged journal is said on stderr (the process's log), not only in an
  // exit reason a supervisor may act on quietly.
  const logs = isBeamlineError(damage) && damage.code === ErrorCodes.JOURNAL_CORRUPT ? [`${damage.message} [${damage.code}]`] : [];
  return { pid, run, row: null, effects: [], settled: [], logs, exit: { reason, result: null, lastMessage: null } };
}

async function runRounds(budgetMs: number): Promise<void> {
  const deadline = performance.now() + budgetMs;
  for (let proc = queue.shift(); proc !== undefined; proc = queue.shift()) {
    proc.queued = false;
    if (live.get(proc.pid) !== proc || !proc.hasWork) continue;
    current[slot] = owner = proc.serial;
    touched.add(proc);
    try {
      proc.beginRound();
    } catch (err) {
      // Only what the journal or the kernel handed in can throw here (a
      // recorded result that does not decode): the process fails, named;
      // thrown out of the slice, it would fail every process on the thread
      // and be retried forever.
      current[slot] = owner = 0;
      live.delete(proc.pid);
      report.rounds.push(exitNow(proc.pid, proc.run, toErrorData(err, false), err));
      continue;
    }
    await drain();
    current[slot] = owner = 0;
    let out: RoundOut | null;
    try {
      out = proc.endRound();
    } catch (err) {
      // Same reason: a round that cannot be closed (its row not encodable)
      // fails its process, not the slice.
      live.delete(proc.pid);
      report.rounds.push(exitNow(proc.pid, proc.run, toErrorData(err, false), err));
      continue;
    }
    if (out !== null) report.rounds.push(out);
    if (proc.state === 'exited') live.delete(proc.pid);
    else if (proc.hasWork) env.ready(proc);
    if (performance.now() >= deadline) break;
  }
}
