// A script that awaits a promise no native settles (a plain setTimeout,
// fs.promises) used to park forever: `runtime spawn` hung and every later
// boot resumed it. It now fails at once with BL_FOREIGN_AWAIT naming the pid
// and the rule; natives called off a destructured ctx name their rule too.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, fixture, killCliLeftovers, query, runCli, tmpdir } from '../helpers.js';

afterEach(killCliLeftovers);

function exitOf(db: string): { status: string; reason: { code?: string; message: string } } {
  const [row] = query<{ status: string; reason: Buffer }>(db, 'SELECT status, reason FROM processes');
  return { status: row!.status, reason: decode(row!.reason) as { code?: string; message: string } };
}

describe('foreign awaits', () => {
  for (const name of ['foreign-timeout.js', 'foreign-fs.js']) {
    it(`${name}: fails the process with BL_FOREIGN_AWAIT naming the pid and the rule, instead of hanging`, async () => {
      const db = path.join(tmpdir(), 'journal.db');
      const out = await runCli(['spawn', '--db', db, fixture(`executor/${name}`)], 30_000);
      expect(out.hung).toBe(false);
      expect(out.code).toBe(1);
      const line = out.stderr.split('\n').find((l) => l.includes('exited abnormally'))!;
      expect(line).toContain('BL_FOREIGN_AWAIT');
      expect(line).toMatch(/ctx\.sleep/);
      expect(line).toMatch(/ctx\.step/);
      const exit = exitOf(db);
      expect(exit.status).toBe('exited');
      expect(exit.reason.code).toBe('BL_FOREIGN_AWAIT');
      const [{ pid }] = query<{ pid: string }>(db, 'SELECT pid FROM processes');
      expect(line).toContain(pid);
      expect(exit.reason.message).toContain(pid);
      // Nothing is left live for the next boot to resume.
      expect(query(db, "SELECT pid FROM processes WHERE status = 'live'")).toEqual([]);
    });
  }

  it('I/O inside ctx.step and promises that settle within the round are not foreign', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const out = await runCli(['spawn', '--db', db, fixture('executor/step-io.js')], 30_000);
    expect(out.code).toBe(0);
    expect(Number(out.stdout)).toBeGreaterThan(100);
  });

  it('a destructured native names the rule (BL_NATIVE_MISUSE), not a TypeError about a symbol', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const out = await runCli(['spawn', '--db', db, fixture('executor/destructure.js')], 30_000);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('BL_NATIVE_MISUSE');
    expect(out.stderr).toContain('ctx.sleep(...)');
    expect(out.stderr).not.toContain('Symbol(');
    expect(exitOf(db).reason.code).toBe('BL_NATIVE_MISUSE');
  });
});
