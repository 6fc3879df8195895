// --allow-hosts: callApi may reach only the hosts listed. A call to any other
// host fails with BL_HOST_FORBIDDEN before any connection (the server's own
// connection count is the proof), and a call re-issued after a crash is
// checked again against the list the new boot was given.

import path from 'node:path';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { hostAllowed, parseHostPatterns } from '../../dist/runtime/kernel/allow-hosts.js';
import { fixture, ON_PG, tmpdir, until } from '../helpers.js';
import { json, startServer, type TestServer } from '../fixtures/natives/http-server.js';
import { cli, cliRun, kill9, killLeftovers } from '../fixtures/failure/cli.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await killLeftovers();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A server that counts the TCP connections it accepts. */
async function countingServer(handler: Parameters<typeof startServer>[0]): Promise<TestServer & { connections: () => number }> {
  const srv = await startServer(handler);
  servers.push(srv);
  let connections = 0;
  srv.server.on('connection', (_s: Socket) => connections++);
  return Object.assign(srv, { connections: () => connections });
}

interface Outcome {
  ok: boolean;
  status?: number;
  code?: string;
  details?: { host?: string } | null;
}

describe('--allow-hosts', () => {
  // Not on PostgreSQL (the second pass): it drives `runtime spawn --db FILE` children, a SQLite journal — the first pass runs it.
  it.skipIf(ON_PG)('refuses a call to a host not listed before any connection; a listed host is reached', async () => {
    const srv = await countingServer((_seen, res) => json(res, 200, { hi: 1 }));
    const port = new URL(srv.url).port;
    const db = path.join(tmpdir(), 'journal.db');
    const reqs = [{ url: `http://localhost:${port}/refused` }, { url: `http://127.0.0.1:${port}/allowed` }, { url: `http://127.0.0.1:1/other-port` }];
    const run = await cliRun(['spawn', '--db', db, '--allow-hosts', `127.0.0.1:${port}`, fixture('natives/call-api.js'), JSON.stringify(reqs)], 60_000);
    expect(run.hung).toBe(false);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as Outcome[];
    expect(out[0]).toMatchObject({ ok: false, code: 'BL_HOST_FORBIDDEN', details: { host: `localhost:${port}` } });
    expect(out[1]).toMatchObject({ ok: true, status: 200 });
    expect(out[2]).toMatchObject({ ok: false, code: 'BL_HOST_FORBIDDEN' });
    expect(srv.seen.map((s) => s.path)).toEqual(['/allowed']);
    expect(srv.connections()).toBe(1);
  });

  // Not on PostgreSQL (the second pass): it drives `runtime spawn --db FILE` children, a SQLite journal — the first pass runs it.
  it.skipIf(ON_PG)('checks a call re-issued after a kill -9 against the new boot\'s list', async () => {
    const srv = await countingServer(() => {}); // holds every request: in flight at the kill
    const db = path.join(tmpdir(), 'journal.db');
    const args = [fixture('natives/call-api.js'), JSON.stringify([{ url: `${srv.url}/held` }])];
    const first = cli(['spawn', '--db', db, ...args]);
    await until(() => srv.seen.length === 1, 20_000, 'the call to reach the server');
    expect(await kill9(first)).toBe('SIGKILL');

    const again = await cliRun(['spawn', '--db', db, '--allow-hosts', 'api.example.com', ...args], 60_000);
    expect(again.hung).toBe(false);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject([{ ok: false, code: 'BL_HOST_FORBIDDEN' }]);
    expect(srv.seen).toHaveLength(1); // never sent again
  });

  // Not on PostgreSQL (the second pass): it drives `runtime spawn --db FILE` children, a SQLite journal — the first pass runs it.
  it.skipIf(ON_PG)('a malformed list is a one-line usage error, exit 2, before anything starts', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const run = await cliRun(['spawn', '--db', db, '--allow-hosts', 'http://x.example/', fixture('natives/echo.js')]);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/--allow-hosts: 'http:\/\/x\.example\/' is not a host or host:port/);
  });

  it('matches hosts case-insensitively, ports (default by scheme), *.domain and [v6]', () => {
    const p = parseHostPatterns(['API.example.com', '127.0.0.1:8080', '*.corp.example', '[::1]:9000']);
    const ok = (u: string) => hostAllowed(new URL(u), p);
    expect(ok('https://api.example.com/x')).toBe(true);
    expect(ok('http://api.example.com:81/x')).toBe(true); // no port given: any port
    expect(ok('http://evil-api.example.com/')).toBe(false);
    expect(ok('http://127.0.0.1:8080/')).toBe(true);
    expect(ok('http://127.0.0.1/')).toBe(false); // port 80
    expect(ok('http://a.b.corp.example/')).toBe(true);
    expect(ok('http://corp.example/')).toBe(false);
    expect(ok('http://xcorp.example/')).toBe(false);
    expect(ok('http://[::1]:9000/')).toBe(true);
    expect(ok('http://[::1]:9001/')).toBe(false);
    expect(ok('http://api.example.com.evil.test/')).toBe(false);
  });
});
