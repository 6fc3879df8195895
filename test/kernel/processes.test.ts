// Core runtime behaviour through the Node facade: real journal files, real
// worker threads.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, openNode, query, readRows, ROOT, tmpdir, until } from '../helpers.js';

const node = nodesPerTest();

describe('processes', () => {
  it('waitExit after the exit gives a large result whole (read back from the journal, not kept in memory) and a small one', async () => {
    const n = await node();
    const big = await n.spawn(fixture('kernel/big-result.js'), [100_000]);
    const small = await n.spawn(fixture('kernel/big-result.js'), [10]);
    for (const pid of [big, small]) await until(() => query<{ status: string }>(n.db, 'SELECT status FROM processes WHERE pid = ?', pid)[0]?.status === 'exited', 10_000, `${pid} to exit`);
    expect(await n.waitExit(big)).toMatchObject({ pid: big, normal: true, result: 'x'.repeat(100_000) });
    expect(await n.waitExit(small)).toMatchObject({ pid: small, normal: true, result: 'x'.repeat(10) });
  });

  it('runs ping-pong between two processes and journals every message', async () => {
    const n = await node();
    const pid = await n.spawn(path.join(ROOT, 'scripts', 'ping.js'), [200]);
    const exit = await n.waitExit(pid);
    expect(exit.normal).toBe(true);
    expect(exit.result).toMatchObject({ rounds: 200 });
    const rows = readRows(n.db);
    const sends = rows.flatMap((r) => r.c.filter((c) => c[1] === 'send'));
    // 200 pings + 200 pongs + the final stop
    expect(sends).toHaveLength(401);
    const pong = rows.find((r) => r.pid !== pid)!.pid;
    expect(readRows(n.db, pong).at(-1)!.x).toBe('normal');
  });

  it('receives selectively in arrival order and times out with a TimeoutError', async () => {
    const n = await node();
    const pid = await n.spawn(fixture('selective.js'));
    for (const m of [{ kind: 'a', n: 1 }, { kind: 'a', n: 2 }, { kind: 'b', n: 3 }, { kind: 'a', n: 4 }]) n.send(pid, m);
    n.send(pid, 'go');
    const exit = await n.waitExit(pid);
    expect(exit.result).toEqual({
      first: { kind: 'b', n: 3 },
      rest: [
        { kind: 'a', n: 1 },
        { kind: 'a', n: 2 },
        { kind: 'a', n: 4 },
      ],
      timedOut: { name: 'TimeoutError', code: 'BL_TIMEOUT', waited: expect.any(Number) },
    });
    expect((exit.result as { timedOut: { waited: number } }).timedOut.waited).toBeGreaterThanOrEqual(55);
  });

  it('holds 10,000 processes sleeping at once in one run', { timeout: 120_000 }, async () => {
    const n = await node();
    // 5 s: every timer must be armed before the first fires, and spawning
    // 10,000 took over 1.5 s on a loaded 2-core machine.
    const pid = await n.spawn(fixture('sleepers.js'), [10_000, 5000]);
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, n.kernel.timersArmed)), 10);
    const exit = await n.waitExit(pid);
    clearInterval(watch);
    expect(exit.result).toBe(10_000);
    expect(peak).toBeGreaterThanOrEqual(10_000);
  });

  it('resolves Promise.all over natives in issue order, live and on replay', async () => {
    const hot = await node();
    const cold = await node({ evictIdleMs: 0 });
    const results = [];
    for (const n of [hot, cold]) {
      const pid = await n.spawn(fixture('all.js'));
      setTimeout(() => n.send(pid, { tag: 'late' }), 300); // between the 1 ms and the 600 ms sleeps, with room either side
      results.push((await n.waitExit(pid)).result);
    }
    for (const r of results) {
      expect(r).toMatchObject({ results: ['slow', 'mid', 'fast', 'late'], tail: ['chained', 'single'] });
      expect((r as { order: string[] }).order).toEqual(['fast', 'msg', 'mid', 'slow']);
    }
  });

  it('refuses an unencodable message at send, with BL_UNSERIALIZABLE', async () => {
    const n = await node();
    const exit = await n.waitExit(await n.spawn(fixture('unencodable.js')));
    const { errors, got } = exit.result as { errors: Array<{ name: string; code: string; message: string }>; got: unknown };
    expect(errors).toHaveLength(2);
    for (const e of errors) expect(e.code).toBe('BL_UNSERIALIZABLE');
    expect(errors[0]!.message).toMatch(/send: message/);
    expect(got).toEqual({ ok: true });
  });

  it('journals an abnormal exit with the error as its reason', async () => {
    const n = await node();
    const pid = await n.spawn(fixture('thrower.js'));
    const exit = await n.waitExit(pid);
    expect(exit.normal).toBe(false);
    expect(exit.reason).toMatchObject({ error: 'TypeError', message: 'boom' });
    const [row] = query<{ status: string }>(n.db, 'SELECT status FROM processes WHERE pid = ?', pid);
    expect(row!.status).toBe('exited');
  });

  it('continues a run after the kernel is closed and reopened on the same journal', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const logs: string[] = [];
    const first = await openNode({ db, log: (_pid, line) => logs.push(line) });
    const pid = await first.spawn(fixture('stepper.js'), [6, 120]);
    // Let it get part of the way (its first step logged), then stop the node mid-run.
    await until(() => logs.length > 0, 15_000, 'the first step to be logged');
    await first.close();
    const before = [...logs];
    expect(before.length).toBeGreaterThan(0);
    expect(before.length).toBeLessThan(6);
    const second = await node({ db, log: (_pid, line) => logs.push(line) });
    expect(second.recovered).toBe(1);
    const exit = await second.waitExit(pid);
    expect(exit.result).toEqual({ steps: [1, 2, 3, 4, 5, 6], run: 1 });
    // Every step logged exactly once across both nodes.
    expect(logs).toEqual(['step-1', 'step-2', 'step-3', 'step-4', 'step-5', 'step-6']);
  });

  it('writes the same journal on the hot path and on the cold (replay) path', async () => {
    // Fire times and pids differ between two runs by nature; everything else must not.
    const normalise = (db: string) =>
      readRows(db).map((r) => ({
        r: r.r.map(([step, ok, v]) => [step, ok, v && typeof v === 'object' && 'data' in (v as object) ? 'msg' : v]),
        c: r.c.map(([step, native, key, rec, done, res]) => [step, native, key, native === 'sleep' ? 'fire-at' : native === 'send' ? 'pid' : rec, done, res && typeof res === 'object' ? 'msg' : res]),
        l: r.l,
        x: r.x,
      }));
    const hot = await node({ evictIdleMs: 1e9 });
    const cold = await node({ evictIdleMs: 0 });
    const a = await hot.spawn(fixture('deterministic.js'), [8]);
    const b = await cold.spawn(fixture('deterministic.js'), [8]);
    expect((await hot.waitExit(a)).result).toBe(28);
    expect((await cold.waitExit(b)).result).toBe(28);
    const hotRows = normalise(hot.db);
    expect(hotRows.length).toBeGreaterThan(20);
    expect(normalise(cold.db)).toEqual(hotRows);
  });
});
