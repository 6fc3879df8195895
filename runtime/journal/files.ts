// The journal's files stay with their owner. A journal holds everything its
// processes ever saw (message bodies, API responses, step results), so it,
// its -wal/-shm files, its lock file and the `.beamline/` folder are created
// owner-only (0600/0700) whatever the umask — PostgreSQL does the same with
// its data directory. SQLite gives the -wal and -shm files the mode of the
// database file, so creating the database file 0600 ourselves before SQLite
// opens it is what makes all three private.
//
// A journal or lock file that belongs to another user is refused: another
// local user who pre-creates `journal.db-lock` could otherwise hold the lock
// (the node never starts) or read what the node writes.

import fs from 'node:fs';
import path from 'node:path';
import { BeamlineError, ErrorCodes } from '../errors.js';

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

function myUid(): number | undefined {
  return process.getuid?.();
}

/** Create the missing folders of `dir`, each 0700 (an existing folder is left as it is). */
export function ensurePrivateDir(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d, { mode: DIR_MODE });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      continue; // made by someone else meanwhile: not ours to chmod
    }
    fs.chmodSync(d, DIR_MODE); // the umask may have taken bits away; never adds any, but be exact
  }
}

/**
 * Make `file` exist as an owner-only file of ours (created 0600 if absent)
 * without following a symlink planted at its path. `what` names the file in
 * errors ('journal', 'lock file'). An existing file of ours is left with its
 * mode unless `tighten` (the lock file carries no data: always made 0600).
 */
export function ensurePrivateFile(file: string, what: string, tighten: boolean): void {
  ensurePrivateDir(path.dirname(file));
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, FILE_MODE);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') {
      throw new BeamlineError(ErrorCodes.FILE_UNSAFE, `${file}: the ${what} is a symbolic link; refusing to follow it (remove it, or pass another --db)`, { file });
    }
    // A read-only file system, a full disk or a folder we may not write to is not damage.
    if (code === 'EROFS' || code === 'ENOSPC' || code === 'EACCES' || code === 'EPERM' || code === 'EDQUOT') {
      throw new BeamlineError(ErrorCodes.JOURNAL_UNWRITABLE, `${file}: cannot create the ${what}: ${code === 'ENOSPC' || code === 'EDQUOT' ? 'the disk is full' : 'the file or its folder is read-only'} (${code}); nothing was written`, { file, cause: err });
    }
    throw new BeamlineError(ErrorCodes.JOURNAL_CORRUPT, `${file}: cannot open the ${what} (${code ?? (err as Error).message})`, { file, cause: err });
  }
  try {
    const st = fs.fstatSync(fd);
    assertOwned(file, what, st);
    if (tighten || st.size === 0) {
      if ((st.mode & 0o777) !== FILE_MODE) fs.fchmodSync(fd, FILE_MODE);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Refuse a file that belongs to another user (checked before anything opens it for writing). */
export function assertOwned(file: string, what: string, st: fs.Stats = fs.statSync(file)): void {
  const uid = myUid();
  if (uid === undefined || st.uid === uid) return;
  throw new BeamlineError(
    ErrorCodes.FILE_UNSAFE,
    `${file}: the ${what} is owned by uid ${st.uid}, not by you (uid ${uid}); another user may be holding or reading this journal — nothing was opened (remove the file if it is not yours, or pass another --db)`,
    { file, uid: st.uid },
  );
}

/**
 * A one-line warning when an existing journal (or its -wal/-shm) can be read
 * by other users, naming the files and the fix; null when all are private.
 */
export function exposureWarning(journal: string): string | null {
  const open: string[] = [];
  for (const f of [journal, `${journal}-wal`, `${journal}-shm`]) {
    try {
      if ((fs.statSync(f).mode & 0o077) !== 0) open.push(f);
    } catch {
      /* absent: nothing to say */
    }
  }
  if (open.length === 0) return null;
  const mode = (fs.statSync(open[0]!).mode & 0o777).toString(8).padStart(4, '0');
  return `warning: ${open[0]} is readable by other users (mode ${mode}); run 'chmod 600 ${open.join(' ')}' to keep the journal private`;
}

/**
 * A file holding secrets (key file, --secrets file) must be a regular file
 * of this user's, with no access for group or others: otherwise refuse,
 * naming the file and the fix (and never its contents).
 */
export function assertPrivateFile(file: string, option: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new BeamlineError(ErrorCodes.ARG_INVALID, `${option} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file });
  }
  if (!st.isFile()) throw new BeamlineError(ErrorCodes.ARG_INVALID, `${option} ${file}: not a regular file`, { file });
  const uid = myUid();
  if (uid !== undefined && st.uid !== uid) {
    throw new BeamlineError(ErrorCodes.FILE_UNSAFE, `${option} ${file}: owned by uid ${st.uid}, not by you (uid ${uid}); use a file of your own`, { file });
  }
  if ((st.mode & 0o077) !== 0) {
    throw new BeamlineError(
      ErrorCodes.FILE_UNSAFE,
      `${option} ${file}: readable by other users (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); run 'chmod 600 ${file}'`,
      { file },
    );
  }
}
