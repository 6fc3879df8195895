// `runtime spawn SCRIPT [ARGS...]`: run a script as a root process on an
// embedded node and print its result as one JSON line.
//
// Booting recovers every live process in the journal first; when a live
// root of the same script and arguments is among them (the previous
// `runtime spawn` was killed), that process is resumed and awaited instead
// of starting a second one.

import path from 'node:path';
import { describeReason } from '../control/inspect.js';
import { ControlServer, NoNodeError, request } from '../control/socket.js';
import { BeamlineError, ErrorCodes } from '../errors.js';
import type { ExitInfo } from '../kernel/kernel.js';
import { DEFAULT_DB, Node } from '../node.js';
import { nodeOptions, nodeOptionsFrom, parseCommand, scriptArgs, UsageError } from './args.js';
import { startUi, uiOptions, uiSpecFrom } from '../ui/options.js';
import type { UiServer } from '../ui/server.js';

export async function spawnCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, { ...nodeOptions, ...uiOptions });
  const [script, ...raw] = rest;
  if (script === undefined) throw new UsageError('spawn: missing SCRIPT; usage: runtime spawn [options] SCRIPT [ARGS...]');
  const options = nodeOptionsFrom(values);
  const uiSpec = uiSpecFrom(values);
  const args = scriptArgs(raw);
  const db = options.db ?? DEFAULT_DB;
  let node: Node;
  try {
    node = await Node.open(options);
  } catch (err) {
    // A live node holds the journal: hand the spawn to it and wait there.
    if ((err as BeamlineError).code !== ErrorCodes.JOURNAL_LOCKED) throw err;
    return spawnIntoRunningNode(db, script, args, err as BeamlineError);
  }
  // A node started by `runtime spawn` is a running node like any other:
  // `runtime ps|send|kill|query` reach it through its control socket.
  const control = new ControlServer(node);
  await control.listen();
  let ui: UiServer | null = null;
  const stop = (signal: NodeJS.Signals) => {
    void (ui?.close() ?? Promise.resolve())
      .then(() => node.close())
      .then(() => control.close())
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    if (uiSpec !== null) ui = await startUi(node, uiSpec);
    const pid = node.findRoot(script, args) ?? (await node.spawn(script, args, { root: true }));
    const exit = await Promise.race([
      node.waitExit(pid),
      node.fatal.then((err) => {
        throw err;
      }),
    ]);
    return report(pid, exit);
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await ui?.close();
    await node.close();
    await control.close();
  }
}

async function spawnIntoRunningNode(db: string, script: string, args: unknown[], locked: BeamlineError): Promise<number> {
  let out: { pid: string; exit: ExitInfo };
  try {
    out = await request<{ pid: string; exit: ExitInfo }>(db, { cmd: 'spawn', script: path.resolve(script), args, wait: true });
  } catch (err) {
    if (err instanceof NoNodeError) throw locked;
    throw err;
  }
  return report(out.pid, out.exit);
}

function report(pid: string, exit: ExitInfo): number {
  if (exit.normal) {
    process.stdout.write(`${JSON.stringify(exit.result ?? null)}\n`);
    return 0;
  }
  process.stderr.write(`runtime: process ${pid} exited abnormally: ${describeReason(exit.reason)}\n`);
  return 1;
}
