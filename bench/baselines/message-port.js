// Baseline for `ping-pong`: round trips over a raw MessageChannel between
// two worker threads. The pinger sends a number, the ponger sends it back,
// the pinger waits for it before the next: one round trip = two thread hops,
// exactly what two processes on different threads would pay per exchange.

import { isMainThread, MessageChannel, parentPort, Worker, workerData } from 'node:worker_threads';

/** Milliseconds for `rounds` sequential round trips between two threads (after a warm-up). */
export async function messagePortRoundTrips(rounds) {
  const { port1, port2 } = new MessageChannel();
  const file = new URL(import.meta.url);
  const ponger = new Worker(file, { workerData: { role: 'pong', port: port2 }, transferList: [port2] });
  const pinger = new Worker(file, { workerData: { role: 'ping', port: port1, rounds }, transferList: [port1] });
  try {
    return await new Promise((resolve, reject) => {
      pinger.once('message', resolve);
      pinger.once('error', reject);
      ponger.once('error', reject);
    });
  } finally {
    await Promise.all([pinger.terminate(), ponger.terminate()]);
  }
}

function pong(port) {
  port.on('message', (i) => port.postMessage(i));
}

async function ping(port, rounds) {
  const roundTrip = (i) =>
    new Promise((resolve) => {
      port.once('message', resolve);
      port.postMessage(i);
    });
  for (let i = 0; i < Math.min(rounds, 1000); i++) await roundTrip(i);
  const start = performance.now();
  for (let i = 0; i < rounds; i++) await roundTrip(i);
  parentPort.postMessage(performance.now() - start);
}

if (!isMainThread && workerData?.role === 'pong') pong(workerData.port);
if (!isMainThread && workerData?.role === 'ping') await ping(workerData.port, workerData.rounds);
