// The pending batch (runtime/journal/batch.ts): events waiting for the next
// group commit, with an event and its undoing cancelled as they arrive, so
// what drain() gives is exactly the end state, in order.

import { describe, expect, it } from 'vitest';
import { Batch } from '../../dist/runtime/journal/batch.js';
import type { JournalEvent } from '../../dist/runtime/journal/events.js';

const bytes = (...b: number[]) => new Uint8Array(b);
const put = (id: number, to = 'n.2'): JournalEvent => ({ type: 'mail.put', id, to, from: 'n.1', kind: 0, data: bytes(id) });
const armed = (step: number, run = 1): JournalEvent => ({ type: 'effect.armed', pid: 'n.1', run, step, kind: 'timer', at: 1000, data: bytes(step) });
const spawned = (pid: string, run = 1): JournalEvent => ({
  type: 'process.spawned',
  pid,
  run,
  at: 10,
  script: '/s.js',
  args: bytes(),
  parent: null,
  root: false,
  sup: null,
});
const exited = (pid: string, run = 1): JournalEvent => ({ type: 'process.exited', pid, run, at: 20, reason: bytes(1), result: bytes(2), lastMessage: null });

function batchOf(...events: JournalEvent[]): Batch {
  const b = new Batch();
  for (const e of events) b.push(e);
  return b;
}

describe('Batch', () => {
  it('passes unrelated events through in order and counts them', () => {
    const evs: JournalEvent[] = [
      { type: 'link.added', a: 'n.1', b: 'n.2' },
      { type: 'name.registered', name: 'x', pid: 'n.1' },
      { type: 'meta.set', key: 'k', value: 'v' },
      { type: 'mail.dropped', pid: 'n.3' },
    ];
    const b = batchOf(...evs);
    expect(b.size).toBe(4);
    expect(b.drain()).toEqual(evs);
  });

  it('drain empties the batch and forgets what it could cancel', () => {
    const b = batchOf(put(1));
    expect(b.drain()).toEqual([put(1)]);
    expect(b.size).toBe(0);
    expect(b.drain()).toEqual([]);
    // the put is committed now: its take must be written
    b.push({ type: 'mail.taken', id: 1 });
    expect(b.drain()).toEqual([{ type: 'mail.taken', id: 1 }]);
  });

  describe('mail', () => {
    it('a message put and taken in the same batch writes nothing', () => {
      const b = batchOf(put(1), put(2), { type: 'mail.taken', id: 1 });
      expect(b.size).toBe(1);
      expect(b.drain()).toEqual([put(2)]);
    });

    it('a take of a message committed earlier is kept', () => {
      expect(batchOf({ type: 'mail.taken', id: 7 }).drain()).toEqual([{ type: 'mail.taken', id: 7 }]);
    });

    it('a rewrite folds into the put of the same batch (one row, the new kind and data)', () => {
      const b = batchOf(put(1), { type: 'mail.rewritten', id: 1, kind: 2, data: bytes(9, 9) });
      expect(b.size).toBe(1);
      expect(b.drain()).toEqual([{ ...put(1), kind: 2, data: bytes(9, 9) }]);
    });

    it('put, rewrite, take: nothing at all', () => {
      expect(batchOf(put(1), { type: 'mail.rewritten', id: 1, kind: 2, data: bytes(3) }, { type: 'mail.taken', id: 1 }).drain()).toEqual([]);
    });

    it('a rewrite of a committed message is kept', () => {
      const ev: JournalEvent = { type: 'mail.rewritten', id: 4, kind: 2, data: bytes(1) };
      expect(batchOf(ev).drain()).toEqual([ev]);
    });
  });

  describe('effects', () => {
    it('an effect armed and done in the same batch becomes one row carrying its result', () => {
      const b = batchOf(armed(3), { type: 'effect.done', pid: 'n.1', run: 1, step: 3, ok: true, value: bytes(5) });
      expect(b.size).toBe(1);
      expect(b.drain()).toEqual([{ ...armed(3), done: { ok: true, value: bytes(5) } }]);
    });

    it('an effect armed and cleared in the same batch writes nothing', () => {
      const b = batchOf(armed(3), armed(4), { type: 'effect.cleared', pid: 'n.1', run: 1, step: 3 });
      expect(b.drain()).toEqual([armed(4)]);
    });

    it('matches effects by pid, run and step: another run or step is not cancelled', () => {
      const done: JournalEvent = { type: 'effect.done', pid: 'n.1', run: 2, step: 3, ok: false, value: null };
      const cleared: JournalEvent = { type: 'effect.cleared', pid: 'n.9', run: 1, step: 3 };
      expect(batchOf(armed(3), done, cleared).drain()).toEqual([armed(3), done, cleared]);
    });

    it('clearing every effect of a run (step null) is kept as it is', () => {
      const all: JournalEvent = { type: 'effect.cleared', pid: 'n.1', run: 1, step: null };
      expect(batchOf(armed(3), all).drain()).toEqual([armed(3), all]);
    });

    it('done and cleared for an effect committed earlier are kept', () => {
      const done: JournalEvent = { type: 'effect.done', pid: 'n.1', run: 1, step: 3, ok: true, value: null };
      const cleared: JournalEvent = { type: 'effect.cleared', pid: 'n.1', run: 1, step: 4 };
      expect(batchOf(done, cleared).drain()).toEqual([done, cleared]);
    });
  });

  describe('processes', () => {
    it('a process spawned and exited in the same batch becomes one row with its exit', () => {
      const b = batchOf(spawned('n.5'), exited('n.5'));
      expect(b.size).toBe(1);
      expect(b.drain()).toEqual([{ ...spawned('n.5'), exit: { at: 20, reason: bytes(1), result: bytes(2), lastMessage: null } }]);
    });

    it('an exit of another run, or of a process spawned earlier, is kept', () => {
      expect(batchOf(spawned('n.5', 1), exited('n.5', 2)).drain()).toEqual([spawned('n.5', 1), exited('n.5', 2)]);
      expect(batchOf(exited('n.6')).drain()).toEqual([exited('n.6')]);
    });
  });

  it('keeps the order of what survives', () => {
    const link: JournalEvent = { type: 'link.added', a: 'n.1', b: 'n.2' };
    const b = batchOf(put(1), link, armed(2), put(3), { type: 'mail.taken', id: 1 }, { type: 'effect.cleared', pid: 'n.1', run: 1, step: 2 });
    expect(b.size).toBe(2);
    expect(b.drain()).toEqual([link, put(3)]);
  });
});
