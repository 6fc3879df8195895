export interface Postgres {
    /** postgres://… of a fresh database for one test (see database()). */
    readonly url: string;
    readonly port: number;
    /** A new empty database on this server; its URL. */
    database(name?: string): Promise<string>;
    stop(): Promise<void>;
}
/** Start a PostgreSQL server for this test file; `settings` are extra server settings (`-c name=value`). */
export declare function startPostgres(opts?: { settings?: Record<string, string | number> }): Promise<Postgres>;
