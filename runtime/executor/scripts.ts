// Loading process scripts on a worker thread, with errors a user can act on.
// A failed import of an ES module says "SyntaxError: Unexpected token" and
// nothing about where; `node --check` (run only on that failure path) gives
// the file and line.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { BeamlineError, ErrorCodes } from '../errors.js';

export type ScriptFn = (ctx: unknown, ...args: unknown[]) => unknown;

const cache = new Map<string, Promise<ScriptFn>>();

/**
 * Import `file` once per thread (and per `version`: a version above 0 is the
 * file as it was when `runtime resume` bumped it, past the module cache);
 * rejects with BL_SCRIPT_NOT_FOUND or BL_SCRIPT_INVALID.
 */
export function loadScript(file: string, version = 0): Promise<ScriptFn> {
  const key = version === 0 ? file : `${file}#${version}`;
  let loaded = cache.get(key);
  if (loaded === undefined) {
    loaded = importScript(file, version === 0 ? '' : `?resume=${version}`);
    cache.set(key, loaded);
    // Do not keep a failure forever: a fixed file is picked up on the next start.
    loaded.catch(() => cache.delete(key));
  }
  return loaded;
}

let freshImports = 0;

/**
 * Import the file as it is on disk now, past the module cache (the replay
 * check, in a process that may have imported an older version of the file).
 * Only the file itself is re-read; modules it imports come from the cache.
 */
export function loadScriptFresh(file: string): Promise<ScriptFn> {
  return importScript(file, `?v=${++freshImports}`);
}

async function importScript(file: string, query = ''): Promise<ScriptFn> {
  if (!fs.existsSync(file)) {
    throw new BeamlineError(ErrorCodes.SCRIPT_NOT_FOUND, `${file}: script not found`, { file });
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href + query)) as { default?: unknown };
  } catch (err) {
    throw describeLoadError(file, err);
  }
  if (typeof mod.default !== 'function') {
    throw new BeamlineError(
      ErrorCodes.SCRIPT_INVALID,
      `${file}: no default-exported function; write 'export default async function (ctx, ...args) { ... }'`,
      { file },
    );
  }
  return mod.default as ScriptFn;
}

function describeLoadError(file: string, err: unknown): BeamlineError {
  const e = err as Error & { code?: string };
  if (e?.name === 'SyntaxError') {
    const where = syntaxLocation(file);
    if (where === null) return new BeamlineError(ErrorCodes.SCRIPT_INVALID, `${file}: SyntaxError: ${e.message}`, { file, cause: err });
    // "file:2:13 (at "const x = ;")" → "file:2:13: SyntaxError: msg (at ...)"
    const m = /^(.*?:\d+(?::\d+)?)( \(at .*\))?$/.exec(where)!;
    return new BeamlineError(ErrorCodes.SCRIPT_INVALID, `${m[1]}: SyntaxError: ${e.message}${m[2] ?? ''}`, { file, cause: err });
  }
  if (e?.code === 'ERR_MODULE_NOT_FOUND') {
    return new BeamlineError(ErrorCodes.SCRIPT_INVALID, `${file}: ${e.message.split('\n')[0]}`, { file, cause: err });
  }
  const firstLine = String(e?.message ?? err).split('\n')[0];
  return new BeamlineError(ErrorCodes.SCRIPT_INVALID, `${file}: failed to load: ${e?.name ?? 'Error'}: ${firstLine}`, { file, cause: err });
}

/**
 * `file:line:column` of a syntax error and the offending source line, from
 * `node --check`, which prints them as
 *
 *     /path/script.js:2
 *       const x = ;
 *                 ^
 *     SyntaxError: Unexpected token ';'
 *
 * Kept on one line (errors are one line): `file:2:13: ... (at "const x = ;")`.
 */
function syntaxLocation(file: string): string | null {
  try {
    const out = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
    const lines = (out.stderr ?? '').split('\n');
    const at = lines.findIndex((l) => /^(.*):(\d+)$/.test(l.trim()));
    if (at < 0) return null;
    const [, where, line] = /^(.*):(\d+)$/.exec(lines[at]!.trim())!;
    const source = lines[at + 1] ?? '';
    const caret = lines[at + 2] ?? '';
    const column = /^\s*\^/.test(caret) ? caret.indexOf('^') + 1 : null;
    const excerpt = source.trim().length > 0 ? ` (at ${JSON.stringify(source.trim().slice(0, 120))})` : '';
    return `${where}:${line}${column === null ? '' : `:${column}`}${excerpt}`;
  } catch {
    return null;
  }
}
