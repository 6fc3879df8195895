// Encryption at rest: AES-256-GCM over every payload column of the journal
// (message bodies, call requests and responses, step results, start
// arguments, exit reasons, round rows, supervisor state).
//
// It lives in the store layer, not in the msgpack codec, on purpose:
// - the codec also encodes the kernel<->worker envelopes, which never touch
//   the disk: encrypting there would tax every in-memory hop;
// - the batch cancels what undoes itself before the commit (a message put
//   and taken in one batch is never written), so only what is stored pays;
// - the writer thread seals, off the kernel's thread;
// - the key id belongs to the stored bytes, so the store is where rotation
//   (new writes under the new key, old rows read with the old) is decided.
//
// A sealed payload is
//
//   0xc1 | version 1 | key id (4 bytes) | iv (12) | tag (16) | ciphertext
//
// 0xc1 is the one byte msgpack never uses, so a sealed payload is told from
// a plain one (written before encryption was turned on) by its first byte.
// The column's name is authenticated with it (AAD), so a payload copied into
// another column does not decrypt.
//
// Keys are 32 bytes, given as base64 or hex, one per line in a key file
// (`--journal-key FILE`, owner-only) or in BEAMLINE_JOURNAL_KEY (separated
// by commas or white space). The last key is the current one (new writes);
// the others are kept to read older rows. A key's id is derived from the key
// (no names to keep in step), and the journal's meta row lists every id it
// has used, so a journal opened without one of them is refused at once.

import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomFillSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { BeamlineError, ErrorCodes } from '../errors.js';
import { assertPrivateFile } from './files.js';

export const SEALED = 0xc1;

/**
 * A stored payload on its way out: opened when sealed, as is otherwise (rows
 * written before encryption was turned on are plain). Without a key the
 * journal was never encrypted (opening refuses one whose meta lists key ids),
 * so a payload starting with 0xc1, which msgpack never writes, is damage: it
 * is handed on, and the decoder that knows its pid and row says so.
 */
export function openPayload(cipher: Cipher | null, bytes: Uint8Array, column: string): Uint8Array {
  if (bytes.length === 0 || bytes[0] !== SEALED || cipher === null) return bytes;
  return cipher.open(bytes, column);
}
const VERSION = 1;
const HEADER = 2 + 4 + 12 + 16;
const IV_POOL = 12 * 1024;

/** The serialisable form of a key set: what threads receive (workerData). */
export interface Keyring {
  /** Id of the key new writes use. */
  current: string;
  keys: Array<{ id: string; key: Uint8Array }>;
}

/** The 8-hex-digit id of a key (a hash of it: it reveals nothing of the key). */
export function keyId(key: Uint8Array): string {
  return createHash('sha256').update('beamline journal key\0').update(key).digest('hex').slice(0, 8);
}

/** Parse key text (one or more keys, base64 or hex). `source` names where it came from, for errors. */
export function parseKeys(text: string, source: string): Keyring {
  const words = text
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*$/, ''))
    .join(' ')
    .split(/[\s,]+/)
    .filter((w) => w.length > 0);
  if (words.length === 0) {
    throw new BeamlineError(ErrorCodes.JOURNAL_KEY, `${source}: no key found; put a 32-byte key in base64 there, e.g. from 'head -c 32 /dev/urandom | base64'`, { source });
  }
  const keys = words.map((w, i) => {
    const key = /^[0-9a-fA-F]{64}$/.test(w) ? Buffer.from(w, 'hex') : /^[A-Za-z0-9+/_-]+={0,2}$/.test(w) ? Buffer.from(w, 'base64') : null;
    if (key === null || key.length !== 32) {
      // Never show the key material itself: say which key and what it should be.
      throw new BeamlineError(
        ErrorCodes.JOURNAL_KEY,
        `${source}: key ${i + 1} is not 32 bytes in base64 or hex (got ${key === null ? 'other characters' : `${key.length} bytes`}); make one with 'head -c 32 /dev/urandom | base64'`,
        { source, index: i + 1 },
      );
    }
    return { id: keyId(key), key: new Uint8Array(key) };
  });
  return { current: keys.at(-1)!.id, keys };
}

/** Read a key file; it must be the user's own and not readable by others. */
export function loadKeyFile(file: string): Keyring {
  assertPrivateFile(file, '--journal-key');
  return parseKeys(fs.readFileSync(file, 'utf8'), file);
}

/** The keys a node or an inspection command uses: the key file if given, else BEAMLINE_JOURNAL_KEY, else none. */
export function resolveKeys(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Keyring | null {
  if (file !== undefined) return loadKeyFile(file);
  const text = env.BEAMLINE_JOURNAL_KEY;
  if (text === undefined || text.trim() === '') return null;
  return parseKeys(text, 'BEAMLINE_JOURNAL_KEY');
}

// Threads get the key set from the store that opened the journal (a
// serialisable description, like the path): the store registers it here by
// journal path, and the writer and the worker pool look it up when they
// start their threads.
const registry = new Map<string, Keyring>();

export function registerKeys(journal: string, ring: Keyring | null): void {
  if (ring === null) registry.delete(journal);
  else registry.set(journal, ring);
}

export function keysFor(journal: string): Keyring | null {
  return registry.get(journal) ?? null;
}

export class Cipher {
  readonly current: string;
  readonly #keys = new Map<string, KeyObject>();
  readonly #currentId: Buffer;
  readonly #currentKey: KeyObject;
  #ivs = Buffer.alloc(0);
  /** AAD per key id and column: the header's first 6 bytes and the column's name (constant for both). */
  readonly #aads = new Map<string, Buffer>();
  #ivAt = IV_POOL;

  constructor(ring: Keyring) {
    for (const { id, key } of ring.keys) this.#keys.set(id, createSecretKey(Buffer.from(key)));
    const cur = this.#keys.get(ring.current);
    if (cur === undefined) throw new BeamlineError(ErrorCodes.JOURNAL_KEY, `journal key ${ring.current} is not in the key set`);
    this.current = ring.current;
    this.#currentKey = cur;
    this.#currentId = Buffer.from(ring.current, 'hex');
  }

  has(id: string): boolean {
    return this.#keys.has(id);
  }

  get ids(): string[] {
    return [...this.#keys.keys()];
  }

  /** Encrypt `plain` for column `column` under the current key. Empty payloads stay empty (nothing to hide). */
  seal(plain: Uint8Array, column: string): Uint8Array {
    if (plain.length === 0) return plain;
    const out = Buffer.allocUnsafe(HEADER + plain.length);
    out[0] = SEALED;
    out[1] = VERSION;
    this.#currentId.copy(out, 2);
    const iv = this.#iv();
    iv.copy(out, 6);
    const c = createCipheriv('aes-256-gcm', this.#currentKey, iv);
    c.setAAD(this.#aad(this.current, out, column));
    const n = c.update(plain).copy(out, HEADER);
    c.final();
    c.getAuthTag().copy(out, 18);
    return n === plain.length ? out : out.subarray(0, HEADER + n);
  }

  /** Decrypt a payload read from column `column`; a plain one (no 0xc1) is returned as is. */
  open(bytes: Uint8Array, column: string): Uint8Array {
    if (bytes.length === 0 || bytes[0] !== SEALED) return bytes;
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buf.length < HEADER || buf[1] !== VERSION) {
      throw new BeamlineError(ErrorCodes.JOURNAL_CORRUPT, `journal ${column} payload is damaged (bad encryption header)`);
    }
    const id = buf.subarray(2, 6).toString('hex');
    const key = this.#keys.get(id);
    if (key === undefined) {
      throw new BeamlineError(ErrorCodes.JOURNAL_KEY, `a journal row is encrypted with key ${id}, which is not among the keys given (${this.ids.join(', ')}); add that key`, { keyId: id });
    }
    try {
      const d = createDecipheriv('aes-256-gcm', key, buf.subarray(6, 18));
      d.setAAD(this.#aad(id, buf, column));
      d.setAuthTag(buf.subarray(18, HEADER));
      const head = d.update(buf.subarray(HEADER));
      d.final();
      return head;
    } catch (err) {
      throw new BeamlineError(ErrorCodes.JOURNAL_CORRUPT, `journal ${column} payload under key ${id} does not decrypt (damaged, or moved from another column)`, { keyId: id, cause: err });
    }
  }

  #aad(id: string, header: Buffer, column: string): Buffer {
    const k = `${id}/${column}`;
    let a = this.#aads.get(k);
    if (a === undefined) {
      a = Buffer.concat([header.subarray(0, 6), Buffer.from(column)]);
      this.#aads.set(k, a);
    }
    return a;
  }

  /** A fresh 96-bit IV: random, drawn from a pool refilled 1,024 IVs at a time (one syscall, not one per row). */
  #iv(): Buffer {
    if (this.#ivAt >= IV_POOL) {
      this.#ivs = randomFillSync(Buffer.allocUnsafe(IV_POOL));
      this.#ivAt = 0;
    }
    const iv = this.#ivs.subarray(this.#ivAt, this.#ivAt + 12);
    this.#ivAt += 12;
    return iv;
  }
}

/** Throws the store's refusal when a payload is sealed but no key was given. */

/**
 * What a store appends, as it opens with `cipher`, so that its meta says
 * the journal is encrypted and lists every key id it was written with
 * (`keyIds`: meta's key_ids now): none when the current key is listed.
 */
export function keyIdsToRecord(keyIds: string | undefined, cipher: Cipher): Array<{ type: 'meta.set'; key: string; value: string }> {
  const used = (keyIds ?? '').split(',').filter((id) => id !== '');
  if (used.includes(cipher.current)) return [];
  return [
    { type: 'meta.set', key: 'cipher', value: 'aes-256-gcm' },
    { type: 'meta.set', key: 'key_ids', value: [...used, cipher.current].join(',') },
  ];
}

