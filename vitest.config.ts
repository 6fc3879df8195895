import { defineConfig } from 'vitest/config';

// Tests run against the compiled output in dist/ (`npm test` builds first):
// worker threads load dist/runtime/executor/worker.js, so the kernel must too.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Crash tests spawn real child processes and time real timers: keep files
    // in separate forks but do not oversubscribe a 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
});
