// Baselines for `steps`, `wake` and `call-api`: the same requests made
// straight from the main thread with undici (keep-alive), no journal, no
// threads.

import { Agent, request } from 'undici';

/** Milliseconds for `n` sequential GETs of `${url}?i=<k>`. */
export async function undiciLoop(url, n) {
  const start = performance.now();
  for (let i = 0; i < n; i++) await get(url, i);
  return performance.now() - start;
}

/** The same `n` sequential GETs, each one's own duration in ms. */
export async function undiciCalls(url, n) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await get(url, i);
    ms.push(performance.now() - t0);
  }
  return ms;
}

async function get(url, i, dispatcher = undefined) {
  const res = await request(`${url}?i=${i}`, dispatcher === undefined ? undefined : { dispatcher });
  await res.body.json();
  if (res.statusCode !== 200) throw new Error(`undici loop: HTTP ${res.statusCode}`);
}

/**
 * Baseline for `call-api`: `procs` concurrent loops of `calls` sequential
 * GETs each, on a fresh undici Agent set up as the kernel's HTTP client is
 * (runtime/kernel/effects.ts: 2,048 connections per origin, no pipelining),
 * after `warmWaves` waves of `procs` concurrent GETs (the workload's warm-up
 * of the node, so both start with warm code and open connections).
 * Milliseconds for the measured fan-out.
 */
export async function undiciFanOut(url, procs, calls, warmWaves) {
  const agent = new Agent({ connections: 2048, pipelining: 1 });
  const fanOut = (n) =>
    Promise.all(
      Array.from({ length: procs }, async () => {
        for (let i = 0; i < n; i++) await get(url, i, agent);
      }),
    );
  try {
    for (let w = 0; w < warmWaves; w++) await fanOut(1);
    const start = performance.now();
    await fanOut(calls);
    return performance.now() - start;
  } finally {
    await agent.close();
  }
}
