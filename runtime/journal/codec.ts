// msgpack codecs. Two flavours, on purpose:
//
// - `durable`: what goes into SQLite (message payloads, command arguments,
//   results). No record extension, so a row written today decodes with no
//   shared state in any future process. Functions and symbols are refused
//   (msgpackr would silently write `undefined` for a function, which would
//   lose data without telling the sender).
// - `wire`: the kernel<->worker envelopes. Records on (shapes repeat within
//   one report), still self-contained per buffer, never persisted.

import { Packr } from 'msgpackr';
import { BeamlineError, ErrorCodes } from '../errors.js';

function refuseFunction(): never {
  throw new BeamlineError(
    ErrorCodes.UNSERIALIZABLE,
    'value contains a function, which msgpack cannot encode; send plain data (objects, arrays, strings, numbers, booleans, null, Date, Uint8Array)',
  );
}

function makeDurable(): Packr {
  const p = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });
  (p as unknown as { writeFunction: () => never }).writeFunction = refuseFunction;
  return p;
}

const durable = makeDurable();
// Records: each buffer carries the shapes it uses, so any unpacker decodes
// it, and shapes repeated thousands of times in a report decode ~2x faster.
const wire = new Packr({ useRecords: true, mapsAsObjects: true });

// msgpackr writes into a buffer it keeps for the next call and grows it for a
// big message; after one, hand it a small one again so a single burst (a
// report of 100,000 spawns) does not stay resident for the thread's life.
// (The big buffer lives on only as long as the results that point into it.)
const BIG = 1 << 20;
function shrinkAfter(packr: Packr, out: Buffer): Buffer {
  if (out.length > BIG) packr.useBuffer(Buffer.allocUnsafeSlow(64 * 1024));
  return out;
}

// msgpackr decodes a map key `__proto__` as `__proto_` (its guard against
// prototype pollution), so such a key would arrive renamed. The packed form of
// the string is searched for first — one native scan of the bytes — and only a
// buffer that holds it is walked to see whether it is a key.
const PROTO_STR = Buffer.concat([Buffer.from([0xa9]), Buffer.from('__proto__')]);

function protoKeyPath(value: unknown): string | null {
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length > 0) {
    const [v, at] = stack.pop()!;
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v) || v instanceof Date) continue;
    if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push([item, `${at}[${i}]`]));
      continue;
    }
    if (v instanceof Map) {
      for (const [k, item] of v) {
        if (k === '__proto__') return `${at}.__proto__`;
        stack.push([item, `${at}.${String(k)}`]);
      }
      continue;
    }
    for (const k of Object.keys(v)) {
      if (k === '__proto__') return `${at}.__proto__`;
      stack.push([(v as Record<string, unknown>)[k], `${at}.${k}`]);
    }
  }
  return null;
}

/** Encode a value for the journal. Throws BL_UNSERIALIZABLE for functions and symbols, and for a `__proto__` key. */
export function encode(value: unknown): Buffer {
  let out: Buffer;
  try {
    out = shrinkAfter(durable, durable.pack(value));
  } catch (err) {
    if (err instanceof BeamlineError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw new BeamlineError(
      ErrorCodes.UNSERIALIZABLE,
      `value cannot be encoded with msgpack (${msg}); send plain data, not symbols, functions or class instances with cycles`,
      { cause: err },
    );
  }
  if (out.includes(PROTO_STR)) {
    const at = protoKeyPath(value);
    if (at !== null) {
      throw new BeamlineError(
        ErrorCodes.UNSERIALIZABLE,
        `value has a key '__proto__' (at ${at.slice(1) || 'top level'}), which would arrive renamed '__proto_' (the decoder guards against prototype pollution); rename the key`,
        { at: at.slice(1) },
      );
    }
  }
  return out;
}

export function decode<T = unknown>(bytes: Uint8Array): T {
  return durable.unpack(bytes) as T;
}

export function encodeWire(value: unknown): Buffer {
  return shrinkAfter(wire, wire.pack(value));
}

export function decodeWire<T = unknown>(bytes: Uint8Array): T {
  return wire.unpack(bytes) as T;
}

/**
 * How deep a value from outside the node (a gateway request body, a callApi
 * response) may nest. msgpackr encodes and decodes by recursion: about 1,240
 * levels exhaust the main thread's stack, and a stack overflow inside the
 * kernel is a crash of the node, not of one call. Real payloads nest a few
 * levels; 256 leaves every thread a wide margin.
 */
export const MAX_NESTING = 256;

/**
 * Whether JSON text nests deeper than `max` arrays/objects. A linear scan of
 * the text (strings skipped), done before JSON.parse so a hostile document is
 * refused without building it.
 */
export function jsonNestsDeeperThan(text: string, max = MAX_NESTING): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return false;
}

/** Where a journaled value came from, for the error that names it. */
export interface RowPlace {
  /** e.g. `journal row`, `supervisor record`. */
  what: string;
  pid: string;
  /** The row's `seq` in its table, when it has one. */
  seq?: number;
}

function damaged(place: RowPlace, why: string, cause?: unknown): BeamlineError {
  const at = place.seq === undefined ? '' : ` (seq ${place.seq})`;
  return new BeamlineError(
    ErrorCodes.JOURNAL_CORRUPT,
    `${place.what}${at} of process ${place.pid} is damaged: ${why}; the process cannot be rebuilt from it`,
    { pid: place.pid, ...(place.seq === undefined ? {} : { seq: place.seq }), cause },
  );
}

/**
 * Decode a value read back from the journal. A row that does not decode is
 * damage (a torn write, a hand edit, a bad disk), never "nothing recorded":
 * it becomes BL_JOURNAL_CORRUPT naming the process and the row, so the one
 * process fails instead of replaying a shorter history or wedging a thread.
 */
export function decodeStored<T = unknown>(bytes: Uint8Array, place: RowPlace): T {
  try {
    return durable.unpack(bytes) as T;
  } catch (err) {
    throw damaged(place, `it does not decode (${err instanceof Error ? err.message : String(err)})`, err);
  }
}

/**
 * Decode one journal row (a RoundRecord: `{r: [[step, ok, value]...], c:
 * [[step, native, key, ...]...], l?, x?}`), checking its shape: msgpack of
 * one stray byte decodes to a number or `undefined`, and replaying that as a
 * round would fail with a TypeError far from the cause, or not at all.
 */
export function decodeRound<T = unknown>(bytes: Uint8Array, place: RowPlace): T {
  const rec = decodeStored<Record<string, unknown>>(bytes, place);
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw damaged(place, `it holds ${describeValue(rec)}, not a round record`);
  const { r, c, l } = rec;
  if (!Array.isArray(r) || !r.every((x) => Array.isArray(x) && typeof x[0] === 'number' && typeof x[1] === 'boolean')) {
    throw damaged(place, 'its resolutions (r) are not a list of [step, ok, value]');
  }
  if (!Array.isArray(c) || !c.every((x) => Array.isArray(x) && typeof x[0] === 'number' && typeof x[1] === 'string')) {
    throw damaged(place, 'its commands (c) are not a list of [step, native, ...]');
  }
  if (l !== undefined && !(Array.isArray(l) && l.every((x) => typeof x === 'string'))) throw damaged(place, 'its log lines (l) are not a list of strings');
  return rec as T;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
