// Baseline for `wake`, run as a plain Node process of its own (no node
// under test beside it, as a user's script would run):
//   node wake-loops.js N MS SLOW_URL FAST_URL
// The waits of the `wake` workload without beamline, each timed the same way:
// - timer: N sequential `await setTimeout(MS)`, lateness = elapsed - MS;
// - call: N sequential undici GETs of SLOW_URL (answers after MS), elapsed - MS
//   (the server's own timer lateness is inside both sides);
// - call0: N sequential undici GETs of FAST_URL (answers at once), elapsed.
// A few of each first, as the workload warms beamline up.
// Prints {"timer": [ms...], "call": [ms...], "call0": [ms...]} as one JSON line.

import { setTimeout as delay } from 'node:timers/promises';
import { undiciCalls } from './undici-loop.js';

const [n, ms] = process.argv.slice(2, 4).map(Number);
const [slow, fast] = process.argv.slice(4, 6);
const WARM = 5;

async function timerLoop(count) {
  const late = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await delay(ms);
    late.push(performance.now() - t0 - ms);
  }
  return late;
}

await timerLoop(WARM);
const timer = await timerLoop(n);
await undiciCalls(slow, WARM);
const call = (await undiciCalls(slow, n)).map((t) => t - ms);
await undiciCalls(fast, WARM);
const call0 = await undiciCalls(fast, n);
// undici keeps its sockets open for a while: the result is all we wait for.
process.stdout.write(`${JSON.stringify({ timer, call, call0 })}\n`, () => process.exit(0));
