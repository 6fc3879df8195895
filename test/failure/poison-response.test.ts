// Failure model, row "hostile input": an API response that cannot be
// recorded. A real server on 127.0.0.1 answers a callApi with JSON nested
// 200,000 deep. Before the fix the kernel died at the encode of the result,
// and since the call was committed as started and never finished, every
// later boot on that journal re-issued it and died again. Now that one call
// fails with a named error and nothing else is touched.

import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, tmpdir, until } from '../helpers.js';
import { startServer, type TestServer } from '../fixtures/natives/http-server.js';
import { cli, cliRun, kill9, killLeftovers } from '../fixtures/failure/cli.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await killLeftovers();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const DEPTH = 200_000;
function poison(res: ServerResponse): void {
  const text = '['.repeat(DEPTH) + ']'.repeat(DEPTH);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

interface Outcome {
  ok: boolean;
  name?: string;
  code?: string;
  details?: { errorCode?: string } | null;
}

function expectUnrecordable(out: Outcome[]): void {
  expect(out).toHaveLength(1);
  expect(out[0]).toMatchObject({ ok: false, name: 'HttpError', code: 'BL_HTTP', details: { errorCode: 'ERR_RESPONSE_UNRECORDABLE' } });
}

describe('a callApi response that cannot be recorded', () => {
  it('fails that one call with a named error; the node and the process live on', async () => {
    const srv = await startServer((_seen, res) => poison(res));
    servers.push(srv);
    const db = path.join(tmpdir(), 'journal.db');
    const run = await cliRun(['spawn', '--db', db, fixture('natives/call-api.js'), JSON.stringify([{ url: `${srv.url}/deep` }])], 60_000);
    expect(run.hung).toBe(false);
    expect(run.stderr).not.toMatch(/internal error|Maximum call stack/);
    expect(run.code).toBe(0);
    expectUnrecordable(JSON.parse(run.stdout) as Outcome[]);
    expect(srv.seen).toHaveLength(1); // not retried: the same answer would come back
  });

  it('re-issued after a kill -9, it fails the call instead of crashing every boot', async () => {
    let poisoned = false;
    const srv = await startServer((_seen, res) => {
      if (poisoned) poison(res); // before: hold the request, so it is in flight at the kill
    });
    servers.push(srv);
    const db = path.join(tmpdir(), 'journal.db');
    const args = ['spawn', '--db', db, fixture('natives/call-api.js'), JSON.stringify([{ url: `${srv.url}/deep` }])];
    const first = cli(args);
    await until(() => srv.seen.length === 1, 20_000, 'the call to reach the server');
    expect(await kill9(first)).toBe('SIGKILL');
    poisoned = true;

    // An unrelated spawn on that journal boots (recovering the call) and does its own work.
    const other = await cliRun(['spawn', '--db', db, fixture('stepper.js')], 60_000);
    expect(other.hung).toBe(false);
    expect(other.stderr).not.toMatch(/internal error|Maximum call stack/);
    expect(other.code).toBe(0);

    // The interrupted process finishes with the call failed, on the next boot that resumes it.
    const again = await cliRun(args, 60_000);
    expect(again.hung).toBe(false);
    expect(again.code).toBe(0);
    expectUnrecordable(JSON.parse(again.stdout) as Outcome[]);
  });
});
