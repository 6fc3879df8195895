// `runtime history` reads like a timeline: a registered name works where a
// pid does, a supervisor's pid (which `runtime tree` shows) gets its recorded
// state instead of "no process", and journaled fire times read as times,
// not epoch milliseconds.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, killCliLeftovers, runCli, tmpdir } from '../helpers.js';
import { cliJson, startNode, writeTree, type SupView } from '../fixtures/supervisor/support.js';

afterEach(killCliLeftovers);

describe('runtime history', () => {
  it('shows fire times as times, not epoch numbers', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    expect((await runCli(['spawn', '--db', db, fixture('stepper.js'), '1', '300'])).code).toBe(0);
    const out = await runCli(['history', '--db', db, `${(await cliJson<Array<{ pid: string }>>(['ps', '--db', db, '--all', '--json']))[0]!.pid}`]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/→ 0 sleep at \d{2}:\d{2}:\d{2}\.\d{3} …/);
    expect(out.stdout).not.toMatch(/\b1\d{12}\b/);
  });

  it('takes a registered name, and a supervisor pid, live and offline', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const tree = writeTree({ strategy: 'one_for_one', intensity: 4, period: '30s', children: [{ id: 'w', script: fixture('node/crasher.js') }] }, dir);
    const node = await startNode(tree, db);
    const view = (await cliJson<SupView[]>(['tree', '--db', db, '--json']))[0]!;
    for (const when of ['live', 'offline']) {
      const sup = await runCli(['history', '--db', db, view.pid]);
      expect(sup.code, `${when}: ${sup.stderr}`).toBe(0);
      expect(sup.stdout).toContain(`supervisor ${view.pid} (one_for_one, at most 4 restarts per 30 seconds)`);
      expect(sup.stdout).toMatch(/child w: \S+ \(running\)/);
      const byName = await runCli(['history', '--db', db, 'crasher']);
      expect(byName.code).toBe(0);
      expect(byName.stdout).toMatch(/spawned .*crasher\.js/);
      if (when === 'live') {
        node.child.kill('SIGKILL');
        await node.exited;
      }
    }
  });
});
