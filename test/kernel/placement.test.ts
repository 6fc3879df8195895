// Thread placement (runtime/kernel/placement.ts): next to the parent unless
// the parent's thread carries more than COLOCATE_SLACK above the lightest.

import { describe, expect, it } from 'vitest';
import { COLOCATE_SLACK, place } from '../../dist/runtime/kernel/placement.js';

describe('place', () => {
  it('without a parent, picks the lightest slot (the first of equals)', () => {
    expect(place([3, 1, 2], -1)).toBe(1);
    expect(place([2, 0, 0, 5], -1)).toBe(1);
    expect(place([4, 4, 4], -1)).toBe(0);
    expect(place([7], -1)).toBe(0);
  });

  it("colocates with the parent while its thread is within the slack of the lightest", () => {
    expect(COLOCATE_SLACK).toBe(8);
    expect(place([0, 5], 1)).toBe(1);
    expect(place([0, COLOCATE_SLACK], 1)).toBe(1);
    expect(place([10, 10 + COLOCATE_SLACK], 1)).toBe(1);
  });

  it('goes to the lightest once the parent is more than the slack above it', () => {
    expect(place([0, COLOCATE_SLACK + 1], 1)).toBe(0);
    expect(place([50, 3, 20], 0)).toBe(1);
  });

  it('treats a parent slot out of range as no parent', () => {
    expect(place([5, 1], 2)).toBe(1);
    expect(place([5, 1], -1)).toBe(1);
    expect(place([1, 5], 99)).toBe(0);
  });

  it('spreads a fan-out: children of one parent leave its slot once it is busy', () => {
    const loads = [0, 0, 0, 0];
    const parent = 0;
    loads[parent]!++;
    for (let i = 0; i < 400; i++) loads[place(loads, parent)]!++;
    const max = Math.max(...loads);
    const min = Math.min(...loads);
    expect(max - min).toBeLessThanOrEqual(COLOCATE_SLACK + 1);
    expect(loads.reduce((a, b) => a + b)).toBe(401);
  });
});
