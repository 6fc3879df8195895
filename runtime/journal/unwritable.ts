// Telling a journal that cannot be written (a full disk, a read-only file
// or folder) from a damaged one. SQLite reports both as I/O or open errors;
// the file system says which it is. Kept apart from sqlite.ts so the store
// stays about the store.

import fs from 'node:fs';
import path from 'node:path';
import { BeamlineError, ErrorCodes } from '../errors.js';

/** A full disk or a read-only file system, not damage: say so (BL_JOURNAL_UNWRITABLE), in one line. */
export function isUnwritable(dir: string, code: string | undefined): boolean {
  if (code === 'SQLITE_FULL' || code === 'SQLITE_READONLY') return true;
  if (code !== 'SQLITE_CANTOPEN' && !code?.startsWith('SQLITE_IOERR')) return false;
  return diskFull(dir) || !writable(dir);
}

function writable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Less than 1 MiB free for us: what SQLite reports as an I/O error when it cannot grow a file. */
function diskFull(dir: string): boolean {
  try {
    const st = fs.statfsSync(dir);
    return st.bavail * st.bsize < 2 ** 20;
  } catch {
    return false;
  }
}

export function unwritable(file: string, err: unknown): BeamlineError {
  const code = (err as { code?: string }).code;
  const why = code === 'SQLITE_FULL' || diskFull(path.dirname(file)) ? 'the disk is full' : 'the file or its folder is read-only';
  return new BeamlineError(ErrorCodes.JOURNAL_UNWRITABLE, `${file}: journal cannot be written: ${why} (${code}); the file was left untouched`, { file, cause: err });
}
