// --max-processes and --max-mailbox reach the node from the command line
// (real child processes); bad values are one-line usage errors, exit 2.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, killCliLeftovers, runCli, tmpdir } from '../helpers.js';

afterEach(killCliLeftovers);

const idle = JSON.stringify(fixture('limits/idle.js'));

describe('limits on the command line', () => {
  it('runtime spawn --max-processes 2: the script\'s second spawn throws BL_LIMIT', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const run = await runCli(['spawn', '--db', db, '--max-processes', '2', fixture('limits/spawner.js'), '5', idle], 60_000);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ spawned: 1, code: 'BL_LIMIT', message: expect.stringMatching(/--max-processes 2/) });
  });

  it('runtime spawn --max-mailbox 3: the flooded child fails with BL_MAILBOX_FULL, its monitor is told', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const run = await runCli(['spawn', '--db', db, '--max-mailbox', '3', fixture('limits/flood-monitored.js'), '10', idle], 60_000);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ code: 'BL_MAILBOX_FULL', message: expect.stringMatching(/more than --max-mailbox 3/) });
    // A crash report names the reason on stderr.
    expect(run.stderr).toMatch(/"crash":"[^"]+".*BL_MAILBOX_FULL|BL_MAILBOX_FULL.*"crash"/);
  });

  it.each([
    ['--max-processes', '0', /^runtime: --max-processes: expected an integer from 1 to \d+ \(got 0\)\n$/],
    ['--max-mailbox', 'lots', /^runtime: --max-mailbox: expected an integer from 1 to \d+ \(got lots\)\n$/],
    ['--allow-hosts', ',', /^runtime: --allow-hosts: expected hosts separated by commas/],
  ])('%s %s is a one-line usage error, exit 2', async (opt, value, message) => {
    const db = path.join(tmpdir(), 'journal.db');
    const run = await runCli(['spawn', '--db', db, opt, value, fixture('limits/idle.js')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });
});
