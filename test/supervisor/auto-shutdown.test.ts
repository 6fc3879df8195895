// auto_shutdown with significant children, against OTP's supervisor
// documentation:
//
// - any_significant: "the supervisor will shut itself down automatically
//   when any significant child terminates, that is, when a transient
//   significant child terminates normally or when a temporary significant
//   child terminates normally or abnormally."
// - all_significant: "when all significant children have terminated".
// - "Automatic shutdown only applies when significant children terminate by
//   themselves, that is, not when their termination was caused by the
//   supervisor." A significant child that is restarted has not terminated.
//
// An automatic shutdown is a clean stop (reason shutdown, no escalation): a
// transient nested supervisor that shuts itself down is not restarted.

import { afterEach, describe, expect, it } from 'vitest';
import { settled, until } from '../helpers.js';
import { closeNodes, exitsInOrder, expectDead, findChild, runTree, worker, workerIn } from '../fixtures/supervisor/support.js';

afterEach(closeNodes);

describe('any_significant', () => {
  it('shuts a nested supervisor down when a significant transient child ends normally; its parent lets it go', async () => {
    const t = await runTree({
      strategy: 'one_for_one',
      children: [
        worker('keeper'),
        {
          id: 'jobs',
          restart: 'transient',
          supervisor: {
            strategy: 'one_for_one',
            auto_shutdown: 'any_significant',
            children: [worker('helper'), worker('job', {}, { restart: 'transient', significant: true }), worker('other', {}, { restart: 'transient', significant: true })],
          },
        },
      ],
    });
    for (const id of ['keeper', 'helper', 'job', 'other']) await t.logged(new RegExp(`^start ${id} run 1$`));
    const v = t.view();
    const [keeper, helper, job, other] = ['keeper', 'helper', 'job', 'other'].map((id) => workerIn(v, id).pid!);

    t.node.send(job!, { cmd: 'return', value: 'finished' });
    await until(() => exitsInOrder(t.db).length === 3, 15_000, 'the nested supervisor to stop its children');
    expect(exitsInOrder(t.db).map((e) => [e.pid, e.reason])).toEqual([
      [job, 'normal'],
      [other, 'shutdown'],
      [helper, 'shutdown'],
    ]);
    await settled(t.node);
    const view = t.view();
    expect(view.status).toBe('running');
    expect(view.restarts).toBe(0);
    // The nested supervisor is gone and stays stopped.
    expect(findChild(view, 'jobs')).toMatchObject({ id: 'jobs', state: 'stopped' });
    expect(workerIn(view, 'keeper')).toMatchObject({ pid: keeper, run: 1, state: 'running' });
    for (const pid of [helper, job, other]) expectDead(t, pid!);
    expect(t.rootExits).toEqual([]);
    expect(exitsInOrder(t.db)).toHaveLength(3);
  });

  it('is not triggered by a significant child that crashes and is restarted', async () => {
    const t = await runTree({
      strategy: 'one_for_one',
      intensity: 3,
      auto_shutdown: 'any_significant',
      children: [worker('helper'), worker('job', {}, { restart: 'transient', significant: true })],
    });
    await t.logged(/^start helper run 1$/);
    await t.logged(/^start job run 1$/);
    const job = workerIn(t.view(), 'job').pid!;
    t.node.send(job, { cmd: 'crash' });
    await t.logged(/^start job run 2$/);
    await settled(t.node);
    expect(t.view()).toMatchObject({ status: 'running', restarts: 1 });
    expect(t.rootExits).toEqual([]);
  });

  it('is not triggered when the supervisor itself terminates a significant child (one_for_all restart)', async () => {
    const t = await runTree({
      strategy: 'one_for_all',
      intensity: 3,
      auto_shutdown: 'any_significant',
      children: [worker('a'), worker('job', {}, { restart: 'transient', significant: true })],
    });
    await t.logged(/^start a run 1$/);
    await t.logged(/^start job run 1$/);
    const v = t.view();
    const a = workerIn(v, 'a').pid!;
    const job = workerIn(v, 'job').pid!;
    t.node.send(a, { cmd: 'crash' });
    await t.logged(/^start a run 2$/);
    await t.logged(/^start job run 2$/);
    expect(exitsInOrder(t.db).map((e) => [e.pid, e.reason])).toEqual([
      [a, expect.objectContaining({ message: 'crash a' })],
      [job, 'shutdown'],
    ]);
    await settled(t.node);
    expect(t.view()).toMatchObject({ status: 'running' });
    expect(t.rootExits).toEqual([]);
  });
});

describe('all_significant', () => {
  it('shuts the root down cleanly once every significant child has ended, however it ended', async () => {
    const t = await runTree({
      strategy: 'one_for_one',
      auto_shutdown: 'all_significant',
      children: [
        worker('helper'),
        worker('t1', {}, { restart: 'temporary', significant: true }),
        worker('t2', {}, { restart: 'temporary', significant: true }),
      ],
    });
    for (const id of ['helper', 't1', 't2']) await t.logged(new RegExp(`^start ${id} run 1$`));
    const v = t.view();
    const [helper, t1, t2] = ['helper', 't1', 't2'].map((id) => workerIn(v, id).pid!);

    // A temporary child that crashes has terminated; one significant child is still running.
    t.node.send(t1!, { cmd: 'crash' });
    await until(() => exitsInOrder(t.db).length === 1);
    await settled(t.node);
    expect(t.view().status).toBe('running');
    expect(t.rootExits).toEqual([]);
    expect(t.node.kernel.process(helper!)?.state).not.toBe('dead');

    t.node.send(t2!, { cmd: 'return', value: 'done' });
    await until(() => t.rootExits.length > 0, 15_000, 'the root to shut itself down');
    expect(t.rootExits).toEqual([{ pid: t.root, reason: 'shutdown', escalated: false, failure: null }]);
    await until(() => exitsInOrder(t.db).length === 3);
    expect(exitsInOrder(t.db).map((e) => [e.pid, e.reason])).toEqual([
      [t1, expect.objectContaining({ message: 'crash t1' })],
      [t2, 'normal'],
      [helper, 'shutdown'],
    ]);
    expect(t.node.supervision.roots()).toEqual([]);
  });
});

describe('never (the default)', () => {
  it('keeps running when significant-looking children end: nothing is significant', async () => {
    const t = await runTree({
      strategy: 'one_for_one',
      children: [worker('helper'), worker('job', {}, { restart: 'transient' })],
    });
    await t.logged(/^start job run 1$/);
    t.node.send(workerIn(t.view(), 'job').pid!, { cmd: 'return', value: 1 });
    await until(() => exitsInOrder(t.db).length === 1);
    await settled(t.node);
    expect(t.view().status).toBe('running');
    expect(workerIn(t.view(), 'job').state).toBe('stopped');
    expect(t.rootExits).toEqual([]);
  });
});
