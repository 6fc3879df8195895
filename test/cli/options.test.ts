// The CLI as a newcomer meets it: --version, help per command, every option
// listed, unknown options refused for every command, bad values in one line,
// and everything checkable (--natives, the --http address) checked before the
// journal is touched. Ready and pid files let scripts wait for a node.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, killCliLeftovers, ROOT, runCli, startCli, tmpdir, until } from '../helpers.js';

afterEach(killCliLeftovers);

/** Exit 2, one line on stderr carrying `text`. */
function oneLine(out: { code: number | null; stderr: string; hung: boolean }, ...texts: string[]): void {
  expect(out.hung).toBe(false);
  expect(out.code).toBe(2);
  expect(out.stderr.trim().split('\n'), out.stderr).toHaveLength(1);
  for (const t of texts) expect(out.stderr).toContain(t);
}

describe('runtime CLI', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const out = await runCli([flag]);
      expect(out).toMatchObject({ code: 0, stdout: `${version}\n` });
    }
  });

  it('help: every command has --help; the list shows every node option', async () => {
    const all = await runCli(['--help']);
    expect(all.code).toBe(0);
    for (const opt of ['--db', '--threads', '--durability', '--slice-ms', '--natives', '--retain', '--quiet-crashes', '--pid-file', '--http-timeout', '--ready-file']) {
      expect(all.stdout).toContain(opt);
    }
    for (const cmd of ['spawn', 'start', 'ps', 'tree', 'history', 'send', 'kill', 'query', 'start-child', 'prune']) {
      const out = await runCli([cmd, '--help']);
      expect(out.code, cmd).toBe(0);
      expect(out.stdout).toMatch(new RegExp(`^usage: runtime ${cmd} `));
    }
    const start = await runCli(['start', '--help']);
    expect(start.stdout).toContain('--http-timeout');
    expect(start.stdout).toContain('--natives');
  });

  it('unknown options are refused by every command, in one line', async () => {
    // (`history --json` became an option of its own: the decoded history, see test/failure/code-change.test.ts.)
    oneLine(await runCli(['history', '--all', 'x.1']), "'--all'");
    oneLine(await runCli(['tree', '--all']), "'--all'");
    oneLine(await runCli(['send', '--bogus', 'a', '{}']), "'--bogus'");
  });

  it('--threads -1 is a value to validate, in one line, not a parser puzzle', async () => {
    oneLine(await runCli(['spawn', '--threads', '-1', fixture('executor/step-io.js')]), '--threads', '(got -1)');
  });

  it('--natives ./missing.js: one line before the node starts; no journal is created', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    oneLine(await runCli(['spawn', '--db', db, '--natives', './missing.js', fixture('executor/step-io.js')]), 'missing.js', 'BL_ARG_INVALID');
    const notNative = path.join(tmpdir(), 'not-native.js');
    fs.writeFileSync(notNative, 'export default 42;\n');
    oneLine(await runCli(['spawn', '--db', db, '--natives', notNative, fixture('executor/step-io.js')]), 'not-native.js', 'defineNative');
    expect(fs.existsSync(db)).toBe(false);
  });

  it('an argument that looks like JSON but does not parse is passed as a string, with a warning', async () => {
    const dir = tmpdir();
    const script = path.join(dir, 'args.js');
    fs.writeFileSync(script, 'export default async (ctx, ...args) => args;\n');
    const out = await runCli(['spawn', '--db', path.join(dir, 'journal.db'), script, '{a:1}', 'plain']);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual(['{a:1}', 'plain']);
    expect(out.stderr).toMatch(/warning: argument 1 looks like JSON but does not parse/);
    expect(out.stderr).not.toContain('argument 2');
  });

  it('start --http on a port in use: one line naming the address, exit 2, nothing journaled', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const db = path.join(tmpdir(), 'journal.db');
      const out = await runCli(['start', '--db', db, '--http', `127.0.0.1:${port}`, fixture('supervisor/gateway.yaml')]);
      oneLine(out, `127.0.0.1:${port}`, 'BL_LISTEN_FAILED', 'in use');
      expect(out.stderr).not.toContain('internal error');
      expect(fs.existsSync(db)).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('start --ready-file: written once the gateway answers, removed at exit; --pid-file holds the node pid', async () => {
    const dir = tmpdir();
    const ready = path.join(dir, 'ready.json');
    const pidFile = path.join(dir, 'node.pid');
    fs.writeFileSync(ready, 'stale from a killed run');
    const node = startCli(['start', '--db', path.join(dir, 'journal.db'), '--http', '127.0.0.1:0', '--ready-file', ready, '--pid-file', pidFile, fixture('supervisor/gateway.yaml')]);
    const info = await until<{ pid: number; http: string; tree: string } | null>(() => {
      try {
        return JSON.parse(fs.readFileSync(ready, 'utf8')) as { pid: number; http: string; tree: string };
      } catch {
        return null;
      }
    }, 30_000, 'the ready file');
    if (info === null) throw new Error('unreachable: until returns a truthy value');
    expect(info.pid).toBe(node.child.pid);
    expect(Number(fs.readFileSync(pidFile, 'utf8'))).toBe(node.child.pid);
    expect(node.stderr).toContain(`runtime: ready (pid ${node.child.pid})`);
    // Ready means ready: the first call succeeds.
    const res = await fetch(`${info.http}/call/echo`, { method: 'POST', body: '{"hi":1}' });
    expect(res.status).toBe(200);
    node.child.kill('SIGTERM');
    expect((await node.exited).code).toBe(0);
    expect(fs.existsSync(ready)).toBe(false);
    expect(fs.existsSync(pidFile)).toBe(false);
  });

  it('a syntax error names file:line:column and the offending line, in one line', async () => {
    const file = fixture('syntax-error.js');
    oneLine(await runCli(['spawn', '--db', path.join(tmpdir(), 'journal.db'), file]), `${file}:2:13: SyntaxError`, '(at "const x = ;")', 'BL_SCRIPT_INVALID');
  });

  it('a control socket that hangs up: one line, exit 2, no internal-error stack', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const server = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => server.listen(`${db}.sock`, () => r()));
    try {
      for (const args of [['send', '--db', db, 'x', '{}'], ['ps', '--db', db]]) {
        const out = await runCli(args);
        expect(out.hung).toBe(false);
        expect(out.code).toBe(2);
        expect(out.stderr.trim().split('\n'), out.stderr).toHaveLength(1);
        expect(out.stderr).not.toContain('internal error');
      }
    } finally {
      server.close();
    }
  });

  it('a spawn handed to a running node says that node options cannot apply there', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const node = startCli(['spawn', '--db', db, fixture('executor/waiter.js'), 'holder', '600000']);
    await until(() => node.stderr.includes('waiting as holder'), 30_000, 'the first node to run');
    const handed = await runCli(['spawn', '--db', db, '--threads', '1', '--durability', 'normal', fixture('executor/step-io.js')]);
    expect(handed.code).toBe(0);
    expect(Number(handed.stdout)).toBeGreaterThan(100);
    expect(handed.stderr).toContain('a node already runs on');
    expect(handed.stderr).toContain('--threads, --durability are ignored');
    expect(handed.stderr).toContain("log lines go to that node's stderr");
    expect(handed.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('error codes say what is wrong: no journal is BL_JOURNAL_MISSING (not CORRUPT), no node is BL_NO_NODE (not NOPROC)', async () => {
    const dir = tmpdir();
    const none = path.join(dir, 'none.db');
    for (const cmd of ['ps', 'tree']) oneLine(await runCli([cmd, '--db', none]), 'BL_JOURNAL_MISSING');
    oneLine(await runCli(['history', '--db', none, 'x.1']), 'BL_JOURNAL_MISSING');
    expect(fs.existsSync(none)).toBe(false);
    const db = path.join(dir, 'journal.db');
    expect((await runCli(['spawn', '--db', db, fixture('executor/step-io.js')])).code).toBe(0);
    for (const args of [['send', '--db', db, 'x.1', '{}'], ['query', '--db', db, 'x.1', 'q'], ['start-child', '--db', db, 'sup']]) {
      oneLine(await runCli(args), 'BL_NO_NODE', 'no node is running');
    }
  });
});
