// Baseline for `wake`, run as a plain Node process of its own (no node
// under test beside it, as a user's script would run), right after the
// beamline loop it stands beside, so both see the machine in the same state:
//   node wake-loops.js timer N MS       N sequential `await setTimeout(MS)`
//   node wake-loops.js call N MS URL    N sequential undici GETs of URL, a
//                                       server that answers after MS
// Each wait timed as the workload times a wake: elapsed - MS (for `call`
// the server's own timer lateness is inside both sides). A few waits first,
// as the workload warms beamline up.
// Prints {"late": [ms...]} (in order) as one JSON line.

import { setTimeout as delay } from 'node:timers/promises';
import { undiciCalls } from './undici-loop.js';

const [kind, n, ms, url] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), process.argv[5]];
const WARM = 5;

async function timerLoop(count) {
  const took = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await delay(ms);
    took.push(performance.now() - t0);
  }
  return took;
}

const loop = kind === 'timer' ? timerLoop : kind === 'call' ? (count) => undiciCalls(url, count) : null;
if (loop === null || !Number.isInteger(n) || n < 1 || !Number.isFinite(ms) || (kind === 'call' && url === undefined)) {
  process.stderr.write('usage: node wake-loops.js timer|call N MS [URL]\n');
  process.exit(2);
}
await loop(WARM);
const late = (await loop(n)).map((t) => t - ms);
// undici keeps its sockets open for a while: the result is all we wait for.
process.stdout.write(`${JSON.stringify({ late })}\n`, () => process.exit(0));
