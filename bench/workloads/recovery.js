// `recovery`: a `runtime spawn` node holding `n` sleeping processes (each
// parked on a 1 h durable timer) is killed with SIGKILL; a node then boots
// on its journal and we time how long until all `n` are back: rebuilt by
// replay into a thread's memory and parked again on their timers.
//
// "Parked again" is read from the kernel's own counters (Node.kernelStats():
// no process left to rebuild, every live process resident, no slice in
// flight), polled every millisecond. A second row keeps the earlier, cruder
// measure: every sleeper is sent a `poke` it can only receive once rebuilt,
// and the clock stops when all have exited (rebuild + one round + one
// committed exit each) — an upper bound that does not trust the counters.
//
// The clock starts before Node.open (open and check the journal, start the
// threads, read the live processes, re-arm the timers). No same-run
// baseline exists; the rows carry the goal (2 s) in its place.

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
      const sleepers = node.processes().filter((p) => path.basename(p.script) === 'napper.js');
      if (sleepers.length !== n) throw new Error(`expected ${n} sleepers in the killed node's journal, found ${sleepers.length}`);
      const live = node.processes().length;
      for (;;) {
        const st = node.kernelStats();
        if (st.rebuilding === 0 && st.slicesInFlight === 0 && st.resident === live) break;
        await new Promise((r) => setTimeout(r, 1));
      }
      const parkedMs = since(start);
      progress('recovery', `boot → ${n} sleepers rebuilt and parked in ${parkedMs.toFixed(0)} ms`);
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
          metric: `boot after SIGKILL → ${n} sleepers rebuilt and parked`,
          value: parkedMs / 1000,
          unit: 's',
          baseline: { name: 'none; the goal', value: GOAL_S },
          better: 'lower',
          goal: { text: `<= ${GOAL_S} s`, test: (r) => r.value <= GOAL_S },
        }),
        row({
          workload: 'recovery',
          metric: `boot after SIGKILL → ${n} sleepers rebuilt and answering (upper bound)`,
          value: ms / 1000,
          unit: 's',
          baseline: { name: 'none; the goal', value: GOAL_S },
          better: 'lower',
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
