// `runtime prune --keep DURATION`: finished history goes; what recovery
// needs (the current run of every live process) stays.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, nodesPerTest, query, readRows, runCli, tmpdir, until } from '../helpers.js';

const node = nodesPerTest();

describe('runtime prune', () => {
  it('forgets exited processes and earlier runs, on a live node and offline', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const n = await node({ db });
    const done = await n.spawn(fixture('stepper.js'), [2, 5]);
    await n.waitExit(done);
    const live = await n.spawn(fixture('natives/long-counter.js'), [0, 2]);
    for (let i = 0; i < 3; i++) n.send(live, { type: 'inc', by: 1 });
    // The third message is taken by the second run (inline, or as a resolution).
    const tookOne = (r: ReturnType<typeof readRows>[number]) => r.run === 2 && (r.r.length > 0 || r.c.some((c) => c[1] === 'receive' && c[4] === 1));
    await until(() => readRows(db, live).some(tookOne), 10_000, 'a message in the second run');
    await n.kernel.flush();

    // An embedded node has no control socket: the CLI cannot reach it and the
    // journal is locked, so it refuses; the node itself prunes.
    expect((await runCli(['prune', '--db', db, '--keep', '0s'])).stderr).toContain('BL_JOURNAL_LOCKED');
    await n.kernel.prune(Date.now());
    expect(query(db, 'SELECT pid FROM processes WHERE pid = ?', done)).toHaveLength(0);
    expect(readRows(db, done)).toHaveLength(0);
    // The live process keeps its current run (replay needs it), not the run before.
    expect(new Set(readRows(db, live).map((r) => r.run))).toEqual(new Set([2]));

    // It still works: the current run is intact.
    n.send(live, { type: 'stop' });
    expect((await n.waitExit(live)).result).toEqual({ count: 3, run: 2 });
    await n.close();

    // Offline: straight on the journal.
    expect((await runCli(['prune', '--db', db, '--keep', '0s'])).code).toBe(0);
    expect(query(db, 'SELECT pid FROM processes')).toHaveLength(0);
    expect(readRows(db)).toHaveLength(0);
  });

  it('needs --keep', async () => {
    const out = await runCli(['prune', '--db', path.join(tmpdir(), 'journal.db')]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/--keep/);
  });
});
