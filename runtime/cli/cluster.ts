// The CLI against a PostgreSQL store (several nodes): which store a command
// means, the nodes table as `runtime nodes` shows it, and the way a control
// command reaches the node that owns its target.
//
// Reading commands (ps, tree, history, replay, nodes) read the database,
// read-only: they see every node's processes and register no node. Commands
// that need a running node (send, kill, query, resume, start-child, prune)
// look up the target's owner in the database and talk to that node's control
// socket, whose place the node records in `nodes.address` as
// `<hostname>:<socket path>` once it listens. A Unix socket reaches only its
// own machine: a node on another host is named, not reached.

import os from 'node:os';
import { NoNodeError, requestAt, type ControlRequest } from '../control/socket.js';
import { BeamlineError, ErrorCodes } from '../errors.js';
import { resolveKeys } from '../journal/cipher.js';
import { chosenStore, DEFAULT_DB } from '../journal/open.js';
import { openPostgres, PostgresStore } from '../journal/postgres.js';
import type { Node } from '../node.js';
import { looksLikePid } from '../pid.js';

/** The journal a command works on: a SQLite file, or a PostgreSQL database shared by several nodes. */
export type Where = { kind: 'sqlite'; db: string } | { kind: 'postgres'; url: string };

/** --store URL (or BEAMLINE_STORE) → PostgreSQL; else --db FILE. Both given: refused, one line (BL_ARG_INVALID). */
export function whereFrom(values: Record<string, string | boolean | undefined>): Where {
  const db = values.db as string | undefined;
  const url = chosenStore({ db, store: values.store as string | undefined });
  return url === null ? { kind: 'sqlite', db: db ?? DEFAULT_DB } : { kind: 'postgres', url };
}

/** Run `fn` on the database opened read-only (no node registered, every node's processes seen), then close it. */
export function readStore<T>(url: string, keyFile: string | undefined, fn: (store: PostgresStore) => T): T {
  const store = openPostgres(url, { readonly: true, keys: resolveKeys(keyFile) });
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

export type NodeStatus = 'up' | 'down' | 'lease expired';

export interface NodeRow {
  tag: string;
  /** 'up': heartbeating; 'down': stopped, or taken over by a survivor; 'lease expired': silent past its lease, not yet taken over. */
  status: NodeStatus;
  epoch: number;
  heartbeatAgeMs: number;
  leaseMs: number;
  /** What is left of the lease (0 once it lapsed). */
  leaseLeftMs: number;
  /** Live processes it owns. */
  processes: number;
  /** `<hostname>:<control socket>`, null until its control server listens. */
  address: string | null;
}

export function nodeRows(store: PostgresStore): NodeRow[] {
  return store.nodes().map((n) => {
    const status: NodeStatus = n.status !== 'up' ? 'down' : n.expired ? 'lease expired' : 'up';
    return {
      tag: n.tag,
      status,
      epoch: Number(n.epoch),
      heartbeatAgeMs: Math.max(0, n.heartbeatAgeMs),
      leaseMs: n.leaseMs,
      leaseLeftMs: status === 'up' ? Math.max(0, n.leaseMs - n.heartbeatAgeMs) : 0,
      processes: n.processes,
      address: n.address,
    };
  });
}

export function formatNodes(rows: NodeRow[]): string {
  const titles = ['TAG', 'STATUS', 'EPOCH', 'HEARTBEAT', 'LEASE', 'PROCESSES', 'ADDRESS'];
  const cells = [
    titles,
    ...rows.map((r) => [
      r.tag,
      r.status,
      String(r.epoch),
      `${ago(r.heartbeatAgeMs)} ago`,
      `${seconds(r.leaseMs)} (${r.status === 'up' ? `${seconds(r.leaseLeftMs)} left` : 'lapsed'})`,
      String(r.processes),
      r.address ?? '-',
    ]),
  ];
  const widths = titles.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => c.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function ago(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : ms < 3_600_000 ? `${Math.floor(ms / 60_000)}m${Math.floor((ms % 60_000) / 1000)}s` : `${(ms / 3_600_000).toFixed(1)}h`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)}s`;
}

/** What a node records as its address once its control server listens on `socket`. */
export function controlAddress(socket: string): string {
  return `${os.hostname()}:${socket}`;
}

/** On a PostgreSQL store: record where `node`'s control server listens, for the CLI on this machine to find it. */
export function recordAddress(node: Node, socket: string): void {
  if (node.store instanceof PostgresStore) node.store.setAddress(controlAddress(socket));
}

/** The node runs on another machine than this command (its control socket cannot be reached from here). */
export function elsewhere(node: NodeRow): boolean {
  if (node.address === null) return false;
  const { host } = parseAddress(node.address);
  return host !== '' && host !== os.hostname();
}

function parseAddress(address: string): { host: string; socket: string } {
  const at = address.indexOf(':/');
  return at < 0 ? { host: '', socket: address } : { host: address.slice(0, at), socket: address.slice(at + 1) };
}

/** Send `req` to node `node`'s control socket, or say in one line (BL_NO_NODE) why it cannot be reached from here. */
export async function askNode<T>(store: PostgresStore, node: NodeRow, cmd: string, req: ControlRequest, what = `node ${node.tag}`): Promise<T> {
  if (node.status !== 'up') {
    const why = node.status === 'down' ? 'down' : `past its lease (no heartbeat for ${seconds(node.heartbeatAgeMs)}, lease ${seconds(node.leaseMs)})`;
    throw new BeamlineError(
      ErrorCodes.NO_NODE,
      `${cmd}: ${what} is owned by node ${node.tag}, which is ${why}; its processes move to a running node within one lease period, or to the next node started on ${store.path}: try again then`,
      { node: node.tag },
    );
  }
  if (node.address === null) {
    throw new BeamlineError(ErrorCodes.NO_NODE, `${cmd}: node ${node.tag} (owner of ${what}) has not recorded its control socket yet (still starting?); try again`, { node: node.tag });
  }
  const { host, socket } = parseAddress(node.address);
  if (host !== '' && host !== os.hostname()) {
    throw new BeamlineError(
      ErrorCodes.NO_NODE,
      `${cmd}: ${what} is on node ${node.tag}, which runs on host ${host}; its control socket reaches only that machine: run this command there`,
      { node: node.tag },
    );
  }
  // While waiting, watch the node's lease: a node paused or cut off from the
  // database keeps its socket but will never answer; once its lease lapsed,
  // give up in one line instead of waiting forever.
  const gaveUp = new AbortController();
  const watch = setInterval(() => {
    let now: NodeRow | undefined;
    try {
      now = nodeRows(store).find((n) => n.tag === node.tag);
    } catch {
      return; // the database itself is away: the request may still be answered
    }
    if (now === undefined || now.status !== 'up') {
      gaveUp.abort(
        new BeamlineError(
          ErrorCodes.NO_NODE,
          `${cmd}: node ${node.tag} (owner of ${what}) stopped answering and its lease lapsed (${now?.status ?? 'gone'}); its processes move to a running node within one lease period: try again then`,
          { node: node.tag },
        ),
      );
    }
  }, Math.min(1000, Math.max(100, node.leaseMs / 5)));
  try {
    return await requestAt<T>(socket, `${store.path}#${node.tag}`, req, gaveUp.signal);
  } catch (err) {
    if (!(err instanceof NoNodeError)) throw err;
    throw new BeamlineError(
      ErrorCodes.NO_NODE,
      `${cmd}: node ${node.tag} (owner of ${what}) does not answer on its control socket ${socket}; if it stopped, its processes move to a running node once its lease lapses (within ${seconds(node.leaseLeftMs)}): try again then`,
      { node: node.tag },
    );
  } finally {
    clearInterval(watch);
  }
}

/**
 * The node that owns `target` (a pid, a registered name, a supervisor), and
 * its pid. A name the database does not know (a supervisor's name lives in
 * its node's memory) is asked of every node up on this machine: the first
 * that does not answer BL_NOPROC has it.
 */
export async function askOwner<T>(
  store: PostgresStore,
  cmd: string,
  target: string,
  req: (pid: string) => ControlRequest,
): Promise<{ result: T; pid: string; node: NodeRow }> {
  const found = store.ownerOf(target);
  const nodes = nodeRows(store);
  if (found === undefined) {
    if (!looksLikePid(target)) {
      for (const node of nodes.filter((n) => n.status === 'up' && n.address !== null && parseAddress(n.address).host === os.hostname())) {
        try {
          return { result: await askNode<T>(store, node, cmd, req(target)), pid: target, node };
        } catch (err) {
          if ((err as BeamlineError).code !== ErrorCodes.NOPROC && (err as BeamlineError).code !== ErrorCodes.NO_NODE) throw err;
        }
      }
    }
    throw new BeamlineError(ErrorCodes.NOPROC, `${cmd}: no process ${target} in ${store.path}`, { pid: target });
  }
  if (!found.live) throw new BeamlineError(ErrorCodes.NOPROC, `${cmd}: process ${found.pid} has exited (no live process ${target})`, { pid: found.pid });
  const node = nodes.find((n) => n.tag === found.owner);
  if (node === undefined) {
    throw new BeamlineError(ErrorCodes.NO_NODE, `${cmd}: ${found.pid} is owned by node ${found.owner}, which is not in ${store.path}'s nodes`, { pid: found.pid });
  }
  const what = found.pid === target ? `process ${target}` : `process ${found.pid} (${target})`;
  return { result: await askNode<T>(store, node, cmd, req(found.pid), what), pid: found.pid, node };
}

/** A node that is up and reachable from here, for commands any node can answer (prune). */
export function anyNode(store: PostgresStore, cmd: string): NodeRow {
  const up = nodeRows(store).filter((n) => n.status === 'up' && n.address !== null);
  const here = up.find((n) => parseAddress(n.address!).host === os.hostname()) ?? up[0];
  if (here === undefined) throw new BeamlineError(ErrorCodes.NO_NODE, `${cmd}: no node is running on ${store.path}; start one with 'runtime start --store URL'`);
  return here;
}
