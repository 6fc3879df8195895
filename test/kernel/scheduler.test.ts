// The scheduler's dispatch (runtime/kernel/scheduler.ts) against the kernel's
// real table and commit on a real journal. The thread pool is the one port
// replaced: it keeps each slice it is handed, decoded, and answers it when the
// test says, so what a slice carried can be read back exactly.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeWire, encodeWire } from '../../dist/runtime/journal/codec.js';
import { openJournal } from '../../dist/runtime/journal/sqlite.js';
import { Commit } from '../../dist/runtime/kernel/commit.js';
import type { ThreadPool } from '../../dist/runtime/kernel/pool.js';
import type { Reports } from '../../dist/runtime/kernel/reports.js';
import { Scheduler } from '../../dist/runtime/kernel/scheduler.js';
import { newProc, ProcessTable, type KProc } from '../../dist/runtime/kernel/table.js';
import type { SliceReport, SliceTask } from '../../dist/runtime/protocol.js';
import { emptyReport, reportPath } from '../fixtures/kernel/parts.js';
import { tmpdir } from '../helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});


/** One slot; every slice sent waits in `sent` until `answer(busy)` reports it (through the kernel's real report handling). */
function scheduler() {
  const store = openJournal(path.join(tmpdir(), 'journal.db'));
  const table = new ProcessTable();
  let pump = () => {};
  // A landed commit lets a slice waiting for it go, as the kernel does.
  // What reached the writer and the pool, in order ('commit', 'slice').
  const order: string[] = [];
  const storeWriter = store.writer();
  const writer = {
    commit: (events: Parameters<typeof storeWriter.commit>[0]) => {
      order.push('commit');
      return storeWriter.commit(events);
    },
    stats: () => storeWriter.stats(),
    close: () => storeWriter.close(),
  };
  const commit = new Commit({ writer, nextSerial: 1, kernelMailId: 0, slotIds: () => [], committed: () => pump(), fatal: (err) => { throw err; } });
  const sent: Array<{ task: SliceTask; answer: (report: SliceReport) => void }> = [];
  const pool = {
    run: (_slot: number, task: Uint8Array) =>
      new Promise<Uint8Array>((resolve) => {
        order.push('slice');
        sent.push({ task: decodeWire<SliceTask>(task), answer: (r) => resolve(new Uint8Array(encodeWire(r))) });
      }),
  } as unknown as ThreadPool;
  const reported: number[] = [];
  let reports: Reports | null = null;
  const s = new Scheduler({
    threads: 1,
    budgetMs: 10,
    idNext: () => 0,
    table,
    commit,
    pool: () => pool,
    report: (slot, report, slice) => {
      reported.push(report.busy);
      reports!.apply(slot, report, slice);
    },
    sliceFailed: () => {},
    open: () => true,
  });
  pump = () => s.pump();
  reports = reportPath(store, table, commit, s, cleanups);
  let serial = 0;
  const spawn = (n: number): KProc[] =>
    Array.from({ length: n }, () => {
      const proc = newProc(`abcd.${++serial}`, 1, '/x.js', new Uint8Array([0x90]), null, false, null, 0);
      table.add(proc);
      s.schedule(proc);
      return proc;
    });
  /** Answer the slice in flight with `busy` runnable processes left on the thread; resolves once the next one is sent (`next`). */
  const answer = async (busy: number, next = true, kept: string[] = []) => {
    const n = sent.length;
    sent[n - 1]!.answer(emptyReport(busy, kept));
    await until(() => reported.length >= n);
    s.pump();
    if (next) await until(() => sent.length > n);
  };
  const starts = (i: number) => sent[i]!.task.items.filter((it) => it.op === 'start').length;
  const wakes = (i: number) => sent[i]!.task.items.filter((it) => it.op === 'wake').length;
  return { s, sent, spawn, answer, starts, wakes, commit, order };
}

describe('scheduler: starts per slice', () => {
  it('tops the thread up to 512 queued processes rather than piling more on a thread that has not run the last ones', async () => {
    const { s, sent, spawn, answer, starts } = scheduler();
    spawn(1500);
    s.pump();
    expect(sent).toHaveLength(1);
    expect(starts(0)).toBe(512);
    // The thread ran 112 of them in its budget: 400 still wait there.
    await answer(400);
    expect(sent).toHaveLength(2);
    expect(starts(1)).toBe(112);
    // It has more than 512 of its own (woken processes count too): nothing new to start.
    await answer(600);
    expect(starts(2)).toBe(0);
    // Drained: a full batch again.
    await answer(0);
    expect(starts(3)).toBe(512);
  });

  it('sends at most 32 starts per slice while a timer is due within 50 ms, and wakes ahead of them', async () => {
    const { s, sent, spawn, answer, starts, wakes } = scheduler();
    let next = Infinity;
    s.nextTimer = () => next;
    const [first] = spawn(1);
    s.pump();
    expect(starts(0)).toBe(1);
    await answer(0, false);
    // The first process parked on a timer due in 20 ms; 1,000 more are spawned.
    first!.state = 'parked';
    next = Date.now() + 20;
    spawn(1000);
    s.pump();
    expect(sent).toHaveLength(2);
    expect(starts(1)).toBe(32);
    // The timer fired: its wake goes in the next slice, ahead of 32 starts.
    next = Date.now() - 1;
    s.mark(first!, { m: 'res', run: 1, step: 1, ok: true, v: null });
    await answer(0);
    expect(wakes(2)).toBe(1);
    expect(sent[2]!.task.items[0]).toMatchObject({ op: 'wake', pid: first!.pid });
    expect(starts(2)).toBe(32);
    // No timer left: back to full batches.
    next = Infinity;
    await answer(0);
    expect(starts(3)).toBe(512);
  });

  it('finds a wake queued behind thousands of starts, and one that came back into its thread while queued', async () => {
    const { s, sent, spawn, answer, starts, wakes } = scheduler();
    const [first, back] = spawn(2);
    s.pump();
    await answer(0, false);
    // `back` is evicted: its drop goes in a slice. While that slice is out,
    // a message queues it again, as a start from the journal; then the
    // thread reports it declined the drop (kept).
    s.evict(back!);
    s.slots[0]!.drops.push(back!.pid);
    s.pump();
    expect(sent).toHaveLength(2);
    expect(sent[1]!.task.items).toEqual([{ op: 'drop', pid: back!.pid }]);
    spawn(5000);
    s.schedule(back!);
    // The report of the drop's slice sends the next slice at once: 512 of
    // the 5,000 starts queued ahead of `back`.
    await answer(0, true, [back!.pid]);
    expect(back!.residency).toBe('resident');
    expect(starts(2)).toBe(512);
    expect(wakes(2)).toBe(0);
    // The timer of `first` fires meanwhile; both wakes go in the very next
    // slice, ahead of the 4,000 starts still queued before them.
    s.mark(first!, { m: 'res', run: 1, step: 1, ok: true, v: null });
    await answer(0);
    const items = sent[3]!.task.items;
    expect(wakes(3)).toBe(2);
    expect(items.filter((i) => i.op === 'wake').map((i) => i.pid).sort()).toEqual([first!.pid, back!.pid].sort());
    expect(items.some((i) => i.op === 'start' && i.pid === back!.pid)).toBe(false);
    expect(starts(3)).toBe(512);
  });
});

describe('scheduler: a commit asked for goes before the slices', () => {
  it('hands the writer the result a process was woken with before the slice that wakes it', async () => {
    const { s, sent, spawn, answer, commit, order } = scheduler();
    const [proc] = spawn(1);
    s.pump();
    await answer(0, false);
    await commit.flushed();
    proc!.state = 'parked';
    order.length = 0;
    // As an API's answer arrives (effects.ts): journal it, ask for its commit, wake the process.
    commit.push({ type: 'effect.done', pid: proc!.pid, run: 1, step: 1, ok: true, value: new Uint8Array([0xc0]) });
    commit.requestFlush();
    s.mark(proc!, { m: 'res', run: 1, step: 1, ok: true, v: null });
    await until(() => sent.length === 2);
    // Its fsync overlaps the slice: the next request, which waits for it, leaves sooner.
    expect(order).toEqual(['commit', 'slice']);
    await commit.flushed();
  });
});

/** Resolves once `done()` holds, looking again after each turn of the event loop. */
function until(done: () => boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    const check = () => (done() ? resolve() : setImmediate(check));
    check();
  });
}
