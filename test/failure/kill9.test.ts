// Failure model, row "runtime killed": a real `runtime spawn` child is
// SIGKILLed mid-sleep, mid-callApi and mid-Promise.all of callApis, then
// started again on the same journal. A real HTTP server on 127.0.0.1 keeps
// its own log of every request and Idempotency-Key: the proof that
// completed calls were not repeated and in-flight ones were re-issued with
// the same key.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, query, readRows, tmpdir, until } from '../helpers.js';
import { json, startServer, type TestServer } from '../fixtures/natives/http-server.js';
import { cli, kill9, killLeftovers, lines } from '../fixtures/failure/cli.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await killLeftovers();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const KEY = /^[0-9a-z]{4}\.\d+:1:\d+$/;

/** Log messages (the `msg` of each JSON line) a run wrote to stderr. */
function logged(stderr: string): string[] {
  return lines(stderr)
    .filter((l) => l.startsWith('{') && !l.startsWith('{"crash"')) // log lines, not crash reports
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
}

/** Steps whose resolution is committed (consumed in a round, or waiting in the effects table). */
function resolvedSteps(db: string): Set<number> {
  const steps = new Set<number>();
  for (const row of readRows(db)) for (const [step] of row.r) steps.add(step);
  for (const e of query<{ step: number }>(db, 'SELECT step FROM effects WHERE done = 1')) steps.add(e.step);
  return steps;
}

/** Answer a request the first time its key is seen: never (hold it); after that: at once. */
function holdFirstAttempt(srv: TestServer, seen: { key: string | null; path: string }, res: Parameters<typeof json>[0]): void {
  const attempt = srv.seen.filter((s) => s.key === seen.key && s.path === seen.path).length;
  if (attempt > 1) json(res, 200, { path: seen.path, key: seen.key, attempt });
}

describe('runtime spawn killed with SIGKILL', () => {
  it('mid-sleep: resumes, and the timer fires at its recorded time, not earlier', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const ms = 1500;
    const first = cli(['spawn', '--db', db, fixture('failure/nap.js'), String(ms)]);
    await until(() => logged(first.stderr).includes('sleeping'), 20_000, 'the sleep to be committed');
    expect(await kill9(first)).toBe('SIGKILL');

    const again = cli(['spawn', '--db', db, fixture('failure/nap.js'), String(ms)]);
    const { code } = await again.exited;
    expect(code).toBe(0);
    const { t0, t1 } = JSON.parse(again.stdout) as { t0: number; t1: number };
    expect(t1 - t0).toBeGreaterThanOrEqual(ms);
    expect(logged(again.stderr)).toEqual(['woke']);
    expect(query(db, 'SELECT pid FROM processes')).toHaveLength(1);
  });

  it('overdue timers fire at once after the restart', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    // Long enough that a boot slowed by a loaded machine still tells "fired at
    // once" apart from "re-armed for another ms" (5 s was not, under the suite's load).
    const ms = 10_000;
    const first = cli(['spawn', '--db', db, fixture('failure/nap.js'), String(ms)]);
    await until(() => logged(first.stderr).includes('sleeping'), 20_000, 'the sleep to be committed');
    const killedAt = Date.now();
    expect(await kill9(first)).toBe('SIGKILL');
    // Stay down until the timer is overdue.
    await new Promise((r) => setTimeout(r, ms + 500));

    const restartAt = Date.now();
    const again = cli(['spawn', '--db', db, fixture('failure/nap.js'), String(ms)]);
    const { code } = await again.exited;
    expect(code).toBe(0);
    const { t0, t1 } = JSON.parse(again.stdout) as { t0: number; t1: number };
    expect(t0).toBeLessThan(killedAt);
    expect(t1 - t0).toBeGreaterThanOrEqual(ms);
    // Fired at once on boot: not re-armed for another `ms` after the restart.
    expect(t1 - restartAt).toBeLessThan(ms);
    expect(logged(again.stderr)).toEqual(['woke']);
  });

  it('mid-callApi: the request is re-issued with the same Idempotency-Key and one result is recorded', async () => {
    const s = await startServer((seen, res, srv) => holdFirstAttempt(srv, seen, res));
    servers.push(s);
    const db = path.join(tmpdir(), 'journal.db');
    const first = cli(['spawn', '--db', db, fixture('failure/pay.js'), s.url]);
    await until(() => s.to('/charge').length === 1, 20_000, 'the request to reach the server');
    expect(await kill9(first)).toBe('SIGKILL');
    expect(logged(first.stderr)).toEqual(['before-call']);

    const again = cli(['spawn', '--db', db, fixture('failure/pay.js'), s.url]);
    const { code } = await again.exited;
    expect(again.stderr).not.toMatch(/exited abnormally/);
    expect(code).toBe(0);

    const attempts = s.to('/charge');
    expect(attempts).toHaveLength(2);
    expect(attempts[0]!.key).toMatch(KEY);
    expect(attempts[1]!.key).toBe(attempts[0]!.key);
    expect(attempts[1]!.body).toEqual({ amount: 42 });
    expect(attempts[0]!.aborted).toBe(true);
    expect(JSON.parse(again.stdout)).toEqual({ status: 200, body: { path: '/charge', key: attempts[0]!.key, attempt: 2 } });
    expect(logged(again.stderr)).toEqual(['after-call attempt=2']);

    // One command, one recorded result for it.
    const rows = readRows(db);
    const calls = rows.flatMap((r) => r.c.filter((c) => c[1] === 'callApi'));
    expect(calls).toHaveLength(1);
    const step = calls[0]![0];
    expect(rows.flatMap((r) => r.r.filter(([s2]) => s2 === step))).toHaveLength(1);
    expect(query(db, 'SELECT pid FROM processes')).toHaveLength(1);
  });

  it('mid-Promise.all: completed calls are not repeated, in-flight ones are re-issued with the same key', async () => {
    const s = await startServer((seen, res, srv) => {
      if (seen.path.startsWith('/fast/')) json(res, 200, { path: seen.path, key: seen.key, attempt: srv.to(seen.path).length });
      else holdFirstAttempt(srv, seen, res);
    });
    servers.push(s);
    const db = path.join(tmpdir(), 'journal.db');
    const first = cli(['spawn', '--db', db, fixture('failure/fan-calls.js'), s.url]);
    await until(() => s.seen.length === 4, 20_000, 'all four requests to reach the server');
    // The two fast answers are committed (steps 0 and 1); the slow ones are in flight.
    await until(() => {
      const done = resolvedSteps(db);
      return done.has(0) && done.has(1);
    }, 20_000, 'the fast results to be committed');
    expect(resolvedSteps(db).has(2)).toBe(false);
    expect(resolvedSteps(db).has(3)).toBe(false);
    expect(await kill9(first)).toBe('SIGKILL');

    const again = cli(['spawn', '--db', db, fixture('failure/fan-calls.js'), s.url]);
    const { code } = await again.exited;
    expect(again.stderr).not.toMatch(/exited abnormally/);
    expect(code).toBe(0);

    // The server's log: fast calls once each; slow calls twice each, same key both times.
    expect(s.to('/fast/1')).toHaveLength(1);
    expect(s.to('/fast/2')).toHaveLength(1);
    for (const p of ['/slow/3', '/slow/4']) {
      const a = s.to(p);
      expect(a).toHaveLength(2);
      expect(a[0]!.key).toMatch(KEY);
      expect(a[1]!.key).toBe(a[0]!.key);
    }
    expect(new Set(s.seen.map((x) => x.key)).size).toBe(4);

    const result = JSON.parse(again.stdout) as Array<{ path: string; attempt: number; key: string }>;
    expect(result.map((r) => [r.path, r.attempt])).toEqual([
      ['/fast/1', 1],
      ['/fast/2', 1],
      ['/slow/3', 2],
      ['/slow/4', 2],
    ]);
    expect(logged(again.stderr)).toEqual(['all-answered']);
    // Each of the four steps has exactly one recorded resolution.
    const resolutions = readRows(db).flatMap((r) => r.r.map(([step]) => step));
    expect(resolutions.sort()).toEqual([0, 1, 2, 3]);
  });
});
