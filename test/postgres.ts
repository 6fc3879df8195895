// A real PostgreSQL for the tests (see bench/lib/postgres.js, which the
// cluster benchmark shares): startPostgres() on a free port of 127.0.0.1,
// data in a temp folder, stop() at the end.
export { startPostgres, type Postgres } from '../bench/lib/postgres.js';
