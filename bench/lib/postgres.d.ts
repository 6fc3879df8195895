export interface Postgres {
    /** postgres://… of a fresh database for one test (see database()). */
    readonly url: string;
    readonly port: number;
    /** A new empty database on this server; its URL. */
    database(name?: string): Promise<string>;
    stop(): Promise<void>;
}
/** Start a PostgreSQL server for this test file. */
export declare function startPostgres(): Promise<Postgres>;
