// `call-api`: `procs` processes, each making 5 sequential callApi requests
// to a local server (its own process) that answers after 250 ms. Timed from
// the fan-out's start to the last committed exit. The goal's baseline is the
// ideal: every process always has exactly one request in flight, so
// procs / 0.25 s calls per second. Two sizes, each on a fresh node: 1,000
// processes, and the durable peers' callapi workload, 200 processes (the
// issue's table compares its % of the ideal 800 calls/s with theirs).
// A second row per size sets the same fan-out beside bare undici doing it
// from this process against the same server in the same minutes: on two
// cores shared with the server, the client and the server's own start-up
// (1,000 connections accepted at once) keep even a bare client well short
// of the ideal, and that row says how much of the gap is beamline's.

import { openNode, resultsOf, spawnMany } from '../lib/beamline.js';
import { BENCH, perSecond, progress, row, runWorkload, scale, since, startServer } from '../lib/harness.js';
import { undiciFanOut } from '../baselines/undici-loop.js';

const DELAY_MS = 250;
const CALLS = 5;
// Before the measured fan-out, this many waves of the same processes making
// one call each. A node's first burst is not its steady state: V8 compiles
// the kernel's and the threads' hot paths while it runs (see `timers`), and
// a fresh node's first fan-out of 1,000 took 650-750 µs of CPU per call
// against 250-300 µs for the same fan-out repeated on it. The bare client
// gets the same waves.
const WARM_WAVES = 2;

await runWorkload(async (opts) => {
  const server = await startServer(`${BENCH}/lib/target-server.js`, [String(DELAY_MS)]);
  try {
    const many = await calls(opts, server, scale(opts, 1000, 100));
    const peers = await calls(opts, server, scale(opts, 200, 50));
    return [
      row({ ...many.ideal, goal: { text: 'ratio >= 0.9', test: (r) => r.ratio >= 0.9 } }),
      row({ ...peers.ideal, metric: `${peers.ideal.metric} (the peers' callapi workload)`, goal: { text: 'ratio >= 0.95', test: (r) => r.ratio >= 0.95 } }),
      row(many.bare),
      row(peers.bare),
    ];
  } finally {
    await server.stop();
  }
});

/**
 * `procs` processes x CALLS sequential calls on a fresh node, then the same
 * fan-out from bare undici: the fields of the row against the ideal and of
 * the row against bare undici.
 */
async function calls(opts, server, procs) {
  const { node, close } = await openNode(opts);
  let ms;
  try {
    for (let w = 0; w < WARM_WAVES; w++) await resultsOf(node, await spawnMany(node, 'caller.js', procs, [server.url, 1]));
    const start = performance.now();
    await resultsOf(node, await spawnMany(node, 'caller.js', procs, [server.url, CALLS]));
    ms = since(start);
  } finally {
    await close();
  }
  const bareMs = await undiciFanOut(server.url, procs, CALLS, WARM_WAVES);
  const total = procs * CALLS;
  const ideal = CALLS * DELAY_MS;
  progress('call-api', `${total} calls from ${procs} processes in ${ms.toFixed(0)} ms; bare undici ${bareMs.toFixed(0)} ms (ideal ${ideal.toFixed(0)} ms)`);
  const measured = { workload: 'call-api', metric: `${procs} processes x ${CALLS} sequential callApi, ${DELAY_MS} ms server`, value: perSecond(total, ms), unit: 'calls/s' };
  return {
    ideal: { ...measured, baseline: { name: `ideal: ${procs} / ${DELAY_MS / 1000} s`, value: perSecond(procs, DELAY_MS) } },
    bare: {
      ...measured,
      metric: `${measured.metric}, against a bare client`,
      baseline: { name: `bare undici, ${procs} concurrent loops x ${CALLS} sequential GETs, same server, same run`, value: perSecond(total, bareMs) },
    },
  };
}
