// ctx.secret(name): a reference to a secret, never its value.
//
// The reference is the string `{{secret:NAME}}`: it can go anywhere a string
// goes in a callApi request — a header (`Bearer ${ctx.secret('STRIPE_KEY')}`),
// the url, any string inside the body — and it is what the journal, the logs,
// `runtime history` and the worker threads see. The kernel's HTTP client
// replaces it with the value at send time (BEAMLINE_SECRET_<NAME>, or the
// node's --secrets file), on every attempt and again on a re-issue after a
// crash, so a rotated key is picked up and the value never lands on disk.
//
// A string is deliberately all a reference is: it survives msgpack, threads
// and replay unchanged, needs no recording (it is a pure function of the
// name), and a script cannot get at the value through it.
//
// This module also holds the redaction rule both sides share: header names
// that carry credentials are never journaled in clear (see call-api.ts).

import { argError } from './api.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Every reference in a string: `{{secret:NAME}}`. */
export const SECRET_REF = /\{\{secret:([A-Za-z_][A-Za-z0-9_]{0,127})\}\}/g;
/** The same reference after URL parsing percent-encoded its braces (in a path). */
export const SECRET_REF_ENCODED = /%7B%7Bsecret:([A-Za-z_][A-Za-z0-9_]{0,127})%7D%7D/gi;

/** What a redacted value is stored (and shown) as. */
export const REDACTED = '[redacted]';

/** Header names whose values are credentials, lower-case. */
export const DEFAULT_CREDENTIAL_HEADERS: readonly string[] = Object.freeze(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key']);

/** `ctx.secret(name)`: the reference string for `name`. */
export function secretRef(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw argError('secret', 'name must be letters, digits and _ (not starting with a digit)', name, "pass a name such as 'STRIPE_KEY' (its value comes from BEAMLINE_SECRET_STRIPE_KEY or the --secrets file)");
  }
  return `{{secret:${name}}}`;
}

export function hasSecretRef(text: string): boolean {
  SECRET_REF.lastIndex = 0;
  return SECRET_REF.test(text);
}

let credentialHeaders: ReadonlySet<string> | null = null;

/**
 * The credential header names: the defaults plus BEAMLINE_REDACT_HEADERS
 * (comma-separated; `--redact-headers` sets it before the threads start, and
 * worker threads inherit the environment they were started with).
 */
export function credentialHeaderSet(env: NodeJS.ProcessEnv = process.env): ReadonlySet<string> {
  if (credentialHeaders !== null && env === process.env) return credentialHeaders;
  const extra = (env.BEAMLINE_REDACT_HEADERS ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  const set = new Set([...DEFAULT_CREDENTIAL_HEADERS, ...extra]);
  if (env === process.env) credentialHeaders = set;
  return set;
}

/** Forget the cached header list (tests and `--redact-headers` change the environment). */
export function resetCredentialHeaders(): void {
  credentialHeaders = null;
}
