// Failure model, row "bad input": each is ONE line on stderr naming the
// file/field/pid, a non-zero exit, and nothing in the journal lost or
// overwritten (corrupt and foreign files left byte-for-byte untouched).

import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Node } from '../../dist/runtime/node.js';
import { fixture, nodesPerTest, query, readRows, tmpdir, until } from '../helpers.js';
import { refusedPort } from '../fixtures/natives/http-server.js';
import { cli, cliRun, killLeftovers, lines, sha256 } from '../fixtures/failure/cli.js';

const node = nodesPerTest();
afterEach(async () => {
  await killLeftovers();
});

/** One line on stderr, non-zero exit, no hang. */
function oneLineError(out: { code: number | null; stderr: string; hung: boolean }, code: number): string {
  expect(out.hung).toBe(false);
  expect(out.code).toBe(code);
  const err = lines(out.stderr);
  expect(err, `stderr was:\n${out.stderr}`).toHaveLength(1);
  return err[0]!;
}

/** A journal with one finished process in it, and a snapshot of its contents. */
async function journalWithHistory(): Promise<{ db: string; snapshot: () => unknown }> {
  const db = path.join(tmpdir(), 'journal.db');
  const out = await cliRun(['spawn', '--db', db, fixture('sleeper.js'), 'nobody', '1', '5']);
  expect(out.code).toBe(0);
  const snapshot = () => ({
    processes: query(db, 'SELECT pid, run, status, script, args, reason, result FROM processes ORDER BY pid'),
    journal: readRows(db),
    meta: query(db, "SELECT key, value FROM meta WHERE key IN ('app', 'schema_version', 'tag', 'created_at') ORDER BY key"),
  });
  return { db, snapshot };
}

describe('bad input', () => {
  it('a missing script: one line naming it, BL_SCRIPT_NOT_FOUND, exit 2, journal intact', async () => {
    const { db, snapshot } = await journalWithHistory();
    const before = snapshot();
    const out = await cliRun(['spawn', '--db', db, 'no/such/dir/script.js', '1']);
    const line = oneLineError(out, 2);
    expect(line).toContain('no/such/dir/script.js');
    expect(line).toContain('BL_SCRIPT_NOT_FOUND');
    expect(snapshot()).toEqual(before);
  });

  it('a syntax error: one line naming the file and line, BL_SCRIPT_INVALID, exit 2, nothing journaled', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const file = fixture('failure/syntax-error.js');
    const line = oneLineError(await cliRun(['spawn', '--db', db, file]), 2);
    expect(line).toContain(`${file}:4`);
    expect(line).toContain('SyntaxError');
    expect(line).toContain('BL_SCRIPT_INVALID');
    expect(query(db, 'SELECT pid FROM processes')).toEqual([]);
  });

  it('a script without a default-exported function: one line naming it, BL_SCRIPT_INVALID, exit 2', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const file = fixture('failure/not-a-function.js');
    const line = oneLineError(await cliRun(['spawn', '--db', db, file]), 2);
    expect(line).toContain(file);
    expect(line).toContain('BL_SCRIPT_INVALID');
    expect(query(db, 'SELECT pid FROM processes')).toEqual([]);
  });

  it('a journal of random bytes: refused with BL_JOURNAL_CORRUPT, left byte-for-byte untouched', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    fs.writeFileSync(db, crypto.randomBytes(64 * 1024));
    const hash = sha256(db);
    const line = oneLineError(await cliRun(['spawn', '--db', db, fixture('sleeper.js'), 'nobody', '1', '5']), 2);
    expect(line).toContain(db);
    expect(line).toContain('BL_JOURNAL_CORRUPT');
    expect(sha256(db)).toBe(hash);
    expect(fs.existsSync(`${db}-wal`)).toBe(false);
    await expect(Node.open({ db, threads: 1, log: () => {} })).rejects.toMatchObject({ code: 'BL_JOURNAL_CORRUPT' });
    expect(sha256(db)).toBe(hash);
  });

  it('a journal that starts like SQLite but is damaged: refused with BL_JOURNAL_CORRUPT, untouched', async () => {
    const { db } = await journalWithHistory();
    // Keep the 100-byte header, overwrite every page after the first with noise.
    const bytes = fs.readFileSync(db);
    const pageSize = bytes.readUInt16BE(16) === 1 ? 65536 : bytes.readUInt16BE(16);
    crypto.randomFillSync(bytes, pageSize);
    fs.writeFileSync(db, bytes);
    const hash = sha256(db);
    const line = oneLineError(await cliRun(['spawn', '--db', db, fixture('sleeper.js'), 'nobody', '1', '5']), 2);
    expect(line).toContain(db);
    expect(line).toContain('BL_JOURNAL_CORRUPT');
    expect(sha256(db)).toBe(hash);
  });

  it('a SQLite file that is not a beamline journal: refused with BL_JOURNAL_FOREIGN, untouched', async () => {
    const db = path.join(tmpdir(), 'app.db');
    const conn = new Database(db);
    conn.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada'), ('grace');");
    conn.close();
    const hash = sha256(db);
    const line = oneLineError(await cliRun(['spawn', '--db', db, fixture('sleeper.js'), 'nobody', '1', '5']), 2);
    expect(line).toContain(db);
    expect(line).toContain('BL_JOURNAL_FOREIGN');
    expect(sha256(db)).toBe(hash);
    expect(query(db, 'SELECT name FROM users ORDER BY id')).toEqual([{ name: 'ada' }, { name: 'grace' }]);
  });

  it('a journal of an unknown schema version (99): refused with BL_JOURNAL_VERSION, untouched', async () => {
    const { db } = await journalWithHistory();
    const conn = new Database(db);
    conn.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run();
    conn.close(); // checkpoints the WAL into the file
    expect(fs.existsSync(`${db}-wal`)).toBe(false);
    const hash = sha256(db);
    const line = oneLineError(await cliRun(['spawn', '--db', db, fixture('sleeper.js'), 'nobody', '1', '5']), 2);
    expect(line).toContain(db);
    expect(line).toContain('BL_JOURNAL_VERSION');
    expect(sha256(db)).toBe(hash);
    await expect(Node.open({ db, threads: 1, log: () => {} })).rejects.toMatchObject({ code: 'BL_JOURNAL_VERSION' });
    expect(sha256(db)).toBe(hash);
    expect(query(db, "SELECT value FROM meta WHERE key = 'schema_version'")).toEqual([{ value: '99' }]);
  });

  // The issue allows either refusing a second `runtime spawn` on a held
  // journal or handing the spawn to the live node; beamline hands it over.
  // A second *node* (Node.open) is always refused with BL_JOURNAL_LOCKED.
  it('a second node on a held journal is refused with BL_JOURNAL_LOCKED; a second `runtime spawn` is handed to the live node, which is unharmed', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    // Long enough to outlive the three handed-over spawns below on a loaded machine.
    const live = cli(['spawn', '--db', db, fixture('stepper.js'), '4', '1500']);
    await until(() => live.stderr.includes('step-1'), 20_000, 'the live node to start');

    // A second node in this process: refused, nothing written.
    await expect(Node.open({ db, threads: 1, log: () => {} })).rejects.toMatchObject({ code: 'BL_JOURNAL_LOCKED' });

    // A second `runtime spawn`: the spawn runs on the live node, whose journal records it.
    const handed = await cliRun(['spawn', '--db', db, fixture('natives/ticker.js'), '2', '50']);
    expect(handed.hung).toBe(false);
    expect(handed.code).toBe(0);
    expect(handed.stderr).toBe('');
    const ticked = JSON.parse(handed.stdout) as { start: number; end: number };
    expect(ticked.end - ticked.start).toBeGreaterThanOrEqual(100);

    // Bad input handed to the live node is still one line and exit 2, and harms nothing.
    const missing = oneLineError(await cliRun(['spawn', '--db', db, 'no/such/script.js']), 2);
    expect(missing).toContain('no/such/script.js');
    expect(missing).toContain('BL_SCRIPT_NOT_FOUND');
    const broken = oneLineError(await cliRun(['spawn', '--db', db, fixture('failure/syntax-error.js')]), 2);
    expect(broken).toContain(`${fixture('failure/syntax-error.js')}:4`);
    expect(broken).toContain('BL_SCRIPT_INVALID');

    const { code } = await live.exited;
    expect(code).toBe(0);
    expect(JSON.parse(live.stdout)).toEqual({ steps: [1, 2, 3, 4], run: 1 });
    const steps = lines(live.stderr).map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(steps).toEqual(['step-1', 'step-2', 'step-3', 'step-4']);
    expect(query<{ script: string; status: string }>(db, 'SELECT script, status FROM processes ORDER BY rowid')).toEqual([
      { script: fixture('stepper.js'), status: 'exited' },
      { script: fixture('natives/ticker.js'), status: 'exited' },
    ]);
  });

  it('an unserialisable message (a function): the process fails with BL_UNSERIALIZABLE, one line naming its pid', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const line = oneLineError(await cliRun(['spawn', '--db', db, fixture('failure/send-fn.js')]), 1);
    const [{ pid }] = query<{ pid: string }>(db, 'SELECT pid FROM processes');
    expect(line).toContain(pid);
    expect(line).toContain('BL_UNSERIALIZABLE');
  });

  it('an unserialisable message or argument through the Node facade: refused at the call with BL_UNSERIALIZABLE', async () => {
    const n = await node();
    const pid = await n.spawn(fixture('natives/trapper.js'));
    let thrown: unknown = null;
    try {
      n.send(pid, { fn: () => 1 });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'BL_UNSERIALIZABLE' });
    await expect(n.spawn(fixture('natives/trapper.js'), [() => 1])).rejects.toMatchObject({ code: 'BL_UNSERIALIZABLE' });
    // The process is unharmed and nothing half-sent reached it.
    n.send(pid, 'stop');
    expect((await n.waitExit(pid)).result).toEqual(['stop']);
  });

  it('a callApi to a refused port: the process fails with BL_HTTP, one line naming its pid', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const port = await refusedPort();
    const line = oneLineError(await cliRun(['spawn', '--db', db, fixture('failure/refused.js'), String(port)]), 1);
    const [{ pid }] = query<{ pid: string }>(db, 'SELECT pid FROM processes');
    expect(line).toContain(pid);
    expect(line).toContain('BL_HTTP');
  });
});
