// Changing code under live journals, with real journals and real `runtime`
// child processes: a process of version 1 is SIGKILLed mid-sleep, the script
// file is overwritten with version 2, and the node is started again.
//
// - v2 with a patched branch: the old process finishes on the old path, a
//   new process takes the new one, and `runtime replay` says both replay;
// - v2 without a patch: `runtime replay` exits 1 naming pid, run, step,
//   expected vs actual and the script line — before anything is resumed;
// - `runtime history --json` exports a history that replay() checks later,
//   through the three stages of a patch;
// - replay performs no effect and writes nothing to the journal.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { replay, type HistoryExport } from '../../dist/runtime/index.js';
import { fixture, query, readRows, tmpdir, until } from '../helpers.js';
import { cli, cliRun, kill9, killLeftovers, lines, sha256 } from '../fixtures/failure/cli.js';

afterEach(async () => {
  await killLeftovers();
});

const version = (v: string) => fs.readFileSync(fixture(`code-change/order-${v}.js`), 'utf8');

/** A journal holding one live process of order-v1.js, killed with SIGKILL mid-sleep. */
async function v1KilledMidSleep(ms = 2000): Promise<{ dir: string; db: string; script: string; pid: string }> {
  const dir = tmpdir();
  const db = path.join(dir, 'journal.db');
  const script = path.join(dir, 'order.js');
  fs.writeFileSync(script, version('v1'));
  const first = cli(['spawn', '--db', db, script, String(ms)]);
  await until(() => first.stderr.includes('sleeping'), 30_000, 'the sleep to be committed');
  expect(await kill9(first)).toBe('SIGKILL');
  const [{ pid }] = query<{ pid: string }>(db, "SELECT pid FROM processes WHERE status = 'live'") as [{ pid: string }];
  return { dir, db, script, pid };
}

describe('a script changed under a live journal', () => {
  it('v1 killed mid-sleep, resumed under v2 with a patched branch: finishes on the old path; a new process takes the new one', async () => {
    const { db, script, pid } = await v1KilledMidSleep();
    fs.writeFileSync(script, version('v2'));

    const resumed = await cliRun(['spawn', '--db', db, script, '2000'], 60_000);
    expect(resumed.hung).toBe(false);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ path: 'old' });
    expect(JSON.parse(resumed.stdout)).not.toHaveProperty('receipt');
    // The old history has no marker and no receipt step: the old branch, replayed and finished.
    const old = readRows(db, pid).flatMap((r) => r.c);
    expect(old.map((c) => c[1])).toEqual(['uuid', 'sleep']);

    const fresh = await cliRun(['spawn', '--db', db, script, '50'], 60_000);
    expect(fresh.code).toBe(0);
    const out = JSON.parse(fresh.stdout) as { id: string; path: string; receipt: string };
    expect(out).toMatchObject({ path: 'new', receipt: `r-${out.id}` });
    const [{ pid: newPid }] = query<{ pid: string }>(db, 'SELECT pid FROM processes WHERE pid != ?', pid) as [{ pid: string }];
    const cmds = readRows(db, newPid).flatMap((r) => r.c);
    expect(cmds.map((c) => [c[0], c[1], c[2]])).toEqual([
      [0, 'uuid', null],
      [1, 'patched', 'receipt'],
      [1, 'step', 'receipt'],
      [2, 'sleep', null],
    ]);

    // Both histories replay against v2.
    const check = await cliRun(['replay', '--db', db, '--all'], 60_000);
    expect(check.code).toBe(0);
    expect(lines(check.stdout)).toEqual([
      expect.stringMatching(new RegExp(`^ok +${pid.replace('.', '\\.')} run 1 .*order\\.js: 2 rounds$`)),
      expect.stringMatching(new RegExp(`^ok +${newPid.replace('.', '\\.')} run 1 .*order\\.js: 2 rounds$`)),
      '2 histories replay cleanly',
    ]);
  }, 120_000);

  it('runtime replay: clean for v1 -> v2 with the patch; names pid, run, step, expected, actual and line for v1 -> v2 without', async () => {
    const { db, dir, pid } = await v1KilledMidSleep(60_000);
    const v2 = path.join(dir, 'v2', 'order.js');
    const bare = path.join(dir, 'bare', 'order.js');
    fs.mkdirSync(path.dirname(v2));
    fs.mkdirSync(path.dirname(bare));
    fs.writeFileSync(v2, version('v2'));
    fs.writeFileSync(bare, version('v2-unpatched'));
    const before = sha256(db);

    const clean = await cliRun(['replay', '--db', db, '--script', v2], 60_000);
    expect(clean.stderr).toBe('');
    expect(clean.code).toBe(0);
    expect(lines(clean.stdout)).toEqual([expect.stringMatching(new RegExp(`^ok +${pid.replace('.', '\\.')} run 1 `)), '1 history replays cleanly']);

    const broken = await cliRun(['replay', '--db', db, '--script', bare, pid], 60_000);
    expect(broken.code).toBe(1);
    const [first, summary] = lines(broken.stdout);
    expect(first).toContain(`diverged  ${pid} run 1`);
    expect(first).toContain('step 1: expected sleep at step 1, got step("receipt")');
    // The line of the diverging call in v2-unpatched: `await ctx.step('receipt', ...)`.
    const callLine = version('v2-unpatched').split('\n').findIndex((l) => l.includes("ctx.step('receipt'")) + 1;
    expect(first).toContain(`${bare}:${callLine}:`);
    expect(summary).toBe('1 of 1 history does not replay against the current code');

    const json = await cliRun(['replay', '--db', db, '--script', bare, '--json'], 60_000);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      results: [{ pid, run: 1, ok: false, divergence: { step: 1, expected: 'sleep at step 1', actual: 'step("receipt")', line: expect.stringContaining(`${bare}:${callLine}:`) } }],
    });

    // Replay read the journal and wrote nothing.
    expect(sha256(db)).toBe(before);
    expect(query(db, "SELECT pid FROM processes WHERE status = 'live'")).toEqual([{ pid }]);
  }, 120_000);

  it('runtime replay: bad input is one line and exit 2; nothing to replay is exit 0', async () => {
    const { db, dir } = await v1KilledMidSleep(60_000);
    const noPid = await cliRun(['replay', '--db', db, 'zzzz.99'], 30_000);
    expect(noPid.code).toBe(2);
    expect(lines(noPid.stderr)).toEqual([expect.stringMatching(/^runtime: replay: no process zzzz\.99 in .* \[BL_NOPROC\]$/)]);
    const noScript = await cliRun(['replay', '--db', db, '--script', path.join(dir, 'missing.js')], 30_000);
    expect(noScript.code).toBe(2);
    expect(noScript.stderr).toContain('[BL_SCRIPT_NOT_FOUND]');
    const noJournal = await cliRun(['replay', '--db', path.join(dir, 'none.db')], 30_000);
    expect(noJournal.code).toBe(2);
    expect(noJournal.stderr).toContain('[BL_JOURNAL_MISSING]'); // no journal at that path is not a damaged one
    const other = path.join(dir, 'other.js');
    fs.writeFileSync(other, version('v2'));
    const nothing = await cliRun(['replay', '--db', db, '--script', other], 30_000);
    expect(nothing.code).toBe(0);
    expect(lines(nothing.stdout)).toEqual(['nothing to replay (no live process of other.js)']);
  }, 120_000);

  it('history --json is a fixture replay() checks: the three stages of a patch', async () => {
    const { db, dir, script, pid } = await v1KilledMidSleep(60_000);
    // A process recorded under v2 (it took the new branch and left the marker).
    fs.writeFileSync(script, version('v2'));
    const fresh = await cliRun(['spawn', '--db', db, script, '50'], 60_000);
    expect(fresh.code).toBe(0);
    const [{ pid: newPid }] = query<{ pid: string }>(db, 'SELECT pid FROM processes WHERE pid != ?', pid) as [{ pid: string }];

    const exported: HistoryExport[] = [];
    for (const p of [pid, newPid]) {
      const out = await cliRun(['history', p, '--db', db, '--json'], 30_000);
      expect(out.code).toBe(0);
      exported.push(JSON.parse(out.stdout) as HistoryExport);
    }
    expect(exported[0]).toMatchObject({ format: 'beamline.history/1', pid, status: 'live', run: 1, args: [60000] });
    expect(exported[0]!.rounds[0]!.commands.map((c) => c.native)).toEqual(['uuid', 'sleep']);
    expect(exported[0]!.rounds[0]!.logs).toEqual(['sleeping']);
    expect(exported[1]).toMatchObject({ status: 'exited', reason: 'normal', result: { path: 'new' } });
    expect(exported[1]!.rounds[0]!.commands[1]).toMatchObject({ step: 1, native: 'patched', key: 'receipt', outcome: 'returned', result: true });
    const fixtureFile = path.join(dir, 'histories.json');
    fs.writeFileSync(fixtureFile, JSON.stringify(exported));

    const against = async (v: string) => {
      const file = path.join(dir, `stage-${v}`, 'order.js');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, version(v));
      const report = await replay({ histories: JSON.parse(fs.readFileSync(fixtureFile, 'utf8')) as HistoryExport[], script: file });
      return report.results.map((r) => (r.ok ? 'ok' : `step ${r.divergence?.step}: ${r.divergence?.expected} / ${r.divergence?.actual}`));
    };
    // Stage 1 (both branches): both histories replay.
    expect(await against('v2')).toEqual(['ok', 'ok']);
    // Stage 2 (deprecated) and stage 3 (removed): the history recorded with the
    // patch replays; the one from before it does not — the reason to wait.
    expect(await against('v3')).toEqual(['step 1: sleep at step 1 / step("receipt")', 'ok']);
    expect(await against('v2-unpatched')).toEqual(['step 1: sleep at step 1 / step("receipt")', 'ok']);
    // And v1 itself: the history recorded by v2's new branch does not replay on the old code.
    expect(await against('v1')).toEqual(['ok', 'step 1: step("receipt") at step 1 / sleep']);

    // The same through the CLI, from the fixture file.
    const file = path.join(dir, 'stage-v3', 'order.js');
    const cliCheck = await cliRun(['replay', '--history', fixtureFile, '--script', file, newPid], 30_000);
    expect(cliCheck.code).toBe(0);
    expect(lines(cliCheck.stdout)).toEqual([expect.stringMatching(new RegExp(`^ok +${newPid.replace('.', '\\.')} run 1 `)), '1 history replays cleanly']);
    const cliAll = await cliRun(['replay', '--history', fixtureFile, '--script', file], 30_000);
    expect(cliAll.code).toBe(1);
    expect(lines(cliAll.stdout)[0]).toMatch(new RegExp(`^diverged +${pid.replace('.', '\\.')} run 1 .*step 1: expected sleep at step 1, got step\\("receipt"\\)`));
  }, 120_000);

  it('replay performs no effect: a step parked in the history is not run again, a live node keeps the journal', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const script = path.join(dir, 'stuck.js');
    const effects = path.join(dir, 'effects.txt');
    fs.writeFileSync(
      script,
      `import fs from 'node:fs';
export default async function stuck(ctx, file) {
  ctx.log('stepping');
  await ctx.step('write', () => { fs.appendFileSync(file, 'ran\\n'); return new Promise(() => {}); });
}
`,
    );
    const node = cli(['spawn', '--db', db, script, effects]);
    await until(() => fs.existsSync(effects) && node.stderr.includes('stepping'), 30_000, 'the step to run');
    await until(() => readRows(db).some((r) => r.c.some((c) => c[1] === 'step')), 30_000, 'the step to be committed');
    const out = await cliRun(['replay', '--db', db], 30_000); // the node still runs and holds the journal
    expect(out.code).toBe(0);
    expect(lines(out.stdout).at(-1)).toBe('1 history replays cleanly');
    expect(fs.readFileSync(effects, 'utf8')).toBe('ran\n');
    expect(await kill9(node)).toBe('SIGKILL');
  }, 120_000);
});
