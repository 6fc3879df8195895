// The thread's run queue (runtime/executor/run-queue.ts): two FIFO lanes,
// woken work ahead of starts, but starts get one round in every eight.

import { describe, expect, it } from 'vitest';
import { RunQueue } from '../../dist/runtime/executor/run-queue.js';

function drain<T>(q: RunQueue<T>): T[] {
  const out: T[] = [];
  for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x);
  return out;
}

describe('RunQueue', () => {
  it('is empty at first: size 0 and shift gives undefined', () => {
    const q = new RunQueue<number>();
    expect(q.size).toBe(0);
    expect(q.shift()).toBeUndefined();
  });

  it('keeps each lane first-in first-out and counts both lanes in size', () => {
    const q = new RunQueue<string>();
    for (const s of ['s1', 's2']) q.push(s, true);
    for (const w of ['w1', 'w2', 'w3']) q.push(w, false);
    expect(q.size).toBe(5);
    expect(drain(q)).toEqual(['w1', 'w2', 'w3', 's1', 's2']);
    expect(q.size).toBe(0);
  });

  it('puts woken work ahead of starts, yet gives starts one round in every eight', () => {
    const q = new RunQueue<string>();
    for (let i = 0; i < 3; i++) q.push(`s${i}`, true);
    for (let i = 0; i < 20; i++) q.push(`w${i}`, false);
    const w = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `w${from + i}`);
    expect(drain(q)).toEqual([...w(0, 8), 's0', ...w(8, 16), 's1', ...w(16, 20), 's2']);
  });

  it('serves starts alone when nothing is woken, and woken alone when nothing starts', () => {
    const starts = new RunQueue<number>();
    for (let i = 0; i < 20; i++) starts.push(i, true);
    expect(drain(starts)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const woken = new RunQueue<number>();
    for (let i = 0; i < 20; i++) woken.push(i, false);
    expect(drain(woken)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('stays in order across its internal compaction (100,000 items, pushes between shifts)', () => {
    const q = new RunQueue<number>();
    let next = 0;
    let expected = 0;
    let wrong = 0;
    for (let round = 0; round < 1000; round++) {
      for (let i = 0; i < 150; i++) q.push(next++, false);
      for (let i = 0; i < 100; i++) if (q.shift() !== expected++) wrong++;
    }
    expect(q.size).toBe(next - expected);
    for (const x of drain(q)) if (x !== expected++) wrong++;
    expect(wrong).toBe(0);
    expect(expected).toBe(150_000);
    expect(q.size).toBe(0);
  });
});
