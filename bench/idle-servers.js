// How much memory idle servers hold, parked and then hibernated: spawns N
// servers that never get a message, measures RSS once they are all parked
// in their threads, then once every one has hibernated (--hibernate-after
// 30 s, the default, or HIBERNATE_AFTER ms) and left the kernel's table, and
// the latency of a call to a hibernated server beside a warm one, in the
// same run; then restarts the node on the same journal (the servers stay
// out). Calls come in as the HTTP gateway's do (a request to a port), so
// no caller process is spawned per call.
//
//   node --expose-gc bench/idle-servers.js [N=100000]

import { openNode, runProcess } from './lib/beamline.js';
import { defaultThreads, percentile, script, settledRss, sortNumbers, tempJournal, until } from './lib/harness.js';

const n = Number(process.argv[2] ?? 100_000);
const hibernateAfterMs = Number(process.env.HIBERNATE_AFTER ?? 30_000);
const CALLS = 200;
const opts = { threads: defaultThreads(), durability: 'full' };
// A 10,000-spawn fan-out is one round: give it more than the default 5 s slice on a loaded machine.
const journal = tempJournal();
const nodeOpts = { db: journal.db, hibernateAfterMs, sliceMs: 60_000 };
let { node, close } = await openNode(opts, nodeOpts);
const mib = (b) => Math.round(b / 2 ** 20);
const progress = (line) => process.stderr.write(`idle-servers: ${line}\n`);
try {
  const before = await settledRss();
  const t0 = performance.now();
  // Keep a sample of pids to call, not all of them: a million strings would weigh in the RSS measured.
  // Every 10,000-server fan-out returns every `every`-th pid (a multiple of its 10,000 or a divisor of it).
  const every = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000].filter((k) => n / k > CALLS + 1).pop() ?? 1;
  const sample = [];
  let spawned = 0;
  for (let left = n; left > 0; left -= 10_000) {
    const batch = Math.min(10_000, left);
    sample.push(...(await runProcess(node, script('sampling-spawner.js'), ['./idle-server.js', batch, every])));
    spawned += batch;
    if (spawned % 100_000 === 0) progress(`${spawned} spawned, ${(performance.now() - t0).toFixed(0)} ms, RSS ${mib(process.memoryUsage().rss)} MiB`);
  }
  // Parked: every server has run its first round (none queued or being built); some may hibernate already if this took longer than hibernate-after.
  await until(() => { const s = node.kernel.stats(); return s.processes >= n && s.queued === 0 && s.rebuilding === 0 && s.slicesInFlight === 0; }, { what: `${n} parked servers`, everyMs: 50, timeoutMs: 1_800_000 });
  const parkedMs = performance.now() - t0;
  const parked = await settledRss(1000);
  const atParked = node.kernel.stats();
  progress(`${n} parked in ${parkedMs.toFixed(0)} ms, RSS ${mib(parked)} MiB (${atParked.pagedOut} already hibernated)`);
  await until(() => { const s = node.kernel.stats(); return s.pagedOut === n && s.threads.every((t) => t.live === 0); }, { what: 'every server to hibernate', everyMs: 200, timeoutMs: 1_800_000 });
  const hibernated = await settledRss(5000);
  progress(`all hibernated, RSS ${mib(hibernated)} MiB`);

  // Latency: calls to hibernated servers (each comes back from its journal) alternating with calls to a warm one.
  const call = (target) =>
    new Promise((resolve, reject) => {
      const t = performance.now();
      const port = node.openPort(() => {
        node.closePort(port);
        resolve(performance.now() - t);
      });
      if (!node.sendRequest(target, { type: 'call', from: port, body: 'get' }, port)) reject(new Error(`no process ${target}`));
    });
  const hot = sample[0];
  await call(hot);
  await call(hot);
  const cold = [];
  const warm = [];
  for (const pid of sample.slice(1, CALLS + 1)) {
    if (!node.kernel.isPagedOut(pid)) throw new Error(`${pid} is not hibernated before its call`);
    cold.push(await call(pid));
    warm.push(await call(hot));
  }
  const c = sortNumbers(cold);
  const w = sortNumbers(warm);

  // A restart on the same journal: the hibernated servers stay out (no record, no rebuild).
  await close();
  const r0 = performance.now();
  ({ node, close } = await openNode(opts, nodeOpts));
  const reopenMs = performance.now() - r0;
  await node.threadsLoaded();
  const readyMs = performance.now() - r0;
  const restarted = await settledRss(3000);
  const afterRestart = node.kernel.stats();
  const firstCallMs = await call(sample[CALLS + 1] ?? sample.at(-1));
  progress(`restarted in ${reopenMs.toFixed(0)} ms (threads ready ${readyMs.toFixed(0)} ms), ${afterRestart.pagedOut} still out, RSS ${mib(restarted)} MiB`);
  console.log(
    JSON.stringify({
      n,
      hibernateAfterMs,
      parkedMs: Math.round(parkedMs),
      rssBeforeMiB: mib(before),
      rssParkedMiB: mib(parked),
      rssHibernatedMiB: mib(hibernated),
      bytesPerParked: Math.round((parked - before) / n),
      bytesPerHibernated: Math.round((hibernated - before) / n),
      hibernatedAtParked: atParked.pagedOut,
      calls: cold.length,
      callP50: { hibernated: +percentile(c, 50).toFixed(2), warm: +percentile(w, 50).toFixed(2) },
      callP99: { hibernated: +percentile(c, 99).toFixed(2), warm: +percentile(w, 99).toFixed(2) },
      restart: { openMs: Math.round(reopenMs), threadsReadyMs: Math.round(readyMs), pagedOut: afterRestart.pagedOut, rssMiB: mib(restarted), firstCallMs: +firstCallMs.toFixed(2) },
    }),
  );
} finally {
  await close();
  journal.remove();
}
