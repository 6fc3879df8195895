// link, trapExit, exit, kill, monitor, demonitor, register/whereis with OTP
// semantics, between real processes on real worker threads.

import { describe, expect, it } from 'vitest';
import type { Node } from '../../dist/runtime/node.js';
import { fixture, nodesPerTest, query, REPLAY_MODES, until } from '../helpers.js';
import { within } from '../fixtures/natives/http-server.js';

const node = nodesPerTest();

const childFailed = { error: 'Error', message: 'child failed' };

async function exitOf(n: Node, pid: string) {
  return within(n.waitExit(pid), 20_000, `exit of ${pid}`);
}

describe.each(REPLAY_MODES)('links (%s)', (_label, opts) => {
  it('a normal exit does not propagate to a non-trapping linked process', async () => {
    const n = await node(opts);
    const pid = await n.spawn(fixture('natives/linker.js'), ['normal', false]);
    const exit = await exitOf(n, pid);
    expect(exit.reason).toBe('normal');
    const { child, msg } = exit.result as { child: string; msg: unknown };
    expect(msg).toBeNull();
    expect((await exitOf(n, child)).reason).toBe('normal');
  });

  it('an abnormal exit kills a linked non-trapping process with the same reason', async () => {
    const n = await node(opts);
    const pid = await n.spawn(fixture('natives/linker.js'), ['throw', false]);
    const exit = await exitOf(n, pid);
    expect(exit.normal).toBe(false);
    expect(exit.reason).toMatchObject(childFailed);
    const [row] = query<{ pid: string }>(n.db, `SELECT pid FROM processes WHERE parent = ?`, pid);
    const child = await exitOf(n, row!.pid);
    expect(exit.reason).toEqual(child.reason);
  });

  it('an exit(reason) with a custom reason propagates that reason', async () => {
    const n = await node(opts);
    const pid = await n.spawn(fixture('natives/linker.js'), ['exit', false]);
    const exit = await exitOf(n, pid);
    expect(exit.reason).toEqual({ custom: 'reason' });
  });

  it('a trapping process gets {type:"exit", from, reason} for normal and abnormal exits', async () => {
    const n = await node(opts);
    const a = await n.spawn(fixture('natives/linker.js'), ['normal', true]);
    const b = await n.spawn(fixture('natives/linker.js'), ['throw', true]);
    const ea = await exitOf(n, a);
    const eb = await exitOf(n, b);
    expect(ea.reason).toBe('normal');
    expect(eb.reason).toBe('normal');
    const ra = ea.result as { child: string; msg: unknown };
    const rb = eb.result as { child: string; msg: unknown };
    expect(ra.msg).toEqual({ type: 'exit', from: ra.child, reason: 'normal' });
    expect(rb.msg).toMatchObject({ type: 'exit', from: rb.child, reason: childFailed });
    expect((rb.msg as { reason: unknown }).reason).toEqual((await exitOf(n, rb.child)).reason);
  });
});

describe.each(REPLAY_MODES)('kill (%s)', (_label, opts) => {
  it('kill(pid, reason) is trappable: a trapping target gets it as an exit message', async () => {
    const n = await node(opts);
    const t = await n.spawn(fixture('natives/trapper.js'));
    const k = await n.spawn(fixture('natives/killer.js'), [t, 'shutdown']);
    expect((await exitOf(n, k)).reason).toBe('normal');
    // The signal is committed with the killer's exit, so 'stop' arrives after it.
    n.send(t, 'stop');
    const exit = await exitOf(n, t);
    expect(exit.reason).toBe('normal');
    expect(exit.result).toEqual([{ type: 'exit', from: k, reason: 'shutdown' }, 'stop']);
  });

  it("kill(pid, 'kill') cannot be trapped: the target ends with 'killed'", async () => {
    const n = await node(opts);
    const t = await n.spawn(fixture('natives/trapper.js'));
    await n.spawn(fixture('natives/killer.js'), [t, 'kill']);
    const exit = await exitOf(n, t);
    expect(exit.normal).toBe(false);
    expect(exit.reason).toBe('killed');
  });

  it("node.kill(pid) from outside ends a trapping process with 'killed'", async () => {
    const n = await node(opts);
    const t = await n.spawn(fixture('natives/trapper.js'));
    await until(() => readyToKill(n, t), 5000, 'the trapper to start');
    expect(n.kill(t)).toBe(true);
    expect((await exitOf(n, t)).reason).toBe('killed');
    expect(n.kill(t)).toBe(false);
  });

  it("'killed' travels over links: trapped as an exit message, fatal to a non-trapping process", async () => {
    const n = await node(opts);
    const pid = await n.spawn(fixture('natives/kill-chain.js'));
    const exit = await exitOf(n, pid);
    expect(exit.reason).toBe('normal');
    const r = exit.result as { t: string; a: string; exit: unknown; downA: unknown };
    expect(r.exit).toEqual({ type: 'exit', from: r.t, reason: 'killed' });
    expect(r.downA).toMatchObject({ type: 'down', pid: r.a, reason: 'killed' });
    expect((await exitOf(n, r.t)).reason).toBe('killed');
    expect((await exitOf(n, r.a)).reason).toBe('killed');
  });
});

/** The process has run its first round (it is in the journal with history). */
function readyToKill(n: Node, pid: string): boolean {
  return query(n.db, 'SELECT 1 FROM journal WHERE pid = ?', pid).length > 0;
}

describe.each(REPLAY_MODES)('monitors (%s)', (_label, opts) => {
  it("delivers {type:'down', ref, pid, reason}; 'noproc' at once for a dead pid; nothing after demonitor", async () => {
    const n = await node(opts);
    const pid = await n.spawn(fixture('natives/monitors.js'));
    const exit = await exitOf(n, pid);
    expect(exit.reason).toBe('normal');
    const r = exit.result as Record<string, any>;
    expect(typeof r.refA).toBe('string');
    expect(new Set([r.refA, r.refB, r.refB2]).size).toBe(3);
    expect(r.downA).toMatchObject({ type: 'down', ref: r.refA, pid: r.a, reason: childFailed });
    expect(r.downB).toEqual({ type: 'down', ref: r.refB, pid: r.b, reason: 'normal' });
    expect(r.noproc).toEqual({ type: 'down', ref: r.refB2, pid: r.b, reason: 'noproc' });
    expect(r.afterDemonitor).toBeNull();
    expect((await exitOf(n, r.c)).reason).toMatchObject(childFailed);
    expect(r.downD).toMatchObject({ type: 'down', pid: r.d, reason: { custom: 'reason' } });
    expect(query(n.db, 'SELECT * FROM monitors')).toEqual([]);
  });
});

describe.each(REPLAY_MODES)('registered names (%s)', (_label, opts) => {
  it('register/whereis/send by name; a taken name is refused; names disappear with their process', async () => {
    const logs: string[] = [];
    const n = await node({ ...opts, log: (_pid, line) => logs.push(line) });
    const pid = await n.spawn(fixture('natives/names.js'));
    await until(() => logs.includes('names-ready'), 15_000, 'the names script to get ready');
    // Live: the kernel and the journal agree on the names.
    expect(n.kernel.whereis('alpha')).toBe(pid);
    expect(n.kernel.whereis('beta')).toBe(pid);
    expect(query<{ name: string; pid: string }>(n.db, 'SELECT name, pid FROM names ORDER BY name')).toEqual([
      { name: 'alpha', pid },
      { name: 'beta', pid },
    ]);
    // Sending from outside by name reaches it.
    expect(n.send('alpha', 'finish')).toBe(true);
    const exit = await exitOf(n, pid);
    expect(exit.reason).toBe('normal');
    const r = exit.result as Record<string, any>;
    expect(r.registered).toBe(true);
    expect(r.self).toBe(pid);
    expect(r.unknown).toBeNull();
    expect(r.beta).toBe(r.child);
    expect(r.echoed).toEqual({ echo: 'hi by name' });
    expect(r.taken).toMatchObject({ code: 'BL_NAME_TAKEN' });
    expect(r.down).toMatchObject({ type: 'down', pid: r.child, reason: 'normal' });
    expect(r.afterExit).toBeNull();
    expect(r.reclaimed).toBe(true);
    expect(r.unregistered).toBe(true);
    expect(r.alphaAfterUnregister).toBeNull();
    // Gone with the process.
    expect(n.kernel.whereis('alpha')).toBeUndefined();
    expect(n.kernel.whereis('beta')).toBeUndefined();
    expect(query(n.db, 'SELECT * FROM names')).toEqual([]);
    expect(n.send('alpha', 'anyone?')).toBe(false);
  });

  it('a name with a NUL character is refused at the call with BL_ARG_INVALID (register and spawn), on either store', async () => {
    const n = await node(opts);
    const pid = await n.spawn(fixture('natives/nul-name.js'));
    const exit = await exitOf(n, pid);
    expect(exit.reason).toBe('normal');
    const r = exit.result as Record<string, any>;
    expect(r.register).toMatchObject({ code: 'BL_ARG_INVALID' });
    expect(r.register.message).toContain('register: name must be');
    expect(r.spawn).toMatchObject({ code: 'BL_ARG_INVALID' });
    expect(r.spawn.message).toContain('spawn: name must be');
    expect(r.afterwards).toBe(true);
  });
});
