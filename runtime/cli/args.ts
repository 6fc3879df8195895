// Command-line parsing shared by the commands. Options come before the
// script (like `node [options] script [args]`), so everything after the
// script belongs to the script, dashes included.

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BeamlineError, ErrorCodes } from '../errors.js';
import { parseDuration } from '../config/duration.js';
import type { NodeOptions } from '../node.js';
import { parseHostPatterns } from '../kernel/allow-hosts.js';

export class UsageError extends Error {
  override get name(): string {
    return 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Split argv into options (before the first positional) and the positionals after. */
export function parseCommand(argv: string[], options: Options): { values: Record<string, string | boolean | undefined>; rest: string[] } {
  // `--threads -1` must reach the validator as a value, not be taken for an
  // option: join each string option with its value (`--threads=-1`) first.
  const joined: string[] = [];
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-')) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    const name = arg.replace(/^--?/, '').split('=')[0]!;
    const spec = Object.entries(options).find(([long, o]) => long === name || o.short === name);
    if (spec?.[1].type === 'string' && !arg.includes('=')) {
      if (i + 1 >= argv.length) throw new UsageError(`--${spec[0]}: missing value`);
      joined.push(`--${spec[0]}=${argv[i + 1]}`);
      i += 2;
    } else {
      joined.push(arg);
      i += 1;
    }
  }
  try {
    const { values } = parseArgs({ args: joined, options, strict: true, allowPositionals: false });
    return { values: values as Record<string, string | boolean | undefined>, rest: argv.slice(i) };
  } catch (err) {
    throw new UsageError(oneLine(err));
  }
}

/** node's parseArgs errors span lines (a hint on the next); keep the first. */
function oneLine(err: unknown): string {
  return String((err as Error).message).split('\n')[0]!;
}

/** Options anywhere among the positionals (commands with no script arguments). */
export function parseAnywhere(argv: string[], options: Options): { values: Record<string, string | boolean | undefined>; rest: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    return { values: values as Record<string, string | boolean | undefined>, rest: positionals };
  } catch (err) {
    throw new UsageError(oneLine(err));
  }
}

export function intOption(name: string, value: string | boolean | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name}: expected an integer from ${min} to ${max} (got ${String(value)})`);
  }
  return n;
}

/**
 * Script arguments: JSON when they parse as JSON, else the string itself. An
 * argument that looks like JSON (starts with `{`, `[` or `"`) but does not
 * parse is most likely a typo or a shell-quoting slip: it is still passed as
 * a string (the documented rule), with a warning on stderr.
 */
export function scriptArgs(raw: string[], warn: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): unknown[] {
  return raw.map((a, i) => {
    try {
      return JSON.parse(a) as unknown;
    } catch (err) {
      if (/^\s*[[{"]/.test(a)) {
        warn(`runtime: warning: argument ${i + 1} looks like JSON but does not parse (${oneLine(err)}); passing it as the string ${JSON.stringify(a)}`);
      }
      return a;
    }
  });
}

/** The node options `spawn` and `start` share, validated (one-line usage errors) into NodeOptions. */
export function nodeOptionsFrom(values: Record<string, string | boolean | undefined>): NodeOptions {
  const durability = values.durability as string | undefined;
  if (durability !== undefined && durability !== 'full' && durability !== 'normal') {
    throw new UsageError(`--durability: expected 'full' or 'normal' (got ${durability})`);
  }
  return {
    db: values.db as string | undefined,
    store: values.store as string | undefined,
    leaseMs: values.lease === undefined ? undefined : parseDuration(values.lease as string, '--lease'),
    threads: intOption('threads', values.threads, 1, 63),
    durability,
    sliceMs: intOption('slice-ms', values['slice-ms'], 10, 2 ** 31 - 1),
    natives: (values.natives as unknown as string[] | undefined) ?? [],
    retainMs: values.retain === undefined ? undefined : parseDuration(values.retain, '--retain'),
    crashReports: values['quiet-crashes'] !== true,
    journalKey: values['journal-key'] as string | undefined,
    secrets: values.secrets as string | undefined,
    redactHeaders: redactHeaders(values['redact-headers']),
    maxProcesses: intOption('max-processes', values['max-processes'], 1, 2 ** 31 - 1),
    maxMailbox: intOption('max-mailbox', values['max-mailbox'], 1, 2 ** 31 - 1),
    allowHosts: allowHosts(values['allow-hosts']),
    hibernateAfterMs: values['hibernate-after'] === undefined ? undefined : parseDuration(values['hibernate-after'], '--hibernate-after'),
    onDivergence: divergenceOption(values['on-divergence']),
  };
}

/**
 * Load every --natives module before the node starts, so a missing file or a
 * module that exports no native is a one-line error at the command line, not
 * a stack on the first slice of a worker thread (which loads them again).
 */
export async function checkNatives(files: readonly string[]): Promise<void> {
  for (const file of files) {
    const abs = path.resolve(file);
    if (!fs.existsSync(abs) || !fs.statSync(abs).isFile()) {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `--natives ${file}: no such file (looked at ${abs})`, { file: abs });
    }
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
    } catch (err) {
      const e = err as Error;
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `--natives ${file}: cannot load: ${e.name}: ${String(e.message).split('\n')[0]}`, { file: abs, cause: err });
    }
    const defs = Array.isArray(mod.default) ? (mod.default as unknown[]) : [mod.default];
    for (const def of defs) {
      const d = def as { name?: unknown; kind?: unknown } | undefined;
      if (typeof d !== 'object' || d === null || typeof d.name !== 'string' || !['wait', 'sync', 'background'].includes(d.kind as string)) {
        throw new BeamlineError(
          ErrorCodes.ARG_INVALID,
          `--natives ${file}: the default export must be a native (defineNative({...}) from 'beamline/natives') or an array of them`,
          { file: abs },
        );
      }
    }
  }
}

/**
 * Write `content` to `file` for scripts to wait on (--pid-file, --ready-file),
 * replacing what a previous run left; the returned function removes it.
 */
export function writeMarker(file: string | undefined, content: string): () => void {
  if (file === undefined) return () => {};
  const abs = path.resolve(file);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const tmp = `${abs}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, abs); // whoever polls for the file never sees it half-written
  return () => {
    try {
      if (fs.readFileSync(abs, 'utf8') === content) fs.unlinkSync(abs);
    } catch {
      /* already gone */
    }
  };
}

/** Remove a marker a previous (killed) run left, so nobody mistakes it for this run's. */
export function clearMarker(file: string | undefined): void {
  if (file === undefined) return;
  try {
    fs.unlinkSync(path.resolve(file));
  } catch {
    /* absent */
  }
}

function allowHosts(value: string | boolean | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = String(value).split(',').map((h) => h.trim()).filter((h) => h !== '');
  if (list.length === 0) throw new UsageError(`--allow-hosts: expected hosts separated by commas, e.g. api.example.com,127.0.0.1:8080`);
  try {
    parseHostPatterns(list);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return list;
}

function redactHeaders(value: string | boolean | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const names = String(value).split(',').map((h) => h.trim());
  const bad = names.find((h) => !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(h));
  if (bad !== undefined) throw new UsageError(`--redact-headers: '${bad}' is not a header name; pass names separated by commas, e.g. x-session-token,x-signature`);
  return names;
}

function divergenceOption(value: string | boolean | undefined): 'fail' | 'pause' | undefined {
  if (value === undefined || value === 'fail' || value === 'pause') return value;
  throw new UsageError(`--on-divergence: expected 'fail' or 'pause' (got ${String(value)})`);
}

export const nodeOptions = {
  db: { type: 'string' },
  store: { type: 'string' },
  lease: { type: 'string' },
  retain: { type: 'string' },
  threads: { type: 'string' },
  durability: { type: 'string' },
  'slice-ms': { type: 'string' },
  natives: { type: 'string', multiple: true },
  'quiet-crashes': { type: 'boolean' },
  'pid-file': { type: 'string' },
  'journal-key': { type: 'string' },
  secrets: { type: 'string' },
  'redact-headers': { type: 'string' },
  'max-processes': { type: 'string' },
  'max-mailbox': { type: 'string' },
  'allow-hosts': { type: 'string' },
  'hibernate-after': { type: 'string' },
  'on-divergence': { type: 'string' },
} as const satisfies Options;
