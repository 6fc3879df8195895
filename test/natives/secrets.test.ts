// Secrets stay out of the journal: ctx.secret references are substituted by
// the kernel at send time, literal credential headers are stored redacted.
// A real HTTP server on 127.0.0.1 shows what was sent; every file of the
// journal (db, -wal, -shm, lock) is searched byte for byte for the values.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, ON_PG, readRows, runCli, tmpdir, until } from '../helpers.js';
import { json, serversPerTest, within, type TestServer } from '../fixtures/natives/http-server.js';
import { cli, kill9, killLeftovers, lines } from '../fixtures/failure/cli.js';

const node = nodesPerTest();
const server = serversPerTest();

const API_KEY = 'sk_test_SECRET_91c3e7';
const URL_SIG = 'sig_SECRET_77ab';
const LITERAL = 'Bearer sk_live_LITERAL_4f2a';

const saved = { ...process.env };
afterEach(async () => {
  await killLeftovers();
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
});

function setSecrets(values: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) delete process.env[`BEAMLINE_SECRET_${k}`];
    else process.env[`BEAMLINE_SECRET_${k}`] = v;
  }
}

/** Every file of the journal (db, -wal, -shm, -lock, ...), concatenated. */
export function journalBytes(db: string): { files: string[]; bytes: Buffer } {
  const dir = path.dirname(db);
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(path.basename(db)))
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).isFile()); // not the control socket
  return { files, bytes: Buffer.concat(files.map((f) => fs.readFileSync(f))) };
}

function expectNowhere(db: string, values: string[]): void {
  const { files, bytes } = journalBytes(db);
  expect(files.length).toBeGreaterThan(1);
  for (const v of values) expect(bytes.includes(Buffer.from(v)), `${v} in ${files.join(', ')}`).toBe(false);
}

function logged(stderr: string): string[] {
  return lines(stderr)
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
}

describe('ctx.secret and credential headers', () => {
  // Not on PostgreSQL (the second pass): it searches the SQLite journal's files (db, -wal, -shm) byte for byte.
  it.skipIf(ON_PG)('the server sees the real values; no journal file holds them; history shows the reference and [redacted]', async () => {
    setSecrets({ API_KEY, URL_SIG });
    const s = await server((_seen, res) => {
      res.setHeader('set-cookie', 'session=COOKIE_SECRET_5e1d; HttpOnly');
      json(res, 200, { ok: true });
    });
    const n = await node();
    const pid = await n.spawn(fixture('secrets/charge.js'), [s.url]);
    const exit = await within(n.waitExit(pid), 30_000, 'the call');
    const out = exit.result as { ok: boolean; headers: Record<string, string> };
    expect(out.ok).toBe(true);

    const [req] = s.seen;
    expect(req!.headers['x-api-key']).toBe(API_KEY);
    expect(req!.headers.authorization).toBe(LITERAL);
    expect(req!.path).toBe(`/charge?sig=${URL_SIG}`);
    expect(req!.body).toEqual({ card: 'card-4242-4242-4242-4242', token: `tok ${API_KEY}` });
    // The response's cookie reaches the script (and the journal) redacted.
    expect(out.headers['set-cookie']).toBe('[redacted]');

    // While the node still runs (WAL and SHM present), and after it closed.
    expectNowhere(n.db, [API_KEY, URL_SIG, 'sk_live_LITERAL_4f2a', 'COOKIE_SECRET_5e1d']);
    const [call] = readRows(n.db, pid).flatMap((r) => r.c.filter((c) => c[1] === 'callApi'));
    expect(call![3]).toMatchObject({
      url: `${s.url}/charge?sig={{secret:URL_SIG}}`,
      headers: { 'x-api-key': '{{secret:API_KEY}}', authorization: '[redacted]' },
    });
    await n.close();
    expectNowhere(n.db, [API_KEY, URL_SIG, 'sk_live_LITERAL_4f2a', 'COOKIE_SECRET_5e1d']);

    const history = await runCli(['history', '--db', n.db, pid]);
    expect(history.code).toBe(0);
    expect(history.stdout).toContain('"x-api-key":"{{secret:API_KEY}}"');
    expect(history.stdout).toContain('"authorization":"[redacted]"');
    expect(history.stdout).not.toContain(API_KEY);
    expect(history.stdout).not.toContain('LITERAL_4f2a');
  });

  it('a missing secret fails that call with BL_SECRET_MISSING naming the secret, and nothing is sent', async () => {
    setSecrets({ API_KEY, URL_SIG: undefined });
    const s = await server((_seen, res) => json(res, 200, {}));
    const n = await node();
    const pid = await n.spawn(fixture('secrets/charge.js'), [s.url]);
    const out = (await within(n.waitExit(pid), 30_000, 'the call')).result as { ok: boolean; code: string; message: string };
    expect(out.ok).toBe(false);
    expect(out.code).toBe('BL_SECRET_MISSING');
    expect(out.message).toContain("secret 'URL_SIG' is not set");
    expect(out.message).toContain('BEAMLINE_SECRET_URL_SIG');
    expect(out.message).not.toContain(API_KEY);
    expect(s.seen).toHaveLength(0);
  });

  // Not on PostgreSQL (the second pass): it searches the SQLite journal's files (db, -wal, -shm) byte for byte.
  it.skipIf(ON_PG)('header names given in redactHeaders are stored redacted too, and still sent', async () => {
    setSecrets({ API_KEY, URL_SIG });
    const s = await server((_seen, res) => json(res, 200, {}));
    const n = await node({ redactHeaders: ['X-Session-Token'] });
    const pid = await n.spawn(fixture('secrets/charge.js'), [s.url, { session: true }]);
    expect(((await within(n.waitExit(pid), 30_000, 'the call')).result as { ok: boolean }).ok).toBe(true);
    expect(s.seen[0]!.headers['x-session-token']).toBe('SESSION_SECRET_0b9c');
    expectNowhere(n.db, ['SESSION_SECRET_0b9c']);
  });

  it('ctx.secret refuses a name that cannot be an environment variable (BL_ARG_INVALID)', async () => {
    const n = await node();
    const pid = await n.spawn(fixture('secrets/bad-name.js'), []);
    const out = (await within(n.waitExit(pid), 30_000, 'exit')).result as { code: string; message: string };
    expect(out.code).toBe('BL_ARG_INVALID');
    expect(out.message).toContain('secret: name must be');
  });

  // Not on PostgreSQL (the second pass): it drives `runtime spawn --db FILE` children, a SQLite journal — the first pass runs it.
  it.skipIf(ON_PG)('--secrets FILE supplies the values; a file readable by others is refused with one line, nothing started', async () => {
    setSecrets({ API_KEY: undefined, URL_SIG: undefined });
    const s = await server((_seen, res) => json(res, 200, {}));
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const file = path.join(dir, 'secrets.env');
    fs.writeFileSync(file, `# test secrets\nAPI_KEY=${API_KEY}\nURL_SIG=${URL_SIG}\n`);
    fs.chmodSync(file, 0o644);
    const refused = await runCli(['spawn', '--db', db, '--secrets', file, fixture('secrets/charge.js'), s.url]);
    expect(refused.code).toBe(2);
    expect(lines(refused.stderr)).toEqual([`runtime: --secrets ${file}: readable by other users (mode 0644); run 'chmod 600 ${file}' [BL_FILE_UNSAFE]`]);
    expect(refused.stderr).not.toContain(API_KEY);
    expect(fs.existsSync(db)).toBe(false);

    fs.chmodSync(file, 0o600);
    const ok = await runCli(['spawn', '--db', db, '--secrets', file, fixture('secrets/charge.js'), s.url, '{"literal":false}']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, status: 200 });
    expect(s.seen[0]!.headers['x-api-key']).toBe(API_KEY);
    expectNowhere(db, [API_KEY, URL_SIG]);

    fs.writeFileSync(file, 'API_KEY\n');
    const bad = await runCli(['spawn', '--db', db, '--secrets', file, fixture('secrets/charge.js'), s.url]);
    expect(bad.code).toBe(2);
    expect(lines(bad.stderr)).toEqual([`runtime: --secrets ${file}:1: expected NAME=value with NAME made of letters, digits and _ [BL_ARG_INVALID]`]);
  });
});

describe('kill -9 of `runtime spawn` mid-call', () => {
  /** Hold each request the first time its key is seen; answer later attempts. */
  const holdFirst = (s: TestServer) => (seen: TestServer['seen'][number], res: Parameters<typeof json>[0]) => {
    if (s.seen.filter((x) => x.key === seen.key).length > 1) json(res, 200, { attempt: 2 });
  };

  // Not on PostgreSQL (the second pass): it drives `runtime spawn --db FILE` children, a SQLite journal — the first pass runs it.
  it.skipIf(ON_PG)('the re-issued request carries the secret again, substituted anew (a rotated value is used)', async () => {
    let s!: TestServer;
    s = await server((seen, res) => holdFirst(s)(seen, res));
    const db = path.join(tmpdir(), 'journal.db');
    setSecrets({ API_KEY, URL_SIG });
    const first = cli(['spawn', '--db', db, fixture('secrets/charge.js'), s.url, '{"literal":false}']);
    await until(() => s.seen.length === 1, 20_000, 'the request to reach the server');
    expect(await kill9(first)).toBe('SIGKILL');
    expect(s.seen[0]!.headers['x-api-key']).toBe(API_KEY);
    expectNowhere(db, [API_KEY, URL_SIG]);

    // The key was rotated while the node was down.
    setSecrets({ API_KEY: 'sk_test_ROTATED_22d0' });
    const again = cli(['spawn', '--db', db, fixture('secrets/charge.js'), s.url, '{"literal":false}']);
    const { code } = await again.exited;
    expect(again.stderr).not.toMatch(/exited abnormally/);
    expect(code).toBe(0);
    expect(s.seen).toHaveLength(2);
    expect(s.seen[1]!.key).toBe(s.seen[0]!.key);
    expect(s.seen[1]!.headers['x-api-key']).toBe('sk_test_ROTATED_22d0');
    expect(s.seen[1]!.path).toBe(`/charge?sig=${URL_SIG}`);
    expect(s.seen[1]!.body).toEqual({ card: 'card-4242-4242-4242-4242', token: 'tok sk_test_ROTATED_22d0' });
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, body: { attempt: 2 } });
    expectNowhere(db, [API_KEY, URL_SIG, 'sk_test_ROTATED_22d0']);
  });

  // Not on PostgreSQL (the second pass): it drives `runtime spawn --db FILE` children, a SQLite journal — the first pass runs it.
  it.skipIf(ON_PG)('a literal credential is not known after the crash: the re-issued call fails with BL_CREDENTIAL_LOST saying to use ctx.secret', async () => {
    let s!: TestServer;
    s = await server((seen, res) => holdFirst(s)(seen, res));
    const db = path.join(tmpdir(), 'journal.db');
    setSecrets({ API_KEY, URL_SIG });
    const first = cli(['spawn', '--db', db, fixture('secrets/charge.js'), s.url]);
    await until(() => s.seen.length === 1, 20_000, 'the request to reach the server');
    expect(s.seen[0]!.headers.authorization).toBe(LITERAL);
    expect(await kill9(first)).toBe('SIGKILL');

    const again = cli(['spawn', '--db', db, fixture('secrets/charge.js'), s.url]);
    const { code } = await again.exited;
    expect(code).toBe(0);
    const out = JSON.parse(again.stdout) as { ok: boolean; code: string; message: string };
    expect(out.ok).toBe(false);
    expect(out.code).toBe('BL_CREDENTIAL_LOST');
    expect(out.message).toContain("header 'authorization' was a literal credential");
    expect(out.message).toContain("ctx.secret('NAME')");
    expect(logged(again.stderr)).toEqual(['call-failed']);
    // Never sent without its credential.
    expect(s.seen).toHaveLength(1);
    expectNowhere(db, [API_KEY, URL_SIG, 'sk_live_LITERAL_4f2a']);
  });
});
