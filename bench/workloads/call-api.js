// `call-api`: `procs` processes, each making 5 sequential callApi requests
// to a local server (its own process) that answers after 250 ms. Timed from
// the fan-out's start to the last committed exit. The baseline is the
// ideal: every process always has exactly one request in flight, so
// procs / 0.25 s calls per second. Two sizes, each on a fresh node: 1,000
// processes, and the durable peers' callapi workload, 200 processes (the
// issue's table compares its % of the ideal 800 calls/s with theirs).

import { openNode, resultsOf, spawnMany } from '../lib/beamline.js';
import { BENCH, perSecond, progress, row, runWorkload, scale, since, startServer } from '../lib/harness.js';

const DELAY_MS = 250;
const CALLS = 5;

await runWorkload(async (opts) => {
  const server = await startServer(`${BENCH}/lib/target-server.js`, [String(DELAY_MS)]);
  try {
    const many = await calls(opts, server, scale(opts, 1000, 100));
    const peers = await calls(opts, server, scale(opts, 200, 50));
    return [
      row({ ...many, goal: { text: 'ratio >= 0.9', test: (r) => r.ratio >= 0.9 } }),
      row({ ...peers, metric: `${peers.metric} (the peers' callapi workload)`, goal: { text: 'ratio >= 0.95', test: (r) => r.ratio >= 0.95 } }),
    ];
  } finally {
    await server.stop();
  }
});

/** `procs` processes x CALLS sequential calls on a fresh node: the fields of a row. */
async function calls(opts, server, procs) {
  const { node, close } = await openNode(opts);
  let ms;
  try {
    await resultsOf(node, await spawnMany(node, 'caller.js', 10, [server.url, 1])); // warm-up
    const start = performance.now();
    await resultsOf(node, await spawnMany(node, 'caller.js', procs, [server.url, CALLS]));
    ms = since(start);
  } finally {
    await close();
  }
  const total = procs * CALLS;
  progress('call-api', `${total} calls from ${procs} processes in ${ms.toFixed(0)} ms (ideal ${(CALLS * DELAY_MS).toFixed(0)} ms)`);
  return {
    workload: 'call-api',
    metric: `${procs} processes x ${CALLS} sequential callApi, ${DELAY_MS} ms server`,
    value: perSecond(total, ms),
    unit: 'calls/s',
    baseline: { name: `ideal: ${procs} / ${DELAY_MS / 1000} s`, value: perSecond(procs, DELAY_MS) },
  };
}
