// Links, monitors and exit signals between processes of two nodes on one
// PostgreSQL (two nodes in this test process: real threads, real database).

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Node } from '../../dist/runtime/node.js';
import { CLUSTER, clusterPerFile, query, until } from './support.js';

// The nodes here live in this process (closed after each test); the file's PostgreSQL is the shared set-up's.
const { database } = clusterPerFile();
const open: Node[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
});

/** Spawn on `node` and wait until the spawn is committed: other nodes learn of a process from the store. */
async function spawnCommitted(node: Node, script: string, opts: { name?: string } = {}): Promise<string> {
  const pid = await node.spawn(path.join(CLUSTER, script), [], opts);
  await until(() => node.store.process(pid) !== undefined && (opts.name === undefined || node.store.names().some(([n]) => n === opts.name)), 10_000, 'spawn committed');
  return pid;
}

async function twoNodes(): Promise<[Node, Node, string]> {
  const url = await database();
  const a = await Node.open({ store: url, threads: 1, leaseMs: 10_000, log: () => {} });
  open.push(a);
  const b = await Node.open({ store: url, threads: 1, leaseMs: 10_000, log: () => {} });
  open.push(b);
  return [a, b, url];
}

describe('relations across nodes', () => {
  it('a trapping process linked to and monitoring one on another node gets its exit signal and its down message', async () => {
    const [a, b] = await twoNodes();
    const target = await spawnCommitted(b, 'doomed.js');
    const watcher = await a.spawn(path.join(CLUSTER, 'watcher.js'), [target]);
    const out = await a.waitExit(watcher);
    expect(out.reason).toBe('normal');
    const { exit, down, ref } = out.result as { exit: unknown; down: unknown; ref: string };
    expect(exit).toEqual({ type: 'exit', from: target, reason: 'boom' });
    expect(down).toEqual({ type: 'down', ref, pid: target, reason: 'boom' });
    expect((await b.waitExit(target)).reason).toBe('boom');
  });

  it('a process linked to one on another node, not trapping, ends with it', async () => {
    const [a, b, url] = await twoNodes();
    const target = await spawnCommitted(b, 'doomed.js');
    const linker = await a.spawn(path.join(CLUSTER, 'linker.js'), [target]);
    // The link is made, and its notice taken by the target's node, before the target is told to die
    // (told first, it would end before the link and the linker would get 'noproc').
    await until(async () => (await query<{ n: number }>(url, 'SELECT (SELECT count(*) FROM links)::int + 10 * (SELECT count(*) FROM inbox)::int AS n'))[0]!.n === 1, 10_000, 'link taken');
    expect(b.send(target, 'die')).toBe(true);
    expect((await a.waitExit(linker)).reason).toBe('boom');
  });

  it('linking to or monitoring a pid no node has: noproc at once, as on one node', async () => {
    const [a] = await twoNodes();
    const watcher = await a.spawn(path.join(CLUSTER, 'watcher.js'), ['zzzz.99']);
    const out = await a.waitExit(watcher);
    // Not trapping yet when linking would end it; the watcher traps first, so it reads the signal.
    expect((out.result as { exit: { reason: unknown } }).exit.reason).toBe('noproc');
    expect((out.result as { down: { reason: unknown } }).down.reason).toBe('noproc');
  });

  it('a send to a name registered on another node arrives; a send to a pid no node has is refused', async () => {
    const [a, b] = await twoNodes();
    const target = await spawnCommitted(b, 'doomed.js', { name: 'doomed' });
    expect(a.send('doomed', 'die')).toBe(true);
    expect((await b.waitExit(target)).reason).toBe('boom');
    expect(a.send('zzzz.99', 'die')).toBe(false);
  });
});
