// Load generation shared by workloads and baselines.

import autocannon from 'autocannon';

/** Call `fn` `total` times, keeping `window` calls outstanding; resolves when all settle. */
export async function inFlight(total, window, fn) {
  let started = 0;
  const lane = async () => {
    while (started < total) {
      started++;
      await fn();
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, total) }, lane));
}

/**
 * HTTP load with autocannon from this process (never the process under
 * test). Returns requests/s counting 2xx answers only, latency percentiles
 * in ms, and what went wrong.
 */
export async function hammer(url, { body, connections, seconds }) {
  const result = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    connections,
    duration: seconds,
  });
  return {
    rps: result['2xx'] / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}
