// `runtime kill` always ends a process: through a running node it returns
// once the process is gone; with no node running (the node was killed, the
// root abandoned) it records the exit in the journal instead of refusing.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, fixture, killCliLeftovers, query, runCli, startCli, tmpdir, until } from '../helpers.js';

afterEach(killCliLeftovers);

describe('runtime kill', () => {
  it('through a running node: exit 0 means the process has ended', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const node = startCli(['spawn', '--db', db, fixture('executor/waiter.js'), 'w1', '600000']);
    await until(() => node.stderr.includes('waiting as w1'), 30_000, 'the waiter to run');
    const killed = await runCli(['kill', '--db', db, 'w1']);
    expect(killed.code).toBe(0);
    // Already recorded when kill returned.
    expect(query<{ status: string }>(db, 'SELECT status FROM processes')).toEqual([{ status: 'exited' }]);
    const { code } = await node.exited;
    expect(code).toBe(1);
    expect(node.stderr).toMatch(/exited abnormally: "killed"/);
  });

  it('with no node running: records the exit of an abandoned root, so no later boot resumes it', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const pidFile = path.join(dir, 'node.pid');
    const node = startCli(['spawn', '--db', db, '--pid-file', pidFile, fixture('executor/waiter.js'), 'w2', '600000']);
    await until(() => node.stderr.includes('waiting as w2') && fs.existsSync(pidFile), 30_000, 'the waiter and its pid file');
    const osPid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(osPid).toBe(node.child.pid);
    process.kill(osPid, 'SIGKILL');
    expect((await node.exited).signal).toBe('SIGKILL');

    const [{ pid }] = query<{ pid: string }>(db, "SELECT pid FROM processes WHERE status = 'live'");
    const ps = await runCli(['ps', '--db', db]);
    expect(ps.code).toBe(0);
    expect(ps.stdout).toContain(pid);
    expect(ps.stderr).toMatch(/no node is running on .*: these are the last recorded states/);

    const killed = await runCli(['kill', '--db', db, pid]);
    expect(killed.code).toBe(0);
    expect(killed.stdout).toContain(`${pid} "killed"`);
    expect(killed.stdout).toContain('no node is running');
    expect(query(db, "SELECT pid FROM processes WHERE status = 'live'")).toEqual([]);
    expect(query(db, 'SELECT name FROM names')).toEqual([]);
    const history = await runCli(['history', '--db', db, pid]);
    expect(history.stdout).toContain('exit killed');

    // A boot on the journal finds nothing to resume.
    const again = await runCli(['spawn', '--db', db, fixture('executor/step-io.js')]);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain('waiting as w2');

    // Killing it again, or a pid that never was: one line, BL_NOPROC.
    for (const target of [pid, 'nobody']) {
      const out = await runCli(['kill', '--db', db, target]);
      expect(out.code).toBe(2);
      expect(out.stderr.trim().split('\n')).toHaveLength(1);
      expect(out.stderr).toContain('BL_NOPROC');
    }
    // No journal at all: named, not created.
    const none = path.join(dir, 'none.db');
    const missing = await runCli(['kill', '--db', none, pid]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('BL_JOURNAL_MISSING');
    expect(fs.existsSync(none)).toBe(false);
  }, 120_000);

  it('with no node running: monitors get their down message and linked processes the exit signal at the next boot', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const pidFile = path.join(dir, 'node.pid');
    const first = startCli(['spawn', '--db', db, '--pid-file', pidFile, fixture('executor/watcher.js')]);
    await until(() => first.stderr.includes('watching') && fs.existsSync(pidFile), 30_000, 'the watcher to be watching');
    process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL');
    await first.exited;

    const killed = await runCli(['kill', '--db', db, 'victim']);
    expect(killed.code, killed.stderr).toBe(0);

    // The same spawn resumes the watcher, which now sees its child down.
    const again = await runCli(['spawn', '--db', db, fixture('executor/watcher.js')], 60_000);
    expect(again.code, again.stderr).toBe(0);
    const out = JSON.parse(again.stdout) as { victim: string; partner: string; reason: unknown };
    expect(out.reason).toBe('killed');
    const partner = query<{ status: string; reason: Buffer }>(db, 'SELECT status, reason FROM processes WHERE pid = ?', out.partner)[0]!;
    expect(partner.status).toBe('exited');
    expect(decode(partner.reason)).toBe('killed');
    // Its crash report names the signal it died of.
    expect(again.stderr).toMatch(new RegExp(`\\{"crash":"${out.partner.replace('.', '\\.')}".*"reason":"killed"`));
  }, 120_000);
});
