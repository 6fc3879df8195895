// SmallMap: the map a process's pending steps and kernel effects live in
// (one entry inline, a Map from the second on) behaves as a Map does.

import { describe, expect, it } from 'vitest';
import { SmallMap } from '../../dist/runtime/small-map.js';

/** Every operation applied to a SmallMap and a Map alike; their contents must agree after each. */
function same(ops: Array<['set', number, string] | ['delete', number] | ['clear']>): void {
  const small = new SmallMap<number, string>();
  const map = new Map<number, string>();
  for (const op of ops) {
    if (op[0] === 'set') {
      expect(small.set(op[1], op[2])).toBe(small);
      map.set(op[1], op[2]);
    } else if (op[0] === 'delete') {
      expect(small.delete(op[1])).toBe(map.delete(op[1]));
    } else {
      small.clear();
      map.clear();
    }
    expect(small.size).toBe(map.size);
    expect([...small]).toEqual([...map]);
    expect([...small.values()]).toEqual([...map.values()]);
    for (const k of [1, 2, 3, 4]) {
      expect(small.has(k)).toBe(map.has(k));
      expect(small.get(k)).toBe(map.get(k));
    }
  }
}

describe('SmallMap', () => {
  it('agrees with Map with one entry: set, overwrite, delete, a missing key', () => {
    same([['set', 1, 'a'], ['set', 1, 'b'], ['delete', 2], ['delete', 1], ['delete', 1], ['set', 2, 'c'], ['clear']]);
  });

  it('agrees with Map across a second entry, deletes in any order, and after clear', () => {
    same([['set', 1, 'a'], ['set', 2, 'b'], ['set', 3, 'c'], ['delete', 1], ['set', 1, 'd'], ['delete', 3], ['delete', 2], ['delete', 1], ['set', 4, 'e'], ['clear'], ['set', 2, 'f']]);
  });

  it('keeps an undefined value apart from a missing key', () => {
    const small = new SmallMap<number, undefined>();
    small.set(1, undefined);
    expect(small.has(1)).toBe(true);
    expect(small.size).toBe(1);
    expect([...small]).toEqual([[1, undefined]]);
  });

  it('visits every entry while the one being visited is deleted, inline and as a Map', () => {
    for (const n of [1, 3]) {
      const small = new SmallMap<number, number>();
      for (let i = 0; i < n; i++) small.set(i, i * 10);
      const seen: number[] = [];
      for (const [k, v] of small) {
        seen.push(v);
        small.delete(k);
      }
      expect(seen).toEqual(Array.from({ length: n }, (_, i) => i * 10));
      expect(small.size).toBe(0);
    }
  });
});
