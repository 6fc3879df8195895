// A process waiting on a native costs no thread: 2,000 processes each
// waiting on a slow HTTP call must not hold up a process that only sleeps.

import { afterEach, expect, it } from 'vitest';
import type { Node } from '../../dist/runtime/node.js';
import { fixture, openNode, until } from '../helpers.js';
import { json, startServer, within, type TestServer } from '../fixtures/natives/http-server.js';

const SLOW_MS = 3000;
const CALLERS = 2000;

let n: Node | null = null;
let s: TestServer | null = null;
afterEach(async () => {
  await n?.close();
  await s?.close();
  n = null;
  s = null;
});

it(`a process sleeping 10 x 100 ms finishes long before ${CALLERS} slow calls (${SLOW_MS} ms each) return`, async () => {
  s = await startServer((_seen, res, srv) => srv.later(SLOW_MS, () => json(res, 200, { slow: true })));
  const server = s;
  n = await openNode({ threads: 2 });
  const node = n;
  const fan = await node.spawn(fixture('natives/slow-fan.js'), [server.url, CALLERS]);

  // Wait until the callers are spawned and their requests are out.
  await until(() => node.kernel.processes().length >= CALLERS + 1 && server.seen.length >= 100, 30_000, 'the slow calls to be in flight');
  const firstArrival = Math.min(...server.seen.map((x) => x.at));
  const tickerStart = Date.now();
  // Precondition: the calls really are outstanding while the sleeper runs.
  expect(tickerStart).toBeLessThan(firstArrival + SLOW_MS);
  expect(server.seen.every((x) => x.answeredAt === null)).toBe(true);

  const ticker = await node.spawn(fixture('natives/ticker.js'), [10, 100]);
  const tick = await within(node.waitExit(ticker), 20_000, 'the ticker to exit');
  const tickerDone = Date.now();
  expect(tick.reason).toBe('normal');
  const { start, end } = tick.result as { start: number; end: number };
  expect(end - start).toBeGreaterThanOrEqual(1000); // it really slept ten times

  const exit = await within(node.waitExit(fan), 120_000, 'every slow call to return');
  expect(exit.result).toEqual({ answered: CALLERS, ok: CALLERS });
  // The sleeper was done before the first slow answer left the server.
  const firstAnswer = Math.min(...server.seen.map((x) => x.answeredAt ?? Infinity));
  expect(tickerDone).toBeLessThan(firstAnswer);
  // One request per caller, each with its own key.
  expect(server.seen).toHaveLength(CALLERS);
  expect(new Set(server.seen.map((x) => x.key)).size).toBe(CALLERS);
  console.log(
    `slow-calls: ticker started ${firstArrival + SLOW_MS - tickerStart} ms before the first answer was due, ` +
      `finished ${firstAnswer - tickerDone} ms before it was sent; peak concurrent requests at the server: ${server.peak()}`,
  );
}, 180_000);
