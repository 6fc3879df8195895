// `runtime start TREE [--http HOST:PORT]`: a long-lived node running a
// supervision tree. Boot resumes everything the journal holds (the tree
// included: same pids, no new runs); SIGTERM/SIGINT stop the tree in order
// (children in reverse start order, each within its shutdown grace) and exit
// 0; a root that gives up (restart intensity) stops the node with exit 1 and
// one line saying why.

import { parseTreeFile } from '../config/tree.js';
import { describeReason } from '../control/inspect.js';
import { ControlServer } from '../control/socket.js';
import { Gateway } from '../gateway/http.js';
import { Node } from '../node.js';
import { intOption, nodeOptions, nodeOptionsFrom, parseAnywhere, UsageError } from './args.js';

export async function startCommand(argv: string[]): Promise<number> {
  // Unlike spawn, nothing after the tree file belongs to a script: options may
  // come before or after it (`runtime start tree.yaml --http 127.0.0.1:8080`).
  const { values, rest } = parseAnywhere(argv, {
    ...nodeOptions,
    http: { type: 'string' },
    'http-timeout': { type: 'string' },
  });
  const [treeFile, ...extra] = rest;
  if (treeFile === undefined) throw new UsageError('start: missing TREE; usage: runtime start [options] TREE.yaml [--http HOST:PORT]');
  if (extra.length > 0) throw new UsageError(`start: unexpected arguments: ${extra.join(' ')}; usage: runtime start [options] TREE.yaml`);
  const http = values.http === undefined ? null : parseHostPort(values.http as string);
  const options = nodeOptionsFrom(values);
  const spec = parseTreeFile(treeFile);
  const node = await Node.open(options);
  const control = new ControlServer(node);
  let gateway: Gateway | null = null;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  try {
    await control.listen();
    node.onRootExit((e) => {
      if (e.escalated) {
        const cause = e.failure === null ? '' : `; child '${e.failure.id}' (${e.failure.pid}) exited with ${describeReason(e.failure.reason)}`;
        process.stderr.write(`runtime: supervision tree ${e.pid} (${treeFile}) gave up: restart intensity exceeded${cause}\n`);
        finish(1);
      } else {
        finish(0);
      }
    });
    const { pid, resumed } = node.startTree(spec);
    if (http !== null) {
      gateway = new Gateway(node, { ...http, timeoutMs: intOption('http-timeout', values['http-timeout'], 1, 2 ** 31 - 1) });
      const addr = await gateway.listen();
      process.stderr.write(`runtime: http gateway on http://${addr.address}:${addr.port}\n`);
    }
    process.stderr.write(
      `runtime: node ${node.tag} ${resumed ? 'resumed' : 'started'} tree ${pid} from ${treeFile} (${node.recovered} processes recovered); journal ${node.db}; control ${control.path}\n`,
    );
    const stop = () => {
      void node.supervision.shutdownAll().then(() => finish(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    void node.fatal.then((err) => {
      process.stderr.write(`runtime: ${err.message}\n`);
      finish(3);
    });
    return await finished;
  } finally {
    // The node commits what is pending before it closes, which answers the
    // control requests waiting for that commit; only then close their sockets.
    await gateway?.close();
    await node.close();
    await control.close();
  }
}

function parseHostPort(value: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(value);
  const port = Number(m?.[2]);
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--http: expected HOST:PORT, e.g. 127.0.0.1:8080 (got ${value})`);
  }
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port };
}
