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
import { DEFAULT_DB, formatCrash, Node, type CrashReport } from '../node.js';
import type { Pid } from '../protocol.js';
import { checkNatives, clearMarker, nodeOptions, nodeOptionsFrom, parseCommand, scriptArgs, UsageError, writeMarker } from './args.js';

/** Node options that shape a node; a spawn handed to a node already running cannot apply them. */
const NODE_ONLY = ['threads', 'durability', 'slice-ms', 'natives', 'retain', 'quiet-crashes', 'max-processes', 'max-mailbox', 'allow-hosts'] as const;
import { startUi, uiOptions, uiSpecFrom } from '../ui/options.js';
import { recordAddress } from './cluster.js';
import type { UiServer } from '../ui/server.js';

export async function spawnCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommand(argv, { ...nodeOptions, ...uiOptions });
  const [script, ...raw] = rest;
  if (script === undefined) throw new UsageError('spawn: missing SCRIPT; usage: runtime spawn [options] SCRIPT [ARGS...]');
  const options = nodeOptionsFrom(values);
  const uiSpec = uiSpecFrom(values);
  const args = scriptArgs(raw);
  const db = options.db ?? DEFAULT_DB;
  const pidFile = values['pid-file'] as string | undefined;
  clearMarker(pidFile);
  await checkNatives(options.natives ?? []);
  // The root this command waits for ends with its own one-line summary (see
  // report()); every other abnormal exit on this node gets a crash report.
  let root: Pid | null = null;
  const print = (r: CrashReport) => {
    if (r.crash !== root) process.stderr.write(`${formatCrash(r)}\n`);
  };
  let node: Node;
  try {
    node = await Node.open({ ...options, crashReports: options.crashReports === true ? print : false });
  } catch (err) {
    // A live node holds the journal: hand the spawn to it and wait there.
    if ((err as BeamlineError).code !== ErrorCodes.JOURNAL_LOCKED) throw err;
    return spawnIntoRunningNode(db, script, args, err as BeamlineError, values);
  }
  // A node started by `runtime spawn` is a running node like any other:
  // `runtime ps|send|kill|query` reach it through its control socket.
  const control = new ControlServer(node);
  let removePid = () => {};
  let ui: UiServer | null = null;
  try {
    await control.listen();
    recordAddress(node, control.path);
  } catch (err) {
    await node.close(); // the threads would keep the refusal from exiting
    throw err;
  }
  const stop = (signal: NodeJS.Signals) => {
    removePid();
    void (ui?.close() ?? Promise.resolve())
      .then(() => node.close())
      .then(() => control.close())
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  try {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (uiSpec !== null) ui = await startUi(node, uiSpec);
    const found = node.findRoot(script, args);
    root = found ?? null;
    const pid = found ?? (await node.spawn(script, args, { root: true }));
    root = pid;
    // Written once the root is recorded: `kill -9 $(cat FILE)` now kills the
    // node itself (not npm, not a shell), and the next spawn resumes the root.
    removePid = writeMarker(pidFile, `${process.pid}\n`);
    const exit = await Promise.race([
      node.waitExit(pid),
      node.fatal.then((err) => {
        throw err;
      }),
    ]);
    return report(pid, exit);
  } finally {
    removePid();
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await ui?.close();
    await node.close();
    await control.close();
  }
}

async function spawnIntoRunningNode(
  db: string,
  script: string,
  args: unknown[],
  locked: BeamlineError,
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  let out: { pid: string; exit: ExitInfo };
  // Say what cannot be honoured here rather than ignore it silently.
  const ignored = NODE_ONLY.filter((o) => values[o] !== undefined);
  if (ignored.length > 0) {
    process.stderr.write(
      `runtime: a node already runs on ${db}: the spawn runs there, its log lines go to that node's stderr, and ${ignored.map((o) => `--${o}`).join(', ')} ${ignored.length === 1 ? 'is' : 'are'} ignored (they shape a node, which is already running)\n`,
    );
  }
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
