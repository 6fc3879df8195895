// The CLI against several nodes on one PostgreSQL (--store URL): `runtime
// nodes` lists them, `ps` names each process's node, and send/kill/query
// find the node owning their target in the database and reach it through
// its control socket. Real parts: a real PostgreSQL server, real
// `runtime start` nodes as child processes, a real SIGKILL.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pgClient from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixture, killCliLeftovers, runCli, startCli, tmpdir, until, type CliRun } from '../helpers.js';
import { startPostgres, type Postgres } from '../postgres.js';
import type { NodeRow } from '../../dist/runtime/cli/cluster.js';

let pg: Postgres;

beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);

afterAll(async () => {
  await pg?.stop();
});

afterEach(killCliLeftovers);

/** What `runtime nodes --json` prints: the rows the CLI builds. */
type NodeJson = NodeRow;

interface PsJson {
  pid: string;
  node?: string;
  name: string;
  run: number;
  state: string;
}

/**
 * A tree of supervised workers (test/fixtures/supervisor/child.js), each
 * under its registered name; with `pool`, also a simple_one_for_one
 * supervisor of that name (no child until `runtime start-child`).
 */
function treeFile(dir: string, file: string, names: string[], pool?: string): string {
  const script = JSON.stringify(fixture('supervisor/child.js'));
  const children = names.map((n) => `  - id: ${n}\n    name: ${n}\n    script: ${script}\n    args: [${n}]\n`);
  if (pool !== undefined) {
    children.push(
      `  - id: ${pool}\n    name: ${pool}\n    supervisor:\n      strategy: simple_one_for_one\n      children:\n        - id: job\n          script: ${script}\n          args: [job]\n`,
    );
  }
  const out = path.join(dir, file);
  fs.writeFileSync(out, `strategy: one_for_one\nchildren:\n${children.join('')}`);
  return out;
}

/**
 * Leases in these tests: long enough that a node booting on a loaded machine
 * (the whole suite at once on 2 cores) keeps its lease until its first
 * heartbeat; the tests that wait for a lease to lapse wait this long.
 */
const LEASE = ['--lease', '15s'];

/** `runtime start --store URL TREE`, once ready: its tag and control socket (from its start line). */
async function startNode(url: string, tree: string, extra: string[] = LEASE): Promise<{ run: CliRun; tag: string; control: string }> {
  const run = startCli(['start', '--store', url, ...extra, tree]);
  await until(() => run.stderr.includes('runtime: ready') || run.child.exitCode !== null, 60_000, `node on ${path.basename(tree)} ready`);
  const m = /node ([0-9a-z]{4}) (?:started|resumed) tree .* control (\S+)/.exec(run.stderr);
  expect(m, run.stderr).not.toBeNull();
  return { run, tag: m![1]!, control: m![2]! };
}

async function nodes(url: string): Promise<NodeJson[]> {
  const out = await runCli(['nodes', '--store', url, '--json']);
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as NodeJson[];
}

/** Until `name` is committed as owned by `node` (a node says ready a batch before); fails at once, with its stderr, if the node exited. */
async function committed(url: string, name: string, node: { run: CliRun; tag: string }): Promise<void> {
  await until(
    async () => {
      if (node.run.child.exitCode !== null) throw new Error(`node ${node.tag} exited (${node.run.child.exitCode}): ${node.run.stderr}`);
      return (await ps(url)).some((r) => r.name === name && r.node === node.tag);
    },
    60_000,
    `${name} committed on ${node.tag}`,
  );
}

async function ps(url: string, ...extra: string[]): Promise<PsJson[]> {
  const out = await runCli(['ps', '--store', url, '--json', ...extra]);
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as PsJson[];
}

/** What the worker has received so far (its 'state' query), through the node that owns it. */
async function got(url: string, target: string): Promise<unknown[]> {
  const out = await runCli(['query', '--store', url, target, 'state']);
  expect(out.code, out.stderr).toBe(0);
  return (JSON.parse(out.stdout) as { got: unknown[] }).got;
}

function oneLine(out: { code: number | null; stderr: string }, code: string): void {
  expect(out.code).toBe(2);
  expect(out.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(out.stderr).toContain(`[${code}]`);
}

describe('runtime nodes / ps / send / kill with --store', () => {
  it('two nodes: nodes lists both with their process counts, ps names the owner, send/query/kill reach either node', async () => {
    const url = await pg.database();
    const dir = tmpdir();
    const a = await startNode(url, treeFile(dir, 'a.yaml', ['alpha1', 'alpha2']));
    const b = await startNode(url, treeFile(dir, 'b.yaml', ['beta1'], 'pool'));
    // Both trees committed (ready may come a batch before).
    for (const name of ['alpha1', 'alpha2']) await committed(url, name, a);
    await committed(url, 'beta1', b);

    // nodes: both up, with their live processes and where their control sockets are.
    const list = await nodes(url);
    expect(list.map((n) => n.tag).sort()).toEqual([a.tag, b.tag].sort());
    const na = list.find((n) => n.tag === a.tag)!;
    const nb = list.find((n) => n.tag === b.tag)!;
    expect([na.status, na.processes, na.epoch, na.leaseMs]).toEqual(['up', 2, 1, 15_000]);
    expect([nb.status, nb.processes]).toEqual(['up', 1]);
    expect(na.address).toBe(`${os.hostname()}:${a.control}`);
    expect(nb.address).toBe(`${os.hostname()}:${b.control}`);
    expect(na.heartbeatAgeMs).toBeLessThan(15_000);
    const table = await runCli(['nodes', '--store', url]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]!.split(/\s{2,}/)).toEqual(['TAG', 'STATUS', 'EPOCH', 'HEARTBEAT', 'LEASE', 'PROCESSES', 'ADDRESS']);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/)).map((c) => [c[0], c[1], c[5]]).sort()).toEqual(
      [
        [a.tag, 'up', '2'],
        [b.tag, 'up', '1'],
      ].sort(),
    );

    // ps: every node's processes, each with its owner.
    const rows = await ps(url);
    expect(rows.map((r) => [r.name, r.node, r.pid.split('.')[0]]).sort()).toEqual(
      [
        ['alpha1', a.tag, a.tag],
        ['alpha2', a.tag, a.tag],
        ['beta1', b.tag, b.tag],
      ].sort(),
    );
    const psTable = await runCli(['ps', '--store', url]);
    expect(psTable.stdout.split('\n')[0]).toMatch(/^PID\s+NODE\s+NAME\s+SCRIPT/);
    expect(psTable.stdout).toMatch(new RegExp(`${b.tag}\\.\\d+\\s+${b.tag}\\s+beta1`));

    // send by name and by pid, to a process on each node.
    const alpha2 = rows.find((r) => r.name === 'alpha2')!.pid;
    const s1 = await runCli(['send', '--store', url, 'beta1', '{"to":"b"}']);
    expect(s1.code, s1.stderr).toBe(0);
    const s2 = await runCli(['send', '--store', url, alpha2, '"to a"']);
    expect(s2.code, s2.stderr).toBe(0);
    expect(await got(url, 'beta1')).toEqual([{ to: 'b' }]);
    expect(await got(url, alpha2)).toEqual(['to a']);

    // kill on either node: exit 0 once it has ended (its supervisor restarts it: run 2).
    const beta1 = rows.find((r) => r.name === 'beta1')!.pid;
    for (const target of [beta1, 'alpha1']) {
      const k = await runCli(['kill', '--store', url, target]);
      expect(k.code, k.stderr).toBe(0);
    }
    const after = await ps(url);
    expect(after.find((r) => r.pid === beta1)!.run).toBe(2);
    expect(after.find((r) => r.name === 'alpha1')!.run).toBe(2);
    const history = await runCli(['history', '--store', url, beta1]);
    expect(history.code).toBe(0);
    expect(history.stdout).toContain('exit killed');

    // Nothing by that name or pid: one line, BL_NOPROC.
    oneLine(await runCli(['send', '--store', url, 'nobody', '1']), 'BL_NOPROC');
    oneLine(await runCli(['kill', '--store', url, `${a.tag}.999`]), 'BL_NOPROC');

    // start-child by the supervisor's name: the node holding it starts the child, which counts as its own.
    const started = await runCli(['start-child', '--store', url, 'pool', '"extra"']);
    expect(started.code, started.stderr).toBe(0);
    const child = (JSON.parse(started.stdout) as { pid: string }).pid;
    expect(child.startsWith(`${b.tag}.`)).toBe(true);
    await until(async () => (await nodes(url)).find((n) => n.tag === b.tag)?.processes === 2, 60_000, 'the pool child counted');
    expect((await ps(url)).find((r) => r.pid === child)?.node).toBe(b.tag);

    // The reading commands see both nodes: both trees, every history replays.
    const trees = await runCli(['tree', '--store', url]);
    expect(trees.code, trees.stderr).toBe(0);
    for (const name of ['alpha1', 'alpha2', 'beta1']) expect(trees.stdout).toContain(`[${name}]`);
    expect(trees.stdout).toMatch(new RegExp(`root  ${a.tag}\\.1 `));
    expect(trees.stdout).toMatch(new RegExp(`root  ${b.tag}\\.1 `));
    const replayed = await runCli(['replay', '--store', url]);
    expect(replayed.code, replayed.stdout + replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain('4 histories replay cleanly');
    const pruned = await runCli(['prune', '--store', url, '--keep', '7d']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(/^pruned the history of what ended before /);

    expect(a.run.child.exitCode).toBeNull();
    expect(b.run.child.exitCode).toBeNull();
  }, 180_000);

  it('a node that stops answering (SIGSTOP): a control command gives up in one line once its lease lapses, instead of waiting forever', async () => {
    const url = await pg.database();
    const dir = tmpdir();
    const a = await startNode(url, treeFile(dir, 'a.yaml', ['eps']));
    await committed(url, 'eps', a);
    a.run.child.kill('SIGSTOP');
    try {
      // The socket still accepts (the kernel queues the connection); nobody reads it. (A query needs
      // the node itself; a send would go through the database and wait there for whoever owns eps.)
      const out = await runCli(['query', '--store', url, 'eps', 'state'], 60_000);
      expect(out.hung).toBe(false);
      oneLine(out, 'BL_NO_NODE');
      // Either while it waited, or (on a loaded machine, when the command itself started late) before it asked.
      expect(out.stderr).toMatch(
        new RegExp(`node ${a.tag} \\(owner of process ${a.tag}\\.2 \\(eps\\)\\) stopped answering and its lease lapsed|owned by node ${a.tag}, which is past its lease`),
      );
    } finally {
      a.run.child.kill('SIGKILL');
      a.run.child.kill('SIGCONT');
    }
  }, 120_000);

  it('a SIGKILLed node shows as expired after its lease; its processes are refused (BL_NO_NODE) until a node takes them over', async () => {
    const url = await pg.database();
    const dir = tmpdir();
    const a = await startNode(url, treeFile(dir, 'a.yaml', ['gamma']));
    // Killed once its process is committed (ready may come a batch before).
    await committed(url, 'gamma', a);
    a.run.child.kill('SIGKILL');
    await a.run.exited;

    // No survivor claims it: once its lease lapsed it stays 'lease expired', still owning its process.
    const expired = await until(async () => (await nodes(url)).find((n) => n.tag === a.tag && n.status === 'lease expired'), 60_000, 'the lease to lapse');
    expect(expired!.processes).toBe(1);
    expect(expired!.leaseLeftMs).toBe(0);
    const table = await runCli(['nodes', '--store', url]);
    expect(table.stdout).toMatch(new RegExp(`^${a.tag}\\s+lease expired\\s+1\\s`, 'm'));
    const refused = await runCli(['query', '--store', url, 'gamma', 'state']);
    oneLine(refused, 'BL_NO_NODE');
    expect(refused.stderr).toContain(`node ${a.tag}, which is past its lease`);
    oneLine(await runCli(['kill', '--store', url, 'gamma']), 'BL_NO_NODE');
    // A send needs no running node: it waits in the database for whoever owns gamma next.
    const early = await runCli(['send', '--store', url, 'gamma', '"sent while its node was dead"']);
    expect(early.code, early.stderr).toBe(0);

    // A node starting on the store takes the process over; the commands reach it there.
    const b = await startNode(url, treeFile(dir, 'b.yaml', ['delta']));
    // (its own tree's process is committed a batch after it says ready)
    const list = await until(async () => {
      const now = await nodes(url);
      return now.find((n) => n.tag === b.tag)?.processes === 2 ? now : undefined;
    }, 60_000, 'gamma and delta on the new node');
    expect(list!.find((n) => n.tag === a.tag)).toMatchObject({ status: 'down', processes: 0, epoch: 2 });
    expect(list!.find((n) => n.tag === b.tag)).toMatchObject({ status: 'up', processes: 2 });
    const gamma = (await ps(url)).find((r) => r.name === 'gamma')!;
    expect(gamma.node).toBe(b.tag);
    expect(gamma.pid.startsWith(`${a.tag}.`)).toBe(true);
    const sent = await runCli(['send', '--store', url, 'gamma', '"moved"']);
    expect(sent.code, sent.stderr).toBe(0);
    expect(await until(async () => {
      const now = await got(url, 'gamma');
      return now.length === 2 ? now : undefined;
    }, 30_000, 'both messages at gamma')).toEqual(['sent while its node was dead', 'moved']);

    // A node on another machine (as its address says): named, not reached — a Unix socket stays on its host.
    const sql = new pgClient.Client({ connectionString: url });
    await sql.connect();
    try {
      const { rows } = await sql.query<{ address: string }>('SELECT address FROM nodes WHERE tag = $1', [b.tag]);
      await sql.query('UPDATE nodes SET address = $1 WHERE tag = $2', [`elsewhere.example:${rows[0]!.address.split(':').slice(1).join(':')}`, b.tag]);
      const remote = await runCli(['query', '--store', url, 'gamma', 'state']);
      oneLine(remote, 'BL_NO_NODE');
      expect(remote.stderr).toContain(`node ${b.tag}, which runs on host elsewhere.example; its control socket reaches only that machine`);
      await sql.query('UPDATE nodes SET address = $1 WHERE tag = $2', [rows[0]!.address, b.tag]);
    } finally {
      await sql.end();
    }
    // From any machine, a send goes through the database.
    const far = await runCli(['send', '--store', url, 'gamma', '"far"']);
    expect(far.code, far.stderr).toBe(0);
    expect(await until(async () => {
      const now = await got(url, 'gamma');
      return now.length === 3 ? now : undefined;
    }, 30_000, 'the third message at gamma')).toEqual(['sent while its node was dead', 'moved', 'far']);

    // A kill for a process whose node runs on another machine goes through the database too, and
    // returns once the process has ended (here: restarted by its supervisor, run 2).
    const sql2 = new pgClient.Client({ connectionString: url });
    await sql2.connect();
    try {
      const { rows } = await sql2.query<{ address: string }>('SELECT address FROM nodes WHERE tag = $1', [b.tag]);
      await sql2.query('UPDATE nodes SET address = $1 WHERE tag = $2', [`elsewhere.example:${rows[0]!.address.split(':').slice(1).join(':')}`, b.tag]);
      const killed = await runCli(['kill', '--store', url, 'gamma']);
      expect(killed.code, killed.stderr).toBe(0);
      expect((await ps(url)).find((r) => r.name === 'gamma')?.run).toBe(2);
    } finally {
      await sql2.end();
    }
  }, 180_000);

  it('a node run by `runtime spawn --store` records its control socket too; BEAMLINE_STORE stands for --store', async () => {
    const url = await pg.database();
    const spawned = startCli(['spawn', '--store', url, ...LEASE, fixture('executor/waiter.js'), 'zeta', '600000']);
    await until(() => spawned.stderr.includes('waiting as zeta'), 60_000, 'the waiter to run');
    await until(async () => (await ps(url)).some((r) => r.name === 'zeta'), 60_000, 'zeta committed');
    process.env.BEAMLINE_STORE = url;
    let listed;
    try {
      listed = await runCli(['nodes', '--json']);
    } finally {
      delete process.env.BEAMLINE_STORE;
    }
    expect(listed.code, listed.stderr).toBe(0);
    const [node] = JSON.parse(listed.stdout) as NodeJson[];
    expect(node).toMatchObject({ status: 'up', processes: 1 });
    expect(node!.address).toMatch(new RegExp(`^${os.hostname()}:/.*\\.sock$`));
    const sent = await runCli(['send', '--store', url, 'zeta', '{"hello":"from the CLI"}']);
    expect(sent.code, sent.stderr).toBe(0);
    // The root got it and returned it: spawn prints it and exits 0.
    expect((await spawned.exited).code).toBe(0);
    expect(JSON.parse(spawned.stdout)).toEqual({ hello: 'from the CLI' });
  }, 120_000);

  it('refuses what cannot work in one line: nodes on a SQLite journal, --store with --db, a URL that is not postgres://', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const sqlite = await runCli(['nodes', '--db', db]);
    oneLine(sqlite, 'BL_ARG_INVALID');
    expect(sqlite.stderr).toContain('PostgreSQL store');
    oneLine(await runCli(['ps', '--db', db, '--store', 'postgres://u@127.0.0.1/x']), 'BL_ARG_INVALID');
    oneLine(await runCli(['send', '--store', 'mysql://u@h/db', 'x', '1']), 'BL_ARG_INVALID');
    // No server at that address: the database is unavailable (not damaged), one line.
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const away = await runCli(['nodes', '--store', `postgres://beamline@127.0.0.1:${port}/postgres`]);
    oneLine(away, 'BL_JOURNAL_UNAVAILABLE');
    expect(away.stderr).toContain('ECONNREFUSED');
    const help = await runCli(['nodes', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: runtime nodes --store URL/);
  }, 60_000);
});
