// Plumbing shared by every workload: options, result rows, percentiles,
// child processes, temporary journals and memory readings.
//
// A workload is a script (bench/workloads/<name>.js) whose body is
//
//   await runWorkload(async (opts) => [row(...), row(...)]);
//
// run.js starts it in a child process of its own (so RSS, threads and
// journals never leak from one workload into the next) with
// `--out FILE [--quick] [--threads N] [--durability D]`, and reads the rows
// back from FILE. Run by hand (or under clinic), a workload prints its rows.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BENCH = path.join(ROOT, 'bench');
export const CLI = path.join(ROOT, 'dist', 'runtime', 'cli', 'main.js');
export const RESULTS = path.join(BENCH, 'results');

/** A beamline process script used only by benchmarks. */
export function script(name) {
  return path.join(BENCH, 'scripts', name);
}

/** A baseline implementation (bench/baselines/). */
export function baselineFile(name) {
  return path.join(BENCH, 'baselines', name);
}

// ───────────────────────────── options ─────────────────────────────

export const OPTIONS = {
  quick: { type: 'boolean', default: false },
  threads: { type: 'string' },
  durability: { type: 'string', default: 'full' },
  out: { type: 'string' },
};

/** Options as a workload sees them: validated, defaulted, frozen. */
export function workloadOptions(argv) {
  const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  return checkOptions(values);
}

export function checkOptions(values) {
  const threads = values.threads === undefined ? defaultThreads() : Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1 || threads > 63) {
    throw new Error(`--threads: expected an integer from 1 to 63 (got ${values.threads})`);
  }
  if (values.durability !== 'full' && values.durability !== 'normal') {
    throw new Error(`--durability: expected 'full' or 'normal' (got ${values.durability})`);
  }
  return Object.freeze({ quick: values.quick === true, threads, durability: values.durability, out: values.out });
}

/** The node's own default: one thread per core. */
export function defaultThreads() {
  return Math.max(1, Math.min(63, os.availableParallelism()));
}

/** The scale of a workload: `full` normally, `quick` under --quick. */
export function scale(opts, full, quick) {
  return opts.quick ? quick : full;
}

/**
 * The body of every workload file: parse argv, run, hand the rows over.
 * Exits non-zero with the error on stderr when the workload throws.
 */
export async function runWorkload(main) {
  let opts;
  try {
    opts = workloadOptions(process.argv.slice(2));
    deliver(opts, await main(opts));
  } catch (err) {
    if (err instanceof Skip) deliver(opts, [{ workload: err.workload, skipped: err.message }]);
    else {
      process.stderr.write(`${err?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  }
  // Let the process end by itself, so profilers (clinic) can finish writing
  // their samples; but a thread, socket or timer of the code under test that
  // stays behind must not hang the harness.
  setTimeout(() => {
    process.stderr.write('bench: something kept the workload process alive after it finished; exiting\n');
    process.exit();
  }, 10_000).unref();
}

function deliver(opts, rows) {
  if (opts?.out !== undefined) fs.writeFileSync(opts.out, JSON.stringify(rows));
  else process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
}

/** Thrown by a workload that cannot run here (a missing command): reported as skipped, not failed. */
export class Skip extends Error {
  constructor(workload, reason) {
    super(reason);
    this.workload = workload;
  }
}

/** Progress for the person watching (stderr, so stdout stays machine-readable). */
export function progress(workload, text) {
  process.stderr.write(`  ${workload}: ${text}\n`);
}

// ───────────────────────────── rows ─────────────────────────────

/**
 * One result row. `better` says which way the metric improves; `ratio` is
 * always oriented so that higher is better (baseline / value when lower is
 * better). `floor` clamps both sides before dividing: figures read from a
 * 1 ms clock cannot tell 0 from 1 ms, and a 0 must not make the ratio
 * infinite. `goal` is the target for the row, as text and a test.
 * `over: true` adds `over`, value - baseline in the row's unit, for figures
 * whose goal is a margin over the baseline (a lateness: "raw + 1 ms").
 */
export function row({ workload, metric, value, unit, baseline, better = 'higher', floor = 0, goal = null, over = false }) {
  const v = Math.max(value, floor);
  const b = Math.max(baseline.value, floor);
  const ratio = better === 'higher' ? v / b : b / v;
  const r = {
    workload,
    metric,
    value: round(value),
    unit,
    baseline: { name: baseline.name, value: round(baseline.value) },
    ratio: round(ratio),
  };
  if (over) r.over = round(value - baseline.value);
  if (goal !== null) {
    r.goal = goal.text;
    r.met = goal.test({ value, baseline: baseline.value, ratio });
  }
  return r;
}

/**
 * One row per percentile `ps` of a latency (`values`, sorted ascending)
 * beside the same percentile of a baseline measured in the same run
 * (`baseline.values`, sorted). `metric(p)` and `baseline.name(p)` name the
 * row; `goals[p]`, if any, is that row's goal. Lower is better.
 */
export function percentileRows({ workload, metric, values, baseline, ps = [50, 99], unit = 'ms', floor = 0, over = false, goals = {} }) {
  return ps.map((p) =>
    row({
      workload,
      metric: metric(p),
      value: percentile(values, p),
      unit,
      baseline: { name: baseline.name(p), value: percentile(baseline.values, p) },
      better: 'lower',
      floor,
      over,
      goal: goals[p] ?? null,
    }),
  );
}

function round(x) {
  if (!Number.isFinite(x)) return x;
  const digits = Math.abs(x) >= 100 ? 1 : 4;
  return Number(x.toFixed(digits));
}

// ───────────────────────────── statistics ─────────────────────────────

/** Nearest-rank percentile of an ascending array (p in [0, 100]). */
export function percentile(sorted, p) {
  if (sorted.length === 0) throw new Error('percentile of no values');
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function sortNumbers(values) {
  return Float64Array.from(values).sort();
}

/** Operations per second. */
export function perSecond(count, ms) {
  return (count * 1000) / ms;
}

/** Milliseconds since `start` (a performance.now() reading). */
export function since(start) {
  return performance.now() - start;
}

// ───────────────────────────── memory ─────────────────────────────

/**
 * Resident set size after letting garbage go. gc() (workloads run with
 * --expose-gc) collects only this thread's heap; worker threads collect on
 * their own, so give them a moment of idleness too.
 */
export async function settledRss(ms = 500) {
  globalThis.gc?.();
  await sleep(ms);
  globalThis.gc?.();
  return process.memoryUsage().rss;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `fn` every `everyMs` until it returns true; throws after `timeoutMs`. */
export async function until(fn, { timeoutMs = 120_000, everyMs = 10, what = 'condition' } = {}) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ───────────────────────────── journals ─────────────────────────────

/** A fresh journal path in its own temporary directory; `remove()` deletes it. */
export function tempJournal(prefix = 'beamline-bench-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, db: path.join(dir, 'journal.db'), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

// ───────────────────────────── child processes ─────────────────────────────

/**
 * A Node child process we drive: its output is read line by line so we can
 * wait for a line (a server's `{"port": N}`, a log line), and kept in a
 * short tail for error messages.
 */
export class Child {
  /** `{code, signal}` once the process has exited and its output is read, else null. */
  exit = null;
  #lines = [];
  #waiters = [];
  #tail = [];
  #onLine;

  #group;

  /**
   * `group: true` starts the child in a process group of its own and signals
   * the whole group, as a terminal's Ctrl-C does: a profiler wrapping a node
   * (clinic) expects its child to get the signal too.
   */
  constructor(args, { cwd = ROOT, env = process.env, onLine = () => {}, group = false } = {}) {
    this.args = args;
    this.#onLine = onLine;
    this.#group = group;
    this.proc = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: group });
    for (const stream of ['stdout', 'stderr']) {
      let buf = '';
      this.proc[stream].setEncoding('utf8');
      this.proc[stream].on('data', (chunk) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          this.#line(stream, buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      });
      this.proc[stream].on('end', () => buf.length > 0 && this.#line(stream, buf));
    }
    // 'close', not 'exit': the last lines may still be in the pipes at exit.
    this.exited = new Promise((resolve) => {
      this.proc.once('close', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
        for (const w of this.#waiters) w.fail(new Error(`${this.describe()} exited (${signal ?? code}) before printing the line we wait for${this.tail()}`));
        this.#waiters = [];
      });
    });
  }

  describe() {
    return `node ${this.args.map((a) => path.relative(ROOT, a) || a).join(' ')}`;
  }

  /** Resolves with the first line (from now on, or already seen) for which `test(line, stream)` is truthy. */
  waitFor(test, timeoutMs = 60_000) {
    const seen = this.#lines.find(({ stream, line }) => test(line, stream));
    if (seen !== undefined) return Promise.resolve(seen.line);
    if (this.exit !== null) return Promise.reject(new Error(`${this.describe()} has exited${this.tail()}`));
    return new Promise((resolve, reject) => {
      const waiter = { test, done: resolve, fail: reject };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for output from ${this.describe()}${this.tail()}`));
      }, timeoutMs);
      waiter.done = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
      waiter.fail = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      this.#waiters.push(waiter);
    });
  }

  /** The first stdout line that is a JSON object, parsed. */
  async json(timeoutMs) {
    const line = await this.waitFor((l, stream) => stream === 'stdout' && l.startsWith('{'), timeoutMs);
    return JSON.parse(line);
  }

  tail() {
    return this.#tail.length === 0 ? '' : `; last output:\n    ${this.#tail.join('\n    ')}`;
  }

  /** Stop the child (`signal`, then SIGKILL if it lingers) and wait for it. */
  async stop(signal = 'SIGTERM', graceMs = 5000) {
    if (this.exit !== null) return this.exit;
    this.kill(signal);
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  kill(signal) {
    try {
      if (this.#group) process.kill(-this.proc.pid, signal);
      else this.proc.kill(signal);
    } catch (err) {
      if (err.code !== 'ESRCH') throw err; // already gone
    }
  }

  #line(stream, line) {
    this.#onLine(line, stream);
    this.#tail.push(line.length > 300 ? `${line.slice(0, 300)}…` : line);
    if (this.#tail.length > 8) this.#tail.shift();
    // Long-running children (a server under load) may print a lot: only keep
    // what someone may still wait for.
    if (this.#lines.length < 1000) this.#lines.push({ stream, line });
    for (const w of [...this.#waiters]) {
      if (!w.test(line, stream)) continue;
      this.#waiters = this.#waiters.filter((x) => x !== w);
      w.done(line);
    }
  }
}

/**
 * The command line (after `node`) of a node under test that runs as a child
 * process: `args` as given, unless bench/profile.js asked for it to run
 * under a profiler (BEAMLINE_BENCH_WRAP: a JSON array of what goes before
 * the script, e.g. node flags, or a clinic command ending in `-- node`).
 */
export function nodeCommand(args) {
  const wrap = process.env.BEAMLINE_BENCH_WRAP;
  return wrap === undefined ? args : [...JSON.parse(wrap), ...args];
}

/**
 * Start a node under test (see nodeCommand). Under a profiler it gets a
 * process group of its own, so stopNode reaches the profiler's child too.
 */
export function startNode(args) {
  return new Child(nodeCommand(args), { group: process.env.BEAMLINE_BENCH_WRAP !== undefined });
}

/** Stop a node under test: SIGINT, as Ctrl-C would, lets `runtime start` shut down cleanly and a profiler write its report. */
export async function stopNode(child) {
  const wrapped = process.env.BEAMLINE_BENCH_WRAP !== undefined;
  return child.stop('SIGINT', wrapped ? 300_000 : 10_000);
}

/** Start a server script that prints `{"port": N}` when it listens; resolves once it does. */
export async function startServer(file, args = []) {
  const child = new Child([file, ...args]);
  const { port } = await child.json(30_000);
  return { child, port, url: `http://127.0.0.1:${port}`, stop: () => child.stop() };
}

/** Run a Node script to completion in its own process and return the JSON object it prints last. */
export async function runScript(file, args = [], { nodeArgs = [], timeoutMs = 600_000 } = {}) {
  let last = null;
  const child = new Child([...nodeArgs, file, ...args], {
    onLine: (line, stream) => {
      if (stream === 'stdout' && line.startsWith('{')) last = line;
    },
  });
  const timer = setTimeout(() => child.stop('SIGKILL'), timeoutMs);
  const exit = await child.exited;
  clearTimeout(timer);
  if (exit.code !== 0) throw new Error(`${child.describe()} failed (${exit.signal ?? exit.code})${child.tail()}`);
  if (last === null) throw new Error(`${child.describe()} printed no JSON result${child.tail()}`);
  return JSON.parse(last);
}
