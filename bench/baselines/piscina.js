// Baseline for `spawn`: empty Piscina run() tasks with the same thread
// count, keeping `inflight` tasks outstanding, the way the beamline side
// keeps that many spawns outstanding. Piscina's defaults otherwise: this is
// what a user of the raw pool gets.

import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { inFlight } from '../lib/load.js';

const TASK = fileURLToPath(new URL('./piscina-task.js', import.meta.url));

/** Milliseconds to run `tasks` empty tasks, after a warm-up. */
export async function piscinaTasks({ threads, tasks, inflight }) {
  const pool = new Piscina({ filename: TASK, minThreads: threads, maxThreads: threads, idleTimeout: Infinity });
  try {
    await inFlight(Math.min(tasks, 1000), inflight, () => pool.run(null));
    const start = performance.now();
    await inFlight(tasks, inflight, () => pool.run(null));
    return performance.now() - start;
  } finally {
    await pool.destroy();
  }
}
