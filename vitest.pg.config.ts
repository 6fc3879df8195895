import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The second pass of `npm test`: the node-level suites again, with every node
// on PostgreSQL (a fresh database of one server started for the run, see
// test/pg-global-setup.ts and openNode in test/helpers.ts). Tests that only
// apply to a SQLite file skip themselves there, saying why.
// `npm test` runs test/natives this way (each node on PostgreSQL costs about
// a second more than on SQLite: the whole folder is some three minutes on
// two cores); the supervisor and kernel suites run on demand:
//   npx vitest run -c vitest.pg.config.ts test/supervisor
export default defineConfig({
  test: {
    ...base.test,
    include: ['test/natives/**/*.test.ts', 'test/supervisor/**/*.test.ts', 'test/kernel/**/*.test.ts'],
    globalSetup: ['test/pg-global-setup.ts'],
    env: { BEAMLINE_TEST_STORE: 'postgres' },
  },
});
