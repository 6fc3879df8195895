// `recovery`: a `runtime spawn` node holding `n` processes parked on long
// durable timers is killed with SIGKILL; then a node boots on its journal
// and we time boot → every process rebuilt by replay, in its thread's
// memory and parked again (the kernel's process table says so: state
// 'parked' and resident on a thread), with all `n` timers re-armed.
//
// The clock starts before Node.open (opening and checking the journal,
// starting threads, reading the live processes) and stops at the first poll
// that sees everything parked. No baseline exists; the row carries the
// issue's goal (2 s) in its place.

import { allParked, openNode } from '../lib/beamline.js';
import { Child, CLI, progress, row, runWorkload, scale, script, since, tempJournal, until } from '../lib/harness.js';

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
      // The root of the tree is parked too: n + 1 processes.
      await until(() => node.kernel.timersArmed >= n && allParked(node, n + 1), { what: `${n + 1} processes parked again`, everyMs: 5, timeoutMs: 300_000 });
      const ms = since(start);
      progress('recovery', `boot → ${n + 1} processes parked again in ${ms.toFixed(0)} ms (Node.open ${openMs.toFixed(0)} ms, ${node.recovered} recovered)`);
      return [
        row({
          workload: 'recovery',
          metric: `boot after SIGKILL → ${n} sleeping processes parked again`,
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

/** Run `runtime spawn parked-tree.js n` until all its children are parked, then SIGKILL it. */
async function killedNode(opts, db, n) {
  const start = performance.now();
  const child = new Child([CLI, 'spawn', '--db', db, '--threads', String(opts.threads), '--durability', opts.durability, script('parked-tree.js'), String(n), String(HOUR)]);
  try {
    // Log lines leave only after the commit that records them: every child's timer is journaled.
    await child.waitFor((line) => line.includes(`all ${n} parked`), 300_000);
  } finally {
    child.proc.kill('SIGKILL');
    await child.exited;
  }
  progress('recovery', `runtime spawn parked ${n} processes in ${since(start).toFixed(0)} ms; killed with SIGKILL`);
}
