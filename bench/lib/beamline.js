// The runtime under test, as the workloads use it: one place that knows
// where the build lives and how a benchmark node is configured.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CLI, ROOT, script, tempJournal } from './harness.js';

if (!fs.existsSync(CLI)) {
  throw new Error(`beamline is not built (no ${path.relative(ROOT, CLI)}): run \`npm run build\` first`);
}

// Imported once the check above has passed, so a missing build is one clear line.
const { Node } = await import('../../dist/runtime/node.js');

/**
 * A node on a fresh temporary journal with the run's thread count and
 * durability; process log lines are dropped (stderr is for progress).
 * `close()` closes the node and deletes the journal.
 */
export async function openNode(opts, extra = {}) {
  const journal = extra.db === undefined ? tempJournal() : null;
  const node = await Node.open({
    db: extra.db ?? journal.db,
    threads: opts.threads,
    durability: opts.durability,
    log: () => {},
    ...extra,
  });
  const close = async () => {
    await node.close();
    journal?.remove();
  };
  return { node, close };
}

/**
 * Node options for a journal encrypted at rest: a fresh random key in an
 * owner-only key file (`--journal-key`). `remove()` deletes the key file.
 */
export function encryptedJournal() {
  const dir = fs.mkdtempSync(path.join(tempJournal('beamline-key-').dir, 'k'));
  const file = path.join(dir, 'journal.key');
  fs.writeFileSync(file, `${crypto.randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  return { options: { journalKey: file }, remove: () => fs.rmSync(path.dirname(dir), { recursive: true, force: true }) };
}

/** Spawn, wait for the exit (committed), return its result; throws on an abnormal exit. */
export async function runProcess(node, file, args = []) {
  const pid = await node.spawn(file, args);
  const exit = await node.waitExit(pid);
  if (!exit.normal) throw new Error(`${path.basename(file)} ${pid} exited abnormally: ${JSON.stringify(exit.reason)}`);
  return exit.result;
}

/** Fan out `n` processes of bench/scripts/`name` from inside the node (ctx.spawn); resolves to their pids. */
export function spawnMany(node, name, n, args = []) {
  return runProcess(node, script('spawner.js'), [`./${name}`, n, args]);
}

/** Wait for every pid's committed exit; resolves to their results, throws on an abnormal exit. */
export async function resultsOf(node, pids) {
  const exits = await Promise.all(pids.map((pid) => node.waitExit(pid)));
  const bad = exits.find((e) => !e.normal);
  if (bad !== undefined) throw new Error(`process ${bad.pid} exited abnormally: ${JSON.stringify(bad.reason)}`);
  return exits.map((e) => e.result);
}
