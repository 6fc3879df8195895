// Baseline for `steps` and `wake`: the same sequential requests made
// straight from the main thread with undici (keep-alive), no journal, no
// threads.

import { request } from 'undici';

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

async function get(url, i) {
  const res = await request(`${url}?i=${i}`);
  await res.body.json();
  if (res.statusCode !== 200) throw new Error(`undici loop: HTTP ${res.statusCode}`);
}
