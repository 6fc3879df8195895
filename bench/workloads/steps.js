// `steps`: one process makes `n` sequential callApi requests to a local
// server (its own process) that answers at once; every step waits for one
// journal commit (the answer before it, which the next request may carry),
// overlapped with the thread hop. Baseline: the same `n` requests straight
// from undici.
//
// Step latency is read by the server: the gap between the arrivals of
// request k and k+1 is one whole step. The p50 of the last 100 gaps over
// the first 100 shows whether a step gets dearer as the process's history
// grows.
//
// Encryption at rest: the same `n` steps on a journal with a key (requests
// and responses sealed with AES-256-GCM), beside the run in clear.

import { undiciLoop } from '../baselines/undici-loop.js';
import { encryptedJournal, openNode, runProcess } from '../lib/beamline.js';
import { BENCH, percentile, perSecond, progress, row, runWorkload, scale, script, since, sortNumbers, startServer } from '../lib/harness.js';

const EDGE = 100;

await runWorkload(async (opts) => {
  const n = scale(opts, 10_000, 1_000);
  const server = await startServer(`${BENCH}/lib/target-server.js`, ['0']);
  let ms, gaps, baseMs, baseGaps, encMs;
  try {
    const { node, close } = await openNode(opts);
    try {
      await runProcess(node, script('caller.js'), [server.url, 200]); // warm-up
      await arrivals(server);
      const start = performance.now();
      await runProcess(node, script('caller.js'), [server.url, n]);
      ms = since(start);
      gaps = await arrivals(server);
    } finally {
      await close();
    }
    const key = encryptedJournal();
    try {
      const { node, close } = await openNode(opts, key.options);
      try {
        await runProcess(node, script('caller.js'), [server.url, 200]); // warm-up
        const start = performance.now();
        await runProcess(node, script('caller.js'), [server.url, n]);
        encMs = since(start);
        await arrivals(server);
      } finally {
        await close();
      }
    } finally {
      key.remove();
    }
    await undiciLoop(server.url, 200); // warm-up
    await arrivals(server);
    baseMs = await undiciLoop(server.url, n);
    baseGaps = await arrivals(server);
  } finally {
    await server.stop();
  }
  const first = percentile(sortNumbers(gaps.slice(0, EDGE)), 50);
  const last = percentile(sortNumbers(gaps.slice(-EDGE)), 50);
  const p50 = percentile(sortNumbers(gaps), 50);
  const baseP50 = percentile(sortNumbers(baseGaps), 50);
  progress('steps', `${n} steps in ${ms.toFixed(0)} ms (p50 ${p50.toFixed(3)} ms, first/last ${EDGE}: ${first.toFixed(3)}/${last.toFixed(3)} ms); undici: ${baseMs.toFixed(0)} ms`);
  return [
    row({
      workload: 'steps',
      metric: `${n} sequential callApi steps, one process`,
      value: perSecond(n, ms),
      unit: 'steps/s',
      baseline: { name: `${n} sequential undici requests`, value: perSecond(n, baseMs) },
      goal: { text: 'ratio >= 0.5', test: (r) => r.ratio >= 0.5 },
    }),
    row({
      workload: 'steps',
      metric: `${n} sequential callApi steps, journal encrypted at rest`,
      value: perSecond(n, encMs),
      unit: 'steps/s',
      baseline: { name: 'same run, journal in clear', value: perSecond(n, ms) },
    }),
    row({
      workload: 'steps',
      metric: 'p50 step latency',
      value: p50,
      unit: 'ms',
      baseline: { name: 'p50 undici request latency', value: baseP50 },
      better: 'lower',
    }),
    row({
      workload: 'steps',
      metric: `p50 step latency, last ${EDGE} steps`,
      value: last,
      unit: 'ms',
      baseline: { name: `p50 step latency, first ${EDGE} steps`, value: first },
      better: 'lower',
      goal: { text: 'last/first <= 1.2', test: (r) => r.value / r.baseline <= 1.2 },
    }),
  ];
});

/** Gaps (ms) between consecutive numbered requests the server saw since the last call; forgets them. */
async function arrivals(server) {
  const res = await fetch(`${server.url}/__arrivals`);
  const seen = (await res.json()).sort((a, b) => a[0] - b[0]);
  const gaps = [];
  for (let k = 1; k < seen.length; k++) gaps.push(seen[k][1] - seen[k - 1][1]);
  return gaps;
}
