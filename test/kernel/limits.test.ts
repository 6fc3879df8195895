// Limits a user sets (--max-processes, --max-mailbox): a spawn past the first
// is refused at the call with BL_LIMIT (nothing recorded for it); a process
// whose mailbox passes the second is failed with BL_MAILBOX_FULL, and every
// message sent to it stays stored, in order, for a supervisor's next run.

import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fixture, nodesPerTest, openNode, query, tmpdir, until } from '../helpers.js';
import { closeNodes, runTree, script, workerIn } from '../fixtures/supervisor/support.js';

const node = nodesPerTest();
afterEach(closeNodes);

const idle = fixture('limits/idle.js');
const spawnedRows = (db: string) => query<{ n: number }>(db, 'SELECT count(*) AS n FROM processes')[0]!.n;

describe('--max-processes', () => {
  it('Node.spawn past the limit rejects at the call with BL_LIMIT, and nothing is recorded for it', async () => {
    const n = await node({ maxProcesses: 3 });
    const pids = [await n.spawn(idle), await n.spawn(idle), await n.spawn(idle)];
    await expect(n.spawn(idle)).rejects.toMatchObject({ code: 'BL_LIMIT' });
    await n.kernel.flush();
    expect(n.kernel.processes().map((p) => p.pid).sort()).toEqual([...pids].sort());
    expect(spawnedRows(n.db)).toBe(3);
    // Room again once one exits (its entry leaves the table with it).
    const exited = n.waitExit(pids[0]!);
    n.send(pids[0]!, 'stop');
    expect((await exited).result).toBe('stopped');
    await until(() => n.kernel.processes().length === 2, 10_000, 'the exited process to leave the table');
    expect(await n.spawn(idle)).toMatch(/\.\d+$/);
  });

  it('ctx.spawn past the limit throws BL_LIMIT at the call, in the spawning script', async () => {
    const n = await node({ maxProcesses: 3 });
    const parent = await n.spawn(fixture('limits/spawner.js'), [5, idle]);
    const exit = await n.waitExit(parent);
    // The spawner itself is one of the three.
    expect(exit.result).toMatchObject({ spawned: 2, code: 'BL_LIMIT' });
    expect((exit.result as { message: string }).message).toMatch(/--max-processes 3/);
    expect(spawnedRows(n.db)).toBe(3);
  });

  it('a journal holding more than a lowered limit boots with every process and refuses new spawns', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const first = await openNode({ db });
    const pids = [await first.spawn(idle), await first.spawn(idle), await first.spawn(idle)];
    await first.close();
    const n = await node({ db, maxProcesses: 2 });
    expect(n.kernel.processes().map((p) => p.pid).sort()).toEqual([...pids].sort());
    await expect(n.spawn(idle)).rejects.toMatchObject({ code: 'BL_LIMIT' });
    // They still run: each takes its message and ends normally.
    const exits = pids.map((p) => n.waitExit(p));
    for (const p of pids) n.send(p, 'stop');
    for (const e of await Promise.all(exits)) expect(e).toMatchObject({ normal: true, result: 'stopped' });
  });

  it('a supervisor restart at the limit goes ahead: the restarted child keeps its entry', async () => {
    // Root supervisor + m: the node holds exactly what the limit allows.
    const t = await runTree(
      { strategy: 'one_for_one', intensity: 3, period: '10s', children: [{ id: 'm', script: script('mailbox.js'), restart: 'transient' }] },
      { node: { maxProcesses: 1 } },
    );
    await t.logged(/^run 1$/);
    const m = workerIn(t.view(), 'm').pid!;
    await expect(t.node.spawn(idle)).rejects.toMatchObject({ code: 'BL_LIMIT' });
    t.node.send(m, { cmd: 'crash' });
    await t.logged(/^run 2$/);
    expect(workerIn(t.view(), 'm')).toMatchObject({ pid: m, run: 2 });
  });
});

describe('--max-mailbox', () => {
  it('fails the receiver with BL_MAILBOX_FULL once its unread messages pass the limit', async () => {
    const n = await node({ maxMailbox: 5 });
    const pid = await n.spawn(idle);
    const exited = n.waitExit(pid);
    for (let i = 0; i < 6; i++) n.send(pid, { i });
    const exit = await exited;
    expect(exit.normal).toBe(false);
    expect(exit.reason).toMatchObject({ code: 'BL_MAILBOX_FULL' });
    expect((exit.reason as { message: string }).message).toMatch(new RegExp(`${pid.replace('.', '\\.')}: mailbox holds 6 unread messages, more than --max-mailbox 5`));
  });

  it('holds for a sender on the same thread (delivered without the kernel): the flood fails the receiver, not the node', async () => {
    const n = await node({ maxMailbox: 100, threads: 1 });
    const target = await n.spawn(idle);
    const exited = n.waitExit(target);
    const flood = await n.spawn(fixture('limits/flood.js'), [target, 1000]);
    expect((await n.waitExit(flood)).result).toBe(1000);
    expect(await exited).toMatchObject({ normal: false, reason: { code: 'BL_MAILBOX_FULL' } });
    // The node still works.
    const other = await n.spawn(idle);
    const done = n.waitExit(other);
    n.send(other, 'stop');
    expect((await done).result).toBe('stopped');
  });

  it('at the limit nothing happens: a process holding exactly N unread messages runs on', async () => {
    const n = await node({ maxMailbox: 5 });
    const pid = await n.spawn(idle);
    for (let i = 0; i < 5; i++) n.send(pid, { i });
    const exited = n.waitExit(pid);
    n.send(pid, 'stop'); // the sixth arrives: the process fails before it can take it
    expect(await exited).toMatchObject({ normal: false, reason: { code: 'BL_MAILBOX_FULL' } });
    const pid2 = await n.spawn(idle);
    for (let i = 0; i < 4; i++) n.send(pid2, { i });
    const exited2 = n.waitExit(pid2);
    n.send(pid2, 'stop'); // the fifth: within the limit
    expect(await exited2).toMatchObject({ normal: true, result: 'stopped' });
  });

  it('loses nothing from a sender on the same thread either: the next run gets the flood in order', async () => {
    const t = await runTree(
      { strategy: 'one_for_one', intensity: 3, period: '10s', children: [{ id: 'm', script: script('mailbox.js'), restart: 'transient' }] },
      { threads: 1, node: { maxMailbox: 3 } },
    );
    await t.logged(/^run 1$/);
    const m = workerIn(t.view(), 'm').pid!;
    const failed = t.node.waitExit(m);
    const flood = await t.node.spawn(fixture('limits/flood.js'), [m, 5]);
    expect((await t.node.waitExit(flood)).result).toBe(5);
    expect(await failed).toMatchObject({ pid: m, run: 1, reason: { code: 'BL_MAILBOX_FULL' } });
    await t.logged(/^run 2$/);
    t.node.send(m, 'done');
    const exit = await t.node.waitExit(m);
    expect(exit.result).toEqual({ run: 2, self: m, got: [0, 1, 2, 3, 4].map((i) => ({ i })) });
  });

  it('loses nothing: the restarted run takes over every message, the one past the limit included, in order', async () => {
    const t = await runTree(
      { strategy: 'one_for_one', intensity: 3, period: '10s', children: [{ id: 'm', script: script('mailbox.js'), restart: 'transient' }] },
      { node: { maxMailbox: 3 } },
    );
    await t.logged(/^run 1$/);
    const m = workerIn(t.view(), 'm').pid!;
    const failed = t.node.waitExit(m);
    for (const msg of ['a', 'b', 'c', 'd']) t.node.send(m, msg);
    expect(await failed).toMatchObject({ pid: m, run: 1, normal: false, reason: { code: 'BL_MAILBOX_FULL' } });
    await t.logged(/^run 2$/);
    t.node.send(m, 'done');
    const exit = await t.node.waitExit(m);
    expect(exit).toMatchObject({ pid: m, run: 2, normal: true });
    expect(exit.result).toEqual({ run: 2, self: m, got: ['a', 'b', 'c', 'd'] });
  });
});
