// The live view's data endpoints, as JSON: a real node (worker threads,
// SQLite journal) running a supervision tree of a few hundred processes, a
// real UiServer on 127.0.0.1, real HTTP requests. The page is tested in a
// real browser in browser.test.ts; this file pins what it reads.

import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTreeFile } from '../../dist/runtime/config/tree.js';
import { UiServer } from '../../dist/runtime/ui/server.js';
import { percentile, Throttled } from '../../dist/runtime/ui/data.js';
import type { Node } from '../../dist/runtime/node.js';
import { CLI, FIXTURES, openNode, tmpdir, until } from '../helpers.js';

const TREE = path.join(FIXTURES, 'ui', 'tree.yaml');
const TOKEN = 'test-token-123';

let node: Node;
let ui: UiServer;
let base: string;

interface Page {
  total: number;
  all: number;
  offset: number;
  limit: number;
  rows: Array<{ pid: string; name: string; script: string; state: string; run: number; restarts: number; mailbox: number; lastStep: string; age: number }>;
}

async function get<T>(p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(`${base}${p}`, { headers });
  const text = await res.text();
  return { status: res.status, body: (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T, headers: res.headers };
}

async function post<T>(p: string, body: unknown, token?: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { 'x-beamline-token': token }) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

const pidOf = (name: string) => node.kernel.whereis(name)!;

beforeAll(async () => {
  node = await openNode();
  node.startTree(parseTreeFile(TREE));
  ui = new UiServer(node, { port: 0, token: TOKEN, tickMs: 200 });
  const addr = await ui.listen();
  base = `http://127.0.0.1:${addr.port}`;
  // The crowd's 300 workers are named once they have started.
  await until(() => node.kernel.whereis('worker-299') !== undefined && node.kernel.store.process(pidOf('worker-299')) !== undefined, 30_000, 'the crowd');
  // Named is not yet parked: on a loaded machine half the crowd may still be
  // running its first round (the state filter below counts parked ones).
  await until(() => node.stats().states.parked >= 300, 30_000, 'the crowd to park');
});

afterAll(async () => {
  await ui?.close();
  await node?.close();
});

describe('GET /api/processes', () => {
  it('lists every process, one page at a time', async () => {
    const { status, body } = await get<Page>('/api/processes?limit=50');
    expect(status).toBe(200);
    expect(body.total).toBeGreaterThanOrEqual(303); // ticker, keeper, crowd, 300 workers
    expect(body.rows).toHaveLength(50);
    const next = (await get<Page>('/api/processes?limit=50&offset=50')).body;
    expect(next.rows).toHaveLength(50);
    expect(new Set([...body.rows, ...next.rows].map((r) => r.pid)).size).toBe(100);
  });

  it('filters by name, script and state, and sorts', async () => {
    const byName = (await get<Page>('/api/processes?name=worker-12&sort=name')).body;
    expect(byName.rows.map((r) => r.name)).toEqual(['worker-12', ...Array.from({ length: 10 }, (_, i) => `worker-12${i}`)]);
    expect(byName.total).toBe(11);
    const byScript = (await get<Page>('/api/processes?script=ticker.js')).body;
    expect(byScript.rows.map((r) => r.name).sort()).toEqual(['keeper', 'ticker']);
    const parked = (await get<Page>('/api/processes?state=parked&limit=500')).body;
    expect(parked.rows.every((r) => r.state === 'parked')).toBe(true);
    expect(parked.total).toBeGreaterThanOrEqual(300);
    const desc = (await get<Page>('/api/processes?name=worker-&sort=pid&desc=1&limit=3')).body;
    const serial = (pid: string) => Number(pid.split('.')[1]);
    expect(serial(desc.rows[0]!.pid)).toBeGreaterThan(serial(desc.rows[1]!.pid));
    expect(desc.rows[0]!.lastStep).toMatch(/receive/);
  });

  it('refuses a bad sort key or page with BL_ARG_INVALID', async () => {
    const bad = await get<{ error: { code: string } }>('/api/processes?sort=nope');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('BL_ARG_INVALID');
    expect((await get<{ error: { code: string } }>('/api/processes?limit=0')).status).toBe(400);
  });
});

describe('GET /api/process/<pid> and its history', () => {
  it('shows names, the pending timer with its fire time, and the timeline as it grows', async () => {
    const pid = pidOf('ticker');
    const d = (await until(async () => {
      const r = (await get<{ name: string[]; state: string; effects: Array<{ kind: string; fireAt: number | null }> }>(`/api/process/${pid}`)).body;
      return r.effects.length > 0 ? r : null;
    }, 10_000, 'a pending timer'))!;
    expect(d.name).toEqual(['ticker']);
    expect(d.effects[0]!.kind).toBe('timer');
    expect(d.effects[0]!.fireAt).toBeGreaterThan(Date.now() - 5_000);
    type H = { total: number; entries: Array<{ issued: Array<{ native: string }>; resolved: unknown[]; logs: string[] }> };
    const first = (await get<H>(`/api/process/${pid}/history`)).body;
    expect(first.entries.some((e) => e.issued.some((c) => c.native === 'sleep'))).toBe(true);
    const later = (await until(async () => {
      const h = (await get<H>(`/api/process/${pid}/history`)).body;
      return h.total > first.total + 1 ? h : null;
    }, 10_000, 'the ticker to wake'))!;
    expect(later.entries.some((e) => e.logs.some((l) => /^tick \d+$/.test(l)))).toBe(true);
    expect((await get<H>(`/api/process/${pid}/history?last=1`)).body.entries).toHaveLength(1);
  });

  it('offers the history as a download', async () => {
    const res = await get<{ pid: string }>(`/api/process/${pidOf('ticker')}/history?download=1`);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="history-.*\.json"$/);
    expect(res.body.pid).toBe(pidOf('ticker'));
  });

  it('shows a mailbox peek', async () => {
    const pid = pidOf('keeper');
    // The keeper never receives: what is sent to it stays in its mailbox.
    expect((await post(`/api/send`, { to: 'keeper', msg: { type: 'note', n: 7 } }, TOKEN)).status).toBe(200);
    const d = (await get<{ mailbox: { count: number; peek: Array<{ from: string; msg: unknown }> } }>(`/api/process/${pid}`)).body;
    expect(d.mailbox.count).toBeGreaterThanOrEqual(1);
    expect(d.mailbox.peek).toContainEqual({ id: expect.any(Number), from: 'ui', msg: { type: 'note', n: 7 } });
  });

  it('answers an onQuery handler', async () => {
    const res = await post<{ answer: number }>(`/api/process/${pidOf('ticker')}/query`, { name: 'count' });
    expect(res.status).toBe(200);
    expect(typeof res.body.answer).toBe('number');
    const missing = await post<{ error: { code: string } }>(`/api/process/${pidOf('ticker')}/query`, { name: 'nope' });
    expect(missing.body.error.code).toBe('BL_ARG_INVALID');
  });

  it('lists the onQuery handlers each process registered', async () => {
    const d = (await get<{ queries: string[] }>(`/api/process/${pidOf('ticker')}`)).body;
    expect(d.queries).toEqual(['count']);
    // The crowd's workers register none.
    expect((await get<{ queries: string[] }>(`/api/process/${pidOf('worker-5')}`)).body.queries).toEqual([]);
  });

  it('shows the attempt under way of an HTTP call in flight, and its handlers', async () => {
    // Answers 503 twice, then holds the third attempt until the test ends.
    let hits = 0;
    const held: http.ServerResponse[] = [];
    const api = http.createServer((req, res) => {
      hits++;
      if (hits <= 2) res.writeHead(503, { 'retry-after': '0' }).end('busy');
      else held.push(res);
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}/slow`;
    try {
      const pid = await node.spawn(path.join(FIXTURES, 'ui', 'caller.js'), [url]);
      type D = { queries: string[]; effects: Array<{ kind: string; method?: string; url?: string; attempt?: number }> };
      const d = (await until(async () => {
        const r = (await get<D>(`/api/process/${pid}`)).body;
        return held.length > 0 && r.effects.some((e) => e.kind === 'http' && e.attempt === 3) ? r : null;
      }, 30_000, 'the third attempt in flight'))!;
      expect(hits).toBe(3);
      const call = d.effects.find((e) => e.kind === 'http')!;
      expect(call).toMatchObject({ method: 'GET', url, attempt: 3 });
      expect(d.queries).toEqual(['phase', 'url']);
      const phase = await post<{ answer: string }>(`/api/process/${pid}/query`, { name: 'phase' });
      expect(phase.body.answer).toBe('calling');
      // Answered: the call is no longer in flight, and no attempt is shown.
      held.shift()!.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      await until(async () => (await post<{ answer: string }>(`/api/process/${pid}/query`, { name: 'phase' })).body.answer === 'answered 200', 20_000, 'the answer');
      expect((await get<D>(`/api/process/${pid}`)).body.effects.filter((e) => e.kind === 'http')).toEqual([]);
      node.kill(pid);
    } finally {
      for (const res of held) res.destroy();
      api.closeAllConnections();
      await new Promise((r) => api.close(r));
    }
  });

  it('answers 404 BL_NOPROC for an unknown pid', async () => {
    const res = await get<{ error: { code: string } }>('/api/process/zzzz.999999');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('BL_NOPROC');
  });
});

describe('GET /api/tree', () => {
  it('shows the supervision tree with each child state and restart count', async () => {
    type T = Array<{ strategy: string; children: Array<{ id: string; pid: string; state: string; restarts: number }> }>;
    const [root] = (await get<T>('/api/tree')).body;
    expect(root!.strategy).toBe('one_for_one');
    expect(root!.children.map((c) => c.id)).toEqual(['ticker', 'keeper', 'crowd']);
    expect(root!.children.every((c) => c.state === 'running' && c.restarts === 0)).toBe(true);
  });
});

describe('actions', () => {
  it('refuses send and kill without the token (403 BL_UI_FORBIDDEN); nothing happens', async () => {
    const pid = pidOf('worker-5');
    for (const token of [undefined, 'wrong-token-456']) {
      const kill = await post<{ error: { code: string } }>('/api/kill', { pid }, token);
      expect(kill.status).toBe(403);
      expect(kill.body.error.code).toBe('BL_UI_FORBIDDEN');
      expect((await post('/api/send', { to: pid, msg: 1 }, token)).status).toBe(403);
    }
    expect((await get<{ actions: boolean }>('/api/session')).body.actions).toBe(false);
    expect((await get<{ actions: boolean }>('/api/session', { 'x-beamline-token': TOKEN })).body.actions).toBe(true);
    expect(node.kernel.process(pid)?.state).toBe('parked');
  });

  it('kills with the token; the supervisor restarts the process', async () => {
    const pid = pidOf('keeper');
    const res = await post('/api/kill', { pid }, TOKEN);
    expect(res.status).toBe(200);
    const row = (await until(() => {
      const r = node.kernel.store.process(pid);
      return r !== undefined && r.restarts === 1 && r.status === 'live' ? r : null;
    }, 15_000, 'the restart'))!;
    expect(row.run).toBe(2);
    type T = Array<{ children: Array<{ id: string; restarts: number }> }>;
    const tree = (await get<T>('/api/tree')).body;
    expect(tree[0]!.children.find((c) => c.id === 'keeper')!.restarts).toBe(1);
  });

  it('answers a bad action body with 400 and an unknown target with 404', async () => {
    expect((await post<{ error: { code: string } }>('/api/kill', {}, TOKEN)).body.error.code).toBe('BL_ARG_INVALID');
    const res = await post<{ error: { code: string } }>('/api/send', { to: 'zzzz.424242', msg: 1 }, TOKEN);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('BL_NOPROC');
  });
});

describe('overview, live push and metrics', () => {
  it('counts processes by state and totals since boot', async () => {
    type O = { states: Record<string, number>; totals: { spawned: number; commits: number; events: number } };
    const { body } = await get<O>('/api/overview');
    expect(body.states.parked + body.states.running + body.states.runnable).toBeGreaterThanOrEqual(303);
    expect(body.totals.spawned).toBeGreaterThanOrEqual(303);
    expect(body.totals.events).toBeGreaterThanOrEqual(body.totals.commits);
  });

  it('pushes an overview per tick over Server-Sent Events, with rates', async () => {
    const ac = new AbortController();
    const res = await fetch(`${base}/api/events`, { signal: ac.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const frames: Array<{ series: Array<{ wakesPerS: number; commitsPerS: number; p99: number; busy: number[] }> }> = [];
    let text = '';
    while (frames.length < 3) {
      const { value } = await reader.read();
      text += Buffer.from(value!).toString('utf8');
      for (let i = text.indexOf('\n\n'); i >= 0; i = text.indexOf('\n\n')) {
        const frame = text.slice(0, i);
        text = text.slice(i + 2);
        const data = /^event: overview\ndata: (.*)$/m.exec(frame);
        if (data) frames.push(JSON.parse(data[1]!));
      }
    }
    ac.abort();
    const last = frames.at(-1)!.series.at(-1)!;
    // The ticker wakes every 300 ms: some wakes and commits each second.
    expect(frames.at(-1)!.series.length).toBeGreaterThanOrEqual(2);
    expect(last.busy).toHaveLength(2);
    expect(frames.some((f) => f.series.some((p) => p.wakesPerS > 0 && p.commitsPerS > 0 && p.p99 > 0))).toBe(true);
  });

  it('serves the same counters in Prometheus text format', async () => {
    const { status, body, headers } = await get<string>('/metrics');
    expect(status).toBe(200);
    expect(headers.get('content-type')).toMatch(/^text\/plain/);
    expect(body).toMatch(/^# TYPE beamline_processes_spawned_total counter$/m);
    expect(body).toMatch(/^beamline_processes\{state="parked"\} \d+$/m);
    const commits = Number(/^beamline_journal_commits_total (\d+)$/m.exec(body)?.[1]);
    expect(commits).toBeGreaterThan(0);
    expect(body).toMatch(/^beamline_journal_commit_latency_seconds\{quantile="0\.99"\} [\d.e-]+$/m);
    expect(body).toMatch(/^beamline_thread_slice_seconds_total\{thread="1"\} [\d.e-]+$/m);
    expect(body).toMatch(/^beamline_wakes_total \d+$/m);
  });

  it('refuses a request naming another host (DNS rebinding)', async () => {
    const port = new URL(base).port;
    const res = await new Promise<number>((resolve, reject) => {
      import('node:http').then(({ default: http }) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/api/overview', headers: { host: `evil.example:${port}` } }, (r) => {
          r.resume();
          resolve(r.statusCode!);
        });
        req.on('error', reject);
      }, reject);
    });
    expect(res).toBe(403);
  });

  it('serves the page and its modules from the package', async () => {
    const page = await get<string>('/');
    expect(page.body).toContain('/static/app.js');
    for (const f of ['app.js', 'vendor/preact.module.js', 'vendor/hooks.module.js', 'vendor/htm.module.js', 'style.css']) {
      expect((await get<string>(`/static/${f}`)).status).toBe(200);
    }
    expect((await get<string>('/static/../server.js')).status).toBe(404);
  });
});

describe('pacing helpers', () => {
  it('percentile is nearest-rank', () => {
    expect(percentile([], 0.5)).toBe(0);
    expect(percentile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 0.99)).toBe(99);
  });

  it('Throttled rebuilds at most once per interval', () => {
    let builds = 0;
    const t = new Throttled(() => ++builds, { minMs: 60_000 });
    expect(t.get()).toBe(1);
    expect(t.get()).toBe(1);
    t.invalidate();
    expect(t.get()).toBe(2);
  });
});

describe('runtime start --ui', () => {
  it('prints the address with a token, binds 127.0.0.1 by default, and rejects a bad --ui', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const child = spawn(process.execPath, [CLI, 'start', '--db', db, '--threads', '1', '--ui', '0', TREE], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const url = (await until(() => /live view on (http:\/\/\S+)/.exec(err)?.[1], 30_000, 'the live view line'))!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{16,}$/);
    const u = new URL(url);
    const token = u.searchParams.get('token')!;
    const session = await fetch(`${u.origin}/api/session`, { headers: { 'x-beamline-token': token } });
    expect(await session.json()).toEqual({ actions: true });
    child.kill('SIGTERM');
    expect(await new Promise((r) => child.on('exit', r))).toBe(0);

    const bad = spawn(process.execPath, [CLI, 'start', '--db', db, '--ui', 'nope', TREE], { stdio: ['ignore', 'ignore', 'pipe'] });
    let badErr = '';
    bad.stderr.on('data', (c: Buffer) => (badErr += c.toString()));
    expect(await new Promise((r) => bad.on('exit', r))).toBe(2);
    expect(badErr.trim()).toBe('runtime: --ui: expected HOST:PORT or PORT, e.g. 127.0.0.1:4000 (got nope)');
  });
});

describe('runtime spawn --ui', () => {
  it('serves the view for the length of the run', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const child = spawn(process.execPath, [CLI, 'spawn', '--db', db, '--threads', '1', '--ui', '127.0.0.1:0', '--ui-token', TOKEN, path.join(FIXTURES, 'ui', 'ticker.js'), '200'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const url = new URL((await until(() => /live view on (http:\/\/\S+)/.exec(err)?.[1], 30_000, 'the live view line'))!);
    expect(url.searchParams.get('token')).toBe(TOKEN);
    const page = (await until(async () => {
      const p = (await (await fetch(`${url.origin}/api/processes?script=ticker`)).json()) as Page;
      return p.total === 1 ? p : null;
    }, 10_000, 'the root process'))!;
    expect(page.rows[0]!.script).toMatch(/ticker\.js$/);
    child.kill('SIGTERM');
    expect(await new Promise((r) => child.on('exit', r))).toBe(143);
  });
});
