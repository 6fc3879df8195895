// register(name), unregister(name), whereis(name): registered names. The
// kernel owns the name table; each thread keeps a replica it updates at every
// slice. A name taken on another thread in the same instant is settled by
// the kernel: the later claim loses and its process exits with
// BL_NAME_TAKEN (Erlang's badarg). Names disappear with their process.

import { argError, BeamlineError, defineNative, ErrorCodes, looksLikePid, toErrorData } from './api.js';

function nameOf(native: string, name: unknown): string {
  // NUL: a PostgreSQL text column cannot hold it, so such a name could not be committed there.
  if (typeof name !== 'string' || name.length === 0 || /\s|\0/.test(name)) {
    throw argError(native, 'name must be a non-empty string without spaces or NUL characters', name, `pass ${native}('inventory')`);
  }
  if (looksLikePid(name)) throw argError(native, 'name looks like a pid', name, 'pick a name that is not of the form xxxx.N');
  return name;
}

/** prepare() for natives that take one name, which is also their determinism key. */
function byName(native: string) {
  return (_host: unknown, [name]: [unknown]) => {
    const n = nameOf(native, name);
    return { key: n, name: n };
  };
}

export const register = defineNative<[name: unknown], undefined, { key: string; name: string }>({
  name: 'register',
  kind: 'sync',
  prepare: byName('register'),
  start(host, _args, _step, p) {
    const owner = host.whereis(p.name);
    if (owner !== undefined && owner !== host.pid) {
      const err = new BeamlineError(ErrorCodes.NAME_TAKEN, `register: name '${p.name}' is already registered to ${owner}`, { name: p.name });
      return { done: true, error: toErrorData(err, false) };
    }
    host.nameChanged(p.name, host.pid);
    host.notify({ e: 'register', name: p.name });
    return { done: true, result: true };
  },
});

export const unregister = defineNative<[name: unknown], undefined, { key: string; name: string }>({
  name: 'unregister',
  kind: 'sync',
  prepare: byName('unregister'),
  start(host, _args, _step, p) {
    const mine = host.whereis(p.name) === host.pid;
    if (mine) {
      host.nameChanged(p.name, null);
      host.notify({ e: 'unregister', name: p.name });
    }
    return { done: true, result: mine };
  },
});

export const whereis = defineNative<[name: unknown], undefined, { key: string; name: string }>({
  name: 'whereis',
  kind: 'sync',
  readOnly: true,
  prepare(_host, [name]) {
    if (typeof name !== 'string') throw argError('whereis', 'name must be a string', name, "pass whereis('inventory')");
    return { key: name, name };
  },
  start(host, _args, _step, p) {
    return { done: true, result: host.whereis(p.name) ?? null };
  },
  settle(_host, _state, pid) {
    return pid ?? undefined;
  },
});
