#!/usr/bin/env node
// The benchmark harness:
//
//   node bench/run.js [--quick] [--threads N] [--durability full|normal] [--results DIR] [WORKLOAD...]
//
// Runs each workload (all of them by default) in a child process of its own,
// so RSS, threads and journals never carry over from one to the next; prints
// a progress line per workload and a markdown table; writes
// latest.json (an array of rows: workload, metric, value, unit, baseline
// {name, value}, ratio — higher is better — plus goal and met, and over,
// value minus baseline, where the goal is a margin) and latest.md
// (the table with machine, Node version, durability mode, date and load) into
// bench/results/ or --results DIR (the test uses a temporary one).
// Exit code: 0 when every workload ran (or was skipped), 1 when one failed,
// 2 on bad usage. A goal not met is a finding, not a failure.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH, checkOptions, Child, OPTIONS, RESULTS } from './lib/harness.js';
import { WORKLOADS } from './lib/workloads.js';

const USAGE = `usage: runtime bench (or: node bench/run.js) [--quick] [--threads N] [--durability full|normal] [--results DIR] [WORKLOAD...]
workloads: ${WORKLOADS.join(', ')}
`;

// A workload that takes longer than this is stuck, not slow.
const TIMEOUT_MS = { quick: 120_000, full: 1_200_000 };
// Quick limits for workloads that start many OS processes (cluster: a
// PostgreSQL server and ten nodes one after another), which a loaded
// machine slows down more than the rest.
const QUICK_TIMEOUT_MS = { cluster: 300_000 };

async function main(argv) {
  let values, positionals;
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: { ...OPTIONS, results: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true }));
    if (values.out !== undefined) throw new Error('--out is for workloads; run.js takes --results DIR');
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const unknown = positionals.filter((w) => !WORKLOADS.includes(w));
    if (unknown.length > 0) throw new Error(`unknown workload ${unknown.join(', ')}`);
    values = { ...checkOptions(values), results: path.resolve(values.results ?? RESULTS) };
  } catch (err) {
    process.stderr.write(`bench: ${err.message}\n${USAGE}`);
    return 2;
  }
  const opts = values;
  const selected = positionals.length > 0 ? WORKLOADS.filter((w) => positionals.includes(w)) : WORKLOADS;
  const run = describeRun(opts);
  process.stderr.write(`beamline bench${opts.quick ? ' (quick)' : ''}: ${run.machine}; ${run.node}; durability ${run.durability}; ${run.threads} threads; load ${run.load}; ${run.date}\n`);

  fs.mkdirSync(opts.results, { recursive: true });
  const rows = [];
  const failed = [];
  const started = performance.now();
  for (const [i, name] of selected.entries()) {
    const t0 = performance.now();
    process.stderr.write(`[${i + 1}/${selected.length}] ${name} ...\n`);
    const outcome = await runOne(name, opts);
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    if (outcome.error !== undefined) {
      failed.push(name);
      process.stderr.write(`[${i + 1}/${selected.length}] ${name} FAILED after ${secs} s: ${outcome.error}\n`);
      continue;
    }
    rows.push(...outcome.rows);
    const summary = outcome.rows.map((r) => (r.skipped !== undefined ? `skipped: ${r.skipped}` : `${r.metric} ${fmt(r.value)} ${r.unit} (x${fmt(r.ratio)})`));
    process.stderr.write(`[${i + 1}/${selected.length}] ${name} done in ${secs} s: ${summary.join('; ')}\n`);
  }
  const total = (performance.now() - started) / 1000;

  const table = markdown(rows, run, failed);
  process.stdout.write(`\n${table}\n`);
  process.stderr.write(`bench: ${selected.length} workload(s) in ${total.toFixed(1)} s${failed.length > 0 ? `; failed: ${failed.join(', ')}` : ''}\n`);
  fs.writeFileSync(path.join(opts.results, 'latest.json'), `${JSON.stringify(rows, null, 2)}\n`);
  fs.writeFileSync(path.join(opts.results, 'latest.md'), `${table}\n\nTotal: ${total.toFixed(1)} s.\n`);
  return failed.length > 0 ? 1 : 0;
}

/** Run bench/workloads/<name>.js in its own process; its rows come back through a file. */
async function runOne(name, opts) {
  const out = path.join(opts.results, `.${name}.${process.pid}.json`);
  const args = ['--expose-gc', path.join(BENCH, 'workloads', `${name}.js`), '--out', out, '--threads', String(opts.threads), '--durability', opts.durability];
  if (opts.quick) args.push('--quick');
  // Progress lines from the workload go straight through to our stderr. Its
  // own process group: a stuck workload is killed with its servers and nodes.
  const child = new Child(args, { group: true, onLine: (line) => process.stderr.write(`${line}\n`) });
  const limit = opts.quick ? (QUICK_TIMEOUT_MS[name] ?? TIMEOUT_MS.quick) : TIMEOUT_MS.full;
  const timer = setTimeout(() => child.stop('SIGKILL'), limit);
  try {
    const exit = await child.exited;
    if (exit.code !== 0) return { error: exit.signal === 'SIGKILL' ? `no result within ${limit / 1000} s` : `exit ${exit.signal ?? exit.code}` };
    const rows = JSON.parse(fs.readFileSync(out, 'utf8'));
    return { rows };
  } catch (err) {
    return { error: err.message };
  } finally {
    clearTimeout(timer);
    fs.rmSync(out, { force: true });
  }
}

function describeRun(opts) {
  const cpus = os.cpus();
  return {
    machine: `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.release()}`,
    node: `Node ${process.version}`,
    durability: opts.durability.toUpperCase(),
    threads: opts.threads,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    // Other work on the machine skews every figure: say how busy it was.
    load: os.loadavg()[0].toFixed(2),
  };
}

function markdown(rows, run, failed) {
  const lines = [
    `Machine: ${run.machine}. ${run.node}. Durability: ${run.durability}. Threads: ${run.threads}. Date: ${run.date}. Load average at start: ${run.load}.`,
    '',
    '| workload | metric | value | baseline (same run) | ratio | goal | met |',
    '| --- | --- | ---: | --- | ---: | --- | --- |',
  ];
  for (const r of rows) {
    if (r.skipped !== undefined) {
      lines.push(`| \`${r.workload}\` | skipped: ${r.skipped} | | | | | |`);
      continue;
    }
    const met = r.met === undefined ? '' : r.met ? 'yes' : '**no**';
    // A margin over the baseline, when the row has one, beside the ratio: "0.5 (+3 ms)".
    const over = r.over === undefined ? '' : ` (${r.over >= 0 ? '+' : ''}${fmt(r.over)} ${r.unit})`;
    lines.push(`| \`${r.workload}\` | ${r.metric} | ${fmt(r.value)} ${r.unit} | ${r.baseline.name}: ${fmt(r.baseline.value)} | ${fmt(r.ratio)}${over} | ${r.goal ?? ''} | ${met} |`);
  }
  for (const name of failed) lines.push(`| \`${name}\` | FAILED (see the log above) | | | | | |`);
  return lines.join('\n');
}

/** Numbers as people read them: thousands separated, a few significant digits. */
function fmt(x) {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && a < 1) return String(Number(x.toPrecision(3)));
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

process.exitCode = await main(process.argv.slice(2));
