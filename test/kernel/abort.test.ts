// Abort: the kernel's cancellation handle for slices and HTTP calls. It
// behaves as an aborted-once signal, and the two libraries it is handed to
// take it as one: Piscina terminates the thread of a task it aborts (and
// forgets a finished task's listener); undici's side is in
// http-client.test.ts (an in-flight attempt and a backoff wait aborted).

import path from 'node:path';
import { Piscina } from 'piscina';
import { afterEach, describe, expect, it } from 'vitest';
import { Abort } from '../../dist/runtime/abort.js';

describe('Abort', () => {
  it('runs every listener once, in the order added, and only on the first abort', () => {
    const a = new Abort();
    const calls: string[] = [];
    a.once('abort', () => calls.push('one'));
    a.on('abort', () => calls.push('two'));
    a.addListener('abort', () => calls.push('three'));
    expect(a.aborted).toBe(false);
    a.abort('why');
    expect(calls).toEqual(['one', 'two', 'three']);
    expect(a.aborted).toBe(true);
    expect(a.reason).toBe('why');
    a.abort('again');
    expect(calls).toEqual(['one', 'two', 'three']);
    expect(a.reason).toBe('why');
  });

  it('does not run a removed listener, first or later', () => {
    const a = new Abort();
    const calls: string[] = [];
    const first = () => calls.push('first');
    const second = () => calls.push('second');
    const third = () => calls.push('third');
    a.once('abort', first);
    a.once('abort', second);
    a.once('abort', third);
    a.removeListener('abort', first);
    a.off('abort', third);
    a.off('abort', () => calls.push('never added'));
    a.abort(new Error('x'));
    expect(calls).toEqual(['second']);
  });

  it('throws its reason once aborted', () => {
    const a = new Abort();
    expect(() => a.throwIfAborted()).not.toThrow();
    const reason = new Error('slice budget exceeded');
    a.abort(reason);
    expect(() => a.throwIfAborted()).toThrow(reason);
  });
});

describe('Abort handed to Piscina', () => {
  let pool: Piscina | null = null;
  afterEach(async () => {
    await pool?.destroy();
    pool = null;
  });

  const open = () =>
    (pool = new Piscina({ filename: path.resolve('test/fixtures/kernel/piscina-task.mjs'), minThreads: 1, maxThreads: 1, idleTimeout: Infinity, atomics: 'disabled' }));

  it('aborts a running task with the reason and replaces its thread', async () => {
    const p = open();
    const a = new Abort();
    const started = new Promise((resolve) => p.once('message', resolve));
    const running = p.run('hang', { signal: a });
    await started;
    const first = p.threads[0]!.threadId;
    a.abort('slice budget exceeded');
    const err = await running.then(() => null, (e: unknown) => e as Error & { cause?: unknown });
    expect(err?.name).toBe('AbortError');
    expect(err?.cause).toBe('slice budget exceeded');
    // The thread that ran it was terminated; the pool runs the next task on a new one.
    expect(await p.run('next')).toBe('done next');
    expect(p.threads.map((t) => t.threadId)).not.toContain(first);
  });

  it('forgets the listener of a task that finished', async () => {
    const p = open();
    const a = new Abort();
    expect(await p.run('quick', { signal: a })).toBe('done quick');
    const thread = p.threads[0]!.threadId;
    a.abort('late');
    // Nothing was listening: the thread lives on and takes the next task.
    expect(await p.run('after')).toBe('done after');
    expect(p.threads.map((t) => t.threadId)).toEqual([thread]);
  });
});
