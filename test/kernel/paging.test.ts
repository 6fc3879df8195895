// A process that waits for nothing but mail and has left its thread (a
// hibernated server) leaves the kernel's table too: only its serial stays,
// and the next message, signal, query or wait reads its record back from the
// journal. Nothing about it may change while it is out: its state, its
// mailbox, its place in a supervision tree, the --max-processes count.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, openNode, query, tmpdir, until } from '../helpers.js';
import { closeNodes, runTree, workerIn } from '../fixtures/supervisor/support.js';

const node = nodesPerTest();
afterEach(closeNodes);

const counter = fixture('server/counter.js');

const caller = fixture('server/caller.js');

async function call(n: Awaited<ReturnType<typeof node>>, server: string, incs: number): Promise<unknown> {
  const c = await n.spawn(caller, [server, incs]);
  return (await n.waitExit(c)).result;
}

describe('paged-out processes', () => {
  it('a hibernated server leaves the table, is still counted and listed, and its next call reads it back with its state', async () => {
    const n = await node({ hibernateAfterMs: 300 });
    const server = await n.spawn(counter, [1000, '100ms']);
    expect(await call(n, server, 5)).toMatchObject({ ok: { count: 5 } });
    await until(() => n.kernel.isPagedOut(server), 15_000, 'the server to leave the table');

    // Out of the table, not out of the node.
    expect(n.kernel.processes().map((p) => p.pid)).not.toContain(server);
    expect(n.kernel.stats()).toMatchObject({ processes: 1, pagedOut: 1 });
    expect(n.stats().states.parked).toBe(1);
    expect(n.processes()).toEqual([{ pid: server, script: counter, run: expect.any(Number), state: 'parked' }]);
    // Looking does not bring it back (ps asks for every row's state).
    expect(n.stateOf(server)).toBe('parked');
    expect(n.kernel.isPagedOut(server)).toBe(true);

    // A message brings it back, state intact.
    expect(await call(n, server, 3)).toMatchObject({ ok: { count: 8 } });
    expect(n.kernel.isPagedOut(server)).toBe(false);
    // And it leaves again once idle: out and in as often as it goes quiet.
    await until(() => n.kernel.isPagedOut(server), 15_000, 'the server to leave the table again');
    expect(await call(n, server, 2)).toMatchObject({ ok: { count: 10 } });
  });

  it('a message sent while it is out waits in its mailbox; a kill ends it; its exit can be waited for', async () => {
    const n = await node({ hibernateAfterMs: 300 });
    const server = await n.spawn(counter, [1000, '100ms']);
    expect(await call(n, server, 1)).toMatchObject({ ok: { count: 1 } });
    await until(() => n.kernel.isPagedOut(server), 15_000, 'the server to leave the table');

    // Node.send to a paged-out pid is delivered (not "no such process").
    expect(n.send(server, { type: 'inc', by: 41 })).toBe(true);
    expect(await call(n, server, 0)).toMatchObject({ ok: { count: 42 } });

    await until(() => n.kernel.isPagedOut(server), 15_000, 'the server to leave the table again');
    const exit = n.waitExit(server);
    expect(n.kill(server)).toBe(true);
    expect(await exit).toMatchObject({ pid: server, normal: false, reason: 'killed' });
    expect(query<{ status: string }>(n.db, 'SELECT status FROM processes WHERE pid = ?', server)).toEqual([{ status: 'exited' }]);
    expect(n.kernel.stats()).toMatchObject({ processes: 0, pagedOut: 0 });
  });

  it('a server whose thread is still running its step is kept, not paged out, and answers once the step is done', async () => {
    const n = await node({ hibernateAfterMs: 100 });
    const server = await n.spawn(fixture('server/slow-step.js'), [1500]);
    const first = await n.spawn(caller, [server, 0]);
    // Idle in the kernel's eyes for 1.5 s while the step runs: evicted, kept by its thread, never out.
    const sawOut: boolean[] = [];
    const watch = setInterval(() => sawOut.push(n.kernel.isPagedOut(server)), 20);
    const answer = (await n.waitExit(first)).result;
    clearInterval(watch);
    expect(answer).toMatchObject({ ok: { n: 1, took: 1500 } });
    expect(sawOut.every((out) => !out)).toBe(true);
    // Then it goes out like any idle server, and comes back with its state.
    await until(() => n.kernel.isPagedOut(server), 15_000, 'the server to leave the table');
    const second = await n.spawn(caller, [server, 0]);
    expect((await n.waitExit(second)).result).toMatchObject({ ok: { n: 2 } });
  });

  it('a named server is paged out too; its name still reaches it, across a restart, and goes with its exit', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const first = await openNode({ db, hibernateAfterMs: 300 });
    const server = await first.spawn(counter, [1000, '100ms'], { name: 'tally' });
    expect(await call(first as Awaited<ReturnType<typeof node>>, 'tally', 4)).toMatchObject({ ok: { count: 4 } });
    await until(() => first.kernel.isPagedOut(server), 15_000, 'the named server to leave the table');
    expect(first.kernel.whereis('tally')).toBe(server);
    expect(await call(first as Awaited<ReturnType<typeof node>>, 'tally', 1)).toMatchObject({ ok: { count: 5 } });
    await until(() => first.kernel.isPagedOut(server), 15_000, 'the named server to leave the table again');
    await first.kernel.flush();
    await first.close();

    const second = await node({ db, hibernateAfterMs: 300 });
    expect(second.kernel.isPagedOut(server)).toBe(true);
    expect(second.kernel.whereis('tally')).toBe(server);
    expect(await call(second, 'tally', 2)).toMatchObject({ ok: { count: 7 } });
    await until(() => second.kernel.isPagedOut(server), 15_000, 'the named server to leave the table after the restart');
    const exit = second.waitExit(server);
    expect(second.kill('tally')).toBe(true);
    expect(await exit).toMatchObject({ reason: 'killed' });
    expect(second.kernel.whereis('tally')).toBeUndefined();
    // The name is free again.
    await second.spawn(counter, [1000, '100ms'], { name: 'tally' });
  });

  it('a supervised server that is out stays out across a restart: the supervision recovers without reading it back', async () => {
    const dir = tmpdir();
    const tree = { strategy: 'one_for_one', intensity: 3, period: '10s', children: [{ id: 'server', script: counter, args: [1000, '100ms'] }] };
    const t = await runTree(tree, { dir, node: { hibernateAfterMs: 300 } });
    await until(() => workerIn(t.view(), 'server').pid !== undefined, 10_000, 'the child');
    const server = workerIn(t.view(), 'server').pid!;
    expect(await call(t.node as Awaited<ReturnType<typeof node>>, server, 3)).toMatchObject({ ok: { count: 3 } });
    await until(() => t.node.kernel.isPagedOut(server), 15_000, 'the supervised server to leave the table');
    await t.node.kernel.flush();
    await t.node.close();

    const again = await runTree(tree, { dir, node: { hibernateAfterMs: 300 } });
    expect(workerIn(again.view(), 'server').pid).toBe(server);
    expect(again.node.kernel.isPagedOut(server)).toBe(true);
    expect(await call(again.node as Awaited<ReturnType<typeof node>>, server, 1)).toMatchObject({ ok: { count: 4 } });
  });

  it('paged-out processes count against --max-processes', async () => {
    const n = await node({ hibernateAfterMs: 300, maxProcesses: 2 });
    const server = await n.spawn(counter, [1000, '100ms']);
    expect(await call(n, server, 1)).toMatchObject({ ok: { count: 1 } });
    await until(() => n.kernel.isPagedOut(server), 15_000, 'the server to leave the table');
    await n.spawn(fixture('limits/idle.js'));
    await expect(n.spawn(fixture('limits/idle.js'))).rejects.toMatchObject({ code: 'BL_LIMIT' });
  });

  it('a supervisor restarting its children reaches one that is paged out (one_for_all)', async () => {
    const t = await runTree(
      {
        strategy: 'one_for_all',
        intensity: 3,
        period: '10s',
        children: [
          { id: 'server', script: counter, args: [1000, '100ms'] },
          { id: 'w', script: path.join(path.dirname(counter), '..', 'supervisor', 'child.js'), args: ['w'] },
        ],
      },
      { node: { hibernateAfterMs: 300 } },
    );
    await until(() => workerIn(t.view(), 'server').pid !== undefined && workerIn(t.view(), 'w').pid !== undefined, 10_000, 'both children');
    const server = workerIn(t.view(), 'server').pid!;
    const w = workerIn(t.view(), 'w').pid!;
    expect(await call(t.node as Awaited<ReturnType<typeof node>>, server, 4)).toMatchObject({ ok: { count: 4, run: expect.any(Number) } });
    await until(() => t.node.kernel.isPagedOut(server), 15_000, 'the supervised server to leave the table');
    const restarts = () => query<{ restarts: number }>(t.db, 'SELECT restarts FROM processes WHERE pid = ?', server)[0]?.restarts ?? 0;
    expect(restarts()).toBe(0);

    // The sibling crashes: the supervisor stops the paged-out server and starts both again.
    t.node.send(w, { cmd: 'crash' });
    await until(() => restarts() === 1, 15_000, 'the server restarted');
    // A server's restart starts from its last snapshot (its durable state).
    expect(await call(t.node as Awaited<ReturnType<typeof node>>, server, 1)).toMatchObject({ ok: { count: 5 } });
  });

  it('a node restarted on a journal whose servers were paged out leaves them out (no rebuild) and brings each back on its next message', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const first = await openNode({ db, hibernateAfterMs: 300 });
    const server = await first.spawn(counter, [1000, '100ms']);
    const other = await first.spawn(counter, [1000, '100ms']);
    expect(await call(first as Awaited<ReturnType<typeof node>>, server, 7)).toMatchObject({ ok: { count: 7 } });
    expect(await call(first as Awaited<ReturnType<typeof node>>, other, 2)).toMatchObject({ ok: { count: 2 } });
    await until(() => first.kernel.isPagedOut(server) && first.kernel.isPagedOut(other), 15_000, 'both servers to leave the table');
    await first.kernel.flush();
    await first.close();

    const second = await node({ db, hibernateAfterMs: 300 });
    // Both are live, neither was rebuilt: no record, in no thread.
    expect(second.kernel.isPagedOut(server)).toBe(true);
    expect(second.kernel.isPagedOut(other)).toBe(true);
    expect(second.kernel.stats()).toMatchObject({ processes: 2, pagedOut: 2 });
    await second.threadsLoaded();
    expect(second.kernelStats().threads.map((t) => t.live)).toEqual([0, 0]);
    expect(await call(second, server, 1)).toMatchObject({ ok: { count: 8 } });
    expect(second.kernel.isPagedOut(other)).toBe(true);
  });
});
