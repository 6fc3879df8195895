// A run whose history passes 10,000 rows gets one warning line naming the
// pid, the script and the rows, and suggesting ctx.serve or continueAsNew.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodesPerTest, ROOT } from '../helpers.js';

const node = nodesPerTest();

describe('history warning', () => {
  it('warns once when a plain loop passes 10,000 rows in one run', async () => {
    const logs: Array<[string, string]> = [];
    const n = await node({ log: (pid, line) => logs.push([pid, line]) });
    // 10,500 ping-pong round trips: a row per round trip for each side.
    const pid = await n.spawn(path.join(ROOT, 'scripts', 'ping.js'), [10_500]);
    const exit = await n.waitExit(pid);
    expect(exit.normal).toBe(true);
    const warnings = logs.filter(([, line]) => line.startsWith('warning:'));
    // Both sides pass the mark; each is warned once.
    expect(warnings.map(([p]) => p).sort()).toEqual([pid, `${pid.split('.')[0]}.${Number(pid.split('.')[1]) + 1}`].sort());
    const [, line] = warnings.find(([p]) => p === pid)!;
    expect(line).toContain(`process ${pid}`);
    expect(line).toContain('scripts/ping.js');
    expect(line).toContain('10000 journal rows in run 1');
    expect(line).toContain('ctx.serve');
    expect(line).toContain('continueAsNew');
  }, 120_000);
});
