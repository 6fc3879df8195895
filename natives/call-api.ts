// callApi(req): an HTTP request performed by the kernel (undici, keep-alive
// pool), never by the worker thread. The command — with the request and its
// Idempotency-Key, derived from pid, run and step — is committed before the
// request leaves; the response is committed before the process sees it. A
// crash in between re-issues the request with the same key.
//
// Defaults: method GET, timeout 30s per attempt, 3 retries with exponential
// backoff and full jitter on network errors, 5xx and 429; 10 MiB response cap.

import { argError, defineNative, optionsOf, parseDuration, type ApiRequest } from './api.js';

const METHOD = /^[A-Za-z]+$/;

interface Prep {
  key: string;
  req: ApiRequest;
}

export default defineNative<[req: unknown], undefined, Prep>({
  name: 'callApi',
  kind: 'wait',
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
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw argError('callApi', 'url must be http or https', o.url, 'use an http:// or https:// URL');
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
    return {
      key: `${upper} ${url.href}`,
      req: { url: url.href, method: upper, headers, ...(o.body === undefined ? {} : { body: o.body }), timeoutMs, retries },
    };
  },
  start(host, _args, step, p) {
    const key = `${host.pid}:${host.run}:${step}`;
    return { record: { method: p.req.method, url: p.req.url, key }, wait: undefined, effect: { e: 'http', req: p.req, key } };
  },
});
