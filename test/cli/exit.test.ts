// A command that has finished exits, whatever its code or a user's module
// left open: the result is printed, the exit code is the command's, and
// one warning line says what was still open — never a process that lingers
// as if work were still under way.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killCliLeftovers, ROOT, runCli, tmpdir } from '../helpers.js';

afterEach(killCliLeftovers);

const leaky = path.join(ROOT, 'test', 'fixtures', 'leaky-native.js');
const hello = path.join(ROOT, 'scripts', 'hello.js');

describe('a finished command exits', () => {
  it('even when a native module left an interval running: result printed, exit 0, one warning naming what was open', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const out = await runCli(['spawn', '--db', db, '--natives', leaky, hello, 'x'], 30_000);
    expect(out.hung).toBe(false);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('x');
    expect(out.stderr).toMatch(/runtime: warning: .*Timeout.* still open 2000 ms after the command ended; exiting \[BL_INTERNAL\]/);
  });

  it('and so does one that failed: its error, then exit 2', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const out = await runCli(['spawn', '--db', db, '--natives', leaky, path.join(ROOT, 'no-such-script.js')], 30_000);
    expect(out.hung).toBe(false);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/no-such-script/);
  });
});
