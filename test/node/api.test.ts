// The public API agrees with itself: what a script can call is in the Ctx
// type, and Node.spawn and ctx.spawn refuse a taken name the same way.

import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Ctx } from '../../dist/runtime/types.js';
import { fixture, nodesPerTest } from '../helpers.js';

const node = nodesPerTest();

describe('API consistency', () => {
  it('the Ctx type declares continueAsNew (checked by tsc -p tsconfig.test.json)', () => {
    expectTypeOf<Ctx>().toHaveProperty('continueAsNew');
    expectTypeOf<Ctx['continueAsNew']>().returns.toBeNever();
  });

  it('the Ctx type declares serve, call and reply (checked by tsc -p tsconfig.test.json)', () => {
    expectTypeOf<Ctx>().toHaveProperty('serve');
    expectTypeOf<Ctx['serve']>().returns.toEqualTypeOf<Promise<never>>();
    expectTypeOf<Ctx>().toHaveProperty('call');
    expectTypeOf<Ctx>().toHaveProperty('reply');
  });

  it('Node.spawn with a taken name rejects at the call with BL_NAME_TAKEN, like ctx.spawn', async () => {
    const n = await node();
    const first = await n.spawn(fixture('natives/echo.js'), [], { name: 'taken' });
    await expect(n.spawn(fixture('natives/echo.js'), [], { name: 'taken' })).rejects.toMatchObject({ code: 'BL_NAME_TAKEN' });
    // Nothing was started for the refused call, and the owner keeps its name.
    expect(n.kernel.processes().map((p) => p.pid)).toEqual([first]);
    expect(n.kernel.whereis('taken')).toBe(first);
  });
});

describe('Node.threadsLoaded', () => {
  it('resolves once every thread has reported a slice (its modules loaded), and at once after that', async () => {
    const n = await node({ threads: 2 });
    await n.threadsLoaded();
    expect(n.kernelStats().threads.map((t) => t.heap > 0)).toEqual([true, true]);
    await n.threadsLoaded();
  });

  it('does not hang on a node that is closing', async () => {
    const n = await node({ threads: 2 });
    const closing = n.close();
    await n.threadsLoaded();
    await closing;
  });
});
