// `server`: the gateway echo written with ctx.serve beside the plain-loop
// echo (bench/scripts/echo.js), each under `runtime start --http` with 50
// connections, in the same run. For each: requests/s; the journal on disk
// after the load (checkpointed on a copy) per request, and the echo's history
// rows; then the node is killed with SIGKILL and started again on the same
// journal: recovery is the time from that start to the first answered
// request, shown whole and beyond the variant's own first boot on an empty
// journal (node start-up costs seconds on a loaded machine, the same for both). A plain loop's history —
// and so its recovery — grows with every request it ever answered; a
// server's is bounded by its snapshot interval.
//
//   node bench/workloads/server.js [--quick]   (SERVER_SECONDS=60, SERVER_EVERY=N to tune)

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CLI, progress, row, runWorkload, scale, script, startNode, stopNode, tempJournal } from '../lib/harness.js';
import { hammer } from '../lib/load.js';

const BODY = { hello: 'world', n: 42 };
const CONNECTIONS = 50;
const GATEWAY_LINE = /http gateway on (http:\/\/\S+)/;

await runWorkload(async (opts) => {
  const seconds = Number(process.env.SERVER_SECONDS ?? scale(opts, 30, 3));
  const every = process.env.SERVER_EVERY === undefined ? undefined : Number(process.env.SERVER_EVERY);
  const plain = await measure(opts, 'echo.js', [], seconds);
  const served = await measure(opts, 'server-echo.js', every === undefined ? [] : [every], seconds);
  progress('server', `ctx.serve ${describe(served)}; plain loop ${describe(plain)}`);
  const base = (what) => `plain-loop echo, ${what}`;
  return [
    row({
      workload: 'server',
      metric: `gateway echo with ctx.serve, ${CONNECTIONS} connections, ${seconds} s`,
      value: served.rps,
      unit: 'requests/s',
      baseline: { name: base(`${CONNECTIONS} connections`), value: plain.rps },
      goal: { text: 'ratio >= 1.0', test: (r) => r.ratio >= 1 },
    }),
    row({
      workload: 'server',
      metric: 'journal on disk per request (checkpointed)',
      value: served.bytes / served.requests,
      unit: 'bytes',
      baseline: { name: base('journal per request'), value: plain.bytes / plain.requests },
      better: 'lower',
    }),
    row({
      workload: 'server',
      metric: `journal on disk after ${seconds} s`,
      value: served.bytes / 2 ** 20,
      unit: 'MiB',
      baseline: { name: base(`after ${seconds} s`), value: plain.bytes / 2 ** 20 },
      better: 'lower',
      goal: { text: '< 2 MiB', test: (r) => r.value < 2 },
    }),
    row({
      workload: 'server',
      metric: "echo's history rows after the load (what a recovery replays)",
      value: served.rows,
      unit: 'rows',
      baseline: { name: base('history rows'), value: plain.rows },
      better: 'lower',
      floor: 1,
    }),
    row({
      workload: 'server',
      metric: 'recovery after SIGKILL: node start to first answer',
      value: served.recoveryMs,
      unit: 'ms',
      baseline: { name: base('recovery'), value: plain.recoveryMs },
      better: 'lower',
    }),
    row({
      workload: 'server',
      metric: 'recovery after SIGKILL: gateway listening to first answer (the echo rebuilt from its journal)',
      value: served.firstAnswerMs,
      unit: 'ms',
      baseline: { name: base('gateway listening to first answer'), value: plain.firstAnswerMs },
      better: 'lower',
      floor: 1,
      goal: { text: '<= 100 ms', test: (r) => r.value <= 100 },
    }),
    row({
      workload: 'server',
      metric: 'recovery after SIGKILL beyond a first boot on an empty journal (same variant)',
      value: served.recoveryMs - served.bootMs,
      unit: 'ms',
      baseline: { name: base('recovery beyond its first boot'), value: plain.recoveryMs - plain.bootMs },
      better: 'lower',
      floor: 1,
    }),
  ];
});

function describe(m) {
  return `${m.rps.toFixed(0)} req/s (p50 ${m.p50} ms), ${(m.bytes / 2 ** 20).toFixed(2)} MiB journal, ${m.rows} rows, boot ${m.bootMs.toFixed(0)} ms, recovery ${m.recoveryMs.toFixed(0)} ms (listening to first answer ${m.firstAnswerMs.toFixed(0)} ms, on the fresh journal ${m.freshAnswerMs.toFixed(0)} ms)`;
}

/** One echo under load, then killed and recovered. */
async function measure(opts, file, args, seconds) {
  const journal = tempJournal();
  const tree = path.join(journal.dir, 'tree.yaml');
  fs.writeFileSync(
    tree,
    ['strategy: one_for_one', 'children:', '  - id: echo', `    script: ${JSON.stringify(script(file))}`, `    args: ${JSON.stringify(args)}`, '    name: echo', ''].join('\n'),
  );
  const start = () =>
    startNode([CLI, 'start', '--db', journal.db, '--threads', String(opts.threads), '--durability', opts.durability, '--http', '127.0.0.1:0', tree]);
  /** Start a node on the journal; resolves with the gateway's URL and the ms from start to the first answer. */
  const boot = async () => {
    const t0 = process.hrtime.bigint();
    child = start();
    const url = GATEWAY_LINE.exec(await child.waitFor((l) => GATEWAY_LINE.test(l), 120_000))[1];
    const listening = process.hrtime.bigint();
    for (;;) {
      const res = await fetch(`${url}/call/echo`, { method: 'POST', body: JSON.stringify(BODY), headers: { 'content-type': 'application/json' } }).catch(() => null);
      if (res?.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const done = process.hrtime.bigint();
    return { url, ms: Number(done - t0) / 1e6, answerMs: Number(done - listening) / 1e6 };
  };
  let child = null;
  try {
    const fresh = await boot();
    const load = { body: BODY, connections: CONNECTIONS, seconds };
    await hammer(`${fresh.url}/call/echo`, { ...load, seconds: 1 }); // warm-up
    const r = await hammer(`${fresh.url}/call/echo`, load);
    if (r.rps === 0) throw new Error(`${file}: no request answered with 2xx (${r.non2xx} non-2xx, ${r.errors} errors)`);
    child.kill('SIGKILL');
    await child.exited;
    const disk = onDisk(journal);
    // Recovery: from the new node's start to the first answered request,
    // and how much longer that took than the first boot on an empty journal.
    const again = await boot();
    return { rps: r.rps, p50: r.p50, requests: r.rps * seconds, ...disk, bootMs: fresh.ms, recoveryMs: again.ms, firstAnswerMs: again.answerMs, freshAnswerMs: fresh.answerMs };
  } finally {
    if (child !== null) await stopNode(child);
    journal.remove();
  }
}

function size(file) {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * The journal after the kill, on a copy (the original is left as the crash
 * left it, WAL included, for the recovery): checkpointed, so its size is the
 * pages in use plus the free pages deleted rows left for reuse — what the
 * journal really grew by, not how full the WAL happened to be (it is
 * checkpointed every 4,000 pages, about 16 MB). Also the echo's history rows:
 * what the next boot replays.
 */
function onDisk(journal) {
  const copy = `${journal.db}.copy`;
  fs.copyFileSync(journal.db, copy);
  if (fs.existsSync(`${journal.db}-wal`)) fs.copyFileSync(`${journal.db}-wal`, `${copy}-wal`);
  const conn = new Database(copy);
  try {
    conn.pragma('wal_checkpoint(TRUNCATE)');
    const { pid } = conn.prepare(`SELECT pid FROM names WHERE name = 'echo'`).get();
    const rows = conn.prepare('SELECT count(*) AS n FROM journal WHERE pid = ? AND run = (SELECT run FROM processes WHERE pid = ?)').get(pid, pid).n;
    conn.close();
    const bytes = size(copy);
    return { bytes, rows };
  } finally {
    if (conn.open) conn.close();
    for (const f of [copy, `${copy}-wal`, `${copy}-shm`]) fs.rmSync(f, { force: true });
  }
}
