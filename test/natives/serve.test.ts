// ctx.serve: the server behaviour (snapshots, calls, crashes, stop) and
// ctx.call (reply, timeout, the target's death).

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decode, fixture, nodesPerTest, openNode, query, readRows, tmpdir, until } from '../helpers.js';
import { json, serversPerTest } from '../fixtures/natives/http-server.js';
import { parseTreeFile } from '../../dist/runtime/config/tree.js';
import { writeTree } from '../fixtures/supervisor/support.js';

const node = nodesPerTest();

describe('ctx.serve', () => {
  it('hands each message to handle, answers calls, and snapshots: earlier runs are deleted, ctx.args stay as started', async () => {
    const n = await node();
    const server = await n.spawn(fixture('server/counter.js'), [10]);
    const caller = await n.spawn(fixture('server/caller.js'), [server, 25]);
    const exit = await n.waitExit(caller);
    // 25 increments at 10 per snapshot: the third run holds the last five.
    expect(exit.result).toEqual({ ok: { count: 25, run: 3, args: [10] } });
    await until(() => readRows(n.db, server).length > 0 && readRows(n.db, server).every((r) => r.run === 3), 10_000, 'runs 1 and 2 deleted');
    // The snapshot is the run's start argument, kept after the script's own.
    const [row] = query<{ args: Buffer; run: number; restarts: number }>(n.db, 'SELECT args, run, restarts FROM processes WHERE pid = ?', server);
    expect(decode(row!.args)).toEqual([10, { '@beamline/snapshot': { state: { count: 20 } } }]);
    // A snapshot is not a restart.
    expect(row!.restarts).toBe(0);
  });

  it('snapshots `interval` after the first message since the last snapshot, so a quiet server keeps almost no history', async () => {
    const n = await node();
    const server = await n.spawn(fixture('server/counter.js'), [1000, '200ms']);
    for (let i = 0; i < 7; i++) n.send(server, { type: 'inc' });
    await until(() => query<{ run: number }>(n.db, 'SELECT run FROM processes WHERE pid = ?', server)[0]?.run === 2, 10_000, 'the interval snapshot');
    const [row] = query<{ args: Buffer }>(n.db, 'SELECT args FROM processes WHERE pid = ?', server);
    expect(decode(row!.args)).toEqual([1000, '200ms', { '@beamline/snapshot': { state: { count: 7 } } }]);
    await until(() => readRows(n.db, server).every((r) => r.run === 2), 10_000, 'run 1 deleted');
    expect(readRows(n.db, server).length).toBeLessThanOrEqual(2);
  });

  it('recovers from the last snapshot plus the messages since, after the node stops', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const first = await openNode({ db });
    const server = await first.spawn(fixture('server/counter.js'), [10]);
    for (let i = 0; i < 23; i++) first.send(server, { type: 'inc' });
    // Everything handled and committed: run 3 holds the last three (in one round or more).
    await until(
      () => query(db, 'SELECT 1 FROM mailbox WHERE pid = ?', server).length === 0 && readRows(db, server).some((r) => r.run === 3),
      10_000,
      'all 23 handled',
    );
    await first.close();
    const second = await node({ db });
    const caller = await second.spawn(fixture('server/caller.js'), [server, 2]);
    expect((await second.waitExit(caller)).result).toEqual({ ok: { count: 25, run: 3, args: [10] } });
  });

  it('a handle that throws crashes the server with BL_HANDLE_FAILED naming the message; the message is kept as the last one', async () => {
    const n = await node();
    const server = await n.spawn(fixture('server/counter.js'), []);
    n.send(server, { type: 'boom', what: 'pears' });
    const exit = await n.waitExit(server);
    expect(exit.normal).toBe(false);
    expect(exit.reason).toMatchObject({ code: 'BL_HANDLE_FAILED' });
    const reason = exit.reason as { message: string; stack: string };
    expect(reason.message).toContain(server);
    expect(reason.message).toContain('{"type":"boom","what":"pears"}');
    expect(reason.message).toContain('TypeError: cannot handle pears');
    expect(reason.stack).toContain('counter.js');
    const [row] = query<{ last_message: Buffer }>(n.db, 'SELECT last_message FROM processes WHERE pid = ?', server);
    expect(decode(row!.last_message)).toEqual({ type: 'boom', what: 'pears' });
  });

  it('an unencodable state is BL_UNSERIALIZABLE naming the pid and the message that produced it', async () => {
    const n = await node();
    const server = await n.spawn(fixture('server/counter.js'), []);
    n.send(server, { type: 'bad-state' });
    const exit = await n.waitExit(server);
    expect(exit.reason).toMatchObject({ code: 'BL_UNSERIALIZABLE' });
    const message = (exit.reason as { message: string }).message;
    expect(message).toContain(`process ${server}`);
    expect(message).toContain('after handling {"type":"bad-state"}');
  });

  it('stops with a reason: ctx.exit inside handle, after replying to the call', async () => {
    const n = await node();
    const server = await n.spawn(fixture('server/counter.js'), []);
    const caller = await n.spawn(fixture('server/caller.js'), [server, 3, 'stop']);
    expect((await n.waitExit(caller)).result).toEqual({ ok: 'stopping' });
    expect((await n.waitExit(server)).reason).toEqual({ stopped: 3 });
  });

  it('rejects a spec without handle at the call, naming the fix', async () => {
    const n = await node();
    const pid = await n.spawn(fixture('server/no-handle.js'), []);
    const exit = await n.waitExit(pid);
    expect(exit.reason).toMatchObject({ code: 'BL_ARG_INVALID' });
    expect((exit.reason as { message: string }).message).toContain('serve: handle must be a function');
  });
});

describe('ctx.call', () => {
  it('rejects with BL_NOPROC at once when the target dies before replying, and for a dead pid', async () => {
    const n = await node();
    const dying = await n.spawn(fixture('server/quiet.js'), ['gone']);
    const caller = await n.spawn(fixture('server/caller.js'), [dying, 0, 'get', '60s']);
    const t0 = Date.now();
    const exit = await n.waitExit(caller);
    expect(exit.result).toMatchObject({ code: 'BL_NOPROC' });
    expect((exit.result as { message: string }).message).toContain('"gone"');
    expect(Date.now() - t0).toBeLessThan(30_000); // not the 60 s timeout
    const late = await n.spawn(fixture('server/caller.js'), [dying, 0, 'get', '60s']);
    expect((await n.waitExit(late)).result).toMatchObject({ code: 'BL_NOPROC' });
  });

  it('rejects with TimeoutError when no reply comes in time', async () => {
    const n = await node();
    const quiet = await n.spawn(fixture('server/quiet.js'), []);
    const caller = await n.spawn(fixture('server/caller.js'), [quiet, 0, 'get', '300ms']);
    const exit = await n.waitExit(caller);
    expect(exit.result).toMatchObject({ error: 'TimeoutError', code: 'BL_TIMEOUT' });
  });
});

describe('ctx.serve with callApi inside handle', () => {
  const server = serversPerTest();

  /** A charging API (its answer to the `id`th request held `holdMs(id)` ms), a node on a fresh journal, and the charger server on it. */
  async function charging(holdMs: (id: number) => number = () => 0) {
    let ids = 0;
    const api = await server((seen, res) => {
      const id = ++ids;
      const answer = () => json(res, 200, { id: `ch_${id}`, key: seen.key });
      const ms = holdMs(id);
      if (ms === 0) answer();
      else setTimeout(answer, ms);
    });
    const db = path.join(tmpdir(), 'journal.db');
    const first = await openNode({ db });
    const pid = await first.spawn(fixture('server/charger.js'), [api.url]);
    return { api, db, first, pid };
  }

  it('each charge is sent once, with a key of its own run (steps start again at 0 after a snapshot), and not again after a restart of the node', async () => {
    const { api, db, first, pid } = await charging();
    // The server replies to `from` after each charge, and a reply leaves only
    // once the round that consumed the charge's answer is committed: five
    // replies mean all five answers are journaled. (The API having seen five
    // requests does not: an answer still on its way when the node closes is
    // asked for again at the next boot, see the next test.)
    const replies: unknown[] = [];
    const port = first.openPort((m) => replies.push(m));
    for (let order = 1; order <= 5; order++) first.send(pid, { type: 'charge', order, from: port });
    await until(() => replies.length === 5, 20_000, 'five charges answered and journaled');
    expect(api.to('/charge')).toHaveLength(5);
    await until(() => query(db, 'SELECT 1 FROM mailbox WHERE pid = ?', pid).length === 0, 10_000, 'all handled');
    await first.close();

    const second = await node({ db });
    const caller = await second.spawn(fixture('server/caller.js'), [pid, 0, 'get', '500ms']);
    await second.waitExit(caller); // the server recovered and took a message (it does not answer 'get': the call times out)
    const keys = api.to('/charge').map((s) => s.key!);
    expect(keys).toHaveLength(5);
    expect(new Set(keys).size).toBe(5);
    // pid:run:step — two charges per run, three runs.
    expect(keys.map((k) => Number(k.split(':')[1]))).toEqual([1, 1, 2, 2, 3]);
    expect(api.to('/charge').map((s) => (s.body as { order: number }).order)).toEqual([1, 2, 3, 4, 5]);
  });

  it('a call in flight when the node closes is sent again at the next boot, once, with the same key; the charges before it are not sent again', async () => {
    // The fifth answer is held far longer than a close takes: the node closes with it outstanding.
    const { api, db, first, pid } = await charging((id) => (id === 5 ? 10_000 : 0));
    for (let order = 1; order <= 5; order++) first.send(pid, { type: 'charge', order });
    await until(() => api.to('/charge').length === 5, 20_000, 'five charges');
    await first.close();
    expect(api.to('/charge')).toHaveLength(5);

    const second = await node({ db });
    await until(() => api.to('/charge').length === 6, 20_000, 'the fifth charge sent again');
    const caller = await second.spawn(fixture('server/caller.js'), [pid, 0, 'get', '500ms']);
    await second.waitExit(caller); // the server took the fifth answer and the next message
    const sent = api.to('/charge');
    expect(sent).toHaveLength(6);
    expect(sent[5]!.key).toBe(sent[4]!.key);
    expect(new Set(sent.map((s) => s.key)).size).toBe(5);
    expect(sent.map((s) => (s.body as { order: number }).order)).toEqual([1, 2, 3, 4, 5, 5]);
  });
});

describe('ctx.serve and named timers', () => {
  it("a handler's named timer survives the snapshots taken before it fires, and fires once at its time", async () => {
    const n = await node();
    const pid = await n.spawn(fixture('server/ticker.js'), []);
    n.send(pid, { type: 'arm', ms: 1500 });
    for (let i = 0; i < 5; i++) n.send(pid, { type: 'noise', i });
    await until(() => (query<{ run: number }>(n.db, 'SELECT run FROM processes WHERE pid = ?', pid)[0]?.run ?? 0) >= 7, 10_000, 'six snapshots');
    await new Promise((r) => setTimeout(r, 2500));
    const caller = await n.spawn(fixture('server/caller.js'), [pid, 0]);
    const { ok } = (await n.waitExit(caller)).result as { ok: { ticks: number; armedAt: number; firedAt: number } };
    expect(ok.ticks).toBe(1);
    expect(ok.firedAt - ok.armedAt).toBeGreaterThanOrEqual(1500);
  });
});

describe('ctx.serve under a supervisor', () => {
  it('a restart after a crash starts from the last snapshot (its durable state), not the initial state; RESTARTS counts it, snapshots do not', async () => {
    const dir = tmpdir();
    const n = await node({ db: path.join(dir, 'journal.db') });
    const spec = { strategy: 'one_for_one', intensity: 5, period: '10s', children: [{ id: 'counter', script: fixture('server/counter.js'), args: [3], name: 'counter' }] };
    n.startTree(parseTreeFile(writeTree(spec, dir)));
    await until(() => n.kernel.whereis('counter'), 10_000, 'the counter');
    // 7 increments at 3 per snapshot: snapshots after 3 and 6; the 7th is in the crashed run's history only.
    for (let i = 0; i < 7; i++) n.send('counter', { type: 'inc' });
    n.send('counter', { type: 'boom', what: 'x' });
    await until(() => query<{ restarts: number }>(n.db, 'SELECT restarts FROM processes WHERE pid = ?', n.kernel.whereis('counter'))[0]?.restarts === 1, 10_000, 'the restart');
    const caller = await n.spawn(fixture('server/caller.js'), ['counter', 0]);
    const { ok } = (await n.waitExit(caller)).result as { ok: { count: number; run: number } };
    expect(ok.count).toBe(6);
    expect(ok.run).toBe(4); // runs 1–3 by snapshots, 4 by the restart
  });
});
