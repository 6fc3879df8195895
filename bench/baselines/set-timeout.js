// Baseline for `timers`, run as a process of its own so its RSS is its own:
//   node --expose-gc set-timeout.js N MS
// 1. memory: N pending `new Promise(r => setTimeout(r, 1h))`, bytes each;
// 2. lateness: N promises of setTimeout(MS) created in one loop, each
//    measuring how late it fired on the same 1 ms wall clock the beamline
//    sleepers use (Date.now, as ctx.now() is).
// Prints {"bytesPerTimer", "lateness": [sorted ms...]} as one JSON line.

import { settledRss } from '../lib/harness.js';

const n = Number(process.argv[2] ?? 100_000);
const ms = Number(process.argv[3] ?? 1000);

async function memory() {
  const before = await settledRss();
  const timers = [];
  const pending = [];
  for (let i = 0; i < n; i++) pending.push(new Promise((resolve) => timers.push(setTimeout(resolve, 3_600_000))));
  const after = await settledRss();
  for (const t of timers) clearTimeout(t);
  return { bytes: (after - before) / n, held: pending.length };
}

async function lateness() {
  const late = await Promise.all(
    Array.from({ length: n }, () => {
      const target = Date.now() + ms;
      return new Promise((resolve) => setTimeout(() => resolve(Date.now() - target), ms));
    }),
  );
  return late.sort((a, b) => a - b);
}

const { bytes } = await memory();
const late = await lateness();
process.stdout.write(`${JSON.stringify({ bytesPerTimer: bytes, lateness: late })}\n`);
