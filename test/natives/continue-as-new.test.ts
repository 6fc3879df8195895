// continueAsNew: the next run with new arguments, same pid, mailbox, links
// and monitors; history starts over, so recovery replays only the last run.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, openNode, readRows, tmpdir, until } from '../helpers.js';

const node = nodesPerTest();

describe('continueAsNew', () => {
  it('starts the next run with the new arguments, keeping pid, mailbox and monitors', async () => {
    const logs: string[] = [];
    const n = await node({ log: (_pid, line) => logs.push(line) });
    const pid = await n.spawn(fixture('natives/long-counter.js'), [0, 5]);
    // All twelve messages are in its mailbox before it runs much: the ones a
    // run leaves unread must reach the next run.
    for (let i = 1; i <= 12; i++) n.send(pid, { type: 'inc', by: i });
    n.send(pid, { type: 'stop' });
    const exit = await n.waitExit(pid);
    expect(exit.result).toEqual({ count: 78, run: 3 });
    expect(logs).toEqual(['run 1 starts at 0', 'run 2 starts at 15', 'run 3 starts at 55']);
    const rows = readRows(n.db, pid);
    expect(new Set(rows.map((r) => r.run))).toEqual(new Set([1, 2, 3]));
    expect(rows.filter((r) => r.run === 1).at(-1)!.x).toBe('continued');
    // Not a restart and not an exit: no restarts counted, one exit at the very end.
    expect(rows.filter((r) => r.x !== undefined && r.x !== 'continued').map((r) => r.x)).toEqual(['normal']);
  });

  it('replays only the current run after the node stops mid-way', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const first = await openNode({ db });
    const pid = await first.spawn(fixture('natives/long-counter.js'), [100, 3]);
    for (let i = 0; i < 4; i++) first.send(pid, { type: 'inc', by: 1 });
    await until(() => readRows(db, pid).some((r) => r.run === 2 && r.c.length > 0), 10_000, 'the second run to start');
    await first.close();

    const second = await node({ db });
    expect(second.recovered).toBe(1);
    second.send(pid, { type: 'inc', by: 10 });
    second.send(pid, { type: 'stop' });
    const exit = await second.waitExit(pid);
    expect(exit.result).toEqual({ count: 114, run: 2 });
  });
});
