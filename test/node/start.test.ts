// `runtime start TREE` as users run it: a real child process per node, real
// signals. Stopping with SIGTERM shuts the tree down in order and exits 0; a
// root that gives up exits 1 with one line saying why; SIGKILL and a second
// `runtime start` on the same journal resume the tree exactly where it was.

import type { PsRow } from '../../dist/runtime/control/inspect.js';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { query, readRows, sleep, tmpdir, until } from '../helpers.js';
import {
  cli,
  cliJson,
  killLeftovers,
  nodeLogged,
  script,
  startNode,
  SUP,
  supIn,
  workerIn,
  writeTree,
  type StartedNode,
  type SupView,
} from '../fixtures/supervisor/support.js';

afterEach(killLeftovers);

type PsJson = PsRow;

/** The node's own (non-JSON) stderr lines. */
const runtimeLines = (n: StartedNode) => n.stderr.split('\n').filter((l) => l.startsWith('runtime: '));

const logged = nodeLogged;

describe('runtime start', () => {
  it('resolves scripts against the tree file, starts in list order, and on SIGTERM stops in reverse order and exits 0', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const tree = path.join(SUP, 'ordered.yaml');
    const node = await startNode(tree, db);
    expect(node.resumed).toBe(false);
    for (const id of ['a', 'b', 'x', 'y', 'c']) await logged(node, new RegExp(`^start ${id} run 1$`));
    const view = (await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!;
    expect(view.pid).toBe(node.treePid);
    const pid = (id: string) => workerIn(view, id).pid!;
    // Script paths were resolved against test/fixtures/supervisor, not the cwd.
    const ps = await cliJson<PsJson[]>(['ps', '--db', db, '--json']);
    expect(ps).toHaveLength(5);
    for (const row of ps) expect(row.script).toMatch(/test\/fixtures\/supervisor\/child\.js$/);
    // List order: pids in sequence, a first.
    const serials = ['a', 'b', 'x', 'y', 'c'].map((id) => Number(pid(id).split('.')[1]));
    expect([...serials].sort((p, q) => p - q)).toEqual(serials);

    node.child.kill('SIGTERM');
    expect(await node.exited).toEqual({ code: 0, signal: null });
    const inner = supIn(view, 'inner').pid;
    // Log lines are JSON {time, pid, msg}; the shutdown signals arrived last-started first.
    const signals = node.logs().filter((l) => l.msg.startsWith('exit-signal'));
    expect(signals.map((l) => [l.pid, l.msg])).toEqual([
      [pid('c'), `exit-signal c "shutdown" from ${node.treePid}`],
      [pid('y'), `exit-signal y "shutdown" from ${inner}`],
      [pid('x'), `exit-signal x "shutdown" from ${inner}`],
      [pid('b'), `exit-signal b "shutdown" from ${node.treePid}`],
      [pid('a'), `exit-signal a "shutdown" from ${node.treePid}`],
    ]);
    const times = signals.map((l) => Date.parse(l.time));
    expect(times.every((t, i) => Number.isFinite(t) && (i === 0 || t >= times[i - 1]!))).toBe(true);
    // Nothing is left live in the journal, and the control socket is gone.
    expect(query(db, "SELECT pid FROM processes WHERE status = 'live'")).toEqual([]);
    expect(fs.existsSync(`${db}.sock`)).toBe(false);
  });

  it('exits 1 with one line naming the child and its reason when the root gives up', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const tree = writeTree({ strategy: 'one_for_one', intensity: 0, children: [{ id: 'w', script: script('child.js'), args: ['w'], name: 'w' }] }, dir);
    const node = await startNode(tree, db);
    await logged(node, /^start w run 1$/);
    const w = (await cliJson<PsJson[]>(['ps', '--db', db, '--json']))[0]!.pid;
    expect((await cli(['send', '--db', db, 'w', '{"cmd":"crash"}'])).code).toBe(0);
    expect(await node.exited).toEqual({ code: 1, signal: null });
    const last = runtimeLines(node).at(-1)!;
    expect(last).toContain(node.treePid);
    expect(last).toContain("'w'");
    expect(last).toContain(w);
    expect(last).toContain('crash w');
    expect(node.stderr.split('\n').filter((l) => l.includes('gave up'))).toHaveLength(1);
  });

  it('escalates through two levels: the nested supervisor is restarted once, then the node exits 1 naming the worker', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const tree = writeTree(
      {
        strategy: 'one_for_one',
        intensity: 1,
        period: '1m',
        children: [
          { id: 's', script: script('child.js'), args: ['s'] },
          {
            id: 'inner',
            supervisor: { strategy: 'one_for_one', intensity: 1, period: '1m', children: [{ id: 'w', script: script('child.js'), args: ['w'], name: 'w' }] },
          },
        ],
      },
      dir,
    );
    const node = await startNode(tree, db);
    await logged(node, /^start w run 1$/);
    const crashW = async () => expect((await cli(['send', '--db', db, 'w', '{"cmd":"crash"}'])).code).toBe(0);
    const starts = () => node.logs().filter((l) => l.msg.startsWith('start w ')).length;

    await crashW();
    await until(() => starts() === 2, 20_000, 'w to be restarted by inner');
    await crashW(); // inner gives up; the root restarts inner, which starts w afresh
    await until(() => starts() === 3, 20_000, 'inner to be restarted by the root');
    let view = (await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!;
    expect(view.restarts).toBe(1);
    expect(supIn(view, 'inner')).toMatchObject({ status: 'running', restarts: 0 });
    await crashW();
    await until(() => starts() === 4, 20_000, 'w to be restarted by the new inner');
    view = (await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!;
    expect(supIn(view, 'inner').restarts).toBe(1);
    await crashW(); // inner gives up again: a second restart within the period is too many for the root

    expect(await node.exited).toEqual({ code: 1, signal: null });
    const gaveUp = node.stderr.split('\n').filter((l) => l.includes('gave up'));
    expect(gaveUp).toHaveLength(1);
    expect(gaveUp[0]).toContain(node.treePid);
    // Says why: the worker whose failures escalated, and its reason.
    expect(gaveUp[0]).toContain("'w'");
    expect(gaveUp[0]).toContain('crash w');
  });

  it('exits 0 by itself when an auto_shutdown root has no significant children left', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const tree = writeTree(
      {
        strategy: 'one_for_one',
        auto_shutdown: 'any_significant',
        children: [
          { id: 'helper', script: script('child.js'), args: ['helper'] },
          { id: 'job', script: script('child.js'), args: ['job'], name: 'job', restart: 'transient', significant: true },
        ],
      },
      dir,
    );
    const node = await startNode(tree, db);
    await logged(node, /^start job run 1$/);
    await sleep(300);
    expect(node.child.exitCode).toBe(null);
    expect((await cli(['send', '--db', db, 'job', '{"cmd":"return","value":"done"}'])).code).toBe(0);
    expect(await node.exited).toEqual({ code: 0, signal: null });
    expect(node.stderr).not.toContain('gave up');
    expect(query(db, "SELECT pid FROM processes WHERE status = 'live'")).toEqual([]);
  });

  it('resumes after SIGKILL: same tree, same pids and runs, state restored by replay, no restarts', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const tree = path.join(SUP, 'resume.yaml');
    const first = await startNode(tree, db);
    await logged(first, /^counter run 1 at 0$/);
    await logged(first, /^start b run 1$/);
    for (let i = 0; i < 3; i++) expect((await cli(['send', '--db', db, 'counter', '{"cmd":"inc"}'])).code).toBe(0);
    // One restart before the crash (rest_for_one: a and b), and one dynamic child.
    expect((await cli(['send', '--db', db, 'a', '{"cmd":"crash"}'])).code).toBe(0);
    await logged(first, /^start b run 2$/);
    const started = await cli(['spawn', '--db', db, script('starter.js'), 'pool', '5']);
    expect(started.code).toBe(0);
    const job = (JSON.parse(started.stdout) as { pid: string }).pid;
    await logged(first, /^start job run 1$/);
    await logged(first, /^count 3$/);
    await logged(first, /^tick 4$/);

    const treeBefore = await cliJson<SupView[]>(['tree', '--db', db, '--json']);
    const psBefore = await cliJson<PsJson[]>(['ps', '--db', db, '--json']);
    expect(psBefore.map((p) => p.pid)).toContain(job);

    expect((await (async () => (first.child.kill('SIGKILL'), first.exited))()).signal).toBe('SIGKILL');
    const ticksBefore = first.logs().filter((l) => l.msg.startsWith('tick ')).map((l) => Number(l.msg.slice(5)));
    const exitsBefore = readRows(db).filter((r) => r.x !== undefined).length;
    const runsBefore = query<{ pid: string; run: number; status: string }>(db, 'SELECT pid, run, status FROM processes ORDER BY pid');

    const second = await startNode(tree, db);
    expect(second.resumed).toBe(true);
    expect(second.treePid).toBe(first.treePid);
    // counter, ticker, a, b and the dynamic job: every live process, recovered (supervisors are not processes).
    expect(psBefore).toHaveLength(5);
    expect(runtimeLines(second).join('\n')).toContain(`(${psBefore.length} processes recovered)`);
    await logged(second, new RegExp(`^tick ${Math.max(...ticksBefore) + 2}$`));

    // The same tree: same supervisors, pids, runs and restart counts.
    const strip = (v: SupView[]): unknown => JSON.parse(JSON.stringify(v, (k, val) => (k === 'state' ? undefined : val)));
    expect(strip(await cliJson<SupView[]>(['tree', '--db', db, '--json']))).toEqual(strip(treeBefore));
    const psAfter = await cliJson<PsJson[]>(['ps', '--db', db, '--json']);
    const key = (rows: PsJson[]) => rows.map((p) => ({ pid: p.pid, name: p.name, run: p.run, restarts: p.restarts })).sort((p, q) => p.pid.localeCompare(q.pid));
    expect(key(psAfter)).toEqual(key(psBefore));
    expect(query(db, 'SELECT pid, run, status FROM processes ORDER BY pid')).toEqual(runsBefore);
    // No run ended and none began: no restart storm.
    expect(readRows(db).filter((r) => r.x !== undefined)).toHaveLength(exitsBefore);
    expect(second.logs().filter((l) => l.msg.startsWith('start ') || l.msg.startsWith('counter run'))).toEqual([]);

    // The counter's state came back by replay and it carries on.
    const count = await cli(['query', '--db', db, 'counter', 'count']);
    expect(count).toMatchObject({ code: 0, stdout: '3\n' });
    expect((await cli(['send', '--db', db, 'counter', '{"cmd":"inc","by":10}'])).code).toBe(0);
    await logged(second, /^count 13$/);
    // The ticker continued from the next tick: none repeated, none skipped.
    const ticksAfter = second.logs().filter((l) => l.msg.startsWith('tick ')).map((l) => Number(l.msg.slice(5)));
    expect(ticksAfter[0]).toBe(Math.max(...ticksBefore) + 1);
    expect([...ticksBefore, ...ticksAfter]).toEqual(Array.from({ length: ticksBefore.length + ticksAfter.length }, (_, i) => i + 1));
    // The dynamic child is still the pool's, same pid, same run.
    expect(await cliJson(['query', '--db', db, job, 'state'])).toMatchObject({ self: job, run: 1, args: ['job', {}, 5] });
    // Restarts still work after the resume: the pid stays, the run moves on.
    expect((await cli(['send', '--db', db, 'a', '{"cmd":"crash"}'])).code).toBe(0);
    await logged(second, /^start a run 3$/);

    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    // Two nodes and a dozen CLI runs, each a node process of its own: on a
    // loaded 2-core machine that passes the file's 60 s default.
  }, 150_000);

  it('keeps the restart history across SIGKILL: restarts before the crash still count towards intensity', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const tree = writeTree({ strategy: 'one_for_one', intensity: 1, period: '5m', children: [{ id: 'w', script: script('child.js'), args: ['w'], name: 'w' }] }, dir);
    const first = await startNode(tree, db);
    await logged(first, /^start w run 1$/);
    expect((await cli(['send', '--db', db, 'w', '{"cmd":"crash"}'])).code).toBe(0);
    await logged(first, /^start w run 2$/);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await startNode(tree, db);
    expect(second.resumed).toBe(true);
    expect((await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!.restarts).toBe(1);
    // One restart is already used up in this period: the next failure is one too many.
    expect((await cli(['send', '--db', db, 'w', '{"cmd":"crash"}'])).code).toBe(0);
    expect(await second.exited).toEqual({ code: 1, signal: null });
    expect(second.stderr).toContain('gave up');
    expect(second.logs().some((l) => l.msg === 'start w run 3')).toBe(false);
  });

  it('finishes a restart that SIGKILL interrupted, exactly once', async () => {
    // one_for_all: m fails, the supervisor asks `slow` to shut down and waits
    // out its 3 s grace; the node is killed inside that wait.
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const tree = writeTree(
      {
        strategy: 'one_for_all',
        intensity: 5,
        period: '1m',
        children: [
          { id: 'm', script: script('child.js'), args: ['m'], name: 'm' },
          { id: 'slow', script: script('child.js'), args: ['slow', { trap: true, ignoreShutdown: true }], shutdown: '3s' },
        ],
      },
      dir,
    );
    const first = await startNode(tree, db);
    await logged(first, /^start slow run 1$/);
    const before = (await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!;
    const [m, slow] = ['m', 'slow'].map((id) => workerIn(before, id).pid!);
    expect((await cli(['send', '--db', db, 'm', '{"cmd":"crash"}'])).code).toBe(0);
    await logged(first, /^exit-signal slow "shutdown"/);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(first.logs().some((l) => l.msg === 'start m run 2')).toBe(false);

    const second = await startNode(tree, db);
    expect(second.resumed).toBe(true);
    await logged(second, /^start m run 2$/, 30_000);
    await logged(second, /^start slow run 2$/, 30_000);
    await sleep(500);
    const view = (await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!;
    expect(workerIn(view, 'm')).toMatchObject({ pid: m, run: 2, state: 'running' });
    expect(workerIn(view, 'slow')).toMatchObject({ pid: slow, run: 2, state: 'running' });
    expect(view.restarts).toBe(1);
    const ends = readRows(db)
      .filter((r) => r.x !== undefined)
      .map((r) => [r.pid, r.run, r.x]);
    expect(ends).toEqual([
      [m, 1, expect.objectContaining({ message: 'crash m' })],
      [slow, 1, 'killed'],
    ]);
    second.child.kill('SIGKILL');
    await second.exited;
  });

  it('refuses a second node on the same journal, and a tree file with a missing script, in one line', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const node = await startNode(path.join(SUP, 'ordered.yaml'), db);
    const again = await cli(['start', '--db', db, path.join(SUP, 'ordered.yaml')]);
    expect(again.code).toBe(2);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toContain('BL_JOURNAL_LOCKED');
    node.child.kill('SIGTERM');
    expect((await node.exited).code).toBe(0);

    const bad = writeTree({ strategy: 'one_for_one', children: [{ id: 'ghost', script: './no-such-script.js' }] }, dir, 'bad.yaml');
    const out = await cli(['start', '--db', path.join(dir, 'other.db'), bad]);
    expect(out.code).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toContain('BL_SPEC_INVALID');
    expect(out.stderr).toContain(bad);
  });
});
