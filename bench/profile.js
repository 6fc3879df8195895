#!/usr/bin/env node
// Profile one workload:
//
//   npm run profile -- WORKLOAD [--quick] [--threads N] [--durability D] [--tools flame,doctor,cpu] [--top N]
//
// Runs bench/workloads/WORKLOAD.js once per tool and writes everything under
// bench/results/profile/WORKLOAD-<time>/:
//   flame   clinic flame (0x): the main thread — the kernel — as a flame
//           graph (HTML), plus its top frames by self time printed here;
//   doctor  clinic doctor: event-loop delay, CPU, memory and handles of the
//           main thread (HTML), plus the issues it flags printed here;
//   cpu     node --cpu-prof: one .cpuprofile per thread (open them in Chrome
//           DevTools), plus each thread's top frames by self time printed
//           here. Clinic only sees the main thread; scripts run on the
//           worker threads, so this is the view of where *they* spend time.
// The profiled process is the one holding the node under test: the
// workload process, or for `http` the `runtime start` child it launches.
// In-process workloads also run their baselines in the profiled process:
// read the frames of the beamline phase (kernel, executor, sqlite, msgpackr).

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH, checkOptions, Child, OPTIONS, RESULTS, ROOT } from './lib/harness.js';
import { NODE_IN_CHILD, WORKLOADS } from './lib/workloads.js';

const TOOLS = ['flame', 'doctor', 'cpu'];
const CLINIC = path.join(ROOT, 'node_modules', '.bin', 'clinic');
const USAGE = `usage: npm run profile -- WORKLOAD [--quick] [--threads N] [--durability full|normal] [--tools ${TOOLS.join(',')}] [--top N]
workloads: ${WORKLOADS.join(', ')}
`;

async function main(argv) {
  let opts, workload, tools, top;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...OPTIONS, tools: { type: 'string', default: TOOLS.join(',') }, top: { type: 'string', default: '15' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length !== 1 || !WORKLOADS.includes(positionals[0])) throw new Error(`expected one workload (got ${positionals.join(' ') || 'none'})`);
    workload = positionals[0];
    tools = values.tools.split(',');
    const bad = tools.filter((t) => !TOOLS.includes(t));
    if (bad.length > 0) throw new Error(`--tools: unknown ${bad.join(', ')}`);
    top = Number(values.top);
    if (!Number.isInteger(top) || top < 1) throw new Error(`--top: expected a positive integer (got ${values.top})`);
    opts = checkOptions(values);
  } catch (err) {
    process.stderr.write(`profile: ${err.message}\n${USAGE}`);
    return 2;
  }
  if (!fs.existsSync(CLINIC) && tools.some((t) => t !== 'cpu')) {
    process.stderr.write(`profile: clinic is not installed (${path.relative(ROOT, CLINIC)}); run npm install\n`);
    return 2;
  }

  const dest = path.join(RESULTS, 'profile', `${workload}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  fs.mkdirSync(dest, { recursive: true });
  const workloadArgs = [path.join(BENCH, 'workloads', `${workload}.js`), '--out', path.join(dest, 'rows.json'), '--threads', String(opts.threads), '--durability', opts.durability];
  if (opts.quick) workloadArgs.push('--quick');

  // The profiler wraps the process that holds the node under test: the
  // workload process itself, or the `runtime` child it starts.
  const inChild = NODE_IN_CHILD.has(workload);
  const report = [];
  for (const tool of tools) {
    process.stderr.write(`profile: ${workload} under ${tool}${inChild ? ' (the runtime child process)' : ''} ...\n`);
    const { prefix, summarize } = PROFILERS[tool];
    const wrap = prefix(dest);
    if (inChild) await run(['--expose-gc', ...workloadArgs], { BEAMLINE_BENCH_WRAP: JSON.stringify(wrap) });
    else await run([...wrap, '--expose-gc', ...workloadArgs]);
    report.push(`## ${tool}`, ...summarize(dest, top), '');
  }
  fs.writeFileSync(path.join(dest, 'summary.md'), `${report.join('\n')}\n`);
  process.stdout.write(`\n${report.join('\n')}\nprofile: written to ${path.relative(process.cwd(), dest)}/\n`);
  return 0;
}

// Each tool: what goes before the profiled script on its command line
// (after `node`), and how to summarise what it wrote.
const PROFILERS = {
  flame: {
    prefix: (dest) => [CLINIC, 'flame', '--open=false', '--dest', dest, '--', process.execPath],
    summarize(dest, top) {
      const dir = newest(dest, '.clinic-flame');
      const samples = JSON.parse(fs.readFileSync(path.join(dest, dir, `${dir}-samples`), 'utf8'));
      // Each sample is a stack, outermost frame first: the last frame is where
      // the time went. Empty stacks are ticks with nothing running: idle.
      const leaves = samples.filter((stack) => stack.length > 0).map((stack) => [stack[stack.length - 1].name, 1]);
      return [`main thread: ${leaves.length} busy of ${samples.length} samples; share of busy samples; report: ${path.join(dest, `${dir}.html`)}`, '', ...topFrames(leaves, top)];
    },
  },

  doctor: {
    // The preload keeps the worker threads' samplers out of the main thread's file.
    prefix: (dest) => [CLINIC, 'doctor', '--open=false', '--dest', dest, '--', process.execPath, '-r', path.join(BENCH, 'lib', 'doctor-preload.cjs')],
    summarize(dest) {
      const dir = newest(dest, '.clinic-doctor');
      const html = fs.readFileSync(path.join(dest, `${dir}.html`), 'utf8');
      // The analysis is embedded in the report as JSON: {"issues": {...}, "issueCategory": "..."}.
      const found = /"issues":(\{.*?\}),"issueCategory":"(\w+)"/.exec(html);
      if (found === null) return [`report: ${path.join(dest, `${dir}.html`)} (no analysis found in it)`];
      const flagged = Object.entries(JSON.parse(found[1])).flatMap(([k, v]) =>
        typeof v === 'object' ? Object.entries(v).map(([k2, v2]) => [`${k}.${k2}`, v2]) : [[k, v]],
      );
      return [
        `main thread; report: ${path.join(dest, `${dir}.html`)}`,
        '',
        `- diagnosis: ${found[2]} ('data': too little data to judge; 'none': no issue; else the kind of problem)`,
        `- flagged: ${flagged.filter(([, v]) => v !== 'none').map(([k, v]) => `${k} (${v})`).join(', ') || 'nothing'}`,
      ];
    },
  },

  cpu: {
    prefix: (dest) => ['--cpu-prof', '--cpu-prof-dir', path.join(dest, 'cpuprofile')],
    summarize(dest, top) {
      const dir = path.join(dest, 'cpuprofile');
      // Node writes CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is a main thread.
      const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
      const out = [`one profile per thread in ${dir}`];
      for (const file of files) {
        const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
        const [, , , pid, thread] = file.split('.');
        const all = selfTime(profile);
        const busy = all.filter(([name]) => name !== '(idle)');
        const busyUs = busy.reduce((sum, [, us]) => sum + us, 0);
        const totalUs = all.reduce((sum, [, us]) => sum + us, 0);
        if (busyUs < 50_000) continue; // a thread that hardly ran (a baseline's helper)
        const what = thread === '0' ? 'main thread (the kernel)' : `worker thread ${thread}`;
        out.push('', `process ${pid}, ${what}: busy ${(busyUs / 1000).toFixed(0)} of ${(totalUs / 1000).toFixed(0)} ms; share of busy time:`, '', ...topFrames(busy, top, 'ms', 1000));
      }
      return out;
    },
  },
};

/** Self time per function from a V8 .cpuprofile: [name, microseconds]. */
function selfTime(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const out = [];
  profile.samples.forEach((id, i) => {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame;
    out.push([`${functionName || '(anonymous)'} ${shorten(url)}${url ? `:${lineNumber + 1}` : ''}`.trim(), profile.timeDeltas[i] ?? 0]);
  });
  return out;
}

/** A markdown table of the heaviest names in [name, weight] pairs. */
function topFrames(pairs, top, unit = 'samples', divisor = 1) {
  const sums = new Map();
  let total = 0;
  for (const [name, w] of pairs) {
    sums.set(name, (sums.get(name) ?? 0) + w);
    total += w;
  }
  const rows = [...sums].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `| self | ${unit} | frame |`,
    '| ---: | ---: | --- |',
    ...rows.map(([name, w]) => `| ${((100 * w) / total).toFixed(1)}% | ${(w / divisor).toFixed(0)} | \`${shorten(name)}\` |`),
  ];
}

function shorten(s) {
  return s.replaceAll(`file://${ROOT}/`, '').replaceAll(`${ROOT}/`, '').replaceAll('node_modules/', '');
}

function newest(dir, suffix) {
  const found = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .map((f) => [f, fs.statSync(path.join(dir, f)).mtimeMs])
    .sort((a, b) => b[1] - a[1]);
  if (found.length === 0) throw new Error(`no ${suffix} output in ${dir}`);
  return found[0][0];
}

/** Run `node ...args` to completion, its progress on our stderr; throws on failure. */
async function run(args, env = {}) {
  // Clinic must not stop to ask about telemetry or look for updates.
  env = { ...process.env, NO_INSIGHT: '1', NO_UPDATE_NOTIFIER: '1', ...env };
  const child = new Child(args, { env, onLine: (line, stream) => stream === 'stderr' && process.stderr.write(`  ${line}\n`) });
  const exit = await child.exited;
  if (exit.code !== 0) throw new Error(`${child.describe()} failed (${exit.signal ?? exit.code})${child.tail()}`);
}

process.exitCode = await main(process.argv.slice(2));
