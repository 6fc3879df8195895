// waitExit promises a committed exit, also for a process its supervisor
// holds (dead, same pid and mailbox) for a restart.

import { afterEach, describe, expect, it } from 'vitest';
import { query } from '../helpers.js';
import { closeNodes, runTree, worker, workerIn } from '../fixtures/supervisor/support.js';

afterEach(closeNodes);

/** Resolves on the first turn of the event loop where `fn` is true (no sleeping past the moment). */
function onTurn(fn: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (fn()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out'));
      else setImmediate(check);
    };
    check();
  });
}

describe('waitExit', () => {
  it('does not resolve before the exit is committed for a process held for restart', async () => {
    // one_for_all with a sibling that takes 1.5 s to stop: the crashed child
    // stays dead (held for its restart) all that time.
    const t = await runTree({
      strategy: 'one_for_all',
      intensity: 5,
      period: '60s',
      children: [worker('a'), worker('slow', { trap: true, ignoreShutdown: true }, { shutdown: '1500ms' })],
    });
    await t.logged(/^start a run 1$/);
    await t.logged(/^start slow run 1$/);
    const a = workerIn(t.view(), 'a').pid!;
    t.node.send(a, { cmd: 'crash' });
    await onTurn(() => t.node.kernel.process(a)?.state === 'dead');
    const status = await t.node.waitExit(a).then(() => query<{ status: string }>(t.db, 'SELECT status FROM processes WHERE pid = ?', a)[0]!.status);
    expect(status).toBe('exited');
  }, 30_000);
});
