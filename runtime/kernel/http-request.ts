// A callApi request as it goes on the wire. The request the kernel holds is
// the journaled one: ctx.secret references (`{{secret:NAME}}`) and
// `[redacted]` literal credentials (see natives/call-api.ts). Values are put
// in here, at send time, on the copy that goes on the wire only: references
// from the node's secrets (secrets.ts), redacted literals from the client's
// memory. Error messages are built from the journaled form, so they never
// carry a value.

import { credentialHeaderSet, REDACTED, SECRET_REF } from '../../natives/secret.js';
import { BeamlineError, ErrorCodes, HttpError } from '../errors.js';
import type { ApiRequest } from '../protocol.js';
import type { SecretSource } from './secrets.js';

/** errorCode values the HTTP client produces itself (the rest come from Node and undici). */
export const HttpErrorCodes = {
  /** The per-attempt deadline passed. Same code as a socket timeout, so it is retryable. */
  TIMEOUT: 'ETIMEDOUT',
  INVALID_URL: 'ERR_INVALID_URL',
  /** The request body cannot be encoded (e.g. a BigInt inside a JSON body). */
  INVALID_BODY: 'ERR_INVALID_BODY',
  RESPONSE_TOO_LARGE: 'ERR_RESPONSE_TOO_LARGE',
  /** The response cannot be recorded in the journal (JSON nested past MAX_NESTING). */
  RESPONSE_UNRECORDABLE: 'ERR_RESPONSE_UNRECORDABLE',
} as const;

const REDACTED_USER = encodeURIComponent(REDACTED);

/** A request validated and encoded once, shared by all its attempts. */
export interface Prepared {
  readonly url: URL;
  readonly shownUrl: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string | Uint8Array | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
}

/**
 * The journaled request made sendable: redacted literals back from memory,
 * references replaced by their values. Throws BL_CREDENTIAL_LOST for a
 * redacted literal no longer known, BL_SECRET_MISSING for an unset secret —
 * naming the header or secret, never a value.
 */
export function prepare(req: ApiRequest, idempotencyKey: string, literals: Record<string, string> | undefined, secrets: SecretSource): Prepared {
  const method = String(req.method ?? 'GET').toUpperCase();
  // What messages show: the journaled url (references, no user:password).
  let shownUrl = req.url;
  try {
    shownUrl = redact(new URL(req.url));
  } catch {
    /* reported below */
  }
  const fill = (text: string): string =>
    text.replace(SECRET_REF, (_ref, name: string) => {
      const value = secrets.get(name);
      if (value === undefined) throw secretMissing(method, shownUrl, name, secrets);
      return value;
    });

  let rawUrl = req.url;
  const literalUrl = literals?.[':url'];
  if (literalUrl !== undefined) rawUrl = literalUrl;
  else if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(rawUrl) && rawUrl.includes(`//${REDACTED_USER}@`)) throw credentialLost(method, shownUrl, 'the user:password of the url');
  // In the url a value is a component: percent-encode it.
  rawUrl = rawUrl.replace(SECRET_REF, (_ref, name: string) => {
    const value = secrets.get(name);
    if (value === undefined) throw secretMissing(method, shownUrl, name, secrets);
    return encodeURIComponent(value);
  });
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch (err) {
    throw invalidRequest(method, shownUrl, HttpErrorCodes.INVALID_URL, 'not a valid absolute URL', err);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidRequest(method, shownUrl, HttpErrorCodes.INVALID_URL, `unsupported protocol ${url.protocol}`);
  }

  // Header names are case-insensitive; lower-casing them once lets us see
  // whether the caller already set content-type or idempotency-key.
  const headers: Record<string, string> = {};
  const credentialHeaders = credentialHeaderSet();
  for (const [name, value] of Object.entries(req.headers ?? {})) {
    if (value === undefined || value === null) continue;
    const lower = name.toLowerCase();
    let text = String(value);
    const literal = literals?.[lower];
    if (literal !== undefined) text = literal;
    else if (text === REDACTED && credentialHeaders.has(lower)) throw credentialLost(method, shownUrl, `header '${lower}'`);
    headers[lower] = fill(text);
  }
  // A key the caller chose wins: it is how a script makes a call idempotent
  // across runs (the derived key changes with the run number).
  headers['idempotency-key'] ??= idempotencyKey;

  let body: string | Uint8Array | undefined;
  const raw = fillBody(req.body, fill);
  if (raw === undefined) {
    body = undefined;
  } else if (typeof raw === 'string') {
    body = raw;
    headers['content-type'] ??= 'text/plain;charset=utf-8';
  } else if (raw instanceof Uint8Array) {
    body = raw;
    headers['content-type'] ??= 'application/octet-stream';
  } else if (ArrayBuffer.isView(raw) || raw instanceof ArrayBuffer) {
    // Other typed arrays and bare ArrayBuffers are bytes too; JSON would turn
    // them into an object of indices.
    body = ArrayBuffer.isView(raw) ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) : new Uint8Array(raw);
    headers['content-type'] ??= 'application/octet-stream';
  } else {
    let json: string | undefined;
    try {
      json = JSON.stringify(raw);
    } catch (err) {
      throw invalidRequest(method, shownUrl, HttpErrorCodes.INVALID_BODY, 'body cannot be encoded as JSON', err);
    }
    if (json === undefined) {
      throw invalidRequest(method, shownUrl, HttpErrorCodes.INVALID_BODY, `body of type ${typeof raw} cannot be encoded as JSON`);
    }
    body = json;
    headers['content-type'] ??= 'application/json';
  }

  const timeoutMs = Number.isFinite(req.timeoutMs) || req.timeoutMs === Infinity ? Math.max(0, req.timeoutMs) : 0;
  const retries = Number.isFinite(req.retries) ? Math.max(0, Math.floor(req.retries)) : 0;
  return { url, shownUrl, method, headers, body, timeoutMs, retries };
}

/** A copy of `value` with references filled in every string (bytes and other leaves as they are). */
function fillBody(value: unknown, fill: (text: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return value.includes('{{secret:') ? fill(value) : value;
  if (value === null || typeof value !== 'object' || depth > 64 || ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((v) => fillBody(v, fill, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = fillBody(v, fill, depth + 1);
  return out;
}

// Credentials in a URL must not end up in error messages and the journal.
function redact(url: URL): string {
  if (url.username === '' && url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

function invalidRequest(method: string, url: string, errorCode: string, why: string, cause?: unknown): HttpError {
  // JSON.stringify keeps a malformed URL (which may hold a newline) on one line.
  return new HttpError(`callApi ${method} ${JSON.stringify(url)} failed: ${errorCode} (${why})`, {
    url,
    method,
    attempts: 0,
    errorCode,
    cause,
  });
}

function secretMissing(method: string, url: string, name: string, secrets: SecretSource): BeamlineError {
  const hint = (secrets as { hint?: (n: string) => string }).hint?.(name) ?? `set BEAMLINE_SECRET_${name.toUpperCase()}`;
  return new BeamlineError(ErrorCodes.SECRET_MISSING, `callApi ${method} ${JSON.stringify(url)}: secret '${name}' is not set; ${hint}`, { secret: name, url, method });
}

function credentialLost(method: string, url: string, what: string): BeamlineError {
  return new BeamlineError(
    ErrorCodes.CREDENTIAL_LOST,
    `callApi ${method} ${JSON.stringify(url)}: ${what} was a literal credential, which is never journaled and was lost when the node stopped, so this re-issued call cannot send it; pass it as ctx.secret('NAME') (value in BEAMLINE_SECRET_NAME or --secrets FILE) so it can be sent again`,
    { url, method },
  );
}
