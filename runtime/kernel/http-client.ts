// The kernel-side executor for `ctx.callApi`. Worker threads never do HTTP:
// the kernel commits the call as an `effect.armed` event (kind 'http'), then
// calls `HttpClient.request`, then commits the outcome as `effect.done`
// (see effects.ts). Everything here runs on the main
// thread, so it must never block: all I/O goes through one undici Agent.
//
// Shape of one call:
//
//   request() ── prepare (validate URL, encode body once) ──┐
//                                                          v
//        ┌────────── attempt (per-attempt deadline covers headers + body) ───┐
//        │  response, status not retryable or last attempt -> resolve         │
//        │  response, 5xx/429 with attempts left -> drain, back off, retry    │
//        │  network error, retryable, attempts left -> back off, retry        │
//        │  anything else -> reject HttpError (BL_HTTP)                       │
//        └───────────────────────────────────────────────────────────────────┘
//
// Retry policy (`backoffDelay`, `isRetryable`, `retryAfterMs`) is pure and
// exported so it can be tested and replaced without a socket in sight.
//
// Secrets: the request this client is given is the journaled one, with
// references and redacted credentials; http-request.ts makes the copy that
// goes on the wire, with the literals this client keeps in memory
// (`remember`, until the call settles). Credential headers of the response
// (set-cookie, ...) are redacted here before the response is handed back to
// be journaled.

import { isUtf8 } from 'node:buffer';
import type { EventEmitter } from 'node:events';
import type { Agent } from 'undici';

type Undici = typeof import('undici');
let undiciLoad: Promise<Undici> | null = null;
/**
 * undici, imported once. Importing it takes 100–200 ms of the main thread on
 * this machine, and a node's boot (a recovery) should not wait for it nor
 * compete with its threads' start for the CPU: the kernel asks for it once
 * the node is up and idle (preload), and a request that comes before that
 * imports it and waits.
 */
function loadUndici(): Promise<Undici> {
  return (undiciLoad ??= import('undici'));
}
import { credentialHeaderSet, REDACTED } from '../../natives/secret.js';
import { Abort } from '../abort.js';
import { BeamlineError, ErrorCodes, HttpError } from '../errors.js';
import type { ApiRequest } from '../protocol.js';
import { jsonNestsDeeperThan, MAX_NESTING } from '../journal/codec.js';
import { HttpErrorCodes, prepare, type Prepared } from './http-request.js';
import { nodeSecrets, type SecretSource } from './secrets.js';
import { hostAllowed, parseHostPatterns, type HostPattern } from './allow-hosts.js';

export type { ApiRequest };

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export interface BackoffPolicy {
  baseMs: number;
  factor: number;
  maxMs: number;
}

export interface HttpClientOptions {
  /** Sockets per origin. Default 256. */
  connections?: number;
  /** Largest response body accepted, in bytes. Default 10 MiB. */
  maxResponseBytes?: number;
  backoff?: BackoffPolicy;
  /** Source of jitter, [0, 1). Default Math.random; tests pin it. */
  random?: () => number;
  /** Values of ctx.secret references. Default: the node's (--secrets file, BEAMLINE_SECRET_<NAME>), read at send time. */
  secrets?: SecretSource;
  /**
   * Hosts a call may reach (`--allow-hosts`): `host`, `host:port`, `*.domain`
   * (any subdomain), `[v6]` or `[v6]:port`. A call to any other host fails
   * with BL_HOST_FORBIDDEN before any connection. Unset: any host (a script
   * can reach any address the node can, 127.0.0.1 and the LAN included).
   */
  allowHosts?: readonly string[];
}

/** Literal credentials of calls in flight, by idempotency key; bounded so calls that never start cannot pile up. */
const MAX_REMEMBERED = 65_536;

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({ baseMs: 100, factor: 2, maxMs: 5000 });
const DEFAULT_CONNECTIONS = 256;
const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

// Bodies of retryable (5xx/429) responses we are about to retry are drained
// so the socket can be reused; past this size closing the socket is cheaper.
const DRAIN_LIMIT_BYTES = 64 * 1024;

// setTimeout fires at once for delays above 2^31-1 ms; longer deadlines are
// effectively "none" for an HTTP call anyway.
const MAX_TIMER_MS = 2 ** 31 - 1;

// Failures where the request may not have reached the application, or the
// peer was briefly unavailable: retrying with the same Idempotency-Key is
// safe and likely to help. Deliberately absent: ENOTFOUND (a misspelt host
// does not heal), UND_ERR_CLOSED/UND_ERR_DESTROYED (we closed the agent),
// UND_ERR_INVALID_ARG (a bad header never becomes good).
const RETRYABLE_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

// ---------------------------------------------------------------------------
// Pure policy

/**
 * Delay before retry number `attempt` (1 = the first retry), "full jitter":
 * a uniform draw below the exponential cap, so many processes failing
 * against the same server at once do not come back in lockstep.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const exponent = Math.max(0, attempt - 1);
  const cap = Math.min(policy.maxMs, policy.baseMs * policy.factor ** exponent);
  return random() * cap;
}

/** Whether an attempt that ended this way is worth another attempt. */
export function isRetryable(outcome: { status?: number; errorCode?: string }): boolean {
  const { status, errorCode } = outcome;
  if (errorCode !== undefined && RETRYABLE_ERROR_CODES.has(errorCode)) return true;
  if (status !== undefined && (status === 429 || (status >= 500 && status <= 599))) return true;
  return false;
}

/**
 * A `Retry-After` header value in ms, or undefined when absent or malformed.
 * Accepts delta-seconds and the HTTP-date form (RFC 9110 §10.2.3); a date in
 * the past means "now".
 */
export function retryAfterMs(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

// ---------------------------------------------------------------------------
// The client

type AttemptOutcome =
  /** Final: hand this to the caller. */
  | { readonly kind: 'response'; readonly response: ApiResponse }
  /** A retryable status with attempts left; the body was drained. */
  | { readonly kind: 'status'; readonly status: number; readonly retryAfter: string | undefined }
  | { readonly kind: 'error'; readonly errorCode: string; readonly cause: unknown; readonly note?: string };

class ResponseTooLarge extends Error {}

export class HttpClient {
  /** Set once undici has loaded (see loadUndici); until then `#loaded` resolves to it. */
  #undici: { agent: Agent; request: Undici['request'] } | null = null;
  #loaded: Promise<{ agent: Agent; request: Undici['request'] }> | null = null;
  readonly #connections: number;
  readonly #maxResponseBytes: number;
  readonly #backoff: BackoffPolicy;
  readonly #random: () => number;
  // One controller per pending request() call; close() aborts them all.
  readonly #pending = new Set<Abort>();
  readonly #secrets: SecretSource | undefined;
  readonly #literals = new Map<string, Record<string, string>>();
  readonly #allow: HostPattern[] | null;
  #closed = false;

  constructor(opts: HttpClientOptions = {}) {
    const connections = opts.connections ?? DEFAULT_CONNECTIONS;
    if (!Number.isInteger(connections) || connections < 1) {
      throw badOption('connections', connections, 'a positive integer');
    }
    const maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    if (!Number.isInteger(maxResponseBytes) || maxResponseBytes < 0) {
      throw badOption('maxResponseBytes', maxResponseBytes, 'a non-negative integer');
    }
    const backoff = opts.backoff ?? DEFAULT_BACKOFF;
    for (const key of ['baseMs', 'factor', 'maxMs'] as const) {
      const v = backoff[key];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        throw badOption(`backoff.${key}`, v, 'a finite number >= 0');
      }
    }
    if (opts.random !== undefined && typeof opts.random !== 'function') {
      throw badOption('random', opts.random, 'a function returning a number in [0, 1)');
    }
    this.#maxResponseBytes = maxResponseBytes;
    this.#backoff = { baseMs: backoff.baseMs, factor: backoff.factor, maxMs: backoff.maxMs };
    this.#random = opts.random ?? Math.random;
    this.#secrets = opts.secrets;
    this.#allow = opts.allowHosts === undefined ? null : parseHostPatterns(opts.allowHosts);
    // pipelining 1 = keep-alive without HTTP pipelining: a slow response
    // never holds up an unrelated request queued behind it on one socket.
    this.#connections = connections;
  }

  /** True once undici is loading or loaded for this client. */
  get loading(): boolean {
    return this.#loaded !== null;
  }

  /** Load undici now, without waiting for it (see loadUndici). */
  preload(): void {
    // A failure to load surfaces on the first request, as that request's error.
    this.#load().catch(() => {});
  }

  #load(): Promise<{ agent: Agent; request: Undici['request'] }> {
    return (this.#loaded ??= loadUndici().then((u) => (this.#undici = { agent: new u.Agent({ connections: this.#connections, pipelining: 1 }), request: u.request })));
  }

  /**
   * Keep the literal credentials of the call `idempotencyKey` in memory (never
   * journaled): its request() sends them on every attempt, then forgets them.
   */
  remember(idempotencyKey: string, cred: Record<string, string> | undefined): void {
    if (cred === undefined) return;
    if (this.#literals.size >= MAX_REMEMBERED) this.#literals.delete(this.#literals.keys().next().value!);
    this.#literals.set(idempotencyKey, cred);
  }

  /** Pending request() calls, counting those waiting out a backoff. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * Performs the request with retries; every attempt carries the same
   * Idempotency-Key. Resolves with the final response, including a 5xx/429
   * left after the retries (the script sees the status). Rejects with
   * HttpError (BL_HTTP) for a network failure after all retries, an invalid
   * URL or body, or a body above maxResponseBytes; with `signal.reason` when
   * `signal` aborts; with BeamlineError BL_NODE_CLOSED when the client closes
   * first (not an outcome: the kernel re-issues the call on its next boot).
   * `onAttempt(n)` is told as attempt n (1 = the first) starts.
   */
  async request(req: ApiRequest, idempotencyKey: string, signal?: Abort, onAttempt?: (attempt: number) => void): Promise<ApiResponse> {
    if (this.#closed) throw closedError();
    signal?.throwIfAborted();
    let prepared: Prepared;
    try {
      prepared = prepare(req, idempotencyKey, this.#literals.get(idempotencyKey), this.#secrets ?? nodeSecrets());
      // Checked on every request() — a call re-issued after a crash too, so a
      // node restarted with a narrower list never sends what it now forbids.
      if (this.#allow !== null && !hostAllowed(prepared.url, this.#allow)) {
        throw new BeamlineError(
          ErrorCodes.HOST_FORBIDDEN,
          `callApi ${prepared.method} ${JSON.stringify(prepared.shownUrl)}: host ${prepared.url.host} is not in --allow-hosts`,
          { url: prepared.shownUrl, method: prepared.method, host: prepared.url.host },
        );
      }
    } catch (err) {
      this.#literals.delete(idempotencyKey);
      throw err;
    }

    const cancel = new Abort();
    const onAbort = (): void => cancel.abort(signal!.reason);
    signal?.once('abort', onAbort);
    this.#pending.add(cancel);
    try {
      for (let attempt = 1; ; attempt++) {
        const last = attempt > prepared.retries;
        onAttempt?.(attempt);
        const outcome = await this.#attempt(prepared, last, cancel);
        if (outcome.kind === 'response') return outcome.response;

        let wait = backoffDelay(attempt, this.#backoff, this.#random);
        if (outcome.kind === 'status') {
          // The server told us when it expects to cope again; coming back
          // earlier only earns another 429/503. Capped so a hostile or
          // confused header cannot park a process for hours.
          if (outcome.status === 429 || outcome.status === 503) {
            const hinted = retryAfterMs(outcome.retryAfter, Date.now());
            if (hinted !== undefined) wait = Math.max(wait, Math.min(hinted, this.#backoff.maxMs));
          }
        } else if (last || !isRetryable({ errorCode: outcome.errorCode })) {
          throw attemptsError(prepared, attempt, outcome.errorCode, outcome.cause, outcome.note);
        }
        await sleep(wait, cancel);
      }
    } finally {
      signal?.removeListener('abort', onAbort);
      this.#pending.delete(cancel);
      // Closing aborts the call without an outcome: it is re-issued by the next
      // boot, which has no memory of the literal anyway.
      this.#literals.delete(idempotencyKey);
    }
  }

  /**
   * Stops the client: new requests and pending ones reject with BL_NODE_CLOSED
   * (their sockets are destroyed), then the agent closes. Pending calls are
   * aborted rather than awaited because a call in backoff could otherwise keep
   * shutdown waiting for seconds, and its started-but-unresolved journal entry
   * already guarantees it is re-issued, with the same key, on the next boot.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const reason = closedError();
    for (const cancel of this.#pending) cancel.abort(reason);
    const undici = this.#undici ?? (await this.#loaded?.catch(() => null));
    await undici?.agent.close();
  }

  async #attempt(p: Prepared, last: boolean, cancel: Abort): Promise<AttemptOutcome> {
    // One controller per attempt so a deadline kills only this attempt; the
    // request-level `cancel` (caller's signal, close()) is forwarded into it.
    const ac = new Abort();
    const onCancel = (): void => ac.abort(cancel.reason);
    cancel.once('abort', onCancel);
    let timedOut = false;
    const timer =
      p.timeoutMs > 0 && p.timeoutMs !== Infinity
        ? setTimeout(() => {
            timedOut = true;
            ac.abort(new Error(`attempt deadline of ${p.timeoutMs} ms passed`));
          }, Math.min(p.timeoutMs, MAX_TIMER_MS))
        : undefined;
    try {
      const undici = this.#undici ?? (await this.#load());
      const res = await undici.request(p.url, {
        dispatcher: undici.agent,
        method: p.method,
        headers: p.headers,
        body: p.body,
        // undici takes an EventEmitter-style signal too (its Dispatcher docs), which Abort is.
        signal: ac as unknown as EventEmitter,
      });
      const status = res.statusCode;
      if (!last && isRetryable({ status })) {
        // dump() reads (and discards) a small body so the socket stays in the
        // pool, or destroys a large one; it never rejects without a signal.
        await res.body.dump({ limit: DRAIN_LIMIT_BYTES });
        if (ac.aborted) throw ac.reason;
        return { kind: 'status', status, retryAfter: headerString(res.headers['retry-after']) };
      }
      const headers = plainHeaders(res.headers);
      // The response is journaled: a session cookie or token it sets is not kept in clear.
      const credentialHeaders = credentialHeaderSet();
      for (const name of Object.keys(headers)) if (credentialHeaders.has(name)) headers[name] = REDACTED;
      // HEAD, 204 and 304 carry a content-length that describes no body here.
      const hasBody = p.method !== 'HEAD' && status !== 204 && status !== 304;
      if (hasBody && Number(headers['content-length']) > this.#maxResponseBytes) {
        // Refuse before reading a byte; destroying an unfinished body makes
        // undici drop the socket instead of reading the rest off the wire.
        res.body.destroy();
        throw new ResponseTooLarge();
      }
      const bytes = await readLimited(res.body, this.#maxResponseBytes);
      const body = decodeBody(headers['content-type'], bytes);
      if (body === UNRECORDABLE) {
        // Not retried: the same server would send the same document again.
        return {
          kind: 'error',
          errorCode: HttpErrorCodes.RESPONSE_UNRECORDABLE,
          cause: undefined,
          note: `status ${status}, but the response JSON is nested deeper than ${MAX_NESTING} levels and cannot be recorded in the journal`,
        };
      }
      return { kind: 'response', response: { status, headers, body } };
    } catch (err) {
      if (cancel.aborted) throw cancel.reason;
      if (timedOut) return { kind: 'error', errorCode: HttpErrorCodes.TIMEOUT, cause: err };
      if (err instanceof ResponseTooLarge) {
        return {
          kind: 'error',
          errorCode: HttpErrorCodes.RESPONSE_TOO_LARGE,
          cause: undefined,
          note: `response body exceeds maxResponseBytes (${this.#maxResponseBytes})`,
        };
      }
      return { kind: 'error', errorCode: errorCodeOf(err), cause: err };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      cancel.removeListener('abort', onCancel);
    }
  }
}

// ---------------------------------------------------------------------------
// Helpers

/** Reads a body, destroying it (and so its socket) the moment it passes `limit`. */
async function readLimited(body: AsyncIterable<Buffer> & { destroy(err?: Error): unknown }, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > limit) {
      body.destroy();
      throw new ResponseTooLarge();
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** decodeBody's answer for a document the journal could not record. */
const UNRECORDABLE: unique symbol = Symbol('unrecordable');

function decodeBody(contentType: string | undefined, bytes: Buffer): unknown {
  const type = (contentType ?? '').toLowerCase();
  if (type.includes('json')) {
    const text = bytes.toString('utf8');
    if (jsonNestsDeeperThan(text)) return UNRECORDABLE;
    try {
      return JSON.parse(text);
    } catch {
      // A server that says JSON but sends something else: give the script
      // the text rather than failing a call whose status may be all it needs.
      return text;
    }
  }
  if (bytes.length === 0 || type.startsWith('text/')) return bytes.toString('utf8');
  // No content-type at all: text when it is valid UTF-8 (a script printing a
  // byte object shows {"0":123,...}); bytes otherwise.
  if (type === '' && isUtf8(bytes)) return bytes.toString('utf8');
  return bytes;
}

function plainHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    const v = headerString(value);
    if (v !== undefined) out[name.toLowerCase()] = v;
  }
  return out;
}

function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The most specific code an undici/Node error carries. */
function errorCodeOf(err: unknown): string {
  let e: unknown = err;
  // Node's happy-eyeballs connect reports an AggregateError; undici sometimes
  // wraps the socket error as `cause`. Dig until something has a code.
  for (let depth = 0; depth < 4 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (e instanceof AggregateError && e.errors.length > 0) e = e.errors[0];
    else e = (e as { cause?: unknown }).cause;
  }
  return err instanceof Error ? err.name : 'UNKNOWN';
}

function attemptsError(p: Prepared, attempts: number, errorCode: string, cause: unknown, note?: string): HttpError {
  const noun = attempts === 1 ? 'attempt' : 'attempts';
  const suffix = note === undefined ? '' : ` (${note})`;
  return new HttpError(`callApi ${p.method} ${p.shownUrl} failed after ${attempts} ${noun}: ${errorCode}${suffix}`, {
    url: p.shownUrl,
    method: p.method,
    attempts,
    errorCode,
    cause,
  });
}

function closedError(): BeamlineError {
  return new BeamlineError(ErrorCodes.NODE_CLOSED, 'callApi: the HTTP client is closed');
}

function badOption(name: string, value: unknown, expected: string): BeamlineError {
  return new BeamlineError(
    ErrorCodes.ARG_INVALID,
    `HttpClient option ${name} must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`,
    { option: name, value },
  );
}

function sleep(ms: number, signal: Abort): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeListener('abort', onAbort);
      resolve();
    }, Math.min(ms, MAX_TIMER_MS));
    signal.once('abort', onAbort);
  });
}
