// spawn(script, args, {link, monitor, name}): start a child process; resolves
// to its pid. A relative script resolves against the calling script's
// directory. The thread gives the child a pid from its range and the call
// returns it at once (recorded inline); the kernel learns of the child from
// the slice's report, starts it (next to its parent unless that thread is
// much busier) and commits it with the parent's round, so a crash loses
// both or neither. A named child, or a thread with no pid left, waits for
// the kernel instead: only it can refuse a taken name.

import path from 'node:path';
import { argError, defineNative, optionsOf } from './api.js';

interface Prep {
  key: string;
  script: string;
  args: Uint8Array;
  link: boolean;
  monitor: boolean;
  name: string | null;
}

export default defineNative<[script: unknown, args?: unknown, opts?: unknown], undefined, Prep>({
  name: 'spawn',
  kind: 'wait',
  prepare(host, [script, args, opts]) {
    if (typeof script !== 'string' || script.length === 0) {
      throw argError('spawn', 'script must be a path', script, "pass a path like './worker.js'");
    }
    if (args !== undefined && !Array.isArray(args)) {
      throw argError('spawn', 'args must be an array', args, 'pass the arguments as an array: spawn(script, [a, b])');
    }
    const o = optionsOf('spawn', opts, ['link', 'monitor', 'name']);
    for (const flag of ['link', 'monitor'] as const) {
      if (o[flag] !== undefined && typeof o[flag] !== 'boolean') throw argError('spawn', `${flag} must be a boolean`, o[flag], `pass ${flag}: true`);
    }
    // NUL: a PostgreSQL text column cannot hold it (see names.ts).
    if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0 || o.name.includes('\0'))) {
      throw argError('spawn', 'name must be a non-empty string without NUL characters', o.name, "pass name: 'worker-1'");
    }
    return {
      key: script,
      script: path.resolve(path.dirname(host.script), script),
      args: host.encode(args ?? [], 'spawn: args'),
      link: o.link === true,
      monitor: o.monitor === true,
      name: (o.name as string | undefined) ?? null,
    };
  },
  start(host, _args, step, p) {
    if (p.name === null) {
      const pid = host.spawnHere(step, { script: p.script, args: p.args, link: p.link, monitor: p.monitor });
      if (pid !== null) return { record: p.script, done: true, result: pid };
    }
    return {
      record: p.script,
      wait: undefined,
      effect: { e: 'spawn', script: p.script, args: p.args, link: p.link, monitor: p.monitor, name: p.name },
    };
  },
});
