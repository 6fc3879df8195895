// The native registry: every ctx member that touches the world, by name.
// The executor builds each process's ctx from it, and replay resolves a
// journaled command's name through it — one table, one resolution path.
// Users add their own natives with `createRegistry([...builtins, mine])`
// (see README, "Writing a native").

import type { NativeDef } from './api.js';
import callApi from './call-api.js';
import continueAsNew from './continue-as-new.js';
import { demonitor, exit, kill, link, monitor, trapExit, unlink } from './links.js';
import log from './log.js';
import { register, unregister, whereis } from './names.js';
import now from './now.js';
import { deprecatePatch, patched } from './patched.js';
import random from './random.js';
import receive from './receive.js';
import send from './send.js';
import sleepUntil from './sleep-until.js';
import sleep from './sleep.js';
import spawn from './spawn.js';
import startChild from './start-child.js';
import step from './step.js';
import { cancelTimer, startTimer } from './timers.js';
import uuid from './uuid.js';
import withTimeout from './with-timeout.js';
import onQuery from './query.js';
import serve from './serve.js';
import { call, reply } from './call.js';

/** ctx members that are not natives. */
export const RESERVED = Object.freeze(['self', 'args', 'run', 'secret']);

export const builtinNatives: readonly NativeDef[] = Object.freeze([
  send,
  receive,
  sleep,
  sleepUntil,
  spawn,
  startChild,
  now,
  random,
  uuid,
  log,
  callApi,
  step,
  startTimer,
  cancelTimer,
  withTimeout,
  link,
  unlink,
  monitor,
  demonitor,
  trapExit,
  exit,
  continueAsNew,
  kill,
  register,
  unregister,
  whereis,
  onQuery,
  serve,
  call,
  reply,
  patched,
  deprecatePatch,
] as NativeDef[]);

export type Registry = ReadonlyMap<string, NativeDef>;

const markerNames = new WeakMap<Registry, ReadonlySet<string>>();

/** Journal names of the registry's markers (natives that take no step; see NativeDef.marker). */
export function markersOf(registry: Registry): ReadonlySet<string> {
  let names = markerNames.get(registry);
  if (names === undefined) {
    names = new Set([...registry.values()].filter((d) => d.marker !== undefined).map((d) => d.marker!.journalName ?? d.name));
    markerNames.set(registry, names);
  }
  return names;
}

export function createRegistry(natives: readonly NativeDef[] = builtinNatives): Registry {
  const map = new Map<string, NativeDef>();
  for (const def of natives) {
    if (typeof def?.name !== 'string' || !/^[a-zA-Z_$][\w$]*$/.test(def.name)) {
      throw new TypeError(`native has no valid name: ${String(def?.name)}`);
    }
    if (RESERVED.includes(def.name)) throw new TypeError(`native '${def.name}' would shadow ctx.${def.name}`);
    if (map.has(def.name)) throw new TypeError(`two natives are named '${def.name}'`);
    if (typeof def.start !== 'function') throw new TypeError(`native '${def.name}' has no start()`);
    if (def.marker !== undefined && def.kind !== 'sync') throw new TypeError(`native '${def.name}' is a marker, so it must be 'sync'`);
    map.set(def.name, def);
  }
  return map;
}
