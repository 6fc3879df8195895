// Commit: what it persists besides the events it is given. The id counters
// go with the batch that moved them, so a restarted node never gives a pid
// serial or a message id twice (runtime/kernel/commit.ts).

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openJournal } from '../../dist/runtime/journal/sqlite.js';
import { Commit } from '../../dist/runtime/kernel/commit.js';
import { tmpdir } from '../helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function commitOn(nextSerial: number) {
  const store = openJournal(path.join(tmpdir(), 'journal.db'));
  const commit = new Commit({ writer: store.writer(), nextSerial, kernelMailId: 0, slotIds: () => [], committed: () => {}, fatal: (err) => { throw err; } });
  cleanups.push(() => store.close(), () => commit.close());
  return { store, commit };
}

describe('commit: id counters', () => {
  it('persists the pid counter past a range granted to a thread, with the next batch, when nothing else moved', async () => {
    const { store, commit } = commitOn(10);
    // A thread is granted serials 10..73 (Scheduler's pid ranges); nothing else takes an id.
    expect(commit.serials(64)).toBe(10);
    commit.push({ type: 'meta.set', key: 'note', value: 'any event' });
    await commit.flushed();
    // A node restarted now starts after the range: no child numbered from it is given twice.
    expect(store.meta('pid_next')).toBe('74');
  });

  it('persists the pid counter after a single serial', async () => {
    const { store, commit } = commitOn(5);
    expect(commit.serial()).toBe(5);
    await commit.flushed();
    expect(store.meta('pid_next')).toBe('6');
  });

  it('writes no counters when none moved', async () => {
    const { store, commit } = commitOn(5);
    commit.push({ type: 'meta.set', key: 'note', value: 'any event' });
    await commit.flushed();
    expect(store.meta('pid_next')).toBeUndefined();
  });
});
