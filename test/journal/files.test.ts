// The journal stays with its owner: its folder and files are created
// owner-only whatever the umask, an existing journal readable by others is
// named in a warning, and a lock file or journal that belongs to another
// user (or a symlink planted at the lock's path) is refused with one line.
// Real `runtime spawn` children, real files.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, runCli, tmpdir, until } from '../helpers.js';
import { cli, killLeftovers, lines, sha256 } from '../fixtures/failure/cli.js';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const mode = (f: string) => (fs.statSync(f).mode & 0o777).toString(8).padStart(4, '0');

let umask: number | null = null;
afterEach(async () => {
  await killLeftovers();
  if (umask !== null) process.umask(umask);
  umask = null;
});

/** A journal with one finished process in it. */
async function journalWithHistory(): Promise<string> {
  const db = path.join(tmpdir(), 'journal.db');
  const run = await runCli(['spawn', '--db', db, fixture('failure/nap.js'), '10']);
  expect(run.code).toBe(0);
  return db;
}

describe('journal files are owner-only', () => {
  it('under umask 000: .beamline/ is 0700; journal, -wal, -shm and lock files are 0600, while the node runs and after', async () => {
    umask = process.umask(0o000); // the child inherits it
    const cwd = tmpdir();
    fs.chmodSync(cwd, 0o755);
    const db = path.join(cwd, 'state', '.beamline', 'journal.db');
    const run = cli(['spawn', '--db', db, fixture('failure/nap.js'), '3000']);
    await until(() => run.stderr.includes('sleeping'), 20_000, 'the sleep to be committed');
    const files = () =>
      fs
        .readdirSync(path.dirname(db))
        .map((f) => path.join(path.dirname(db), f))
        .filter((f) => fs.lstatSync(f).isFile());
    const running = files().map((f) => path.basename(f));
    expect(running).toEqual(expect.arrayContaining(['journal.db', 'journal.db-wal', 'journal.db-shm', 'journal.db-lock']));
    for (const f of files()) expect(`${path.basename(f)} ${mode(f)}`).toBe(`${path.basename(f)} 0600`);
    expect(mode(path.dirname(db))).toBe('0700');
    expect(mode(path.join(cwd, 'state'))).toBe('0700');

    expect((await run.exited).code).toBe(0);
    for (const f of files()) expect(`${path.basename(f)} ${mode(f)}`).toBe(`${path.basename(f)} 0600`);
  });

  it('an existing journal readable by others gets a one-line warning naming it and the fix; the node still runs', async () => {
    const db = await journalWithHistory();
    fs.chmodSync(db, 0o644);
    const run = await runCli(['spawn', '--db', db, fixture('failure/nap.js'), '10']);
    expect(run.code).toBe(0);
    const warnings = lines(run.stderr).filter((l) => l.startsWith('runtime:'));
    // SQLite gives the -wal and -shm it creates the journal's mode: the fix names them too.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^runtime: warning: (\S+) is readable by other users \(mode 0644\); run 'chmod 600 \1( \1-wal)?( \1-shm)?' to keep the journal private$/);
    expect(warnings[0]).toContain(`${db} is readable`);
    // The warning only: the user's file keeps the mode they gave it.
    expect(mode(db)).toBe('0644');
  });

  it('a lock file left 0644 by an older node is made 0600', async () => {
    const db = await journalWithHistory();
    fs.chmodSync(`${db}-lock`, 0o644);
    expect((await runCli(['spawn', '--db', db, fixture('failure/nap.js'), '10'])).code).toBe(0);
    expect(mode(`${db}-lock`)).toBe('0600');
  });
});

describe('files of another user are refused', () => {
  it.skipIf(!asRoot)('a lock file owned by another user: one line naming it, exit 2, the journal byte-identical', async () => {
    const db = await journalWithHistory();
    const lock = `${db}-lock`;
    fs.chownSync(lock, NOBODY, NOBODY);
    const before = sha256(db);
    const run = await runCli(['spawn', '--db', db, fixture('failure/nap.js'), '10']);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toContain(`runtime: ${lock}: the lock file is owned by uid ${NOBODY}, not by you (uid 0)`);
    expect(run.stderr).toContain('[BL_FILE_UNSAFE]');
    expect(sha256(db)).toBe(before);
    expect(fs.statSync(lock).uid).toBe(NOBODY);
  });

  it.skipIf(!asRoot)('a journal owned by another user: one line naming it, exit 2, nothing written', async () => {
    const db = await journalWithHistory();
    fs.chownSync(db, NOBODY, NOBODY);
    const before = sha256(db);
    const run = await runCli(['spawn', '--db', db, fixture('failure/nap.js'), '10']);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)).toEqual([
      `runtime: ${db}: the journal is owned by uid ${NOBODY}, not by you (uid 0); another user may be holding or reading this journal — nothing was opened (remove the file if it is not yours, or pass another --db) [BL_FILE_UNSAFE]`,
    ]);
    expect(sha256(db)).toBe(before);
  });

  it('a symlink planted at the lock path is not followed: one line, exit 2, its target untouched', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const target = path.join(tmpdir(), 'elsewhere');
    fs.writeFileSync(target, 'not yours');
    fs.chmodSync(target, 0o644);
    fs.symlinkSync(target, `${db}-lock`);
    const run = await runCli(['spawn', '--db', db, fixture('failure/nap.js'), '10']);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)).toEqual([
      `runtime: ${db}-lock: the lock file is a symbolic link; refusing to follow it (remove it, or pass another --db) [BL_FILE_UNSAFE]`,
    ]);
    expect(fs.readFileSync(target, 'utf8')).toBe('not yours');
    expect(mode(target)).toBe('0644');
    expect(fs.existsSync(db)).toBe(false);
  });
});
