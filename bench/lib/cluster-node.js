// One node of the `cluster` workload, as an OS process of its own:
//
//   node bench/lib/cluster-node.js '<json config>'
//
// config: { store?: postgres URL, db?: SQLite file, leaseMs?, threads,
// durability, jobs: [{ kind, ... }, ...] }. Opens a node (Node.open, as
// `runtime start` would). Load jobs run in order, each the same way: warm
// its path up, print {"ready": {...}}, wait for SIGUSR2 — the workload
// signals every node of a run at once, so their loads overlap — run this
// node's share, print {"done": {...}} (count, start and end on the
// machine's wall clock, this node's commits and their latency p50, the CPU
// time the node process used). After
// the last one the node closes and the process exits.
//
// Load jobs:
//   spawn   {n, inflight}       n empty processes spawned and run to exit
//   ping    {pairs, rounds}     `pairs` scripts/ping.js at once (its pong next to each)
//   call    {procs, calls, url} procs x calls sequential callApi (bench/scripts/caller.js)
//   idle    {ms}                nothing for ms: the node only keeps its lease
//   ping-to {pids, rounds}      one bench/scripts/pinger.js per pid (a pong on another node)
// Standing jobs (the only job of their node; it stays up until signalled):
//   sleep   {n, ms}             n processes parked on a long timer (SIGKILL is the point)
//   adopt   {expect}            prints {"holding": {...}} once its kernel holds
//                               `expect` parked processes taken over from a dead node
//   pong    {n}                 n scripts/pong.js; prints their pids

import path from 'node:path';
import { resultsOf, runProcess, spawnMany } from './beamline.js';
import { percentile, ROOT, script, sortNumbers } from './harness.js';
import { inFlight } from './load.js';

const { Node } = await import('../../dist/runtime/node.js');

const config = JSON.parse(process.argv[2]);
const PING = path.join(ROOT, 'scripts', 'ping.js');
const PONG = path.join(ROOT, 'scripts', 'pong.js');

/** Wall-clock milliseconds with sub-ms precision, comparable across the run's processes. */
const wall = () => performance.timeOrigin + performance.now();
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const node = await Node.open({
  ...(config.store !== undefined ? { store: config.store, leaseMs: config.leaseMs } : { db: config.db }),
  threads: config.threads,
  durability: config.durability,
  log: () => {},
});

// A node that must stop (its lease lapsed, its journal failed) ends the
// process, as `runtime start` does: the workload then fails with this line
// instead of waiting for a node that no longer works.
const stop = (err) => {
  process.stderr.write(`cluster-node ${node.tag}: stopped: ${err?.code ?? ''} ${err?.message ?? err}\n`);
  process.exit(3);
};
node.fatal.then(stop, stop);

let go = () => {};
process.on('SIGUSR2', () => go());
let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  node.close().then(() => process.exit(0));
});

/** Each load job: warm up, then resolve to the load itself, which resolves to how many operations it did. */
const LOADS = {
  async spawn(job) {
    await inFlight(Math.min(job.n, 200), job.inflight, () => runProcess(node, script('empty.js')));
    return async () => {
      await inFlight(job.n, job.inflight, () => runProcess(node, script('empty.js')));
      return job.n;
    };
  },
  async ping(job) {
    await runProcess(node, PING, [20]);
    return async () => {
      await Promise.all(Array.from({ length: job.pairs }, () => runProcess(node, PING, [job.rounds])));
      return job.pairs * job.rounds;
    };
  },
  async call(job) {
    await resultsOf(node, await spawnMany(node, 'caller.js', 5, [job.url, 1]));
    return async () => {
      await resultsOf(node, await spawnMany(node, 'caller.js', job.procs, [job.url, job.calls]));
      return job.procs * job.calls;
    };
  },
  async idle(job) {
    return async () => {
      await new Promise((resolve) => setTimeout(resolve, job.ms));
      return 0;
    };
  },
  async 'ping-to'(job) {
    return async () => {
      await Promise.all(job.pids.map((pid) => runProcess(node, script('pinger.js'), [pid, job.rounds])));
      return job.pids.length * job.rounds;
    };
  },
};

const parked = () => node.stats().states.parked;
const first = config.jobs[0];

if (first.kind === 'sleep') {
  await spawnMany(node, 'parked.js', first.n, [first.ms]);
  say({ ready: { tag: node.tag, parked: parked() } });
} else if (first.kind === 'pong') {
  const pids = [];
  for (let i = 0; i < first.n; i++) pids.push(await node.spawn(PONG, []));
  say({ ready: { tag: node.tag, pongs: pids } });
} else if (first.kind === 'adopt') {
  say({ ready: { tag: node.tag } });
  // Polled, not evented: the kernel has no "adopted" hook for outsiders, and
  // a 10 ms poll is well under the lease periods this measures.
  const timer = setInterval(() => {
    const n = parked();
    if (n >= first.expect) {
      clearInterval(timer);
      say({ holding: { at: wall(), parked: n, tag: node.tag } });
    }
  }, 10);
} else {
  for (const [i, job] of config.jobs.entries()) {
    const run = await LOADS[job.kind](job);
    const signalled = new Promise((resolve) => (go = resolve));
    say({ ready: { tag: node.tag, job: i } });
    await signalled;
    const before = node.stats();
    const cpu = process.cpuUsage();
    const start = wall();
    const count = await run();
    const end = wall();
    const used = process.cpuUsage(cpu);
    const after = node.stats();
    // The writer keeps its last 1,024 commit latencies: those of this job's end.
    const commits = after.commits - before.commits;
    const lat = after.commitLatencies.slice(-Math.min(commits, after.commitLatencies.length));
    say({
      done: {
        tag: node.tag,
        job: i,
        count,
        start,
        end,
        commits,
        events: after.committedEvents - before.committedEvents,
        commitP50: lat.length > 0 ? percentile(sortNumbers(lat), 50) : null,
        // CPU of the whole node process (main thread, worker threads, the writer's and reader's threads).
        cpuMs: (used.user + used.system) / 1000,
      },
    });
  }
  await node.close();
}
