// callApi(req): an HTTP request performed by the kernel (undici, keep-alive
// pool), never by the worker thread. The request leaves once what led the
// process to it is committed (its earlier rows and the results it took; its
// own round too unless the round is pure — see kernel/effects.ts), so replay
// reaches the very same request; the response is journaled and handed to the
// process at once. A crash before the result is committed re-issues the
// request with the same Idempotency-Key (derived from pid, run and step).
//
// Defaults: method GET, timeout 30s per attempt, 3 retries with exponential
// backoff and full jitter on network errors, 5xx and 429; 10 MiB response cap.
//
// Secrets: what this native emits is what gets journaled, so it is redacted
// here, in the worker, before it leaves. A credential header (authorization,
// cookie, x-api-key, ... see secret.ts) given as a literal is replaced by
// `[redacted]`, and so is a user:password in the url; the literal travels
// beside the request (`cred`), which the kernel hands to its HTTP client's
// memory only — it is re-sent on every retry while the node lives, and a
// re-issue after a crash fails with BL_CREDENTIAL_LOST naming ctx.secret as
// the fix. A value holding a ctx.secret reference is kept as written: the
// reference is what is stored, the kernel substitutes the value at send time.

import { argError, defineNative, optionsOf, parseDuration, type ApiRequest } from './api.js';
import { credentialHeaderSet, hasSecretRef, REDACTED, SECRET_REF_ENCODED } from './secret.js';

const METHOD = /^[A-Za-z]+$/;

interface Prep {
  key: string;
  /** The request as journaled: references kept, literal credentials redacted. */
  req: ApiRequest;
  /** The literal credentials taken out of `req` (header name, or ':url'), for the kernel's memory only. */
  cred: Record<string, string> | undefined;
}

export default defineNative<[req: unknown], undefined, Prep>({
  name: 'callApi',
  kind: 'wait',
  settledByJournal: true,
  prepare(host, [req]) {
    if (typeof req !== 'object' || req === null) throw argError('callApi', 'request must be an object', req, "pass { url: 'http://...', method: 'POST', body }");
    const o = optionsOf('callApi', req, ['url', 'method', 'headers', 'body', 'timeout', 'retries']);
    if (typeof o.url !== 'string') throw argError('callApi', 'url must be a string', o.url, "pass url: 'http://host/path'");
    let url: URL;
    try {
      url = new URL(o.url);
    } catch {
      throw argError('callApi', 'url is not an absolute URL', o.url, "pass url: 'http://host/path'");
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw argError('callApi', 'url must be http or https', url.protocol, 'use an http:// or https:// URL');
    const method = o.method === undefined ? 'GET' : o.method;
    if (typeof method !== 'string' || !METHOD.test(method)) throw argError('callApi', 'method must be an HTTP method', method, "pass method: 'POST'");
    const headers: Record<string, string> = {};
    if (o.headers !== undefined) {
      if (typeof o.headers !== 'object' || o.headers === null || Array.isArray(o.headers)) {
        throw argError('callApi', 'headers must be an object of strings', o.headers, "pass headers: { 'x-api-key': '...' }");
      }
      for (const [k, v] of Object.entries(o.headers)) {
        if (typeof v !== 'string' && typeof v !== 'number') throw argError('callApi', `header '${k}' must be a string`, v, 'pass header values as strings');
        headers[k.toLowerCase()] = String(v);
      }
    }
    const retries = o.retries === undefined ? 3 : o.retries;
    if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > 100) {
      throw argError('callApi', 'retries must be an integer from 0 to 100', retries, 'pass retries: 3');
    }
    const timeoutMs = o.timeout === undefined ? 30_000 : parseDuration(o.timeout, 'callApi: timeout');
    // The request is journaled with the command: refuse what cannot be encoded, at the call.
    if (o.body !== undefined) host.encode(o.body, 'callApi: body');
    const upper = method.toUpperCase();
    let cred: Record<string, string> | undefined;
    // URL parsing percent-encodes a reference's braces in a path: show (and store) it as written.
    let href = url.href.replace(SECRET_REF_ENCODED, '{{secret:$1}}');
    if ((url.username !== '' || url.password !== '') && !hasSecretRef(decodeURIComponent(`${url.username}:${url.password}`))) {
      cred = { ':url': href };
      const shown = new URL(url.href);
      shown.username = REDACTED; // stored percent-encoded: %5Bredacted%5D
      shown.password = '';
      href = shown.href.replace(SECRET_REF_ENCODED, '{{secret:$1}}');
    }
    const credentialHeaders = credentialHeaderSet();
    for (const [name, value] of Object.entries(headers)) {
      if (!credentialHeaders.has(name) || hasSecretRef(value)) continue;
      (cred ??= {})[name] = value;
      headers[name] = REDACTED;
    }
    return {
      key: `${upper} ${href}`,
      req: { url: href, method: upper, headers, ...(o.body === undefined ? {} : { body: o.body }), timeoutMs, retries },
      cred,
    };
  },
  start(host, _args, step, p) {
    const key = `${host.pid}:${host.run}:${step}`;
    const headers = Object.keys(p.req.headers).length > 0 ? { headers: p.req.headers } : {};
    return {
      record: { method: p.req.method, url: p.req.url, key, ...headers },
      wait: undefined,
      effect: { e: 'http', req: p.req, key, ...(p.cred === undefined ? {} : { cred: p.cred }) },
    };
  },
});
