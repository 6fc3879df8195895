#!/usr/bin/env node
// `runtime <command>`: the CLI. Each command lives in its own module, loaded
// only when that command runs (so `--version` and `--help` answer without
// loading SQLite, the kernel or the thread pool); this file dispatches, prints
// help, and turns errors into one line and an exit code.
//
// Exit codes: 0 success; 1 the process exited abnormally; 2 bad input
// (usage, script, config, journal, a refused address); 3 an internal error (a bug).
//
// Arguments are parsed with node's own util.parseArgs (strict: an unknown
// option is an error for every command), not a dependency: the grammar is
// small (options before the script, like `node [options] script [args]`),
// parseArgs validates types and unknown options, and what it cannot do —
// keeping `--threads -1` a value, per-command help — is a few lines in args.ts.

import fs from 'node:fs';
import { BeamlineError, ErrorCodes } from '../errors.js';
import { UsageError } from './args.js';

type Run = (argv: string[]) => Promise<number>;

interface Command {
  usage: string;
  about: string;
  options?: string;
  load: () => Promise<Run>;
}

const NODE_OPTIONS = `node options:
  --db FILE              journal (default .beamline/journal.db)
  --store URL            several nodes on one PostgreSQL: postgres://user@host/db (or BEAMLINE_STORE); not with --db
  --lease DURATION       PostgreSQL store: a node silent this long loses its processes to the others (default 5s)
  --threads N            worker threads, 1..63 (default: cores)
  --durability MODE      full (default: fsync every commit) | normal (WAL-safe, may lose the last commits on power loss)
  --slice-ms MS          a round running longer is killed with reason 'killed' (default 5000)
  --natives FILE         an extra natives module (repeatable); checked before the node starts
  --retain DURATION      prune finished history older than this, hourly (default: keep all)
  --quiet-crashes        no crash report (one JSON line on stderr) per abnormal exit
  --pid-file FILE        write this node's OS pid to FILE once it runs (removed at exit): kill it by pid
  --journal-key FILE     encrypt payloads at rest, AES-256-GCM (or BEAMLINE_JOURNAL_KEY); the inspecting commands take it too
  --secrets FILE         owner-only NAME=value lines: values of ctx.secret (else BEAMLINE_SECRET_<NAME>)
  --redact-headers LIST  credential headers never journaled in clear, besides authorization, cookie, x-api-key, ...
  --max-processes N      refuse a spawn past N processes with BL_LIMIT (default: no bound)
  --max-mailbox N        fail a process holding more than N unread messages, reason BL_MAILBOX_FULL (default: no bound)
  --allow-hosts LIST     callApi may reach only these hosts (host, host:port, *.domain; commas); others fail with BL_HOST_FORBIDDEN
  --ui HOST:PORT         serve the live view and /metrics (127.0.0.1 when HOST is left out)
  --ui-token TOKEN       the token the view's actions (send, kill) need (default: a random one, printed)
  --hibernate-after DURATION  an idle server leaves memory and comes back from its snapshot (default 30s)
  --on-divergence MODE   fail (default: a process whose replay diverges fails, BL_NONDETERMINISM) | pause (kept as 'diverged' until runtime resume)`;

const DB =
  '  --db FILE              journal (default .beamline/journal.db)\n  --store URL            a PostgreSQL store of several nodes (or BEAMLINE_STORE): reads see every node; commands go to the node owning the process\n  --journal-key FILE     key file of an encrypted journal (or BEAMLINE_JOURNAL_KEY)';

const inspect = () => import('./inspect.js');

const COMMANDS: Record<string, Command> = {
  spawn: {
    usage: 'runtime spawn [node options] SCRIPT [ARGS...]',
    about:
      'run SCRIPT as a root process and print its result as one JSON line; each ARG is parsed as JSON when it parses, else passed as a string.\nOptions come before SCRIPT; everything after it belongs to the script. Into the running node, if one holds the journal.',
    options: NODE_OPTIONS,
    load: async () => (await import('./spawn.js')).spawnCommand,
  },
  start: {
    usage: 'runtime start [node options] [--http HOST:PORT] [--http-timeout MS] [--ready-file FILE] TREE.yaml',
    about: "run a long-lived node with a supervision tree; prints 'runtime: ready (pid N)' on stderr once it accepts calls. SIGTERM/SIGINT stop the tree in order.",
    options: `${NODE_OPTIONS}
  --http HOST:PORT       serve POST /call/<name|pid> (the address is checked before anything is recorded)
  --http-timeout MS      answer 504 when no reply comes within MS (default 30000)
  --ready-file FILE      write {"pid","tree","http","control"} to FILE once ready (removed at exit)`,
    load: async () => (await import('./start.js')).startCommand,
  },
  ps: {
    usage: 'runtime ps [--db FILE | --store URL] [--all] [--json] [--limit N] [--after PID]',
    about: 'processes of the running node, or (no node running) the last states recorded in the journal; in pid order, a page at a time',
    options: `${DB}\n  --all                  exited processes too\n  --json                 one JSON array\n  --limit N              at most N rows (default 1000; 0: all)\n  --after PID            the page after PID (the last pid of the previous page)`,
    load: async () => (await inspect()).psCommand,
  },
  tree: {
    usage: 'runtime tree [--db FILE | --store URL] [--json]',
    about: 'the supervision tree (live, or as last recorded)',
    options: `${DB}\n  --json                 JSON`,
    load: async () => (await inspect()).treeCommand,
  },
  history: {
    usage: 'runtime history [--db FILE | --store URL] [--json] PID',
    about: "a process's (or a supervisor's) timeline",
    options: `${DB}\n  --json                 the decoded history, replayable (runtime replay --history, replay())`,
    load: async () => (await inspect()).historyCommand,
  },
  send: {
    usage: 'runtime send [--db FILE | --store URL] PID|NAME JSON',
    about: 'send a message (needs a running node; with --store it waits in the database for whichever node owns the target)',
    options: DB,
    load: async () => (await inspect()).sendCommand,
  },
  kill: {
    usage: 'runtime kill [--db FILE | --store URL] PID|NAME [REASON]',
    about:
      "send an exit signal (default 'kill': untrappable, always ends the process). With no node running, the exit is recorded in the journal (links and monitors are told at the next boot).",
    options: DB,
    load: async () => (await inspect()).killCommand,
  },
  resume: {
    usage: 'runtime resume [--db FILE | --store URL] PID',
    about: 'retry a process paused by --on-divergence pause, under the script as it is now (needs a running node)',
    options: DB,
    load: async () => (await inspect()).resumeCommand,
  },
  replay: {
    usage: 'runtime replay [--db FILE | --store URL] [PID...] [--script FILE] [--all] [--history FILE.json] [--json]',
    about: 'replay recorded histories against the current code, performing no effect; exit 0 only if all replay cleanly',
    options: `  --db FILE              journal (default .beamline/journal.db)\n  --store URL            the PostgreSQL store of several nodes (or BEAMLINE_STORE)\n  --script FILE          replay against this file instead of each process's own script\n  --all                  exited processes' last runs too\n  --history FILE.json    histories exported with runtime history --json\n  --json                 the report as JSON`,
    load: async () => (await import('./replay.js')).replayCommand,
  },
  query: {
    usage: 'runtime query [--db FILE | --store URL] PID|NAME NAME [ARGS...]',
    about: "ask a process's onQuery handler (needs a running node)",
    options: DB,
    load: async () => (await inspect()).queryCommand,
  },
  'start-child': {
    usage: 'runtime start-child [--db FILE | --store URL] SUPERVISOR [ARGS...]',
    about: 'start a dynamic child of a simple_one_for_one supervisor (pid or name)',
    options: DB,
    load: async () => (await inspect()).startChildCommand,
  },
  prune: {
    usage: 'runtime prune [--db FILE | --store URL] --keep DURATION',
    about: 'forget the history of what ended more than DURATION ago (e.g. 7d)',
    options: `${DB}\n  --keep DURATION        keep what ended within DURATION`,
    load: async () => (await inspect()).pruneCommand,
  },
  nodes: {
    usage: 'runtime nodes --store URL [--json]',
    about: 'the nodes of a PostgreSQL store: status (up, down, lease expired), epoch, heartbeat age, lease, live processes owned, control address',
    options: `${DB}\n  --json                 one JSON array`,
    load: async () => (await inspect()).nodesCommand,
  },
  bench: {
    usage: 'runtime bench [--quick] [WORKLOAD...]',
    about: 'run the benchmark harness',
    load: async () => (await import('./bench.js')).benchCommand,
  },
};

function usage(): string {
  const lines = Object.values(COMMANDS).map((c) => `  ${c.usage.replace(/^runtime /, '')}\n      ${c.about.split(/[;:\n]|\. /)[0]}`);
  return `usage: runtime <command> [options]   (runtime <command> --help for one command; runtime --version)

commands:
${lines.join('\n')}

${NODE_OPTIONS}
`;
}

function commandHelp(name: string, c: Command): string {
  return `usage: ${c.usage}\n\n${c.about}\n${c.options === undefined ? '' : `\n${c.options}\n`}`;
}

function version(): string {
  // dist/runtime/cli/main.js → the package root
  const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** `--help` asks for help when it is among the command's own options (for spawn: before the script). */
function wantsHelp(name: string, rest: string[]): boolean {
  if (name === 'bench') return false; // the harness has its own --help
  for (const arg of rest) {
    if (arg === '--help' || arg === '-h') return true;
    if (arg === '--') return false;
    if (name === 'spawn' && !arg.startsWith('-')) return false;
  }
  return false;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const about = name === 'help' && rest[0] !== undefined ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(about !== undefined ? commandHelp(rest[0]!, about) : usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) throw new UsageError(`unknown command '${name}'; commands: ${Object.keys(COMMANDS).join(', ')} (runtime --help)`);
  if (wantsHelp(name, rest)) {
    process.stdout.write(commandHelp(name, command));
    return 0;
  }
  return (await command.load())(rest);
}

/** System errors a user can cause and fix (permissions, a full disk, a peer that hung up): one line, not a stack. */
const SYSTEM_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EPIPE: 'the other side closed the connection',
  ECONNRESET: 'the connection was reset',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  ENAMETOOLONG: 'file name too long',
  EMFILE: 'too many open files',
};

function fail(err: unknown): void {
  const sys = (err as NodeJS.ErrnoException | undefined)?.code;
  if (err instanceof UsageError) {
    process.stderr.write(`runtime: ${err.message}\n`);
    process.exitCode = 2;
  } else if (err instanceof BeamlineError) {
    process.stderr.write(`runtime: ${err.message.split('\n')[0]} [${err.code}]\n`);
    process.exitCode = 2;
  } else if (typeof sys === 'string' && sys in SYSTEM_ERRORS) {
    const e = err as NodeJS.ErrnoException & { address?: string };
    const where = [e.syscall, e.path ?? e.address].filter(Boolean).join(' ');
    process.stderr.write(`runtime: ${SYSTEM_ERRORS[sys]}${where ? ` (${where})` : ''} [${sys}]\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`runtime: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 3;
  }
}

// `runtime ps | head -1`: the reader left; that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  fail(err);
});

/**
 * A command that has finished exits, even if something it used left a handle
 * open (a socket, a timer, a thread): its output is written, and a process
 * that lingers looks like work still under way — the one thing a CLI must
 * never do silently. Normally the event loop is empty long before this fires
 * (the timer is unref'd, so it keeps nothing alive by itself).
 */
const LINGER_MS = 2000;

function exitSoon(): void {
  setTimeout(() => {
    // stdout/stderr are pipes or TTYs of their own: name only what is not them.
    const open = process.getActiveResourcesInfo().filter((r) => r !== 'PipeWrap' && r !== 'TTYWrap');
    process.stderr.write(`runtime: warning: ${[...new Set(open)].join(', ') || 'a handle'} still open ${LINGER_MS} ms after the command ended; exiting [${ErrorCodes.INTERNAL}]\n`);
    process.exit();
  }, LINGER_MS).unref();
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    exitSoon();
  },
  (err: unknown) => {
    fail(err);
    exitSoon();
  },
);
