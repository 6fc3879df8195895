// `spawn`: durable processes started from outside and run to a committed
// exit, `INFLIGHT` outstanding at a time, against empty Piscina tasks with
// the same thread count and the same number outstanding. A beamline spawn
// here is: validate the script, journal the spawn, place it, run it on a
// thread, journal the exit (fsync under FULL), resolve waitExit.

import { piscinaTasks } from '../baselines/piscina.js';
import { openNode, runProcess } from '../lib/beamline.js';
import { perSecond, progress, row, runWorkload, scale, script, since } from '../lib/harness.js';
import { inFlight } from '../lib/load.js';

const INFLIGHT = 256;

await runWorkload(async (opts) => {
  const n = scale(opts, 50_000, 2_000);
  const file = script('empty.js');
  const { node, close } = await openNode(opts);
  let ms;
  try {
    // Warm-up: load the script on every thread and get the paths compiled.
    await inFlight(Math.min(n, 1000), INFLIGHT, () => runProcess(node, file));
    const start = performance.now();
    await inFlight(n, INFLIGHT, () => runProcess(node, file));
    ms = since(start);
  } finally {
    await close();
  }
  progress('spawn', `${n} processes in ${ms.toFixed(0)} ms`);
  const baseMs = await piscinaTasks({ threads: opts.threads, tasks: n, inflight: INFLIGHT });
  progress('spawn', `${n} Piscina tasks in ${baseMs.toFixed(0)} ms`);
  return [
    row({
      workload: 'spawn',
      metric: `spawn + exit (${INFLIGHT} in flight)`,
      value: perSecond(n, ms),
      unit: 'processes/s',
      baseline: { name: `empty Piscina run(), ${opts.threads} threads`, value: perSecond(n, baseMs) },
      goal: { text: 'ratio >= 1.0', test: (r) => r.ratio >= 1 },
    }),
  ];
});
