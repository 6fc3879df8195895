// A restart that fails. OTP re-queues a failed restart through the
// supervisor's own mailbox ({try_again_restart, ...}), counting each attempt
// against the restart intensity, so a shutdown can get in between and the
// supervisor gives up instead of leaving the child half restarted.

import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../helpers.js';
import { closeNodes, runTree, script, worker, workerIn } from '../fixtures/supervisor/support.js';

afterEach(closeNodes);

describe('a failed restart', () => {
  it('is retried through the supervisor queue and counted against intensity, never swallowed with the child left restarting', async () => {
    // one_for_all: restarting `a` first stops `slow`, which ignores the
    // shutdown and is killed after its grace; meanwhile another process takes
    // `a`'s registered name, so every restart of `a` is refused.
    const t = await runTree({
      strategy: 'one_for_all',
      intensity: 3,
      period: '60s',
      children: [worker('a', {}, { name: 'svc' }), worker('slow', { trap: true, ignoreShutdown: true }, { shutdown: '1500ms' })],
    });
    await t.logged(/^start a run 1$/);
    await t.logged(/^start slow run 1$/);
    const a = workerIn(t.view(), 'a').pid!;
    t.node.send(a, { cmd: 'crash' });
    await t.logged(/^exit-signal slow "shutdown"/);
    const squatter = await t.node.spawn(script('child.js'), ['squatter'], { name: 'svc' });
    await until(() => t.rootExits.length > 0, 20_000, 'the supervisor to give up on a restart that keeps failing');
    expect(t.rootExits[0]).toMatchObject({
      escalated: true,
      failure: { id: 'a', pid: a, reason: expect.objectContaining({ code: 'BL_NAME_TAKEN' }) },
    });
    // The name stays with the process that took it.
    expect(t.node.kernel.whereis('svc')).toBe(squatter);
  }, 40_000);
});
