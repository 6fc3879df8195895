// `runtime spawn` as users run it: a real child process per run, real
// SIGKILL in the middle of a durable sleep.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, fixture, query, ROOT, tmpdir, until } from '../helpers.js';

function run(args: string[], cwd = ROOT) {
  const out = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

describe('runtime spawn', () => {
  it('runs the README quick start through npx', () => {
    const db = path.join(tmpdir(), 'journal.db');
    const out = spawnSync('npx', ['runtime', 'spawn', '--db', db, 'scripts/hello.js', 'ada'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(out.status).toBe(0);
    expect(JSON.parse(out.stdout.trim())).toMatchObject({ greeting: 'hello, ada', run: 1 });
    const log = out.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(log[0]).toMatchObject({ msg: expect.stringContaining('hello, ada') });
  });

  it('parses each argument as JSON when it parses, else passes the string', () => {
    const db = path.join(tmpdir(), 'journal.db');
    const dir = tmpdir();
    const script = path.join(dir, 'args.js');
    fs.writeFileSync(script, 'export default async (ctx, ...args) => args;\n');
    const out = run(['spawn', '--db', db, script, '42', '{"a":[1,2]}', 'plain', 'true', '"quoted"']);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual([42, { a: [1, 2] }, 'plain', true, 'quoted']);
  });

  it('resumes a root killed with SIGKILL mid-sleep without repeating logged steps', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const child = spawn(process.execPath, [CLI, 'spawn', '--db', db, fixture('stepper.js'), '3', '1500'], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await until(() => stderr.includes('step-1'), 20_000, 'step-1 to be logged');
    // step-1 is printed only once its round is committed, so the sleep is durable now.
    const exited = new Promise((r) => child.on('exit', (code, signal) => r(signal)));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(stderr).not.toContain('step-2');

    const again = run(['spawn', '--db', db, fixture('stepper.js'), '3', '1500']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ steps: [1, 2, 3], run: 1 });
    expect(again.stderr).not.toContain('step-1');
    expect(again.stderr).toContain('step-2');
    expect(again.stderr).toContain('step-3');
    // Resumed, not started twice.
    expect(query(db, 'SELECT pid FROM processes WHERE root = 1')).toHaveLength(1);
  });

  it('exits non-zero with the reason when the process throws', () => {
    const db = path.join(tmpdir(), 'journal.db');
    const out = run(['spawn', '--db', db, fixture('thrower.js')]);
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/exited abnormally: TypeError: boom/);
  });

  it('refuses a missing script with one line naming it, and journals nothing', () => {
    const db = path.join(tmpdir(), 'journal.db');
    const out = run(['spawn', '--db', db, 'no/such/script.js']);
    expect(out.code).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toContain('no/such/script.js');
    expect(out.stderr).toContain('BL_SCRIPT_NOT_FOUND');
    expect(query(db, 'SELECT pid FROM processes')).toHaveLength(0);
  });

  it('refuses a script with a syntax error, naming the file and line', () => {
    const db = path.join(tmpdir(), 'journal.db');
    const out = run(['spawn', '--db', db, fixture('syntax-error.js')]);
    expect(out.code).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toContain(`${fixture('syntax-error.js')}:2`);
    expect(out.stderr).toContain('SyntaxError');
    expect(query(db, 'SELECT pid FROM processes')).toHaveLength(0);
  });

  it('rejects unknown options and a missing script with usage errors', () => {
    expect(run(['spawn', '--bogus', 'x.js']).code).toBe(2);
    expect(run(['spawn']).stderr).toMatch(/missing SCRIPT/);
    expect(run(['spawn', '--threads', 'zero', 'x.js']).stderr).toMatch(/--threads/);
    expect(run(['frobnicate']).stderr).toMatch(/unknown command/);
  });
});
