// The kernel side of secrets: the HTTP client fills ctx.secret references
// and remembered literals into what it sends (a real server on 127.0.0.1
// sees them), while its errors show only the journaled form; the --secrets
// file is validated, parsed and re-read when it changes.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient } from '../../dist/runtime/kernel/http-client.js';
import { NodeSecrets, SecretsFile } from '../../dist/runtime/kernel/secrets.js';
import { tmpdir } from '../helpers.js';
import { json, serversPerTest } from '../fixtures/natives/http-server.js';

const server = serversPerTest();
const clients: HttpClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function client(values: Record<string, string>): HttpClient {
  const c = new HttpClient({ secrets: { get: (name: string) => values[name] }, backoff: { baseMs: 1, factor: 1, maxMs: 1 } });
  clients.push(c);
  return c;
}

const req = (url: string, over: Record<string, unknown> = {}) => ({ url, method: 'POST', headers: {}, timeoutMs: 5000, retries: 0, ...over });

async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('HttpClient with secrets', () => {
  it('fills references in url (path and query, percent-encoded), headers and body strings', async () => {
    const s = await server((_seen, res) => json(res, 200, {}));
    const c = client({ TOKEN: 'tok/with space', KEY: 'k-123' });
    await c.request(
      req(`${s.url}/a/{{secret:KEY}}?t={{secret:TOKEN}}`, {
        headers: { authorization: 'Bearer {{secret:TOKEN}}' },
        body: { nested: [{ key: 'x {{secret:KEY}} y' }], n: 1 },
      }),
      'k1',
    );
    const [seen] = s.seen;
    expect(seen!.path).toBe('/a/k-123?t=tok%2Fwith%20space');
    expect(seen!.headers.authorization).toBe('Bearer tok/with space');
    expect(seen!.body).toEqual({ nested: [{ key: 'x k-123 y' }], n: 1 });
  });

  it('sends a remembered literal in place of [redacted], once per call; without it the call fails with BL_CREDENTIAL_LOST', async () => {
    const s = await server((_seen, res) => json(res, 200, {}));
    const c = client({});
    c.remember('k2', { authorization: 'Basic LITERAL' });
    await c.request(req(s.url, { headers: { authorization: '[redacted]' } }), 'k2');
    expect(s.seen[0]!.headers.authorization).toBe('Basic LITERAL');
    // Forgotten once the call settled: a later request under that key (a re-issue) cannot send it.
    const err = await rejection(c.request(req(s.url, { headers: { authorization: '[redacted]' } }), 'k2'));
    expect(err.code).toBe('BL_CREDENTIAL_LOST');
    expect(err.message).toContain("header 'authorization' was a literal credential");
    expect(s.seen).toHaveLength(1);
    // Only a credential header's [redacted] stands for a literal: elsewhere it is just text.
    await c.request(req(s.url, { headers: { 'x-note': '[redacted]' } }), 'k2b');
    expect(s.seen[1]!.headers['x-note']).toBe('[redacted]');
  });

  it('a missing secret rejects with BL_SECRET_MISSING naming it; the message shows the reference, never a value', async () => {
    const s = await server((_seen, res) => json(res, 200, {}));
    const c = client({ KEY: 'VALUE_9d1' });
    const err = await rejection(c.request(req(`${s.url}/?k={{secret:KEY}}`, { headers: { 'x-a': '{{secret:NOPE}}' } }), 'k3'));
    expect(err.code).toBe('BL_SECRET_MISSING');
    expect(err.message).toContain("secret 'NOPE' is not set");
    expect(err.message).toContain('{{secret:KEY}}');
    expect(err.message).not.toContain('VALUE_9d1');
    expect(s.seen).toHaveLength(0);
  });
});

describe('the --secrets file', () => {
  it('is read at lookup time and re-read when it changes (rotation); the file wins over the environment', () => {
    const file = path.join(tmpdir(), 'secrets');
    fs.writeFileSync(file, 'API_KEY=one\n# comment\n\nEMPTY=\nWITH_EQ=a=b\r\n', { mode: 0o600 });
    const env = { BEAMLINE_SECRET_API_KEY: 'from-env', BEAMLINE_SECRET_ONLY_ENV: 'env-only' };
    const secrets = new NodeSecrets(new SecretsFile(file), env);
    expect(secrets.get('API_KEY')).toBe('one');
    expect(secrets.get('EMPTY')).toBe('');
    expect(secrets.get('WITH_EQ')).toBe('a=b');
    expect(secrets.get('ONLY_ENV')).toBe('env-only');
    expect(secrets.get('NONE')).toBeUndefined();
    fs.writeFileSync(file, 'API_KEY=rotated-longer\n');
    expect(secrets.get('API_KEY')).toBe('rotated-longer');
    // Made readable by others after start: refused at the next lookup.
    fs.chmodSync(file, 0o604);
    fs.writeFileSync(file, 'API_KEY=x\n');
    expect(() => secrets.get('API_KEY')).toThrow(expect.objectContaining({ code: 'BL_FILE_UNSAFE' }));
  });
});
