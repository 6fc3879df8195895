// Opening a journal file safely: everything checked before a connection
// that could write is opened. A file that is not ours, is damaged, is from a
// newer beamline or is sealed with keys we were not given is refused with
// nothing written to it (validation runs on a read-only connection). A second
// node on the same file is refused through an exclusive lock on
// `<journal>-lock`, which the OS drops when the holder dies (kill -9
// included), so a crashed node never leaves a stale lock behind.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { BeamlineError, ErrorCodes } from '../errors.js';
import type { Keyring } from './cipher.js';
import { JOURNAL_APP, SCHEMA_VERSION } from './events.js';
import { ensurePrivateFile } from './files.js';
import { isUnwritable, unwritable } from './unwritable.js';

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

function lockPath(journal: string): string {
  return `${journal}-lock`;
}

/** The file starts as a SQLite database does; anything else is refused untouched. */
export function checkHeader(file: string): void {
  let head: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      head = Buffer.alloc(16);
      fs.readSync(fd, head, 0, 16, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw new BeamlineError(ErrorCodes.JOURNAL_CORRUPT, `${file}: cannot read the journal (${(err as Error).message})`, {
      file,
      cause: err,
    });
  }
  if (!head.equals(SQLITE_MAGIC)) {
    throw new BeamlineError(
      ErrorCodes.JOURNAL_CORRUPT,
      `${file}: not a SQLite database, so not a beamline journal; the file was left untouched (move it away or pass another --db)`,
      { file },
    );
  }
}

/** Read-only checks before anything may write to the file. */
export function validate(file: string, keys: Keyring | null): void {
  let db: Database.Database | null = null;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get();
    const app = hasMeta ? (db.prepare(`SELECT value FROM meta WHERE key = 'app'`).get() as { value: string } | undefined) : undefined;
    if (app?.value !== JOURNAL_APP) {
      throw new BeamlineError(
        ErrorCodes.JOURNAL_FOREIGN,
        `${file}: a SQLite database but not a beamline journal; the file was left untouched (pass another --db)`,
        { file },
      );
    }
    const version = Number((db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined)?.value);
    if (!Number.isInteger(version) || version > SCHEMA_VERSION || version < 1) {
      throw new BeamlineError(
        ErrorCodes.JOURNAL_VERSION,
        `${file}: journal schema version ${String(version)} is not supported by this beamline (knows 1..${SCHEMA_VERSION}); upgrade beamline — the file was left untouched`,
        { file, version },
      );
    }
    checkKeys(file, db, keys);
    const integrity = db.pragma('quick_check(1)', { simple: true });
    if (integrity !== 'ok') {
      // SQLite's report spans lines ("*** in database main ***\nPage 5: ..."): keep the finding, on one line.
      const finding = String(integrity).replace(/\*\*\* in database \w+ \*\*\*/g, '').trim().replace(/\s*\n\s*/g, '; ');
      throw new BeamlineError(ErrorCodes.JOURNAL_CORRUPT, `${file}: journal is damaged (${finding}); the file was left untouched`, { file });
    }
  } catch (err) {
    if (err instanceof BeamlineError) throw err;
    const code = (err as { code?: string }).code;
    if (isUnwritable(path.dirname(file), code)) throw unwritable(file, err);
    throw new BeamlineError(
      ErrorCodes.JOURNAL_CORRUPT,
      `${file}: journal cannot be read (${code ?? ''} ${(err as Error).message}); the file was left untouched`.replace(/\s+/g, ' '),
      { file, cause: err },
    );
  } finally {
    db?.close();
  }
}

/**
 * An encrypted journal lists in meta every key id it has written with: all
 * of them must be among the keys given, or the journal is refused here, on
 * the read-only connection, with nothing written.
 */
function checkKeys(file: string, db: Database.Database, keys: Keyring | null): void {
  const used = (db.prepare(`SELECT value FROM meta WHERE key = 'key_ids'`).get() as { value: string } | undefined)?.value;
  if (used === undefined || used === '') return;
  const ids = used.split(',');
  if (keys === null) {
    throw new BeamlineError(
      ErrorCodes.JOURNAL_KEY,
      `${file}: the journal is encrypted (key ${ids.join(', ')}) and no key was given; pass --journal-key FILE or set BEAMLINE_JOURNAL_KEY — the file was left untouched`,
      { file },
    );
  }
  const have = new Set(keys.keys.map((k) => k.id));
  const missing = ids.filter((id) => !have.has(id));
  if (missing.length > 0) {
    throw new BeamlineError(
      ErrorCodes.JOURNAL_KEY,
      `${file}: the journal has rows encrypted with key ${missing.join(', ')}, which the keys given (${[...have].join(', ')}) do not include; add the old key to the key file (new writes use its last key) — the file was left untouched`,
      { file },
    );
  }
}

/** The single-writer lock: an exclusive transaction on `<journal>-lock`, held for the node's life. */
export function acquireLock(journal: string): Database.Database {
  const file = lockPath(journal);
  // Owner-only, ours, and not a symlink another user planted (see files.ts).
  ensurePrivateFile(file, 'lock file', true);
  const lock = new Database(file);
  lock.pragma('busy_timeout = 0');
  try {
    lock.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new BeamlineError(
        ErrorCodes.JOURNAL_LOCKED,
        `${journal}: another beamline node holds this journal; talk to it with 'runtime ps|send|spawn' or pass another --db`,
        { file: journal },
      );
    }
    if (isUnwritable(path.dirname(file), (err as { code?: string }).code)) throw unwritable(journal, err);
    throw err;
  }
  return lock;
}
