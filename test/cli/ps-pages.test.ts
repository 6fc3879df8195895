// `runtime ps` pages: 1,000 rows by default in pid order, a note on stderr
// naming the next page (--after PID) and how to see all (--limit 0). Only a
// page's rows have their last round read, which is what made ps over
// 100,000 processes take seconds. Real journals, real child processes.

import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, runCli, tmpdir } from '../helpers.js';
import { killLeftovers, startNode, SUP, type StartedNode } from '../fixtures/supervisor/support.js';

interface Row {
  pid: string;
  state: string;
}
const serial = (pid: string) => Number(pid.split('.')[1]);

const started: StartedNode[] = [];
afterAll(async () => {
  for (const s of started) s.child.kill('SIGTERM');
  await Promise.all(started.map((s) => s.exited));
  await killLeftovers();
});

describe('runtime ps pages', () => {
  it('shows the first 1,000 by default, --after the next page, --limit 0 all (no node running)', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    // 1,500 idle children stay live after their parent returns.
    const spawned = await runCli(['spawn', '--db', db, fixture('limits/spawner.js'), '1500', JSON.stringify(fixture('limits/idle.js'))], 120_000);
    expect(spawned.code).toBe(0);
    expect(JSON.parse(spawned.stdout)).toEqual({ spawned: 1500, code: null });

    const first = await runCli(['ps', '--db', db, '--json'], 60_000);
    expect(first.code).toBe(0);
    const page1 = JSON.parse(first.stdout) as Row[];
    expect(page1).toHaveLength(1000);
    const serials = page1.map((r) => serial(r.pid));
    expect(serials).toEqual([...serials].sort((a, b) => a - b));
    const last = page1.at(-1)!.pid;
    expect(first.stderr).toContain(`showing the first 1000 processes; next page: --after ${last}; all at once: --limit 0`);

    const second = await runCli(['ps', '--db', db, '--json', '--after', last], 60_000);
    const page2 = JSON.parse(second.stdout) as Row[];
    expect(page2).toHaveLength(500);
    expect(serial(page2[0]!.pid)).toBeGreaterThan(serial(last));
    expect(second.stderr).not.toContain('next page');
    // The two pages are every live process, once each.
    const all = await runCli(['ps', '--db', db, '--json', '--limit', '0'], 60_000);
    const every = (JSON.parse(all.stdout) as Row[]).map((r) => r.pid).sort();
    expect([...page1, ...page2].map((r) => r.pid).sort()).toEqual(every);
    expect(every).toHaveLength(1500);

    const table = await runCli(['ps', '--db', db, '--limit', '10'], 60_000);
    expect(table.stdout.trim().split('\n')).toHaveLength(11); // header + 10
  });

  it('pages a running node through its control socket the same way', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const s = await startNode(path.join(SUP, 'gateway.yaml'), db);
    started.push(s);
    const all = JSON.parse((await runCli(['ps', '--db', db, '--json'])).stdout) as Row[];
    expect(all.length).toBeGreaterThan(2);
    const first = await runCli(['ps', '--db', db, '--json', '--limit', '2']);
    expect(first.stderr).not.toMatch(/no node is running/);
    const page1 = JSON.parse(first.stdout) as Row[];
    expect(page1.map((r) => r.pid)).toEqual(all.slice(0, 2).map((r) => r.pid));
    const rest = JSON.parse((await runCli(['ps', '--db', db, '--json', '--after', page1[1]!.pid, '--limit', '0'])).stdout) as Row[];
    expect([...page1, ...rest].map((r) => r.pid)).toEqual(all.map((r) => r.pid));
  });

  it('refuses a bad --limit or --after with one line, exit 2', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const limit = await runCli(['ps', '--db', db, '--limit', '-1']);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toMatch(/^runtime: --limit: expected an integer from 0 to \d+ \(got -1\)\n$/);
    const after = await runCli(['ps', '--db', db, '--after', 'nope']);
    expect(after.code).toBe(2);
    expect(after.stderr).toMatch(/^runtime: --after: expected a pid such as ab12\.1000 \(got nope\)\n$/);
  });
});
