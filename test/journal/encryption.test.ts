// Encryption at rest (--journal-key / BEAMLINE_JOURNAL_KEY): every payload
// is sealed with AES-256-GCM before it is stored. Real journals, real nodes,
// a real `runtime spawn` killed with SIGKILL; the journal's files are
// searched byte for byte for the plain texts of the run.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cipher, keyId, parseKeys } from '../../dist/runtime/journal/cipher.js';
import { parseTreeFile } from '../../dist/runtime/config/tree.js';
import { FIXTURES, fixture, nodesPerTest, query, runCli, tmpdir, until } from '../helpers.js';
import { json, serversPerTest, within, type TestServer } from '../fixtures/natives/http-server.js';
import { cli, kill9, killLeftovers, lines, sha256 } from '../fixtures/failure/cli.js';

const node = nodesPerTest();
const server = serversPerTest();

const saved = process.env.BEAMLINE_JOURNAL_KEY;
afterEach(async () => {
  await killLeftovers();
  if (saved === undefined) delete process.env.BEAMLINE_JOURNAL_KEY;
  else process.env.BEAMLINE_JOURNAL_KEY = saved;
});

function newKey(): string {
  return crypto.randomBytes(32).toString('base64');
}

function keyFile(...keys: string[]): string {
  const file = path.join(tmpdir(), 'journal.key');
  fs.writeFileSync(file, `${keys.join('\n')}\n`, { mode: 0o600 });
  return file;
}

function idOf(key: string): string {
  return keyId(Buffer.from(key, 'base64'));
}

function journalBytes(db: string): Buffer {
  const dir = path.dirname(db);
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(path.basename(db)))
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).isFile());
  return Buffer.concat(files.map((f) => fs.readFileSync(f)));
}

/** Key ids of the sealed payloads in the journal table, per pid. */
function rowKeyIds(db: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const r of query<{ pid: string; row: Buffer }>(db, 'SELECT pid, row FROM journal')) {
    expect(r.row[0]).toBe(0xc1);
    const ids = out.get(r.pid) ?? new Set<string>();
    ids.add(r.row.subarray(2, 6).toString('hex'));
    out.set(r.pid, ids);
  }
  return out;
}

const echo = (marker: string) => (_seen: TestServer['seen'][number], res: Parameters<typeof json>[0]) => json(res, 200, { answer: `${marker}-response` });

describe('encryption at rest', () => {
  it('an encrypted journal contains none of the plain texts of a run (args, message, step, request, response, log, result)', async () => {
    const marker = `PLAIN${crypto.randomBytes(4).toString('hex')}`;
    const s = await server(echo(marker));
    const key = keyFile(newKey());
    const n = await node({ journalKey: key });
    const pid = await n.spawn(fixture('secrets/plain-texts.js'), [s.url, marker]);
    const exit = await within(n.waitExit(pid), 30_000, 'the run');
    expect(exit.result).toEqual({ msg: `${marker}-message`, stepped: `${marker}-step`, answer: `${marker}-response`, done: `${marker}-result` });
    expect(s.seen[0]!.body).toEqual({ note: `${marker}-request` });

    expect(journalBytes(n.db).includes(Buffer.from(marker))).toBe(false);
    await n.close();
    expect(journalBytes(n.db).includes(Buffer.from(marker))).toBe(false);
    // A control run without a key: the same search finds the texts, so the search can fail.
    const plain = await node();
    const p2 = await plain.spawn(fixture('secrets/plain-texts.js'), [s.url, marker]);
    await within(plain.waitExit(p2), 30_000, 'the plain run');
    expect(journalBytes(plain.db).includes(Buffer.from(marker))).toBe(true);

    // With its key the journal reads as before.
    const history = await runCli(['history', '--db', n.db, '--journal-key', key, pid]);
    expect(history.code).toBe(0);
    expect(history.stdout).toContain(`${marker}-step`);
    expect(history.stdout).toContain(`result {"msg":"${marker}-message"`);
  });

  it('replay on every wake reads the sealed rows and mailbox in the worker threads', async () => {
    const marker = `PLAIN${crypto.randomBytes(4).toString('hex')}`;
    const s = await server(echo(marker));
    const n = await node({ journalKey: keyFile(newKey()), evictIdleMs: 0 });
    const pid = await n.spawn(fixture('secrets/plain-texts.js'), [s.url, marker]);
    const exit = await within(n.waitExit(pid), 30_000, 'the run');
    expect(exit.result).toEqual({ msg: `${marker}-message`, stepped: `${marker}-step`, answer: `${marker}-response`, done: `${marker}-result` });
    expect(journalBytes(n.db).includes(Buffer.from(marker))).toBe(false);
  });

  it('a supervision tree on an encrypted journal is stored sealed and resumed after a restart', async () => {
    const key = keyFile(newKey());
    const db = path.join(tmpdir(), 'journal.db');
    const spec = parseTreeFile(path.join(FIXTURES, 'supervisor', 'resume.yaml'));
    const first = await node({ db, journalKey: key });
    const { pid, resumed } = first.startTree(spec);
    expect(resumed).toBe(false);
    await until(() => first.kernel.names().has('counter'), 20_000, 'the counter to register');
    await first.close();
    const sealed = query<{ data: Buffer }>(db, 'SELECT data FROM supervisors');
    expect(sealed.length).toBeGreaterThan(0);
    for (const r of sealed) expect(r.data[0]).toBe(0xc1);

    const again = await node({ db, journalKey: key });
    expect(again.startTree(spec)).toEqual({ pid, resumed: true });
  });

  it('a journal opened without its key is refused with one line, and left byte-identical', async () => {
    const key = newKey();
    const file = keyFile(key);
    const db = path.join(tmpdir(), 'journal.db');
    expect((await runCli(['spawn', '--db', db, '--journal-key', file, fixture('failure/nap.js'), '10'])).code).toBe(0);
    const before = sha256(db);

    for (const args of [['spawn', '--db', db, fixture('failure/nap.js'), '10'], ['ps', '--db', db], ['history', '--db', db, 'x.1']]) {
      const run = await runCli(args);
      expect(run.code).toBe(2);
      expect(lines(run.stderr)).toEqual([
        `runtime: ${db}: the journal is encrypted (key ${idOf(key)}) and no key was given; pass --journal-key FILE or set BEAMLINE_JOURNAL_KEY — the file was left untouched [BL_JOURNAL_KEY]`,
      ]);
      expect(sha256(db)).toBe(before);
    }

    const other = newKey();
    const wrong = await runCli(['spawn', '--db', db, '--journal-key', keyFile(other), fixture('failure/nap.js'), '10']);
    expect(wrong.code).toBe(2);
    expect(lines(wrong.stderr)).toEqual([
      `runtime: ${db}: the journal has rows encrypted with key ${idOf(key)}, which the keys given (${idOf(other)}) do not include; add the old key to the key file (new writes use its last key) — the file was left untouched [BL_JOURNAL_KEY]`,
    ]);
    expect(sha256(db)).toBe(before);

    fs.chmodSync(file, 0o640);
    const open = await runCli(['spawn', '--db', db, '--journal-key', file, fixture('failure/nap.js'), '10']);
    expect(open.code).toBe(2);
    expect(lines(open.stderr)).toEqual([`runtime: --journal-key ${file}: readable by other users (mode 0640); run 'chmod 600 ${file}' [BL_FILE_UNSAFE]`]);

    process.env.BEAMLINE_JOURNAL_KEY = 'c2hvcnQ=';
    const short = await runCli(['ps', '--db', db]);
    expect(lines(short.stderr)).toEqual([
      "runtime: BEAMLINE_JOURNAL_KEY: key 1 is not 32 bytes in base64 or hex (got 5 bytes); make one with 'head -c 32 /dev/urandom | base64' [BL_JOURNAL_KEY]",
    ]);
    expect(sha256(db)).toBe(before);
  });

  it('replays after kill -9: the held call is re-issued, recorded results come back from the sealed rows', async () => {
    const marker = `PLAIN${crypto.randomBytes(4).toString('hex')}`;
    let s!: TestServer;
    s = await server((seen, res) => {
      if (s.seen.filter((x) => x.key === seen.key).length > 1) json(res, 200, { attempt: 2 });
    });
    const key = newKey();
    const db = path.join(tmpdir(), 'journal.db');
    const first = cli(['spawn', '--db', db, '--journal-key', keyFile(key), fixture('secrets/waiter.js'), s.url, marker]);
    await until(() => s.seen.length === 1, 20_000, 'the request to reach the server');
    expect(await kill9(first)).toBe('SIGKILL');
    expect(journalBytes(db).includes(Buffer.from(marker))).toBe(false);

    // Second boot takes the key from the environment.
    process.env.BEAMLINE_JOURNAL_KEY = key;
    const again = cli(['spawn', '--db', db, fixture('secrets/waiter.js'), s.url, marker]);
    const { code } = await again.exited;
    expect(again.stderr).not.toMatch(/exited abnormally/);
    expect(code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ first: `${marker}-first`, attempt: 2 });
    expect(s.seen).toHaveLength(2);
    expect(s.seen[1]!.key).toBe(s.seen[0]!.key);
    expect(s.seen[1]!.body).toEqual({ note: `${marker}-held` });
    expect(journalBytes(db).includes(Buffer.from(marker))).toBe(false);
  });

  it('key rotation: new writes use the new key, old rows stay readable with the old one, and dropping the old key is refused', async () => {
    const marker = `PLAIN${crypto.randomBytes(4).toString('hex')}`;
    const s = await server(echo(marker));
    const oldKey = newKey();
    const newer = newKey();
    const db = path.join(tmpdir(), 'journal.db');
    const one = await runCli(['spawn', '--db', db, '--journal-key', keyFile(oldKey), fixture('secrets/plain-texts.js'), s.url, `${marker}a`]);
    expect(one.code).toBe(0);
    const both = keyFile(oldKey, newer);
    const two = await runCli(['spawn', '--db', db, '--journal-key', both, fixture('secrets/plain-texts.js'), s.url, `${marker}b`]);
    expect(two.code).toBe(0);

    const [p1, p2] = query<{ pid: string }>(db, 'SELECT pid FROM processes ORDER BY rowid').map((r) => r.pid);
    const ids = rowKeyIds(db);
    expect([...ids.get(p1!)!]).toEqual([idOf(oldKey)]);
    expect([...ids.get(p2!)!]).toEqual([idOf(newer)]);
    expect(query<{ value: string }>(db, `SELECT value FROM meta WHERE key = 'key_ids'`)[0]!.value).toBe(`${idOf(oldKey)},${idOf(newer)}`);

    for (const [pid, m] of [[p1!, `${marker}a`], [p2!, `${marker}b`]] as const) {
      const h = await runCli(['history', '--db', db, '--journal-key', both, pid]);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain(`${m}-step`);
    }
    expect(journalBytes(db).includes(Buffer.from(marker))).toBe(false);

    const before = sha256(db);
    const dropped = await runCli(['ps', '--db', db, '--journal-key', keyFile(newer)]);
    expect(dropped.code).toBe(2);
    expect(dropped.stderr).toContain(`rows encrypted with key ${idOf(oldKey)}, which the keys given (${idOf(newer)}) do not include`);
    expect(sha256(db)).toBe(before);
  });

  it('a sealed payload does not open when tampered with or read as another column', () => {
    const ring = parseKeys(newKey(), 'test');
    const c = new Cipher(ring);
    const sealed = Buffer.from(c.seal(Buffer.from('hello'), 'row'));
    expect(Buffer.from(c.open(sealed, 'row')).toString()).toBe('hello');
    expect(() => c.open(sealed, 'mail')).toThrow(expect.objectContaining({ code: 'BL_JOURNAL_CORRUPT' }));
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
    expect(() => c.open(flipped, 'row')).toThrow(expect.objectContaining({ code: 'BL_JOURNAL_CORRUPT' }));
    const stranger = new Cipher(parseKeys(newKey(), 'test'));
    expect(() => stranger.open(sealed, 'row')).toThrow(expect.objectContaining({ code: 'BL_JOURNAL_KEY' }));
    // Two seals of one payload differ (fresh IV each time).
    expect(Buffer.from(c.seal(Buffer.from('hello'), 'row')).equals(sealed)).toBe(false);
  });
});
