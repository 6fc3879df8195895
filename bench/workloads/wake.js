// `wake`: what a wake after idle costs. One process on an otherwise idle
// node waits `n` times in a row, one loop after the other:
//   sleep    ctx.sleep(50 ms)
//   call     ctx.callApi to a server (its own process) that answers after 50 ms
//   receive  ctx.receive({timeout: 50 ms}), no message ever comes
//   call0    ctx.callApi to a server that answers at once, a ctx.now() after each
// Lateness per wake = time from the wait's start to the process running
// again, minus 50 ms, on the real monotonic clock read inside the script
// (bench/scripts/waker.js says why not ctx.now()).
// Baselines, the same loops in a plain Node process of their own, each run
// right after its beamline loop (bench/baselines/wake-loops.js): a raw
// `await setTimeout(50)` loop for sleep and receive, a raw undici loop
// against the same servers for call and call0. Each row gives the ratio and
// the margin over the baseline (the goals: p50 <= raw + 1 ms,
// p99 <= raw + 3 ms).

import { openNode, runProcess } from '../lib/beamline.js';
import { baselineFile, BENCH, percentile, percentileRows, progress, runScript, runWorkload, scale, script, sortNumbers, startServer } from '../lib/harness.js';

const MS = 50;
const WARM = 5;
const GOALS = {
  50: { text: '<= baseline + 1 ms', test: (r) => r.value <= r.baseline + 1 },
  99: { text: '<= baseline + 3 ms', test: (r) => r.value <= r.baseline + 3 },
};

// The waker's log lines, by pid: the ms of each of its wakes, in order.
const wakeLog = {
  byPid: new Map(),
  line: (pid, line) => {
    if (!line.startsWith('{"wake"')) return;
    if (!wakeLog.byPid.has(pid)) wakeLog.byPid.set(pid, []);
    wakeLog.byPid.get(pid).push(JSON.parse(line).ms);
  },
};

await runWorkload(async (opts) => {
  const n = scale(opts, 200, 20);
  const slow = await startServer(`${BENCH}/lib/target-server.js`, [String(MS)]);
  const fast = await startServer(`${BENCH}/lib/target-server.js`, ['0']);
  // What each loop waits on in the script, and its raw twin in the baseline.
  const loops = {
    sleep: { script: ['sleep', MS], raw: ['timer', MS] },
    call: { script: ['call', MS, slow.url], raw: ['call', MS, slow.url] },
    receive: { script: ['receive', MS], raw: ['timer', MS] },
    call0: { script: ['call', 0, fast.url], raw: ['call', 0, fast.url] },
  };
  const woke = {};
  const raw = {};
  try {
    const { node, close } = await openNode(opts, { log: wakeLog.line });
    try {
      // Every loop once, briefly: the script compiled on a thread, the client's connections open.
      for (const { script: args } of Object.values(loops)) await runProcess(node, script('waker.js'), [args[0], WARM, ...args.slice(1)]);
      // Each beamline loop, then its raw twin at once: load on this shared machine drifts
      // from minute to minute, and a baseline is only fair if it saw the same minute.
      for (const [loop, { script: args, raw: rawArgs }] of Object.entries(loops)) {
        woke[loop] = await wakes(node, loop, n, args);
        const [kind, ms, url] = rawArgs;
        raw[loop] = sortNumbers((await runScript(baselineFile('wake-loops.js'), [kind, n, ms, ...(url === undefined ? [] : [url])])).late);
        progress('wake', `${loop}: p50/p99/max ${summary(woke[loop])} ms; raw ${kind} loop ${summary(raw[loop])} ms`);
      }
    } finally {
      await close();
    }
  } finally {
    await Promise.all([slow.stop(), fast.stop()]);
  }
  const lateness = (loop, what, baseName) =>
    percentileRows({
      workload: 'wake',
      metric: (p) => `${n} x ${what}, one process: lateness per wake p${p}`,
      values: woke[loop],
      baseline: { name: (p) => `${baseName}, same run, p${p}`, values: raw[loop] },
      floor: 0.1, // a timer fires on a 1 ms loop clock: a lateness under 0.1 ms is noise
      over: true,
      goals: GOALS,
    });
  return [
    ...lateness('sleep', `sleep(${MS})`, `raw setTimeout(${MS}) loop`),
    ...lateness('call', `callApi to a ${MS} ms server (time over ${MS} ms)`, `raw undici loop, same server`),
    ...lateness('receive', `receive({timeout: ${MS}})`, `raw setTimeout(${MS}) loop`),
    ...percentileRows({
      workload: 'wake',
      metric: (p) => `${n} x callApi to a 0 ms server with a now() between: per call p${p}`,
      values: woke.call0,
      baseline: { name: (p) => `bare undici loop, same server, same run, p${p}`, values: raw.call0 },
      over: true,
    }),
  ];
});

/** One waker of `n` wakes on `node`, alone: its lateness per wake (ms over the wait asked for), sorted. */
async function wakes(node, loop, n, [how, ms, url]) {
  const pid = await node.spawn(script('waker.js'), [how, n, ms, ...(url === undefined ? [] : [url])]);
  const exit = await node.waitExit(pid);
  if (!exit.normal) throw new Error(`waker ${loop} ${pid} exited abnormally: ${JSON.stringify(exit.reason)}`);
  // Log lines leave after the commit that covers them, and the exit is later still.
  const took = wakeLog.byPid.get(pid) ?? [];
  if (took.length !== n) throw new Error(`waker ${loop} ${pid}: ${took.length} of ${n} wakes logged (a replayed wake logs nothing, so it cannot be timed)`);
  const late = took.map((t) => t - ms);
  // The issue saw a process's first call cost far more than the rest: worth a line.
  progress('wake', `${loop}: first wake of the process ${late[0].toFixed(2)} ms late`);
  return sortNumbers(late);
}

function summary(sorted) {
  return [50, 99, 100].map((p) => percentile(sorted, p).toFixed(2)).join('/');
}
