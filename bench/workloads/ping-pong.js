// `ping-pong`: the example scripts/ping.js spawns scripts/pong.js next to
// itself and exchanges `rounds` messages with it, every send and receive
// journaled; timed from spawn to the committed exit. Baseline: the same
// number of round trips over a raw MessagePort between two threads.
// Encryption at rest: the same run again on a journal with a key
// (AES-256-GCM on every payload), beside the run in clear as its baseline.

import path from 'node:path';
import { messagePortRoundTrips } from '../baselines/message-port.js';
import { encryptedJournal, openNode, runProcess } from '../lib/beamline.js';
import { perSecond, progress, ROOT, row, runWorkload, scale, since } from '../lib/harness.js';

const PING = path.join(ROOT, 'scripts', 'ping.js');

await runWorkload(async (opts) => {
  const rounds = scale(opts, 50_000, 2_000);
  const { node, close } = await openNode(opts);
  let ms;
  try {
    await runProcess(node, PING, [Math.min(rounds, 1000)]); // warm-up
    const start = performance.now();
    await runProcess(node, PING, [rounds]);
    ms = since(start);
  } finally {
    await close();
  }
  progress('ping-pong', `${rounds} durable round trips in ${ms.toFixed(0)} ms`);
  const key = encryptedJournal();
  let encMs;
  try {
    const { node, close } = await openNode(opts, key.options);
    try {
      await runProcess(node, PING, [Math.min(rounds, 1000)]); // warm-up
      const start = performance.now();
      await runProcess(node, PING, [rounds]);
      encMs = since(start);
    } finally {
      await close();
    }
  } finally {
    key.remove();
  }
  progress('ping-pong', `${rounds} durable round trips on an encrypted journal in ${encMs.toFixed(0)} ms`);
  const baseMs = await messagePortRoundTrips(rounds);
  progress('ping-pong', `${rounds} MessagePort round trips in ${baseMs.toFixed(0)} ms`);
  return [
    row({
      workload: 'ping-pong',
      metric: 'round trips, two durable processes',
      value: perSecond(rounds, ms),
      unit: 'round trips/s',
      baseline: { name: 'raw MessagePort between two threads', value: perSecond(rounds, baseMs) },
      goal: { text: 'ratio >= 2.0', test: (r) => r.ratio >= 2 },
    }),
    row({
      workload: 'ping-pong',
      metric: 'round trips, journal encrypted at rest',
      value: perSecond(rounds, encMs),
      unit: 'round trips/s',
      baseline: { name: 'same run, journal in clear', value: perSecond(rounds, ms) },
    }),
  ];
});
