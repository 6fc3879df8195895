// `server`: the gateway echo written with ctx.serve beside the plain-loop
// echo (bench/scripts/echo.js), each under `runtime start --http` with 50
// connections, in the same run. For each: requests/s; the journal on disk
// after the load (database + WAL) per request, and the echo's history rows;
// then the node is killed with SIGKILL and started again on the same
// journal, and recovery is the time from that start to the first answered
// request (node boot included, the same for both). A plain loop's history —
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
      metric: 'journal on disk per request (database + WAL)',
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
      goal: { text: '<= 100 ms beyond the plain node boot', test: (r) => r.value <= r.baseline + 100 },
    }),
  ];
});

function describe(m) {
  return `${m.rps.toFixed(0)} req/s (p50 ${m.p50} ms), ${(m.bytes / 2 ** 20).toFixed(1)} MiB journal, ${m.rows} rows, recovery ${m.recoveryMs.toFixed(0)} ms`;
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
  let child = start();
  try {
    let url = GATEWAY_LINE.exec(await child.waitFor((l) => GATEWAY_LINE.test(l), 30_000))[1];
    const load = { body: BODY, connections: CONNECTIONS, seconds };
    await hammer(`${url}/call/echo`, { ...load, seconds: 1 }); // warm-up
    const r = await hammer(`${url}/call/echo`, load);
    if (r.rps === 0) throw new Error(`${file}: no request answered with 2xx (${r.non2xx} non-2xx, ${r.errors} errors)`);
    const bytes = size(journal.db) + size(`${journal.db}-wal`);
    child.kill('SIGKILL');
    await child.exited;
    const rows = historyRows(journal.db);
    // Recovery: from the new node's start to the first answered request.
    const t0 = process.hrtime.bigint();
    child = start();
    url = GATEWAY_LINE.exec(await child.waitFor((l) => GATEWAY_LINE.test(l), 120_000))[1];
    for (;;) {
      const res = await fetch(`${url}/call/echo`, { method: 'POST', body: JSON.stringify(BODY), headers: { 'content-type': 'application/json' } }).catch(() => null);
      if (res?.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const recoveryMs = Number(process.hrtime.bigint() - t0) / 1e6;
    return { rps: r.rps, p50: r.p50, requests: r.rps * seconds, bytes, rows, recoveryMs };
  } finally {
    await stopNode(child);
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

/** Rows of the echo's current run (read-only, after the kill: what the next boot replays). */
function historyRows(db) {
  const conn = new Database(db, { readonly: true });
  try {
    const { pid } = conn.prepare(`SELECT pid FROM names WHERE name = 'echo'`).get();
    return conn.prepare('SELECT count(*) AS n FROM journal WHERE pid = ? AND run = (SELECT run FROM processes WHERE pid = ?)').get(pid, pid).n;
  } finally {
    conn.close();
  }
}
