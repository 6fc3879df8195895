#!/usr/bin/env node
// `runtime <command>`: the CLI. Each command lives in its own module; this
// file only dispatches and turns errors into one line and an exit code.
//
// Exit codes: 0 success; 1 the process exited abnormally; 2 bad input
// (usage, script, config, journal); 3 an internal error (a bug).

import { BeamlineError } from '../errors.js';
import { UsageError } from './args.js';
import { benchCommand } from './bench.js';
import { historyCommand, killCommand, resumeCommand, psCommand, pruneCommand, queryCommand, sendCommand, startChildCommand, treeCommand } from './inspect.js';
import { replayCommand } from './replay.js';
import { spawnCommand } from './spawn.js';
import { startCommand } from './start.js';

const USAGE = `usage: runtime <command> [options]

node options: --db FILE (default .beamline/journal.db)  --threads N  --durability full|normal  --slice-ms MS
              --retain DURATION (prune history older than this, hourly)   --on-divergence fail|pause (default fail)

commands:
  spawn [node options] SCRIPT [ARGS...]   run SCRIPT as a root process and print its result (JSON);
                                          each ARG is parsed as JSON when it parses; into a running node if there is one
  start [node options] [--http HOST:PORT] TREE.yaml
                                          run a long-lived node with a supervision tree
  ps [--db FILE] [--all] [--json]         processes (live node, or the journal)
  tree [--db FILE] [--json]               the supervision tree
  history [--db FILE] PID [--json]        a process's timeline (--json: decoded, replayable)
  send [--db FILE] PID|NAME JSON          send a message (needs a running node)
  kill [--db FILE] PID [REASON]           send an exit signal (default 'kill')
  resume [--db FILE] PID                  retry a process paused by --on-divergence pause, under the current script
  query [--db FILE] PID NAME [ARGS...]    ask a process's onQuery handler
  start-child [--db FILE] SUP [ARGS...]   start a dynamic child of a simple_one_for_one supervisor (pid or name)
  prune [--db FILE] --keep DURATION       forget history that ended more than DURATION ago
  bench [--quick] [WORKLOAD...]           run the benchmark harness
  replay [--db FILE] [PID...] [--script FILE] [--all]
                                          replay histories against the current code, no effect performed;
                                          exit 0 only if all replay cleanly (--json, --history FILE.json)
`;

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  spawn: spawnCommand,
  start: startCommand,
  ps: psCommand,
  tree: treeCommand,
  history: historyCommand,
  send: sendCommand,
  kill: killCommand,
  query: queryCommand,
  'start-child': startChildCommand,
  prune: pruneCommand,
  bench: benchCommand,
  replay: replayCommand,
  resume: resumeCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) throw new UsageError(`unknown command '${name}'; commands: ${Object.keys(commands).join(', ')}`);
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`runtime: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof BeamlineError) {
      process.stderr.write(`runtime: ${err.message.split('\n')[0]} [${err.code}]\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`runtime: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 3;
    }
  },
);
