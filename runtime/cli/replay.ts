// `runtime replay [--db FILE] [PID...] [--script FILE] [--all]`: replay
// recorded histories against the current code, performing no effect, and
// exit 0 only if every one replays cleanly — a deploy guard for CI.
//
// Exit codes: 0 all clean (or nothing to replay); 1 a history diverges or a
// script cannot be replayed; 2 bad input (no such journal, pid or file).

import fs from 'node:fs';
import path from 'node:path';
import type { HistoryExport } from '../control/inspect.js';
import { BeamlineError, ErrorCodes } from '../errors.js';
import { DEFAULT_DB } from '../node.js';
import { replay, type ReplayResult } from '../replay/check.js';
import { openPostgres, type PostgresStore } from '../journal/postgres.js';
import { parseAnywhere, UsageError } from './args.js';
import { whereFrom } from './cluster.js';

export const REPLAY_USAGE = 'usage: runtime replay [--db FILE | --store URL] [PID...] [--script FILE] [--all] [--history FILE.json]... [--natives FILE]... [--json]';

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseAnywhere(argv, {
    db: { type: 'string' },
    store: { type: 'string' },
    script: { type: 'string' },
    all: { type: 'boolean' },
    json: { type: 'boolean' },
    history: { type: 'string', multiple: true },
    natives: { type: 'string', multiple: true },
    help: { type: 'boolean' },
  });
  if (values.help === true) {
    process.stdout.write(`${REPLAY_USAGE}\n`);
    return 0;
  }
  const histories = (values.history as unknown as string[] | undefined)?.flatMap(readExport);
  if (histories !== undefined && (values.db !== undefined || values.store !== undefined)) {
    throw new UsageError(`replay: pass --db, --store or --history, not more than one; ${REPLAY_USAGE}`);
  }
  // Several nodes: every node's histories, read-only from the shared database.
  const at = histories === undefined ? whereFrom(values) : null;
  const script = values.script as string | undefined;
  if (script !== undefined && !fs.existsSync(script)) {
    throw new BeamlineError(ErrorCodes.SCRIPT_NOT_FOUND, `--script: ${script}: script not found (looked at ${path.resolve(script)})`, { file: script });
  }
  const store: PostgresStore | undefined = at?.kind === 'postgres' ? openPostgres(at.url, { readonly: true }) : undefined;
  let report;
  try {
    report = await replay({
      db: (values.db as string | undefined) ?? DEFAULT_DB,
      store,
      histories,
      pids: rest,
      all: values.all === true,
      script,
      natives: (values.natives as unknown as string[] | undefined) ?? [],
    });
  } finally {
    store?.close();
  }
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    for (const r of report.results) process.stdout.write(`${line(r)}\n`);
    const bad = report.results.filter((r) => !r.ok).length;
    const n = report.results.length;
    process.stdout.write(
      n === 0
        ? `nothing to replay (${rest.length === 0 && values.all !== true ? 'no live process' : 'no process'}${script === undefined ? '' : ` of ${path.basename(script)}`})\n`
        : bad === 0
          ? `${n} ${n === 1 ? 'history replays' : 'histories replay'} cleanly\n`
          : `${bad} of ${n} ${n === 1 ? 'history does' : 'histories do'} not replay against the current code\n`,
    );
  }
  return report.ok ? 0 : 1;
}

function line(r: ReplayResult): string {
  const head = `${r.pid} run ${r.run} ${shortPath(r.script)}`;
  if (r.ok) return `ok        ${head}: ${r.rounds} ${r.rounds === 1 ? 'round' : 'rounds'}`;
  if (r.divergence !== undefined) {
    const d = r.divergence;
    return `diverged  ${head}: step ${d.step}: expected ${d.expected}, got ${d.actual}${d.line === undefined ? '' : ` (${shortPath(d.line)})`}`;
  }
  return `error     ${head}: ${r.error?.message ?? 'unknown'} [${r.error?.code ?? ErrorCodes.INTERNAL}]`;
}

function shortPath(file: string): string {
  const cwd = process.cwd();
  return file.startsWith(`${cwd}/`) ? file.slice(cwd.length + 1) : file;
}

/** One `runtime history PID --json` document, or an array of them. */
function readExport(file: string): HistoryExport[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new BeamlineError(ErrorCodes.ARG_INVALID, `--history: ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file });
  }
  try {
    const doc = JSON.parse(text) as HistoryExport | HistoryExport[];
    return Array.isArray(doc) ? doc : [doc];
  } catch (err) {
    throw new BeamlineError(ErrorCodes.ARG_INVALID, `--history: ${file}: not JSON (${(err as Error).message}); write it with 'runtime history PID --json > ${file}'`, { file });
  }
}
