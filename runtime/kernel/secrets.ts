// Where the values of ctx.secret references come from, on the kernel's side
// only (worker threads never see a value): the node's --secrets file
// (NAME=value lines, owner-only) first, then BEAMLINE_SECRET_<NAME> from the
// environment. Both are read at send time — the file is re-read when it
// changes — so a rotated key is used by the next attempt, and by the
// re-issue of a call that was in flight when the node died.

import fs from 'node:fs';
import path from 'node:path';
import { assertPrivateFile } from '../journal/files.js';
import { BeamlineError, ErrorCodes } from '../errors.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export interface SecretSource {
  /** The value of secret `name`, or undefined when it is not set anywhere. */
  get(name: string): string | undefined;
}

/** Parse NAME=value lines (`#` comments, blank lines); errors name the file and line, never a value. */
export function parseSecrets(text: string, file: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const eq = line.indexOf('=');
    const name = eq < 0 ? '' : line.slice(0, eq).trim();
    if (!NAME.test(name)) {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `--secrets ${file}:${i + 1}: expected NAME=value with NAME made of letters, digits and _`, { file, line: i + 1 });
    }
    out.set(name, line.slice(eq + 1));
  }
  return out;
}

/** The --secrets file: validated at once (owner-only, parses), re-read when it changes. */
export class SecretsFile implements SecretSource {
  readonly file: string;
  #stamp = '';
  #values = new Map<string, string>();

  constructor(file: string) {
    this.file = path.resolve(file);
    this.#load();
  }

  get(name: string): string | undefined {
    this.#load();
    return this.#values.get(name);
  }

  #load(): void {
    const st = fs.statSync(this.file, { throwIfNoEntry: false });
    const stamp = st === undefined ? 'gone' : `${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}`;
    if (stamp === this.#stamp) return;
    assertPrivateFile(this.file, '--secrets');
    this.#values = parseSecrets(fs.readFileSync(this.file, 'utf8'), this.file);
    this.#stamp = stamp;
  }
}

/** The node's secrets: the file (when given) first, then the environment. */
export class NodeSecrets implements SecretSource {
  readonly #file: SecretsFile | null;
  readonly #env: NodeJS.ProcessEnv;

  constructor(file: SecretsFile | null, env: NodeJS.ProcessEnv = process.env) {
    this.#file = file;
    this.#env = env;
  }

  get(name: string): string | undefined {
    return this.#file?.get(name) ?? this.#env[`BEAMLINE_SECRET_${name.toUpperCase()}`] ?? this.#env[`BEAMLINE_SECRET_${name}`];
  }

  /** How to set `name`, for the error a missing secret gives. */
  hint(name: string): string {
    const env = `set BEAMLINE_SECRET_${name.toUpperCase()}`;
    return this.#file === null ? `${env} (or pass --secrets FILE with a ${name}=... line)` : `add a ${name}=... line to ${this.#file.file} or ${env}`;
  }
}

// One node per OS process is the CLI's shape, and the kernel builds its HTTP
// client itself: the node's secrets are configured here, at open, and the
// client reads them at send time.
let current = new NodeSecrets(null);

/** Configure the process's secrets (`--secrets FILE`); throws a one-line error for a bad file. */
export function configureSecrets(file: string | null): void {
  current = new NodeSecrets(file === null ? null : new SecretsFile(file));
}

export function nodeSecrets(): NodeSecrets {
  return current;
}
