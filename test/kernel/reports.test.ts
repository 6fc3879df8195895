// Report handling against the kernel's real parts (table, scheduler, commit
// on a real journal), with no thread: the slot is closed for dispatch, so
// what the report did to the kernel's records can be read back exactly.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Abort } from '../../dist/runtime/abort.js';
import { openJournal } from '../../dist/runtime/journal/sqlite.js';
import { Commit } from '../../dist/runtime/kernel/commit.js';
import { Scheduler, type Slice } from '../../dist/runtime/kernel/scheduler.js';
import { newProc, ProcessTable } from '../../dist/runtime/kernel/table.js';
import type { Marker } from '../../dist/runtime/protocol.js';
import { emptyReport, reportPath } from '../fixtures/kernel/parts.js';
import { tmpdir } from '../helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function kernelParts() {
  const store = openJournal(path.join(tmpdir(), 'journal.db'));
  const table = new ProcessTable();
  const commit: Commit = new Commit({
    writer: store.writer(),
    nextSerial: 1,
    kernelMailId: 0,
    slotIds: () => [],
    committed: () => {},
    fatal: (err) => {
      throw err;
    },
  });
  const scheduler = new Scheduler({
    threads: 1,
    budgetMs: 10,
    idNext: () => 0,
    table,
    commit,
    pool: () => {
      throw new Error('no thread in this test');
    },
    report: () => {},
    sliceFailed: () => {},
    open: () => false,
  });
  const reports = reportPath(store, table, commit, scheduler, cleanups);
  return { table, scheduler, reports };
}


describe('reports', () => {
  it('a failed wake gives its markers back (they were cleared at dispatch) and the process is rebuilt', () => {
    const { table, scheduler, reports } = kernelParts();
    const slot = scheduler.slots[0]!;
    const proc = newProc('abcd.1', 1, '/x.js', new Uint8Array(), null, false, null, 0);
    proc.residency = 'resident';
    proc.slot = 0;
    proc.state = 'running';
    table.add(proc);
    slot.residents.add(proc);
    const fired: Marker = { m: 'res', run: 1, step: 3, ok: true, v: null };
    const slice: Slice = { items: [{ op: 'wake', pid: proc.pid, marks: [fired] }], procs: [proc], started: 0, abort: new Abort(), probes: new Map() };
    // The thread does not hold the process (it reports the wake as failed).
    reports.apply(slot, { ...emptyReport(), failed: [{ pid: proc.pid, run: -1, reason: 'not live on this thread' }] }, slice);
    expect(proc.marks).toEqual([fired]);
    expect(proc.residency).toBe('journal');
    expect(slot.queue.has(proc)).toBe(true);
    expect(slot.residents.has(proc)).toBe(false);
  });
});
