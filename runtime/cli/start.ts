// `runtime start TREE [--http HOST:PORT]`: a long-lived node running a
// supervision tree. Boot resumes everything the journal holds (the tree
// included: same pids, no new runs); SIGTERM/SIGINT stop the tree in order
// (children in reverse start order, each within its shutdown grace) and exit
// 0; a root that gives up (restart intensity) stops the node with exit 1 and
// one line saying why.
//
// Order matters for bad input: everything that can be checked (options, the
// tree file, --natives modules, the --http address) is checked before the
// journal is opened, and the gateway is bound before the tree is started, so
// a refusal leaves no trace in the journal.

import net from 'node:net';
import { parseTreeFile } from '../config/tree.js';
import { describeReason } from '../control/inspect.js';
import { ControlServer } from '../control/socket.js';
import { BeamlineError, ErrorCodes } from '../errors.js';
import { Gateway } from '../gateway/http.js';
import { Node } from '../node.js';
import { checkNatives, clearMarker, intOption, nodeOptions, nodeOptionsFrom, parseAnywhere, UsageError, writeMarker } from './args.js';
import { startUi, uiOptions, uiSpecFrom } from '../ui/options.js';
import { recordAddress } from './cluster.js';
import type { UiServer } from '../ui/server.js';

/** The most `start --http` waits for the threads to load before its gateway listens. */
const THREADS_LOAD_WAIT_MS = 10_000;

export async function startCommand(argv: string[]): Promise<number> {
  // Unlike spawn, nothing after the tree file belongs to a script: options may
  // come before or after it (`runtime start tree.yaml --http 127.0.0.1:8080`).
  const { values, rest } = parseAnywhere(argv, {
    ...nodeOptions,
    http: { type: 'string' },
    'http-timeout': { type: 'string' },
    'ready-file': { type: 'string' },
    ...uiOptions,
  });
  const [treeFile, ...extra] = rest;
  if (treeFile === undefined) throw new UsageError('start: missing TREE; usage: runtime start [options] TREE.yaml [--http HOST:PORT]');
  if (extra.length > 0) throw new UsageError(`start: unexpected arguments: ${extra.join(' ')}; usage: runtime start [options] TREE.yaml`);
  const http = values.http === undefined ? null : parseHostPort(values.http as string);
  const httpTimeout = intOption('http-timeout', values['http-timeout'], 1, 2 ** 31 - 1);
  const options = nodeOptionsFrom(values);
  const readyFile = values['ready-file'] as string | undefined;
  const pidFile = values['pid-file'] as string | undefined;
  clearMarker(readyFile);
  clearMarker(pidFile);
  const uiSpec = uiSpecFrom(values);
  const spec = parseTreeFile(treeFile);
  await checkNatives(options.natives ?? []);
  if (http !== null) await probeListen(http);
  const node = await Node.open(options);
  const control = new ControlServer(node);
  let gateway: Gateway | null = null;
  let ui: UiServer | null = null;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  const markers: Array<() => void> = [];
  try {
    await control.listen();
    recordAddress(node, control.path);
    let address = '';
    if (http !== null) {
      // Accept requests once the threads have loaded (the processes the boot
      // recovered are being rebuilt by then), as a readiness check would: a
      // request accepted earlier only waits on a socket for the same start-up.
      // Bounded, in case a thread cannot start: the gateway then listens
      // anyway, and a request waits (at most --http-timeout) like any other.
      await Promise.race([node.threadsLoaded(), new Promise((resolve) => setTimeout(resolve, THREADS_LOAD_WAIT_MS).unref())]);
      // Bound before the tree starts: a port taken since the probe above still
      // leaves nothing new in the journal.
      gateway = new Gateway(node, { ...http, timeoutMs: httpTimeout });
      const addr = await gateway.listen().catch((err: unknown) => {
        throw listenError(http, err);
      });
      address = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
      process.stderr.write(`runtime: http gateway on ${address}\n`);
    }
    if (uiSpec !== null) ui = await startUi(node, uiSpec);
    node.onRootExit((e) => {
      if (e.escalated) {
        const cause = e.failure === null ? '' : `; child '${e.failure.id}' (${e.failure.pid}) exited with ${describeReason(e.failure.reason)}`;
        process.stderr.write(`runtime: supervision tree ${e.pid} (${treeFile}) gave up: restart intensity exceeded${cause}\n`);
        finish(1);
      } else {
        finish(0);
      }
    });
    // Before anything is announced: a SIGTERM sent as soon as the "started"
    // line is read must stop the tree, not kill the process by default.
    const stop = () => {
      void node.supervision.shutdownAll().then(() => finish(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    const { pid, resumed } = node.startTree(spec);
    process.stderr.write(
      `runtime: node ${node.tag} ${resumed ? 'resumed' : 'started'} tree ${pid} from ${treeFile} (${node.recovered} processes recovered); journal ${node.db}; control ${control.path}\n`,
    );
    void node.fatal.then((err) => {
      // One line with the stable code, as every other error the CLI prints.
      const code = (err as { code?: string }).code;
      process.stderr.write(`runtime: ${err.message.split('\n')[0]}${code === undefined ? '' : ` [${code}]`}\n`);
      finish(3);
    });
    // Ready: the tree is started, the gateway and the control socket accept.
    markers.push(writeMarker(pidFile, `${process.pid}\n`));
    markers.push(writeMarker(readyFile, `${JSON.stringify({ pid: process.pid, tree: pid, http: address || null, control: control.path })}\n`));
    process.stderr.write(`runtime: ready (pid ${process.pid})\n`);
    return await finished;
  } finally {
    for (const remove of markers) remove();
    // The node commits what is pending before it closes, which answers the
    // control requests waiting for that commit; only then close their sockets.
    await gateway?.close();
    await ui?.close();
    await node.close();
    await control.close();
  }
}

/** Bind and release the address, so a port in use is refused before the journal is touched. */
async function probeListen(http: { host: string; port: number }): Promise<void> {
  if (http.port === 0) return;
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError(http, err)));
    server.listen({ port: http.port, host: http.host, exclusive: true }, () => server.close(() => resolve()));
  });
}

function listenError(http: { host: string; port: number }, err: unknown): BeamlineError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'EADDRINUSE'
      ? 'address already in use (another process listens there; pick another port)'
      : code === 'EACCES'
        ? 'permission denied (ports below 1024 need privileges)'
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
          ? 'no such local address'
          : ((err as Error).message ?? String(err));
  return new BeamlineError(ErrorCodes.LISTEN_FAILED, `--http ${http.host}:${http.port}: cannot listen: ${why}`, { cause: err });
}

function parseHostPort(value: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(value);
  const port = Number(m?.[2]);
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--http: expected HOST:PORT, e.g. 127.0.0.1:8080 (got ${value})`);
  }
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port };
}
