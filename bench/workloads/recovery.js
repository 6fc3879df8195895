// `recovery`: a `runtime spawn` node holding `n` sleeping processes (each
// parked on a 1 h durable timer) is killed with SIGKILL; a node then boots
// on its journal and we time how long until all `n` are back.
//
// What "back" means here, and why: the goal is boot → every process rebuilt
// (replayed into a thread's memory) and parked again. The runtime gives no
// way to observe that moment: a replay round that produces nothing new is
// not reported to the kernel, and the kernel's process table keeps
// processes it once saw as runnable in state 'runnable' after they have
// parked (see the bench report). So we measure an honest upper bound
// instead: right after boot every sleeper is sent a `poke`, which it can
// only receive once it has been rebuilt; the clock stops when all `n` have
// answered by exiting (exits committed). That is the rebuild plus one round
// and one exit per process.
//
// The clock starts before Node.open (open and check the journal, start the
// threads, read the live processes, re-arm the timers). No same-run
// baseline exists; the row carries the goal (2 s) in its place.

import path from 'node:path';
import { openNode, resultsOf } from '../lib/beamline.js';
import { Child, CLI, progress, row, runWorkload, scale, script, since, tempJournal } from '../lib/harness.js';

const HOUR = 3_600_000;
const GOAL_S = 2;

await runWorkload(async (opts) => {
  const n = scale(opts, 10_000, 1_000);
  const journal = tempJournal();
  try {
    await killedNode(opts, journal.db, n);
    const start = performance.now();
    const { node, close } = await openNode(opts, { db: journal.db });
    const openMs = since(start);
    try {
      const sleepers = node.kernel.processes().filter((p) => path.basename(p.script) === 'napper.js');
      if (sleepers.length !== n) throw new Error(`expected ${n} sleepers in the killed node's journal, found ${sleepers.length}`);
      for (const p of sleepers) node.send(p.pid, { type: 'poke' });
      const answers = await resultsOf(
        node,
        sleepers.map((p) => p.pid),
      );
      const ms = since(start);
      const slept = answers.filter((a) => a !== 'poked').length;
      if (slept > 0) throw new Error(`${slept} sleepers timed out instead of being poked`);
      progress('recovery', `boot → ${n} sleepers rebuilt and poked in ${ms.toFixed(0)} ms (Node.open ${openMs.toFixed(0)} ms, ${node.recovered} processes recovered)`);
      return [
        row({
          workload: 'recovery',
          metric: `boot after SIGKILL → ${n} sleepers rebuilt and answering (upper bound)`,
          value: ms / 1000,
          unit: 's',
          baseline: { name: 'none; the goal', value: GOAL_S },
          better: 'lower',
          goal: { text: `<= ${GOAL_S} s`, test: (r) => r.value <= GOAL_S },
        }),
      ];
    } finally {
      await close();
    }
  } finally {
    journal.remove();
  }
});

/** Run `runtime spawn parked-tree.js n` until all its sleepers are parked, then SIGKILL it. */
async function killedNode(opts, db, n) {
  const start = performance.now();
  const child = new Child([CLI, 'spawn', '--db', db, '--threads', String(opts.threads), '--durability', opts.durability, script('parked-tree.js'), String(n), String(HOUR)]);
  try {
    // Log lines leave only after the commit that records them: every sleeper's timer is journaled by then.
    await child.waitFor((line) => line.includes(`all ${n} parked`), 300_000);
  } finally {
    child.kill('SIGKILL');
    await child.exited;
  }
  progress('recovery', `runtime spawn parked ${n} sleepers in ${since(start).toFixed(0)} ms; killed with SIGKILL`);
}
