// `wake`: what a wake after idle costs. One process on an otherwise idle
// node waits `n` times in a row, one loop after the other:
//   sleep    ctx.sleep(50 ms)
//   call     ctx.callApi to a server (its own process) that answers after 50 ms
//   receive  ctx.receive({timeout: 50 ms}), no message ever comes
//   call0    ctx.callApi to a server that answers at once, a ctx.now() after each
// Lateness per wake = time from the wait's start to the process running
// again, minus 50 ms, on the real monotonic clock read inside the script
// (bench/scripts/waker.js says why not ctx.now()).
// Baselines, the same loops in a plain Node process of their own in the same
// run (bench/baselines/wake-loops.js): a raw `await setTimeout(50)` loop for
// sleep and receive, a raw undici loop against the same servers for call
// and call0. Each row gives the ratio and the margin over the baseline
// (the goals: p50 <= raw + 1 ms, p99 <= raw + 3 ms).

import { openNode, runProcess } from '../lib/beamline.js';
import { baselineFile, BENCH, percentile, percentileRows, progress, runScript, runWorkload, scale, script, sortNumbers, startServer } from '../lib/harness.js';

const MS = 50;
const WARM = 5;
const GOALS = {
  50: { text: '<= baseline + 1 ms', test: (r) => r.value <= r.baseline + 1 },
  99: { text: '<= baseline + 3 ms', test: (r) => r.value <= r.baseline + 3 },
};

await runWorkload(async (opts) => {
  const n = scale(opts, 200, 20);
  const slow = await startServer(`${BENCH}/lib/target-server.js`, [String(MS)]);
  const fast = await startServer(`${BENCH}/lib/target-server.js`, ['0']);
  let woke, raw;
  try {
    woke = await beamlineLoops(opts, n, slow.url, fast.url);
    raw = await runScript(baselineFile('wake-loops.js'), [n, MS, slow.url, fast.url]);
  } finally {
    await Promise.all([slow.stop(), fast.stop()]);
  }
  raw = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, sortNumbers(v)]));
  for (const [loop, base] of [['sleep', 'timer'], ['call', 'call'], ['receive', 'timer'], ['call0', 'call0']]) {
    progress('wake', `${loop}: p50/p99/max ${summary(woke[loop])} ms; raw ${base} loop ${summary(raw[base])} ms`);
  }
  const lateness = (loop, what, base, baseName) =>
    percentileRows({
      workload: 'wake',
      metric: (p) => `${n} x ${what}, one process: lateness per wake p${p}`,
      values: woke[loop],
      baseline: { name: (p) => `${baseName}, same run, p${p}`, values: raw[base] },
      floor: 0.1, // a timer fires on a 1 ms loop clock: a lateness under 0.1 ms is noise
      over: true,
      goals: GOALS,
    });
  return [
    ...lateness('sleep', `sleep(${MS})`, 'timer', `raw setTimeout(${MS}) loop`),
    ...lateness('call', `callApi to a ${MS} ms server (time over ${MS} ms)`, 'call', `raw undici loop, same server`),
    ...lateness('receive', `receive({timeout: ${MS}})`, 'timer', `raw setTimeout(${MS}) loop`),
    ...percentileRows({
      workload: 'wake',
      metric: (p) => `${n} x callApi to a 0 ms server with a now() between: per call p${p}`,
      values: woke.call0,
      baseline: { name: (p) => `bare undici loop, same server, p${p}`, values: raw.call0 },
      over: true,
    }),
  ];
});

/** Each loop in a process of its own on one idle node: sorted ms per wake, by loop. */
async function beamlineLoops(opts, n, slowUrl, fastUrl) {
  const lines = new Map(); // pid -> the ms of its wakes, in order
  const log = (pid, line) => {
    if (!line.startsWith('{"wake"')) return;
    if (!lines.has(pid)) lines.set(pid, []);
    lines.get(pid).push(JSON.parse(line).ms);
  };
  const { node, close } = await openNode(opts, { log });
  const loops = { sleep: [MS], call: [MS, slowUrl], receive: [MS], call0: [0, fastUrl] };
  const how = (loop) => (loop === 'call0' ? 'call' : loop);
  try {
    // Every loop once, briefly: the script compiled on a thread, the client's connections open.
    for (const [loop, args] of Object.entries(loops)) await runProcess(node, script('waker.js'), [how(loop), WARM, ...args]);
    const woke = {};
    for (const [loop, args] of Object.entries(loops)) {
      const pid = await node.spawn(script('waker.js'), [how(loop), n, ...args]);
      const exit = await node.waitExit(pid);
      if (!exit.normal) throw new Error(`waker ${loop} ${pid} exited abnormally: ${JSON.stringify(exit.reason)}`);
      // Log lines leave after the commit that covers them, and the exit is later still.
      const ms = lines.get(pid) ?? [];
      if (ms.length !== n) throw new Error(`waker ${loop} ${pid}: ${ms.length} of ${n} wakes logged (a replayed wake logs nothing, so it cannot be timed)`);
      const late = loop === 'call0' ? ms : ms.map((t) => t - MS);
      // The issue saw a process's first call cost far more than the rest: worth a line.
      progress('wake', `${loop}: first wake of the process ${late[0].toFixed(2)} ms`);
      woke[loop] = sortNumbers(late);
    }
    return woke;
  } finally {
    await close();
  }
}

function summary(sorted) {
  return [50, 99, 100].map((p) => percentile(sorted, p).toFixed(2)).join('/');
}
