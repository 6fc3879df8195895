// How much memory idle servers hold, parked and then hibernated: spawns N
// servers that never get a message, measures RSS once they are all parked
// in their threads, then once every one has hibernated (--hibernate-after
// 30 s, the default), and the latency of a call to a hibernated server beside a warm
// one, in the same run.
//
//   node --expose-gc bench/idle-servers.js [N=100000]

import path from 'node:path';
import { openNode, spawnMany } from './lib/beamline.js';
import { defaultThreads, percentile, script, settledRss, sortNumbers, until } from './lib/harness.js';

const n = Number(process.argv[2] ?? 100_000);
const opts = { threads: defaultThreads(), durability: 'full' };
// A 10,000-spawn fan-out is one round: give it more than the default 5 s slice on a loaded machine.
const { node, close } = await openNode(opts, { hibernateAfterMs: 30_000, sliceMs: 60_000 });
try {
  const before = await settledRss();
  const t0 = performance.now();
  const pids = [];
  for (let left = n; left > 0; left -= 10_000) pids.push(...(await spawnMany(node, 'idle-server.js', Math.min(10_000, left))));
  // Parked: every server has run its first round (none queued or being built); some may hibernate already if this took 30 s.
  await until(() => { const s = node.kernel.stats(); return s.processes >= n && s.queued === 0 && s.rebuilding === 0 && s.slicesInFlight === 0; }, { what: `${n} parked servers`, everyMs: 50, timeoutMs: 900_000 });
  const parkedMs = performance.now() - t0;
  const parked = await settledRss(1000);
  const threadsParked = node.kernel.stats().threads.map((t) => t.live);
  await until(() => node.kernel.stats().resident === 0 && node.kernel.stats().threads.every((t) => t.live === 0), { what: 'every server to hibernate', everyMs: 200, timeoutMs: 900_000 });
  const hibernated = await settledRss(3000);
  // Latency: 200 calls to hibernated servers (each wakes one from its journal) vs 200 to a warm one.
  const caller = path.join(path.dirname(script('idle-server.js')), '..', '..', 'test', 'fixtures', 'server', 'caller.js');
  const time = async (target) => {
    const t = performance.now();
    const pid = await node.spawn(caller, [target, 0, 'get', '30s']);
    const exit = await node.waitExit(pid);
    if (!exit.normal || exit.result?.ok === undefined) throw new Error(`call failed: ${JSON.stringify(exit.result ?? exit.reason)}`);
    return performance.now() - t;
  };
  const cold = [];
  const warm = [];
  const hot = pids[0];
  await time(hot);
  for (let i = 1; i <= 200; i++) {
    cold.push(await time(pids[i * Math.floor(n / 201)]));
    warm.push(await time(hot));
  }
  const c = sortNumbers(cold);
  const w = sortNumbers(warm);
  const mib = (b) => (b / 2 ** 20).toFixed(0);
  console.log(
    JSON.stringify({
      n,
      parkedMs: Math.round(parkedMs),
      rssBeforeMiB: mib(before),
      rssParkedMiB: mib(parked),
      rssHibernatedMiB: mib(hibernated),
      bytesPerParked: Math.round((parked - before) / n),
      bytesPerHibernated: Math.round((hibernated - before) / n),
      threadsParked,
      callP50: { hibernated: percentile(c, 50), warm: percentile(w, 50) },
      callP99: { hibernated: percentile(c, 99), warm: percentile(w, 99) },
    }),
  );
} finally {
  await close();
}
