// Failure model, row "replay diverges": a script is run to a sleep, the
// runtime is SIGKILLed, the script file is rewritten so its next command
// differs, and the runtime is started again. The process must fail with a
// NonDeterminismError naming pid, step, expected and actual command — never
// continue silently, never hang.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, afterEach } from 'vitest';
import { decode, fixture, query, readRows, tmpdir, until } from '../helpers.js';
import { cli, cliRun, kill9, killLeftovers, lines } from '../fixtures/failure/cli.js';

afterEach(async () => {
  await killLeftovers();
});

describe('replay diverges because the script changed', () => {
  it('fails the process with BL_NONDETERMINISM naming pid, step, expected and actual; the CLI exits non-zero', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const script = path.join(dir, 'diverge.js');
    fs.copyFileSync(fixture('failure/diverge.js'), script);

    const first = cli(['spawn', '--db', db, script]);
    await until(() => first.stderr.includes('sleeping'), 20_000, 'the sleep to be committed');
    expect(await kill9(first)).toBe('SIGKILL');
    const [{ pid }] = query<{ pid: string }>(db, 'SELECT pid FROM processes');
    const before = readRows(db, pid);

    // v2: a random() where v1 slept (step 1).
    fs.writeFileSync(
      script,
      fs.readFileSync(script, 'utf8').replace("await ctx.sleep('60s');", "const r = ctx.random();\n  await ctx.sleep('60s');"),
    );
    expect(fs.readFileSync(script, 'utf8')).toContain('ctx.random()');

    const out = await cliRun(['spawn', '--db', db, script], 20_000);
    expect(out.hung).toBe(false);
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    const err = lines(out.stderr);
    expect(err).toHaveLength(1);
    expect(err[0]).toContain(pid);
    expect(err[0]).toContain('BL_NONDETERMINISM');
    expect(err[0]).toContain('NonDeterminismError');

    const [row] = query<{ status: string; reason: Buffer }>(db, 'SELECT status, reason FROM processes WHERE pid = ?', pid);
    expect(row!.status).toBe('exited');
    const reason = decode(row!.reason) as { error: string; code: string; message: string; details: { pid: string; step: number; expected: string; actual: string } };
    expect(reason).toMatchObject({ error: 'NonDeterminismError', code: 'BL_NONDETERMINISM', details: { pid, step: 1 } });
    expect(reason.details.expected).toContain('sleep');
    expect(reason.details.actual).toContain('random');
    expect(reason.message).toContain(pid);

    // Nothing of the diverged run was recorded: the old history plus one exit row.
    const after = readRows(db, pid);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after).toHaveLength(before.length + 1);
    expect(after.at(-1)).toMatchObject({ r: [], c: [], x: { error: 'NonDeterminismError', code: 'BL_NONDETERMINISM' } });
    // The re-armed sleep went with the process.
    expect(query(db, 'SELECT * FROM effects')).toEqual([]);
  });
});
