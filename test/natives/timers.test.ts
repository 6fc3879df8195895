// startTimer/cancelTimer and withTimeout: real timers on the kernel, a real
// HTTP server holding a request past a deadline.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, openNode, query, REPLAY_MODES, tmpdir, until } from '../helpers.js';
import { json, serversPerTest, within } from '../fixtures/natives/http-server.js';

const node = nodesPerTest();
const server = serversPerTest();

describe.each(REPLAY_MODES)('startTimer / cancelTimer (%s)', (_label, opts) => {
  it('delivers {type:"timer", name} once; a cancelled timer never delivers; a restarted name replaces the old timer', async () => {
    const n = await node(opts);
    const pid = await n.spawn(fixture('natives/timers.js'));
    const exit = await within(n.waitExit(pid), 20_000, 'the process to exit');
    expect(exit.reason).toBe('normal');
    const r = exit.result as {
      cancelled: boolean;
      cancelledUnknown: boolean;
      cancelledAfterFire: boolean;
      got: Array<{ msg: unknown; after: number }>;
    };
    expect(r.cancelled).toBe(true);
    expect(r.cancelledUnknown).toBe(false);
    expect(r.cancelledAfterFire).toBe(false);
    // 'never' (cancelled, due at 150 ms) did not arrive within the 400 ms window after the last message;
    // 'replaced' arrived once, at its second arming (200 ms), not its first (40 ms).
    expect(r.got.map((g) => g.msg)).toEqual([
      { type: 'timer', name: 'tick' },
      { type: 'timer', name: 'replaced' },
    ]);
    expect(r.got[0]!.after).toBeGreaterThanOrEqual(60);
    expect(r.got[1]!.after).toBeGreaterThanOrEqual(200);
    // Nothing left armed for it.
    expect(query(n.db, 'SELECT * FROM effects WHERE pid = ?', pid)).toEqual([]);
  });

  it('a named timer due before a receive\'s timeout is received even when both fire in the same turn (the kernel held up past both)', async () => {
    const n = await node(opts);
    const pid = await n.spawn(fixture('natives/timers.js'), ['400ms']);
    // Its timers are armed ('tick' 60 ms, 'replaced' 200 ms, the receive's 400 ms): hold the kernel's thread past all of them.
    await until(() => n.timersArmed >= 3, 10_000, 'the timers armed');
    const end = Date.now() + 1000;
    while (Date.now() < end) {
      // the kernel's thread is this one: nothing fires until the loop ends
    }
    const exit = await within(n.waitExit(pid), 20_000, 'the process to exit');
    expect((exit.result as { got: Array<{ msg: unknown }> }).got.map((g) => g.msg)).toEqual([
      { type: 'timer', name: 'tick' },
      { type: 'timer', name: 'replaced' },
    ]);
  });

  it('cancelTimer after a wake disarms the timer durably (journal and kernel)', async () => {
    const logs: string[] = [];
    const n = await node({ ...opts, log: (_pid, line) => logs.push(line) });
    const pid = await n.spawn(fixture('natives/cancel-later.js'));
    await until(() => logs.includes('cancelled'), 10_000, 'the timer to be cancelled');
    await until(() => query(n.db, 'SELECT * FROM effects WHERE pid = ?', pid).length === 0, 3000, 'no effect left armed in the journal');
    expect(n.kernel.timersArmed).toBe(0);
    n.send(pid, 'finish');
    expect((await within(n.waitExit(pid), 10_000, 'the process to exit')).result).toBe(true);
  });
});

describe.each(REPLAY_MODES)('withTimeout (%s)', (_label, opts) => {
  it('returns what fn returns when fn wins; on the deadline rejects with TimeoutError and cancels the pending sleep and callApi', async () => {
    const s = await server((seen, res, srv) => {
      // Hold /slow far past the scope's deadline.
      if (seen.path === '/slow') srv.later(5000, () => json(res, 200, { late: true }));
      else json(res, 404, {});
    });
    const logs: string[] = [];
    const n = await node({ ...opts, log: (_pid, line) => logs.push(line) });
    const pid = await n.spawn(fixture('natives/with-timeout.js'), [s.url]);
    await until(() => logs.includes('waiting-for-finish'), 15_000, 'the process to reach its final receive');

    // The server did get the request; the connection was then abandoned by the runtime.
    expect(s.to('/slow')).toHaveLength(1);
    expect(s.to('/slow')[0]!.key).toMatch(new RegExp(`^${pid.replace('.', '\\.')}:1:\\d+$`));
    await until(() => s.to('/slow')[0]!.aborted, 3000, 'the in-flight request to be aborted');
    // Cancelled durably: neither the 10 s sleep, the 2 s deadline of the
    // scope fn won, nor the request is still armed — in the journal or in memory.
    await until(() => query(n.db, 'SELECT * FROM effects WHERE pid = ?', pid).length === 0, 3000, 'the effects table to be empty');
    expect(n.kernel.timersArmed).toBe(0);

    n.send(pid, 'finish');
    const exit = await within(n.waitExit(pid), 10_000, 'the process to exit');
    expect(exit.reason).toBe('normal');
    expect(exit.result).toEqual({
      fast: 'fast',
      sleep: { error: 'TimeoutError', code: 'BL_TIMEOUT' },
      call: { error: 'TimeoutError', code: 'BL_TIMEOUT' },
    });
    // Not re-issued by any replay.
    expect(s.to('/slow')).toHaveLength(1);
  });

  it('a callApi cancelled by the deadline is not re-issued after the node restarts', async () => {
    const s = await server((seen, res, srv) => {
      if (seen.path === '/slow') srv.later(10_000, () => json(res, 200, { late: true }));
      else json(res, 404, {});
    });
    const logs: string[] = [];
    const db = path.join(tmpdir(), 'journal.db');
    const first = await openNode({ ...opts, db, log: (_pid, line) => logs.push(line) });
    const pid = await first.spawn(fixture('natives/with-timeout.js'), [s.url]);
    await until(() => logs.includes('waiting-for-finish'), 15_000, 'the process to reach its final receive');
    await first.close();
    expect(s.to('/slow')).toHaveLength(1);

    const second = await node({ ...opts, db, log: () => {} });
    expect(second.recovered).toBe(1);
    // Give a re-issue every chance to happen, then finish the process.
    await new Promise((r) => setTimeout(r, 1000));
    second.send(pid, 'finish');
    const exit = await within(second.waitExit(pid), 10_000, 'the process to exit');
    expect(exit.result).toMatchObject({ call: { error: 'TimeoutError', code: 'BL_TIMEOUT' } });
    expect(s.to('/slow')).toHaveLength(1);
  });
});
