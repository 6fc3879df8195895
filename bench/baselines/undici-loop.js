// Baseline for `steps`: the same sequential requests made straight from
// the main thread with undici (keep-alive), no journal, no threads.

import { request } from 'undici';

/** Milliseconds for `n` sequential GETs of `${url}?i=<k>`. */
export async function undiciLoop(url, n) {
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const res = await request(`${url}?i=${i}`);
    await res.body.json();
    if (res.statusCode !== 200) throw new Error(`undici loop: HTTP ${res.statusCode}`);
  }
  return performance.now() - start;
}
