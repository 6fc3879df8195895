// Every abnormal exit prints a crash report (as OTP does): one JSON line on
// the node's stderr naming pid, name, script, run, reason, the message being
// handled and the stack. Before, a supervised child was restarted with
// nothing on stderr and an unsupervised child whose script was missing died
// without a word. `--quiet-crashes` turns them off.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PsRow } from '../../dist/runtime/control/inspect.js';
import type { CrashReport } from '../../dist/runtime/node.js';
import { fixture, killCliLeftovers, runCli, tmpdir } from '../helpers.js';
import { found, startNode, writeTree } from '../fixtures/supervisor/support.js';

afterEach(killCliLeftovers);

// The report's shape is the runtime's own, read back from its JSON line.
type Report = CrashReport;

const reports = (stderr: string): Report[] =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{"crash"'))
    .map((l) => JSON.parse(l) as Report);

/**
 * The crasher registers its name in its first round, after its supervisor has
 * started it (and again in each run after a restart): a send to the name
 * before that round finds no such process.
 */
async function registered(db: string, run: number): Promise<void> {
  await found(
    async () => {
      const rows = JSON.parse((await runCli(['ps', '--db', db, '--json'])).stdout || '[]') as PsRow[];
      return rows.some((r) => r.name.split(',').includes('crasher') && r.run === run) ? true : null;
    },
    30_000,
    `the crasher's run ${run} to register its name`,
  );
}

function crasherTree(dir: string): string {
  return writeTree({ strategy: 'one_for_one', intensity: 10, period: '60s', children: [{ id: 'crasher', script: fixture('node/crasher.js') }] }, dir);
}

describe('crash reports', () => {
  it('a supervised child that throws: one report per crash, with the message it was handling and the stack', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const node = await startNode(crasherTree(dir), db);
    for (const [i, why] of ['first', 'second'].entries()) {
      await registered(db, i + 1);
      const sent = await runCli(['send', '--db', db, 'crasher', JSON.stringify({ type: 'crash', why })]);
      expect(sent.code, `send: ${sent.stderr}\nnode: ${node.stderr}`).toBe(0);
      await found(() => reports(node.stderr).find((r) => (r.message as { why?: string })?.why === why), 30_000, `the ${why} crash report`);
    }
    const [first, second] = reports(node.stderr);
    expect(first).toMatchObject({
      name: 'crasher',
      script: fixture('node/crasher.js'),
      run: 1,
      message: { type: 'crash', why: 'first' },
      supervisor: `${node.treePid}/crasher`,
    });
    expect(first!.crash).toMatch(/^[0-9a-z]{4}\.\d+$/);
    expect(String(first!.reason)).toContain('RangeError: asked to crash (first)');
    expect(first!.stack).toContain('crasher.js');
    expect(second).toMatchObject({ crash: first!.crash, run: 2, message: { why: 'second' } });
    expect(reports(node.stderr)).toHaveLength(2);
    node.child.kill('SIGTERM');
    expect((await node.exited).code).toBe(0);
    // A shutdown is not a crash.
    expect(reports(node.stderr)).toHaveLength(2);
  });

  it('--quiet-crashes: none', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const node = await startNode(crasherTree(dir), db, ['--quiet-crashes']);
    await registered(db, 1);
    const sent = await runCli(['send', '--db', db, 'crasher', '{"type":"crash","why":"quiet"}']);
    expect(sent.code, `send: ${sent.stderr}\nnode: ${node.stderr}`).toBe(0);
    await found(async () => ((await runCli(['ps', '--db', db, '--json'])).stdout.includes('"run":2') ? true : null), 30_000, 'the restart');
    node.child.kill('SIGTERM');
    await node.exited;
    expect(reports(node.stderr)).toEqual([]);
  });

  it('an unsupervised child whose script is missing does not die without a word', async () => {
    const db = path.join(tmpdir(), 'journal.db');
    const out = await runCli(['spawn', '--db', db, fixture('node/lost-child.js')]);
    expect(out.code).toBe(0);
    const { child } = JSON.parse(out.stdout) as { child: string };
    const [report] = reports(out.stderr);
    expect(report).toMatchObject({ crash: child, name: null, script: fixture('node/no-such-child.js'), run: 1 });
    expect(String(report!.reason)).toContain('BL_SCRIPT_NOT_FOUND');
    // The spawn's own root reports through its one closing line, not a second report.
    expect(reports(out.stderr)).toHaveLength(1);
  });
});
