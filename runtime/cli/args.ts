// Command-line parsing shared by the commands. Options come before the
// script (like `node [options] script [args]`), so everything after the
// script belongs to the script, dashes included.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDuration } from '../config/duration.js';
import type { NodeOptions } from '../node.js';

export class UsageError extends Error {
  override get name(): string {
    return 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Split argv into options (before the first positional) and the positionals after. */
export function parseCommand(argv: string[], options: Options): { values: Record<string, string | boolean | undefined>; rest: string[] } {
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-')) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    const name = arg.replace(/^--?/, '').split('=')[0]!;
    const spec = Object.entries(options).find(([long, o]) => long === name || o.short === name)?.[1];
    i += spec?.type === 'string' && !arg.includes('=') ? 2 : 1;
  }
  try {
    const { values } = parseArgs({ args: argv.slice(0, i), options, strict: true, allowPositionals: false });
    return { values: values as Record<string, string | boolean | undefined>, rest: argv.slice(i) };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Options anywhere among the positionals (commands with no script arguments). */
export function parseAnywhere(argv: string[], options: Options): { values: Record<string, string | boolean | undefined>; rest: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    return { values: values as Record<string, string | boolean | undefined>, rest: positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
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

/** Script arguments: JSON when they parse as JSON, else the string itself. */
export function scriptArgs(raw: string[]): unknown[] {
  return raw.map((a) => {
    try {
      return JSON.parse(a) as unknown;
    } catch {
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
    threads: intOption('threads', values.threads, 1, 63),
    durability,
    sliceMs: intOption('slice-ms', values['slice-ms'], 10, 2 ** 31 - 1),
    natives: (values.natives as unknown as string[] | undefined) ?? [],
    retainMs: values.retain === undefined ? undefined : parseDuration(values.retain, '--retain'),
    onDivergence: divergenceOption(values['on-divergence']),
  };
}

function divergenceOption(value: string | boolean | undefined): 'fail' | 'pause' | undefined {
  if (value === undefined || value === 'fail' || value === 'pause') return value;
  throw new UsageError(`--on-divergence: expected 'fail' or 'pause' (got ${String(value)})`);
}

export const nodeOptions = {
  db: { type: 'string' },
  retain: { type: 'string' },
  threads: { type: 'string' },
  durability: { type: 'string' },
  'slice-ms': { type: 'string' },
  natives: { type: 'string', multiple: true },
  'on-divergence': { type: 'string' },
} as const satisfies Options;
