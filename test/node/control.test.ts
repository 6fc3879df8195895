// The control CLI against a live `runtime start` node (through its control
// socket) and against a journal no node runs (ps/history/tree read it;
// send/kill/query refuse in one line). Every command is a real child process.

import type { PsRow } from '../../dist/runtime/control/inspect.js';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../dist/runtime/control/socket.js';
import { fixture, query, tmpdir, until } from '../helpers.js';
import { cli, cliJson, killLeftovers, found, nodeLogged, script, startNode, supIn, workerIn, writeTree, type StartedNode, type SupView } from '../fixtures/supervisor/support.js';

type PsJson = PsRow;

const TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}  /;

function controlTree(dir: string): string {
  return writeTree(
    {
      strategy: 'one_for_one',
      intensity: 20,
      period: '10s',
      children: [
        { id: 'counter', script: script('counter.js'), name: 'counter' },
        { id: 'box', script: script('mailbox.js'), name: 'box' },
        { id: 'trapper', script: script('child.js'), args: ['trapper', { trap: true }], name: 'trapper' },
        { id: 'victim', script: script('child.js'), args: ['victim'] },
        {
          id: 'pool',
          name: 'pool',
          supervisor: { strategy: 'simple_one_for_one', children: [{ id: 'job', script: script('child.js'), args: ['job', {}] }] },
        },
      ],
    },
    dir,
  );
}

/** A one-line refusal: exit 2, one stderr line carrying `code`. */
function refused(out: { code: number | null; stdout: string; stderr: string }, code: string): void {
  expect(out.code).toBe(2);
  expect(out.stdout).toBe('');
  expect(out.stderr.trim().split('\n')).toHaveLength(1);
  expect(out.stderr).toContain(code);
}

const logged = nodeLogged;

describe('against a live node', () => {
  let dir: string;
  let db: string;
  let node: StartedNode;
  let view: SupView;
  const pidOf = (id: string) => workerIn(view, id).pid!;

  beforeAll(async () => {
    dir = tmpdir();
    db = path.join(dir, 'journal.db');
    node = await startNode(controlTree(dir), db);
    await logged(node, /^counter run 1 at 0$/);
    await logged(node, /^run 1$/);
    await logged(node, /^start trapper run 1$/);
    await logged(node, /^start victim run 1$/);
    view = (await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!;
  });
  afterAll(async () => {
    node.child.kill('SIGTERM');
    await node.exited;
    await killLeftovers();
  });

  it('listens on <journal>.sock, owner-only', () => {
    const st = fs.statSync(`${db}.sock`);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('ps: a table with every column, and --json rows with the same facts', async () => {
    expect((await cli(['send', '--db', db, 'box', '"one"'])).code).toBe(0);
    expect((await cli(['send', '--db', db, 'box', '{"two":2}'])).code).toBe(0);
    const table = await cli(['ps', '--db', db]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]!.split(/\s{2,}/)).toEqual(['PID', 'NAME', 'SCRIPT', 'STATE', 'RUN', 'RESTARTS', 'MAILBOX', 'HISTORY', 'LAST STEP', 'AGE']);
    const counterLine = lines.find((l) => l.startsWith(`${pidOf('counter')} `))!;
    expect(counterLine.split(/\s{2,}/).slice(0, 2)).toEqual([pidOf('counter'), 'counter']);

    const rows = await cliJson<PsJson[]>(['ps', '--db', db, '--json']);
    const byPid = new Map(rows.map((r) => [r.pid, r]));
    for (const id of ['counter', 'box', 'trapper', 'victim']) expect(byPid.has(pidOf(id))).toBe(true);
    expect(byPid.get(pidOf('counter'))).toMatchObject({
      name: 'counter',
      script: expect.stringMatching(/counter\.js$/),
      run: 1,
      restarts: 0,
      mailbox: 0,
      lastStep: expect.stringContaining('receive'),
      age: expect.stringMatching(/second|minute/),
    });
    // HISTORY: the rows of the current run, as the journal has them.
    const counterRows = query<{ n: number }>(db, 'SELECT count(*) AS n FROM journal WHERE pid = ? AND run = 1', pidOf('counter'))[0]!.n;
    expect(counterRows).toBeGreaterThan(0);
    expect(byPid.get(pidOf('counter'))!.history).toBe(counterRows);
    expect(['parked', 'runnable', 'running']).toContain(byPid.get(pidOf('counter'))!.state);
    // box receives only a crash in its first run: two messages wait in its mailbox.
    expect(byPid.get(pidOf('box'))).toMatchObject({ name: 'box', mailbox: 2 });
    // The table shows the same mailbox count.
    const boxLine = lines.find((l) => l.startsWith(`${pidOf('box')} `))!.split(/\s{2,}/);
    expect(boxLine[6]).toBe('2');
  });

  it('tree: the supervision tree drawn, and as JSON', async () => {
    const out = await cli(['tree', '--db', db]);
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toContain(node.treePid);
    expect(lines[0]).toContain('one_for_one');
    for (const id of ['counter', 'box', 'trapper', 'victim']) expect(out.stdout).toMatch(new RegExp(`${id}\\s+${pidOf(id).replace('.', '\\.')}`));
    expect(out.stdout).toContain('[counter]');
    expect(out.stdout).toMatch(/pool\s+\S+\s+supervisor simple_one_for_one/);
    expect(view).toMatchObject({ pid: node.treePid, strategy: 'one_for_one', status: 'running' });
    expect(view.children.map((c) => c.id)).toEqual(['counter', 'box', 'trapper', 'victim', 'pool']);
    expect(supIn(view, 'pool').strategy).toBe('simple_one_for_one');
  });

  it('send: by name and by pid; unknown targets and bad JSON are refused in one line', async () => {
    const before = Number((await cli(['query', '--db', db, 'counter', 'count'])).stdout);
    expect(await cli(['send', '--db', db, 'counter', '{"cmd":"inc","by":2}'])).toMatchObject({ code: 0 });
    expect(await cli(['send', '--db', db, pidOf('counter'), '{"cmd":"inc","by":3}'])).toMatchObject({ code: 0 });
    await logged(node, new RegExp(`^count ${before + 5}$`));
    expect(Number((await cli(['query', '--db', db, 'counter', 'count'])).stdout)).toBe(before + 5);

    const unknown = await cli(['send', '--db', db, 'nobody', '{}']);
    refused(unknown, 'BL_NOPROC');
    expect(unknown.stderr).toContain('nobody');
    refused(await cli(['send', '--db', db, `${node.treePid.split('.')[0]}.9999`, '{}']), 'BL_NOPROC');
    const bad = await cli(['send', '--db', db, 'counter', '{not json']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('kill: the default untrappable kill (the supervisor restarts it), a reason a trapper receives, unknown pids', async () => {
    const victim = pidOf('victim');
    expect(await cli(['kill', '--db', db, victim])).toMatchObject({ code: 0 });
    await logged(node, /^start victim run 2$/);
    const row = (await cliJson<PsJson[]>(['ps', '--db', db, '--json'])).find((r) => r.pid === victim)!;
    expect(row).toMatchObject({ run: 2, restarts: 1 });
    const history = (await cli(['history', '--db', db, victim])).stdout;
    expect(history).toContain('exit killed');
    expect(history).toContain('run 2 (restarted)');

    expect(await cli(['kill', '--db', db, 'trapper', '{"custom":1}'])).toMatchObject({ code: 0 });
    const got = await logged(node, /^exit-signal trapper /);
    expect(got.msg).toMatch(/^exit-signal trapper \{"custom":1\} from /);
    expect(got.pid).toBe(pidOf('trapper'));

    refused(await cli(['kill', '--db', db, `${node.treePid.split('.')[0]}.9999`]), 'BL_NOPROC');
  });

  it('query: handlers answer with JSON, with arguments; a missing handler and a recording handler are refused', async () => {
    const count = Number((await cli(['query', '--db', db, pidOf('counter'), 'count'])).stdout);
    expect(Number.isInteger(count)).toBe(true);
    expect(await cli(['query', '--db', db, 'counter', 'plus', '5'])).toMatchObject({ code: 0, stdout: `${count + 5}\n` });
    expect(await cliJson(['query', '--db', db, pidOf('trapper'), 'state'])).toMatchObject({ id: 'trapper', self: pidOf('trapper') });

    refused(await cli(['query', '--db', db, 'counter', 'no-such-handler']), 'BL_ARG_INVALID');
    // A handler may not record: its send throws, and nothing was sent.
    refused(await cli(['query', '--db', db, 'counter', 'sneaky']), 'BL_NATIVE_MISUSE');
    await new Promise((r) => setTimeout(r, 300));
    expect(Number((await cli(['query', '--db', db, 'counter', 'count'])).stdout)).toBe(count);
    refused(await cli(['query', '--db', db, `${node.treePid.split('.')[0]}.9999`, 'count']), 'BL_NOPROC');
  });

  it('history: a timestamped timeline of spawn, messages, runs and exits', async () => {
    expect((await cli(['send', '--db', db, 'counter', '{"cmd":"inc","marker":"history-check"}'])).code).toBe(0);
    // `send` returns once the message is committed; the round that takes it commits soon after.
    const out = await found(async () => {
      const o = await cli(['history', '--db', db, pidOf('counter')]);
      return o.code === 0 && o.stdout.includes('history-check') ? o : null;
    }, 20_000, 'the history to show the message');
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toMatch(TIME);
    expect(lines[0]).toMatch(/spawned .*counter\.js/);
    expect(lines[0]).toContain(node.treePid);
    expect(lines.filter((l) => !l.startsWith('(')).every((l) => TIME.test(l))).toBe(true);
    expect(out.stdout).toContain('history-check');
    expect(lines.at(-1)).toBe('(live, run 1)');
    refused(await cli(['history', '--db', db, `${node.treePid.split('.')[0]}.9999`]), 'BL_NOPROC');
  });

  it('spawn: hands a script to the running node and prints its result', async () => {
    const ok = await cli(['spawn', '--db', db, script('sender.js'), 'counter', '[{"cmd":"inc"}]']);
    expect(ok).toMatchObject({ code: 0, stdout: '1\n' });
    const all = await cliJson<PsJson[]>(['ps', '--db', db, '--all', '--json']);
    const spawned = all.filter((r) => r.script.endsWith('sender.js'));
    expect(spawned.length).toBeGreaterThanOrEqual(1);
    expect(spawned.every((r) => r.state === 'exited(normal)')).toBe(true);
    // ps without --all shows live processes only.
    expect((await cliJson<PsJson[]>(['ps', '--db', db, '--json'])).some((r) => r.script.endsWith('sender.js'))).toBe(false);

    const bad = await cli(['spawn', '--db', db, fixture('thrower.js')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/exited abnormally: TypeError: boom/);

    // A dynamic child of the pool, started from the CLI through a process.
    const started = await cli(['spawn', '--db', db, script('starter.js'), 'pool', '42']);
    expect(started.code).toBe(0);
    const job = (JSON.parse(started.stdout) as { pid: string }).pid;
    const pool = supIn((await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!, 'pool');
    expect(pool.children.map((c) => c.pid)).toContain(job);
    expect(await cliJson(['query', '--db', db, job, 'state'])).toMatchObject({ self: job, args: ['job', {}, 42] });
  });

  it('startChild over the control socket adds a dynamic child', async () => {
    const { pid } = await request<{ pid: string }>(db, { cmd: 'startChild', sup: 'pool', args: [7] });
    const pool = supIn((await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!, 'pool');
    expect(pool.children.map((c) => c.pid)).toContain(pid);
    await until(async () => (await cli(['query', '--db', db, pid, 'state'])).code === 0, 20_000, 'the dynamic child to answer');
    expect(await cliJson(['query', '--db', db, pid, 'state'])).toMatchObject({ self: pid, run: 1, args: ['job', {}, 7] });
  });
});

describe('against a journal with no node', () => {
  const sha = (file: string) => (fs.existsSync(file) ? crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex') : null);

  afterAll(killLeftovers);

  it('after SIGKILL: ps, history and tree read the journal; send and query refuse in one line (BL_NO_NODE); kill records the exit', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const node = await startNode(controlTree(dir), db);
    await logged(node, /^start victim run 1$/);
    await logged(node, /^counter run 1 at 0$/);
    const view = (await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!;
    const victim = workerIn(view, 'victim').pid!;
    expect((await cli(['send', '--db', db, 'counter', '{"cmd":"inc"}'])).code).toBe(0);
    expect((await cli(['send', '--db', db, 'box', '"waiting"'])).code).toBe(0);
    expect((await cli(['kill', '--db', db, victim])).code).toBe(0);
    await logged(node, /^start victim run 2$/);
    await logged(node, /^count 1$/);

    const livePs = await cliJson<PsJson[]>(['ps', '--db', db, '--json']);
    const liveHistory = await cli(['history', '--db', db, victim]);
    const counterPid = workerIn(view, 'counter').pid!;
    const liveCounterHistory = await cli(['history', '--db', db, counterPid]);
    expect(liveCounterHistory.code).toBe(0);
    const liveTree = await cliJson<SupView[]>(['tree', '--db', db, '--json']);
    node.child.kill('SIGKILL');
    expect((await node.exited).signal).toBe('SIGKILL');
    const files = [db, `${db}-wal`];
    const before = files.map(sha);

    const ps = await cliJson<PsJson[]>(['ps', '--db', db, '--json']);
    const facts = (rows: PsJson[]) => rows.map((r) => ({ pid: r.pid, name: r.name, script: r.script, run: r.run, restarts: r.restarts, mailbox: r.mailbox, lastStep: r.lastStep })).sort((a, b) => a.pid.localeCompare(b.pid));
    expect(facts(ps)).toEqual(facts(livePs));
    expect(ps.find((r) => r.pid === victim)).toMatchObject({ run: 2, restarts: 1 });
    const table = await cli(['ps', '--db', db]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(victim);

    const history = await cli(['history', '--db', db, victim]);
    expect(history).toMatchObject({ code: 0, stdout: liveHistory.stdout });
    expect(history.stdout).toContain('run 2 (restarted)');
    expect((await cli(['history', '--db', db, counterPid])).stdout).toBe(liveCounterHistory.stdout);

    const tree = await cliJson<SupView[]>(['tree', '--db', db, '--json']);
    const shape = (v: SupView[]): unknown => JSON.parse(JSON.stringify(v, (k, val) => (k === 'state' ? undefined : val)));
    expect(shape(tree)).toEqual(shape(liveTree));
    const drawn = await cli(['tree', '--db', db]);
    expect(drawn.code).toBe(0);
    expect(drawn.stdout).toContain(victim);

    for (const args of [
      ['send', '--db', db, 'counter', '{"cmd":"inc"}'],
      ['send', '--db', db, counterPid, '{"cmd":"inc"}'],
      ['query', '--db', db, counterPid, 'count'],
    ]) {
      refused(await cli(args), 'BL_NO_NODE');
    }
    // Reading wrote nothing.
    expect(files.map(sha)).toEqual(before);
    expect(ps.find((r) => r.pid === victim)).toMatchObject({ run: 2 });

    // A process can always be killed: offline, its exit is recorded in the journal.
    const killed = await cli(['kill', '--db', db, victim]);
    expect(killed.code).toBe(0);
    expect(killed.stdout).toContain(`${victim} "killed"`);
    const after = await cliJson<PsJson[]>(['ps', '--db', db, '--all', '--json']);
    expect(after.find((r) => r.pid === victim)?.state).toBe('exited(killed)');
    refused(await cli(['kill', '--db', db, victim]), 'BL_NOPROC');
  }, 120_000);

  it('after a clean stop: ps lists nothing live, --all lists every exit, history tells how each ended', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const node = await startNode(controlTree(dir), db);
    await logged(node, /^start victim run 1$/);
    const view = (await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!;
    node.child.kill('SIGTERM');
    expect((await node.exited).code).toBe(0);

    expect(await cliJson<PsJson[]>(['ps', '--db', db, '--json'])).toEqual([]);
    const all = await cliJson<PsJson[]>(['ps', '--db', db, '--all', '--json']);
    expect(all.map((r) => r.pid).sort()).toEqual(['counter', 'box', 'trapper', 'victim'].map((id) => workerIn(view, id).pid!).sort());
    for (const r of all) expect(r.state).toMatch(/^exited\((shutdown|normal)\)$/);
    expect(all.find((r) => r.pid === workerIn(view, 'trapper').pid)!.state).toBe('exited(normal)');
    expect(all.find((r) => r.pid === workerIn(view, 'victim').pid)!.state).toBe('exited(shutdown)');
    const history = await cli(['history', '--db', db, workerIn(view, 'victim').pid!]);
    expect(history.code).toBe(0);
    expect(history.stdout).toContain('exit shutdown');
    expect(history.stdout).not.toContain('(live');
  });
});
