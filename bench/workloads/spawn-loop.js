// `spawn-loop`: one parent spawns `n` children one `await ctx.spawn` at a
// time; each child does one ctx.step and sends back; the parent receives
// every reply (bench/scripts/spawn-loop.js). Timed from spawning the parent
// to its committed exit: processes/s. The goal is absolute
// (50,000/s); the same-run baseline is what the pool itself does: as many
// empty Piscina tasks, same thread count, 256 in flight (the `spawn`
// workload's baseline).

import { piscinaTasks } from '../baselines/piscina.js';
import { openNode, runProcess } from '../lib/beamline.js';
import { perSecond, progress, row, runWorkload, scale, script, since } from '../lib/harness.js';

const INFLIGHT = 256;

await runWorkload(async (opts) => {
  const n = scale(opts, 20_000, 1_000);
  const { node, close } = await openNode(opts);
  let ms;
  try {
    await runProcess(node, script('spawn-loop.js'), [Math.min(n, 1000)]); // warm-up
    const start = performance.now();
    await runProcess(node, script('spawn-loop.js'), [n]);
    ms = since(start);
  } finally {
    await close();
  }
  progress('spawn-loop', `${n} children spawned one at a time, all answered in ${ms.toFixed(0)} ms`);
  const baseMs = await piscinaTasks({ threads: opts.threads, tasks: n, inflight: INFLIGHT });
  progress('spawn-loop', `${n} Piscina tasks in ${baseMs.toFixed(0)} ms`);
  return [
    row({
      workload: 'spawn-loop',
      metric: `parent spawns ${n} children one await ctx.spawn at a time, each one step and a send back`,
      value: perSecond(n, ms),
      unit: 'processes/s',
      baseline: { name: `empty Piscina run(), ${opts.threads} threads, ${INFLIGHT} in flight`, value: perSecond(n, baseMs) },
      goal: { text: '>= 50,000 processes/s', test: (r) => r.value >= 50_000 },
    }),
  ];
});
