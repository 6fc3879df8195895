// globalSetup of the PostgreSQL pass (vitest.pg.config.ts): one real server
// for the whole run, started here and stopped at teardown; every node a test
// opens gets a fresh database of it (see openNode in helpers.ts).

import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** postgres://…/postgres of the run's server (an admin database: tests create their own). */
    pgAdminUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startPostgres();
  project.provide('pgAdminUrl', server.url);
  return async () => {
    await server.stop();
  };
}
