// Several nodes on one real PostgreSQL, each a real `runtime start` child
// process: what the cluster tests share.

import fs from 'node:fs';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { TestServer } from '../fixtures/natives/http-server.js';
import { killCliLeftovers } from '../helpers.js';
import { startPostgres, type Postgres } from '../postgres.js';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { FIXTURES, sleep, startCli, tmpdir, until, type CliRun } from '../helpers.js';

export const CLUSTER = path.join(FIXTURES, 'cluster');

/**
 * A test file's cluster: one PostgreSQL for the file (a fresh database per
 * test: `database()`), and what each test started — nodes, API servers,
 * relays — stopped after it (a node still SIGSTOPped is woken first).
 */
export function clusterPerFile(): { database: () => Promise<string>; nodes: ClusterNode[]; servers: TestServer[]; relays: Relay[] } {
  let server: Postgres | undefined;
  const nodes: ClusterNode[] = [];
  const servers: TestServer[] = [];
  const relays: Relay[] = [];
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    for (const n of nodes) if (n.run.child.signalCode === null && n.run.child.exitCode === null) n.run.child.kill('SIGCONT');
    await Promise.all(nodes.splice(0).map(stopNode));
    await killCliLeftovers();
    await Promise.all(relays.splice(0).map((r) => r.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return { database: () => server!.database(), nodes, servers, relays };
}

export interface ClusterNode {
  run: CliRun;
  /** Its node tag (the prefix of the pids it allocates), read from the store once it is up. */
  tag: string;
  /** Date.now() when its OS process ended, null while it runs. */
  exitedAt: number | null;
}

/** A tree file in a temp folder: `children` as YAML lines (scripts by absolute path). */
export function treeFile(children: string): string {
  const file = path.join(tmpdir('beamline-cluster-'), 'tree.yaml');
  fs.writeFileSync(file, `strategy: one_for_one\nintensity: 3\nperiod: 1m\nchildren:\n${children}`);
  return file;
}

/** `runtime start --store url` on `tree`; resolves once it is up, with its node tag. */
export async function startNode(url: string, tree: string, opts: { lease?: string; extra?: string[] } = {}): Promise<ClusterNode> {
  const ready = path.join(tmpdir('beamline-ready-'), 'ready');
  const before = new Set((await query<{ tag: string }>(url, 'SELECT tag FROM nodes').catch(() => [])).map((r) => r.tag));
  let exitedAt: number | null = null;
  const run = startCli(['start', '--store', url, '--lease', opts.lease ?? '10s', '--threads', '1', '--quiet-crashes', '--ready-file', ready, ...(opts.extra ?? []), tree]);
  run.child.once('exit', () => {
    exitedAt = Date.now();
    if (node !== undefined) node.exitedAt = exitedAt;
  });
  let node: ClusterNode | undefined;
  await until(() => fs.existsSync(ready) || run.child.exitCode !== null, 60_000, 'node ready');
  if (!fs.existsSync(ready)) throw new Error(`node did not start: ${run.stderr}`);
  const tags = (await query<{ tag: string }>(url, `SELECT tag FROM nodes WHERE status = 'up'`)).map((r) => r.tag).filter((t) => !before.has(t));
  if (tags.length !== 1) throw new Error(`expected one new node, found ${JSON.stringify(tags)}`);
  node = { run, tag: tags[0]!, exitedAt };
  return node;
}

/** One query on a connection of its own. */
export async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Live processes per owner. */
export async function owners(url: string): Promise<Map<string, number>> {
  const rows = await query<{ owner: string; n: number }>(url, `SELECT owner, count(*)::int AS n FROM processes WHERE status = 'live' GROUP BY owner`);
  return new Map(rows.map((r) => [r.owner, r.n]));
}

/** SIGTERM a node and wait for it to be gone. */
export async function stopNode(node: ClusterNode): Promise<void> {
  if (node.run.child.exitCode !== null || node.run.child.signalCode !== null) return;
  node.run.child.kill('SIGTERM');
  const timer = setTimeout(() => node.run.child.kill('SIGKILL'), 15_000);
  await node.run.exited;
  clearTimeout(timer);
}

export { sleep, until };

/**
 * A TCP relay to PostgreSQL that can be cut: after cut() it forwards nothing
 * either way but keeps every connection open, as a network partition does
 * (the node sees no error, only silence).
 */
export interface Relay {
  url: string;
  cut(): void;
  close(): Promise<void>;
}

export async function relay(url: string): Promise<Relay> {
  const target = new URL(url);
  let cut = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (d) => {
      if (!cut) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!cut) client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const via = new URL(url);
  via.port = String(port);
  return {
    url: via.toString(),
    cut: () => {
      cut = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
