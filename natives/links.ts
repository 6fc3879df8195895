// link, unlink, monitor, demonitor, trapExit, exit, kill: OTP's process
// relations. Links and monitors live in the kernel (they cross threads);
// whether a process traps exits is its own state, so its thread decides what
// an arriving exit signal does (die, ignore 'normal', or become a
// {type: 'exit', from, reason} message). kill(pid, 'kill') cannot be trapped:
// the target ends with reason 'killed'. Monitors deliver
// {type: 'down', ref, pid, reason}, with reason 'noproc' at once for a dead target.

import { argError, defineNative, targetOf } from './api.js';

/** link and unlink: the same call, told to the kernel as a different notice. */
function linkNative(name: 'link' | 'unlink') {
  return defineNative<[pid: unknown], undefined, { key: null; pid: string }>({
    name,
    kind: 'sync',
    prepare(_host, [pid]) {
      return { key: null, pid: targetOf(name, pid) };
    },
    start(host, _args, _step, p) {
      host.notify({ e: name, pid: p.pid });
      return { record: p.pid, done: true, result: true };
    },
  });
}

export const link = linkNative('link');
export const unlink = linkNative('unlink');

export const monitor = defineNative<[pid: unknown], undefined, { key: null; pid: string }>({
  name: 'monitor',
  kind: 'sync',
  prepare(_host, [pid]) {
    return { key: null, pid: targetOf('monitor', pid) };
  },
  start(host, _args, step, p) {
    const ref = `${host.pid}#${step}`;
    host.notify({ e: 'monitor', ref, pid: p.pid });
    return { record: p.pid, done: true, result: ref };
  },
  settle(host, _state, ref) {
    return ref;
  },
});

export const demonitor = defineNative<[ref: unknown], undefined, { key: null; ref: string }>({
  name: 'demonitor',
  kind: 'sync',
  prepare(_host, [ref]) {
    if (typeof ref !== 'string') throw argError('demonitor', 'ref must be the string monitor() returned', ref, 'pass the ref from ctx.monitor(pid)');
    return { key: null, ref };
  },
  start(host, _args, _step, p) {
    host.notify({ e: 'demonitor', ref: p.ref });
    return { record: p.ref, done: true, result: true };
  },
});

export const trapExit = defineNative<[on: unknown]>({
  name: 'trapExit',
  kind: 'sync',
  records: false,
  start(host, [on]) {
    if (typeof on !== 'boolean') throw argError('trapExit', 'flag must be a boolean', on, 'pass ctx.trapExit(true)');
    const previous = host.locals.trapExit;
    host.locals.trapExit = on;
    return { done: true, result: previous };
  },
});

export const exit = defineNative<[reason?: unknown]>({
  name: 'exit',
  kind: 'sync',
  records: false,
  start(host, [reason]): never {
    return host.exit(reason === undefined ? 'normal' : reason);
  },
});

export const kill = defineNative<[pid: unknown, reason?: unknown], undefined, { key: null; to: string; reason: unknown }>({
  name: 'kill',
  kind: 'sync',
  prepare(host, [pid, reason]) {
    const r = reason === undefined ? 'kill' : reason;
    host.encode(r, 'kill: reason');
    return { key: null, to: targetOf('kill', pid), reason: r };
  },
  start(host, _args, _step, p) {
    host.notify({ e: 'signal', to: p.to, reason: p.reason });
    return { record: p.to, done: true, result: true };
  },
});
