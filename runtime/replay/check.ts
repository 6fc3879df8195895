// The replay check (`runtime replay`, `import { replay } from 'beamline'`):
// run recorded histories against the current code of their scripts, with no
// effect performed, and say for each process whether it replays cleanly or
// where it diverges. It guards a deploy: exit 0 only if every history replays.
//
// It is the executor's own replay path — the same Proc, the same replay
// cursor, the same natives — driven here without a kernel or a thread pool:
// a dry ThreadEnv routes nothing, and a dry Proc stops at the end of its
// history instead of going live, so nothing a native does live (arm a timer,
// send a request, run a step's fn) happens. The journal is read through the
// Store, read-only; a node may be running on it meanwhile.
//
// What it checks is what a resume checks: the commands (native, key, step)
// and waits of every recorded round, and — for a history that ends in an
// exit — that a history which ended normally still ends normally. Script
// code between natives is not observed (see README, "Changing code").

import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import type { NativeDef } from '../../natives/api.js';
import { builtinNatives, createRegistry, type Registry } from '../../natives/registry.js';
import type { HistoryExport } from '../control/inspect.js';
import { BeamlineError, ErrorCodes, isErrorData, toErrorData, type ErrorData } from '../errors.js';
import { makeCtxFactory } from '../executor/ctx.js';
import { Proc, type ThreadEnv } from '../executor/process.js';
import { loadScriptFresh, type ScriptFn } from '../executor/scripts.js';
import { decode } from '../journal/codec.js';
import { openJournal } from '../journal/sqlite.js';
import type { Store } from '../journal/store.js';
import type { Pid, RoundRecord } from '../protocol.js';

export interface ReplayOptions {
  /** Journal file to read (read-only). Default `./.beamline/journal.db`, unless `store` or `histories` is given. */
  db?: string;
  /** An open store to read instead of `db`. */
  store?: Store;
  /** Exported histories (`runtime history PID --json`) to replay instead of a journal. */
  histories?: HistoryExport[];
  /** Processes to replay. Default: every live process (with `all`, exited ones too). */
  pids?: Pid[];
  /** Also replay processes that have exited (their last run). */
  all?: boolean;
  /**
   * Replay against this file instead of each process's recorded script.
   * Without `pids`, it selects the processes whose script has the same file name.
   */
  script?: string;
  /** Module paths of extra natives (as `--natives` on the node). */
  natives?: string[];
}

export interface Divergence {
  step: number;
  expected: string;
  actual: string;
  /** `file:line:column` of the diverging call in the script, when the divergence was a call. */
  line?: string;
  message: string;
}

export interface ReplayResult {
  pid: Pid;
  run: number;
  /** The file replayed (the recorded script, or `script`). */
  script: string;
  ok: boolean;
  /** Rounds of the run's history (all of them when ok). */
  rounds: number;
  /** Where the history and the code part. */
  divergence?: Divergence;
  /** The replay could not be made (the script does not load): not ok, and not a divergence. */
  error?: { code: string; message: string };
}

export interface ReplayReport {
  /** True when every history replayed cleanly. */
  ok: boolean;
  results: ReplayResult[];
}

interface Subject {
  pid: Pid;
  run: number;
  script: string;
  args: Uint8Array;
  rounds: RoundRecord[];
}

/** Replay recorded histories against the current code; never performs an effect. */
export async function replay(opts: ReplayOptions = {}): Promise<ReplayReport> {
  const registry = await registryWith(opts.natives ?? []);
  const override = opts.script === undefined ? undefined : path.resolve(opts.script);
  const subjects = opts.histories !== undefined ? fromExports(opts.histories, opts.pids) : fromStore(opts, override);
  const loaded = new Map<string, Promise<ScriptFn>>();
  const results: ReplayResult[] = [];
  for (const s of subjects) {
    const file = override ?? s.script;
    let fn: ScriptFn;
    try {
      let load = loaded.get(file);
      if (load === undefined) loaded.set(file, (load = loadScriptFresh(file)));
      fn = await load;
    } catch (err) {
      const e = toErrorData(err, false);
      results.push({ pid: s.pid, run: s.run, script: file, ok: false, rounds: s.rounds.length, error: { code: e.code ?? 'BL_SCRIPT_INVALID', message: e.message } });
      continue;
    }
    results.push(await replayOne(s, file, fn, registry));
  }
  return { ok: results.every((r) => r.ok), results };
}

function fromStore(opts: ReplayOptions, override: string | undefined): Subject[] {
  const store = opts.store ?? openJournal(opts.db ?? path.join('.beamline', 'journal.db'), { readonly: true });
  try {
    let rows;
    if (opts.pids !== undefined && opts.pids.length > 0) {
      rows = opts.pids.map((pid) => {
        const row = store.process(pid);
        if (row === undefined) throw new BeamlineError(ErrorCodes.NOPROC, `replay: no process ${pid} in ${store.path}`, { pid });
        return row;
      });
    } else {
      rows = opts.all === true ? store.processes() : store.liveProcesses();
      if (override !== undefined) rows = rows.filter((r) => path.basename(r.script) === path.basename(override));
    }
    return rows.map((row) => ({
      pid: row.pid,
      run: row.run,
      script: row.script,
      args: row.args,
      rounds: store.history(row.pid, row.run).map((h) => decode(h.row) as RoundRecord),
    }));
  } finally {
    if (opts.store === undefined) store.close();
  }
}

function fromExports(histories: HistoryExport[], pids: Pid[] | undefined): Subject[] {
  for (const pid of pids ?? []) {
    if (!histories.some((h) => h?.pid === pid)) throw new BeamlineError(ErrorCodes.NOPROC, `replay: no history of process ${pid} among the ${histories.length} given`, { pid });
  }
  return histories
    .filter((h) => pids === undefined || pids.length === 0 || pids.includes(h.pid))
    .map((h, i) => {
      if (h?.format !== 'beamline.history/1' || !Array.isArray(h.rounds) || typeof h.argsBytes !== 'string') {
        throw new BeamlineError(ErrorCodes.ARG_INVALID, `replay: histories[${i}] is not a 'runtime history --json' document (format beamline.history/1)`);
      }
      return {
        pid: h.pid,
        run: h.run,
        script: h.script,
        args: Buffer.from(h.argsBytes, 'base64'),
        rounds: h.rounds.filter((r) => r.run === h.run).map((r) => decode(Buffer.from(r.row, 'base64')) as RoundRecord),
      };
    });
}

async function registryWith(natives: string[]): Promise<Registry> {
  if (natives.length === 0) return createRegistry(builtinNatives);
  const defs: NativeDef[] = [...builtinNatives];
  for (const file of natives) {
    const abs = path.resolve(file);
    if (!fs.existsSync(abs)) throw new BeamlineError(ErrorCodes.ARG_INVALID, `--natives: ${file}: no such file`, { file });
    const mod = (await import(abs)) as { default: NativeDef | NativeDef[] };
    defs.push(...(Array.isArray(mod.default) ? mod.default : [mod.default]));
  }
  return createRegistry(defs);
}

/** The microtask queue drained: the script is quiet (as a thread's round). */
const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function replayOne(s: Subject, file: string, fn: ScriptFn, registry: Registry): Promise<ReplayResult> {
  const base = { pid: s.pid, run: s.run, script: file, rounds: s.rounds.length };
  let args: unknown[];
  try {
    args = decode(s.args) as unknown[];
  } catch (err) {
    return { ...base, ok: false, error: { code: ErrorCodes.JOURNAL_CORRUPT, message: `process ${s.pid}: arguments cannot be decoded (${(err as Error).message})` } };
  }
  const proc = new Proc(dryEnv(registry), { pid: s.pid, run: s.run, script: file, args, fn, ctx: makeCtxFactory(registry) });
  proc.replay(s.rounds, [], { dry: true });
  let reason: unknown = null;
  // One round per recorded round at most; a guard against a driver bug, never a hang.
  for (let i = 0; proc.state === 'replaying' && i <= s.rounds.length; i++) {
    proc.beginRound();
    await drain();
    const out = proc.endRound();
    if (out?.exit != null) reason = out.exit.reason;
  }
  if (proc.state === 'replayed') return { ...base, ok: true };
  if (isErrorData(reason) && reason.code === ErrorCodes.NONDETERMINISM) return { ...base, ok: false, divergence: divergenceOf(reason) };
  const what = isErrorData(reason) ? `${reason.error}: ${reason.message}` : JSON.stringify(reason);
  return { ...base, ok: false, error: { code: ErrorCodes.INTERNAL, message: `process ${s.pid}: replay ended in state ${proc.state} (${what})` } };
}

function divergenceOf(reason: ErrorData): Divergence {
  const d = (reason.details ?? {}) as { step?: number; expected?: string; actual?: string; line?: string };
  const out: Divergence = { step: d.step ?? -1, expected: d.expected ?? '?', actual: d.actual ?? '?', message: reason.message };
  if (d.line !== undefined) out.line = d.line;
  return out;
}

/** A thread with nothing behind it: replay routes no message and starts no work. */
function dryEnv(registry: Registry): ThreadEnv {
  let scopes: AsyncLocalStorage<object> | null = null;
  let ids = 0;
  return {
    registry,
    maxMailbox: 0, // replay delivers nothing: no bound to keep
    deliver() {},
    newMailId: () => ids++,
    spawnHere: () => null,
    whereis: () => undefined,
    nameChanged() {},
    taken() {},
    trapped() {},
    unstored() {},
    ready() {},
    currentScope: () => scopes?.getStore(),
    withinScope(scope, fn) {
      scopes ??= new AsyncLocalStorage<object>();
      return scopes.run(scope, fn);
    },
  };
}
