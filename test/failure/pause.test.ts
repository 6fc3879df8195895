// --on-divergence pause: a process whose replay diverges (its script was
// changed under it) is kept in state 'diverged' instead of failing. It stays
// (same pid, same run), is visible as diverged, stores the messages sent to
// it without running, and `resume` retries it under the fixed script; a kill
// ends it. A supervised child paused this way is not a crash: the supervisor
// neither restarts it nor counts it against intensity (the same journal
// under 'fail' escalates, which is what makes this test able to fail).

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlServer } from '../../dist/runtime/control/socket.js';
import { parseTreeFile } from '../../dist/runtime/config/tree.js';
import type { Node, RootExit } from '../../dist/runtime/index.js';
import { fixture, openNode, query, readRows, runCli, settled, tmpdir, until } from '../helpers.js';
import { killLeftovers, lines } from '../fixtures/failure/cli.js';

const open: Node[] = [];
const controls: ControlServer[] = [];
afterEach(async () => {
  await killLeftovers();
  await Promise.all(controls.splice(0).map((c) => c.close()));
  await Promise.all(open.splice(0).map((n) => n.close()));
});

async function node(opts: Parameters<typeof openNode>[0]): Promise<Node> {
  const n = await openNode(opts);
  open.push(n);
  return n;
}

async function closeNode(n: Node): Promise<void> {
  open.splice(open.indexOf(n), 1);
  await n.close();
}

const version = (name: string) => fs.readFileSync(fixture(`code-change/${name}.js`), 'utf8');
const sleeping = (db: string, pid: string) => readRows(db, pid).some((r) => r.c.some((c) => c[1] === 'sleep'));

describe('--on-divergence pause', () => {
  it('keeps the process as diverged, stores its messages without running it, and resumes it under the fixed script', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const script = path.join(dir, 'waiter.js');
    fs.writeFileSync(script, version('waiter-v1'));
    const first = await node({ db });
    const pid = await first.spawn(script, [1500]);
    const doomed = await first.spawn(script, [60_000]);
    await until(() => sleeping(db, pid) && sleeping(db, doomed), 30_000, 'both sleeps to be committed');
    await closeNode(first);

    fs.writeFileSync(script, version('waiter-v2-broken'));
    const paused = await node({ db, onDivergence: 'pause' });
    await until(() => paused.stateOf(pid) === 'diverged' && paused.stateOf(doomed) === 'diverged', 30_000, 'both to be paused');
    await paused.flush();
    // Still live in the journal, same run; the divergence is in its history.
    expect(query(db, 'SELECT status, run, restarts FROM processes WHERE pid = ?', pid)).toEqual([{ status: 'live', run: 1, restarts: 0 }]);
    const last = readRows(db, pid).at(-1)!;
    expect(last).toMatchObject({ r: [], c: [], d: { error: 'NonDeterminismError', code: 'BL_NONDETERMINISM', details: { pid, step: 0 } } });
    expect(last.x).toBeUndefined();

    // Visible as diverged through the CLI (the node's control socket), in ps and in history.
    const control = new ControlServer(paused);
    controls.push(control);
    await control.listen();
    const ps = await runCli(['ps', '--db', db, '--json'], 30_000);
    expect(ps.code).toBe(0);
    expect((JSON.parse(ps.stdout) as Array<{ pid: string; state: string; lastStep: string }>).find((r) => r.pid === pid)).toMatchObject({
      state: 'diverged',
      lastStep: 'diverged at step 0',
    });
    const history = await runCli(['history', '--db', db, pid], 30_000);
    expect(history.stdout).toMatch(/diverged, paused: NonDeterminismError: process \S+ diverged from its journal at step 0: expected sleep at step 0, got random/);

    // Messages are stored, nothing runs: no round is added while it is paused, not even when its timer fires.
    const rowsBefore = readRows(db, pid).length;
    const sent = await runCli(['send', '--db', db, pid, '{"hello":1}'], 30_000);
    expect(sent.code).toBe(0);
    const fireAt = readRows(db, pid).flatMap((r) => r.c).find((c) => c[1] === 'sleep')![3] as number;
    await until(() => Date.now() > fireAt + 300, 30_000, 'the timer to fire while paused');
    await settled(paused);
    expect(query<{ n: number }>(db, 'SELECT count(*) AS n FROM mailbox WHERE pid = ?', pid)).toEqual([{ n: 1 }]);
    expect(readRows(db, pid)).toHaveLength(rowsBefore);
    expect(paused.stateOf(pid)).toBe('diverged');

    // resume before the fix: it diverges again and stays paused.
    const early = await runCli(['resume', '--db', db, pid], 30_000);
    expect(early.code).toBe(0);
    await until(() => readRows(db, pid).filter((r) => (r as { d?: unknown }).d !== undefined).length === 2, 30_000, 'a second divergence');
    expect(paused.stateOf(pid)).toBe('diverged');

    // Fixed: resume replays under the new file, takes the old branch, gets the message that waited.
    fs.writeFileSync(script, version('waiter-v3-fixed'));
    const resumed = await runCli(['resume', '--db', db, pid], 30_000);
    expect(resumed.code).toBe(0);
    expect(lines(resumed.stdout)).toEqual([`resumed ${pid}`]);
    const exit = await paused.waitExit(pid);
    expect(exit).toMatchObject({ reason: 'normal', result: { path: 'v3-old', got: { hello: 1 } } });

    // resume of a process that is not paused is refused; a kill ends a paused one.
    const refused = await runCli(['resume', '--db', db, pid], 30_000);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('[BL_NOPROC]');
    const killed = await runCli(['kill', '--db', db, doomed], 30_000);
    expect(killed.code).toBe(0);
    expect(await paused.waitExit(doomed)).toMatchObject({ reason: 'killed' });
  }, 180_000);

  it('a supervised child paused by a divergence is not a crash: no restart, no intensity; under fail the same journal escalates', { timeout: 180_000 }, async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const script = path.join(dir, 'waiter.js');
    fs.writeFileSync(script, version('waiter-v1'));
    const tree = path.join(dir, 'tree.yaml');
    fs.writeFileSync(
      tree,
      ['strategy: one_for_one', 'intensity: 1', 'period: 60s', 'children:', '  - id: a', '    script: ./waiter.js', '    args: [60000]', '  - id: b', '    script: ./waiter.js', '    args: [60000]', ''].join('\n'),
    );
    const first = await node({ db });
    first.startTree(parseTreeFile(tree));
    await until(() => query<{ pid: string }>(db, "SELECT pid FROM processes WHERE sup IS NOT NULL").filter((r) => sleeping(db, r.pid)).length === 2, 30_000, 'both children asleep');
    const children = query<{ pid: string }>(db, 'SELECT pid FROM processes WHERE sup IS NOT NULL ORDER BY pid').map((r) => r.pid);
    await closeNode(first);
    // The same journal, for the 'fail' contrast below.
    const copy = path.join(dir, 'copy.db');
    fs.copyFileSync(db, copy);
    fs.writeFileSync(script, version('waiter-v2-broken'));

    const paused = await node({ db, onDivergence: 'pause' });
    const exits: RootExit[] = [];
    paused.onRootExit((e) => exits.push(e));
    await until(() => children.every((pid) => paused.stateOf(pid) === 'diverged'), 30_000, 'both children paused');
    await settled(paused);
    expect(exits).toEqual([]);
    expect(query(db, 'SELECT run, restarts, status FROM processes WHERE sup IS NOT NULL ORDER BY pid')).toEqual([
      { run: 1, restarts: 0, status: 'live' },
      { run: 1, restarts: 0, status: 'live' },
    ]);

    const failing = await node({ db: copy, onDivergence: 'fail' });
    const failed: RootExit[] = [];
    failing.onRootExit((e) => failed.push(e));
    await until(() => failed.length > 0, 30_000, 'the root to give up under fail');
    expect(failed[0]).toMatchObject({ escalated: true });
  });

  it('rejects an unknown policy with a one-line usage error', async () => {
    const out = await runCli(['spawn', '--on-divergence', 'ignore', fixture('code-change/waiter-v1.js')], 30_000);
    expect(out.code).toBe(2);
    expect(lines(out.stderr)).toEqual(["runtime: --on-divergence: expected 'fail' or 'pause' (got ignore)"]);
  }, 60_000);
});
