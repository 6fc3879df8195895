// Golden journals: small deterministic scripts (test/golden/scripts) whose
// decoded journals are checked in (test/golden/<name>.json) and compared after
// every run, so any change in what the runtime records — a command's record,
// a resolution's value, how rounds are grouped, an exit — shows up as a diff.
//
// What varies between runs is normalised to placeholders before comparing:
// pids become <P1>, <P2>, ... (numbered by their serial, i.e. spawn order),
// epoch timestamps <time>, random floats <random>, uuids <uuid1>, ..., the
// server's port <port>, mail ids <mail1>, ..., monitor refs keep their step
// (<P1>#5). Message and value bytes are decoded (msgpack) so a diff reads.
//
// After an intended change to what is recorded, regenerate and review the diff:
//   npm run build && UPDATE_GOLDEN=1 npx vitest run test/golden
// and check that the new goldens are stable (run the test a few times without
// UPDATE_GOLDEN) before committing them.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, nodesPerTest, query, readRows, ROOT, type Row } from '../helpers.js';
import { json, startServer, type TestServer } from '../fixtures/natives/http-server.js';

const UPDATE = process.env.UPDATE_GOLDEN === '1';
const DIR = path.join(ROOT, 'test', 'golden');
const node = nodesPerTest();

let server: TestServer;
beforeAll(async () => {
  server = await startServer((seen, res) => {
    if (seen.path === '/golden/orders') json(res, 201, { order: 'o-1', received: seen.body });
    else json(res, 404, { error: 'no such thing' });
  });
});
afterAll(() => server.close());

interface Case {
  name: string;
  args: () => unknown[];
}

const CASES: Case[] = [
  { name: 'ping-pong', args: () => [3] },
  { name: 'clock', args: () => [] },
  { name: 'call-api', args: () => [server.url] },
  { name: 'family', args: () => [] },
  { name: 'receive-timeout', args: () => [] },
];

describe('golden journals', () => {
  for (const c of CASES) {
    it(`${c.name}: the journal matches test/golden/${c.name}.json`, async () => {
      // One thread: every process of the script shares it, so which process
      // runs when (and so how resolutions group into rounds) does not depend
      // on how busy the machine is.
      const n = await node({ threads: 1 });
      const root = await n.spawn(path.join(DIR, 'scripts', `${c.name}.js`), c.args());
      await n.waitExit(root);
      // Children may end after the root: wait for every process's exit to be committed.
      for (const { pid } of query<{ pid: string }>(n.db, 'SELECT pid FROM processes')) await n.waitExit(pid);
      // Through JSON, as the file is (an absent value and undefined compare alike).
      const actual = JSON.parse(JSON.stringify(goldenOf(n.db))) as unknown;
      const file = path.join(DIR, `${c.name}.json`);
      if (UPDATE) fs.writeFileSync(file, `${pretty(actual)}\n`);
      expect(fs.existsSync(file), `${file} is missing: run UPDATE_GOLDEN=1 npx vitest run test/golden`).toBe(true);
      expect(actual).toEqual(JSON.parse(fs.readFileSync(file, 'utf8')));
    });
  }
});

/** JSON with anything short on one line: one command or resolution per line reads well in a diff. */
function pretty(v: unknown, indent = ''): string {
  const flat = JSON.stringify(v);
  if (flat.length + indent.length <= 110 || v === null || typeof v !== 'object') return flat;
  const inner = `${indent}  `;
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + pretty(x, inner)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${inner}${JSON.stringify(k)}: ${pretty(x, inner)}`);
  return `{\n${entries.join(',\n')}\n${indent}}`;
}

/** The journal of every process, in pid order then commit order, normalised. */
function goldenOf(db: string): unknown {
  const procs = query<{ pid: string; run: number; status: string; script: string; args: Buffer; parent: string | null; root: number; reason: Buffer | null; result: Buffer | null }>(
    db,
    'SELECT pid, run, status, script, args, parent, root, reason, result FROM processes',
  );
  const serial = (pid: string) => Number(pid.slice(pid.lastIndexOf('.') + 1));
  const norm = new Normaliser([...procs.map((p) => p.pid)].sort((a, b) => serial(a) - serial(b)));
  const rows = readRows(db);
  const out = [...procs]
    .sort((a, b) => serial(a.pid) - serial(b.pid))
    .map((p) => ({
      pid: p.pid,
      run: p.run,
      status: p.status,
      script: path.relative(ROOT, p.script),
      args: decode(p.args),
      parent: p.parent,
      root: p.root === 1,
      reason: p.reason === null ? null : decode(p.reason),
      result: p.result === null ? null : decode(p.result),
      rows: rows.filter((r) => r.pid === p.pid).map(({ pid: _pid, ...row }: Row) => row),
    }));
  return norm.value(out);
}

const PID = /^[a-z0-9]{4}\.\d+$/;
const PID_IN = /\b[a-z0-9]{4}\.\d+\b/g;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Any epoch-ms timestamp from 2001 to 2286.
const isTime = (n: number) => Number.isInteger(n) && n >= 1e12 && n < 1e13;

class Normaliser {
  readonly #pids = new Map<string, string>();
  readonly #uuids = new Map<string, string>();
  readonly #mail = new Map<number, string>();

  constructor(pidsInOrder: string[]) {
    for (const pid of pidsInOrder) this.#pid(pid);
  }

  #pid(pid: string): string {
    let p = this.#pids.get(pid);
    if (p === undefined) this.#pids.set(pid, (p = `<P${this.#pids.size + 1}>`));
    return p;
  }

  #string(s: string): string {
    if (PID.test(s)) return this.#pid(s);
    if (UUID.test(s)) {
      let u = this.#uuids.get(s);
      if (u === undefined) this.#uuids.set(s, (u = `<uuid${this.#uuids.size + 1}>`));
      return u;
    }
    return s
      .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>')
      .replaceAll(ROOT, '<root>')
      .replace(PID_IN, (m) => (this.#pids.has(m) ? this.#pids.get(m)! : m));
  }

  value(v: unknown, key = ''): unknown {
    if (typeof v === 'string') return this.#string(v);
    if (typeof v === 'number') {
      if (isTime(v)) return '<time>';
      if (!Number.isInteger(v) && v >= 0 && v < 1) return '<random>';
      if (key === 'id') return this.#mailId(v);
      return v;
    }
    if (v instanceof Uint8Array) {
      try {
        return { bytes: this.value(decode(v)) };
      } catch {
        return { bytes: Buffer.from(v).toString('hex') };
      }
    }
    if (Array.isArray(v)) return v.map((x) => this.value(x));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        // HTTP headers the server's Node adds: a date, and connection details.
        if (k === 'date' || k === 'keep-alive') out[k] = `<${k}>`;
        else out[k] = this.value(x, k);
      }
      return out;
    }
    return v;
  }

  #mailId(id: number): string {
    let m = this.#mail.get(id);
    if (m === undefined) this.#mail.set(id, (m = `<mail${this.#mail.size + 1}>`));
    return m;
  }
}
