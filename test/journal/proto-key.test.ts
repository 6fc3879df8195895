// A message key `__proto__` arrived as `__proto_`: msgpackr's decoder renames
// it (its guard against prototype pollution). It is refused at the send with
// BL_UNSERIALIZABLE naming where the key is, instead of arriving changed; a
// key `__proto_` and a string value '__proto__' still travel unchanged.

import path from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, tmpdir } from '../helpers.js';
import { killLeftovers, startNode, SUP, type StartedNode } from '../fixtures/supervisor/support.js';

const node = nodesPerTest();
const started: StartedNode[] = [];
afterAll(async () => {
  for (const s of started) s.child.kill('SIGTERM');
  await Promise.all(started.map((s) => s.exited));
  await killLeftovers();
});

describe('a __proto__ key', () => {
  it('Node.send refuses it at the call; nothing reaches the process', async () => {
    const n = await node();
    const pid = await n.spawn(fixture('limits/collect.js'), [1]);
    expect(() => n.send(pid, JSON.parse('{"list":[1,{"__proto__":2}]}'))).toThrow(
      expect.objectContaining({ code: 'BL_UNSERIALIZABLE', message: expect.stringMatching(/key '__proto__' \(at list\[1\]\.__proto__\)/) }),
    );
    n.send(pid, { __proto_: 'kept', v: '__proto__' });
    expect((await n.waitExit(pid)).result).toEqual([{ __proto_: 'kept', v: '__proto__' }]);
  });

  it('ctx.send throws BL_UNSERIALIZABLE at the call; the script goes on', async () => {
    const n = await node();
    const to = await n.spawn(fixture('limits/collect.js'), [1]);
    const from = await n.spawn(fixture('limits/proto-sender.js'), [to]);
    expect((await n.waitExit(from)).result).toMatchObject({ code: 'BL_UNSERIALIZABLE', message: expect.stringMatching(/at a\.__proto__/) });
    expect((await n.waitExit(to)).result).toEqual([{ __proto_: 1, text: '__proto__' }]);
  });

  it('a lone surrogate arrives as U+FFFD, not as itself (documented: msgpack strings are UTF-8)', async () => {
    const n = await node();
    const pid = await n.spawn(fixture('limits/collect.js'), [1]);
    n.send(pid, { s: 'a\uD800b' });
    // One U+FFFD, or three in a short string (msgpackr's own writer emits the surrogate's three bytes).
    const [got] = (await n.waitExit(pid)).result as Array<{ s: string }>;
    expect(got!.s).toMatch(/^a(\uFFFD|\uFFFD\uFFFD\uFFFD)b$/);
  });

  it('a gateway request body with the key is answered 400, naming it; the node keeps answering', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const s = await startNode(path.join(SUP, 'gateway.yaml'), db, ['--http', '127.0.0.1:0']);
    started.push(s);
    const post = async (raw: string) => {
      const res = await request(`${s.url!}/call/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
      return { status: res.statusCode, text: await res.body.text() };
    };
    const bad = await post('{"__proto__":{"admin":true}}');
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/__proto__/);
    const good = await post('{"x":1}');
    expect(good.status).toBe(200);
  });
});
