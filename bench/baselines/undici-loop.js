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
 * so it too opens its connections during the fan-out, as a fresh node does.
 * `warm` GETs first, as the workload's warm-up callers make. Milliseconds
 * for the fan-out.
 */
export async function undiciFanOut(url, procs, calls, warm = 10) {
  const agent = new Agent({ connections: 2048, pipelining: 1 });
  try {
    await Promise.all(Array.from({ length: warm }, () => get(url, 0, agent)));
    const start = performance.now();
    await Promise.all(
      Array.from({ length: procs }, async () => {
        for (let i = 0; i < calls; i++) await get(url, i, agent);
      }),
    );
    return performance.now() - start;
  } finally {
    await agent.close();
  }
}
