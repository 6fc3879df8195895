// `http`: `runtime start --http` with a supervision tree of one registered
// echo process; autocannon (in this process, never the node under test)
// POSTs JSON to /call/echo, which the gateway delivers as a message and
// answers with the process's reply, once that reply's send is committed.
// Baseline: a bare node:http echo handler in a process of its own, under
// the same load. The goals: requests/s >= 0.5 x bare, p99 <= 3 x bare.

import fs from 'node:fs';
import path from 'node:path';
import { baselineFile, CLI, progress, row, runWorkload, scale, script, Skip, startNode, startServer, stopNode, tempJournal } from '../lib/harness.js';
import { hammer } from '../lib/load.js';

const BODY = { hello: 'world', n: 42 };
const CONNECTIONS = 50;
const GATEWAY_LINE = /http gateway on (http:\/\/\S+)/;

await runWorkload(async (opts) => {
  const seconds = scale(opts, 10, 2);
  const load = { body: BODY, connections: CONNECTIONS, seconds };
  const gw = await runGateway(opts, async (url, pid) => {
    await hammer(`${url}/call/echo`, { ...load, seconds: 1 }); // warm-up
    return withCpu(pid, seconds, () => hammer(`${url}/call/echo`, load));
  });
  const echo = await startServer(baselineFile('echo-server.js'));
  let bare;
  try {
    await hammer(echo.url, { ...load, seconds: 1 });
    bare = await withCpu(echo.child.proc.pid, seconds, () => hammer(echo.url, load));
  } finally {
    await echo.stop();
  }
  progress('http', `gateway ${describe(gw)}; bare node:http ${describe(bare)}`);
  if (gw.rps === 0) throw new Error(`the gateway answered no request with 2xx (${gw.non2xx} non-2xx, ${gw.errors} errors)`);
  const base = `bare node:http echo, ${CONNECTIONS} connections`;
  return [
    row({
      workload: 'http',
      metric: `gateway POST /call/echo, ${CONNECTIONS} connections`,
      value: gw.rps,
      unit: 'requests/s',
      baseline: { name: base, value: bare.rps },
      goal: { text: 'ratio >= 0.5', test: (r) => r.ratio >= 0.5 },
    }),
    row({ workload: 'http', metric: 'gateway latency p50', value: gw.p50, unit: 'ms', baseline: { name: `${base}, p50`, value: bare.p50 }, better: 'lower', floor: 1 }),
    row({
      workload: 'http',
      metric: 'gateway latency p99',
      value: gw.p99,
      unit: 'ms',
      baseline: { name: `${base}, p99`, value: bare.p99 },
      better: 'lower',
      floor: 1,
      goal: { text: '<= 3 x baseline', test: (r) => r.value <= 3 * Math.max(r.baseline, 1) },
    }),
    // CPU the server's process used per answered request, all its threads:
    // steadier than requests/s on a machine shared with other jobs.
    ...(gw.cpuUs === null || bare.cpuUs === null
      ? []
      : [row({ workload: 'http', metric: 'gateway CPU per request (node process, all threads)', value: gw.cpuUs, unit: 'µs', baseline: { name: `${base}, its process`, value: bare.cpuUs }, better: 'lower', floor: 1 })]),
  ];
});

/** Run `fn` (a hammer of `seconds`) and add the CPU time process `pid` used per 2xx answer, in µs (null where /proc is not there). */
async function withCpu(pid, seconds, fn) {
  const before = cpuMs(pid);
  const r = await fn();
  const after = cpuMs(pid);
  const answered = r.rps * seconds;
  return { ...r, cpuUs: before === null || after === null || answered === 0 ? null : ((after - before) * 1000) / answered };
}

/** User + system CPU time of a process in ms, from /proc/PID/stat (Linux, 100 ticks/s); null elsewhere. */
function cpuMs(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

function describe(r) {
  const bad = r.non2xx + r.errors > 0 ? `, ${r.non2xx} non-2xx, ${r.errors} errors` : '';
  return `${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms${bad}`;
}

/** Run `fn(url)` against `runtime start --http` serving a tree with a registered echo process. */
async function runGateway(opts, fn) {
  const journal = tempJournal();
  const tree = path.join(journal.dir, 'tree.yaml');
  fs.writeFileSync(tree, ['strategy: one_for_one', 'children:', '  - id: echo', `    script: ${JSON.stringify(script('echo.js'))}`, '    name: echo', ''].join('\n'));
  const args = [CLI, 'start', '--db', journal.db, '--threads', String(opts.threads), '--durability', opts.durability, '--http', '127.0.0.1:0', tree];
  const child = startNode(args);
  try {
    let line;
    try {
      line = await child.waitFor((l) => GATEWAY_LINE.test(l), 30_000);
    } catch (err) {
      // The command is younger than this harness: a build without it is a skip, not a failure.
      if (/unknown command 'start'|Unknown option '--http'/.test(child.tail())) throw new Skip('http', 'runtime start --http not available');
      throw err;
    }
    return await fn(GATEWAY_LINE.exec(line)[1], child.proc.pid);
  } finally {
    await stopNode(child);
    journal.remove();
  }
}
