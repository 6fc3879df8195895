// The control socket against what a careless script or another local user
// may send it, and where it lives. A real `runtime start` node (child
// process) and raw Unix-socket clients.
//
// Before: `{"cmd":"prune","before":{}}` stopped the node; `"before":"abc"`
// deleted the history of every exited process; a query nested 5,000 deep
// killed the node; an 80 MB line without a newline was buffered whole (and
// re-scanned on every chunk); replies were written without backpressure. A
// long journal path put the socket at a predictable /tmp/beamline-<hash>.sock
// that another user could create first, making `start` fail with an internal
// EADDRINUSE and receiving (and answering) the owner's `runtime send`.
// Now: every command is checked at the socket (one-line BL_ARG_INVALID), a
// line is bounded, a connection's answers go out one at a time as the client
// takes them, the socket lives where only its owner can reach it, and a
// socket or run directory belonging to someone else is refused with one line
// (BL_UNSAFE_PATH) by the node and by every client.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, query, ROOT, tmpdir } from '../helpers.js';
import { cli, killLeftovers, nodeLogged, script, startNode, writeTree, type StartedNode } from '../fixtures/supervisor/support.js';

const OTHER_UID = 65534; // nobody

interface Reply {
  id: unknown;
  ok: boolean;
  result?: unknown;
  error?: { error: string; message: string; code?: string };
}

/** Send raw bytes on a fresh connection; resolve with the first reply line. */
function ask(file: string, raw: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const s = net.connect(file, () => s.write(raw));
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        s.destroy();
        resolve(JSON.parse(buf.slice(0, nl)) as Reply);
      }
    });
    s.on('error', reject);
  });
}

function refusedWith(reply: Reply, code: string, re?: RegExp): void {
  expect(reply.ok).toBe(false);
  expect(reply.error?.code).toBe(code);
  expect(reply.error?.message.split('\n')).toHaveLength(1);
  if (re !== undefined) expect(reply.error?.message).toMatch(re);
}

const tree = (dir: string) =>
  writeTree(
    {
      strategy: 'one_for_one',
      intensity: 20,
      period: '10s',
      children: [{ id: 'counter', script: script('counter.js'), name: 'counter' }],
    },
    dir,
  );

describe('every control command is checked at the socket', () => {
  let node: StartedNode;
  let db: string;
  let sock: string;
  const alive = async () => {
    const r = await ask(sock, '{"id":9,"cmd":"ps"}\n');
    expect(r.ok).toBe(true);
  };

  beforeAll(async () => {
    const dir = tmpdir();
    db = path.join(dir, 'journal.db');
    node = await startNode(tree(dir), db);
    sock = `${db}.sock`;
    await nodeLogged(node, /^counter run 1 at 0$/);
    // A finished run with history: crash the counter once (run 2 follows).
    expect((await cli(['send', '--db', db, 'counter', '{"cmd":"inc"}'])).code).toBe(0);
    expect((await cli(['send', '--db', db, 'counter', '{"cmd":"crash"}'])).code).toBe(0);
    await nodeLogged(node, /^counter run 2 at 0$/);
  });
  afterAll(async () => {
    node.child.kill('SIGTERM');
    expect((await node.exited).code).toBe(0);
    await killLeftovers();
  });

  it('prune with a before that is not a time is refused; nothing is deleted and the node lives', async () => {
    const rows = () => query<{ n: number }>(db, 'SELECT count(*) AS n FROM journal WHERE run = 1')[0]!.n;
    const before = rows();
    expect(before).toBeGreaterThan(0);
    refusedWith(await ask(sock, '{"cmd":"prune","before":{}}\n'), 'BL_ARG_INVALID', /prune\.before: must be a time/);
    refusedWith(await ask(sock, '{"cmd":"prune","before":"abc"}\n'), 'BL_ARG_INVALID', /prune\.before/);
    refusedWith(await ask(sock, '{"cmd":"prune","before":-5}\n'), 'BL_ARG_INVALID', /prune\.before/);
    refusedWith(await ask(sock, '{"cmd":"prune"}\n'), 'BL_ARG_INVALID', /prune\.before: missing/);
    await alive();
    expect(rows()).toBe(before);
  });

  it('a query whose args nest 5,000 deep is refused in one line; the node lives', async () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    refusedWith(await ask(sock, `{"cmd":"query","pid":"counter","name":"count","args":[${deep}]}\n`), 'BL_ARG_INVALID', /nested deeper than 256/);
    refusedWith(await ask(sock, `{"cmd":"send","to":"counter","msg":${deep}}\n`), 'BL_ARG_INVALID', /nested deeper/);
    await alive();
    const ok = await ask(sock, '{"cmd":"query","pid":"counter","name":"count"}\n');
    expect(ok).toMatchObject({ ok: true, result: 0 });
  });

  it('unknown commands, unknown fields, wrong types and bad JSON are refused with stable codes', async () => {
    refusedWith(await ask(sock, '{"cmd":"format-disk"}\n'), 'BL_ARG_INVALID', /unknown cmd "format-disk"/);
    refusedWith(await ask(sock, '{"cmd":"__proto__"}\n'), 'BL_ARG_INVALID', /unknown cmd/);
    refusedWith(await ask(sock, '{"cmd":"ps","all":true,"drop":1}\n'), 'BL_ARG_INVALID', /ps: unknown field "drop"/);
    refusedWith(await ask(sock, '{"cmd":"kill","pid":{}}\n'), 'BL_ARG_INVALID', /kill\.pid: must be a non-empty string/);
    refusedWith(await ask(sock, '{"cmd":"spawn","script":"x.js","args":"no","wait":true}\n'), 'BL_ARG_INVALID', /spawn\.args: must be a list/);
    refusedWith(await ask(sock, '{"cmd":"send","to":"counter"}\n'), 'BL_ARG_INVALID', /send\.msg: missing/);
    refusedWith(await ask(sock, '[1,2]\n'), 'BL_ARG_INVALID', /must be a JSON object/);
    refusedWith(await ask(sock, '{"cmd":\n'), 'BL_ARG_INVALID', /not JSON/);
    await alive();
  });

  it('an 80 MB line without a newline is refused once past the bound and the connection closed; the node answers others', async () => {
    const s = net.connect(sock);
    let replyText = '';
    let written = 0;
    const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
    s.on('error', () => {});
    s.setEncoding('utf8');
    s.on('data', (d: string) => (replyText += d));
    await new Promise<void>((resolve) => s.on('connect', () => resolve()));
    const chunk = Buffer.alloc(1 << 20, 0x61); // 'a'
    // Write 80 MB as the socket takes it; stop when the node hangs up.
    for (let i = 0; i < 80 && !s.destroyed && !s.writableEnded; i++) {
      const more = s.write(chunk);
      written += chunk.length;
      if (!more) await new Promise<void>((resolve) => (s.once('drain', resolve), s.once('close', resolve)));
    }
    await closed;
    const reply = JSON.parse(replyText.split('\n')[0]!) as Reply;
    refusedWith(reply, 'BL_ARG_INVALID', /over 8388608 bytes without a newline/);
    await alive();
    expect(written).toBeGreaterThan(8 << 20);
  }, 120_000);

  it('a client that sends 20,000 requests at once and never reads gets one answer at a time; others are answered', async () => {
    const s = net.connect(sock);
    s.on('error', () => {});
    await new Promise<void>((resolve) => s.on('connect', () => resolve()));
    s.pause();
    s.write('{"cmd":"ps","all":true}\n'.repeat(20_000));
    // Meanwhile a normal client is answered, repeatedly.
    for (let i = 0; i < 5; i++) await alive();
    // It reads now: its answers come, in order, one per request.
    let got = 0;
    let buf = '';
    s.setEncoding('utf8');
    await new Promise<void>((resolve) => {
      s.on('data', (d: string) => {
        buf += d;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          buf = buf.slice(nl + 1);
          if (++got === 20_000) resolve();
        }
      });
      s.resume();
    });
    s.destroy();
    expect(got).toBe(20_000);
  }, 180_000);
});

// ───────────────────────────── other local users ─────────────────────────────

/** `runtime ...args` with its own environment (TMPDIR, XDG_RUNTIME_DIR). */
function runWith(args: string[], env: Record<string, string | undefined>, ms = 60_000): Promise<{ code: number | null; stdout: string; stderr: string; hung: boolean }> {
  const e: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete e[k];
    else e[k] = v;
  }
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let hung = false;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => {
    hung = true;
    child.kill('SIGKILL');
  }, ms);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, hung });
    }),
  );
}

/** A listening Unix socket at `file` owned by another user, recording every byte it is sent. */
async function squat(file: string): Promise<{ got: () => string; close: () => Promise<void> }> {
  let got = '';
  const server = net.createServer((c) => {
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      got += d;
      // The forged answer the owner's client once accepted.
      c.write('{"id":1,"ok":true,"result":true}\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(file, () => resolve()));
  fs.chmodSync(file, 0o777);
  fs.chownSync(file, OTHER_UID, OTHER_UID);
  return { got: () => got, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const squatters: Array<{ close: () => Promise<void> }> = [];

const oneLine = (out: { stderr: string }, code: string) => {
  expect(out.stderr.trim().split('\n')).toHaveLength(1);
  expect(out.stderr).toContain(code);
  expect(out.stderr).not.toMatch(/internal error|EADDRINUSE/);
};

describe('another local user cannot take the control socket', () => {
  afterEach(async () => {
    await Promise.all(squatters.splice(0).map((s) => s.close()));
    await killLeftovers();
  });

  it('a long journal path puts the socket in a private 0700 run directory, not a predictable /tmp name', async () => {
    const tmp = tmpdir();
    const deep = path.join(tmpdir(), 'd'.repeat(60), 'e'.repeat(60));
    fs.mkdirSync(deep, { recursive: true, mode: 0o700 });
    const db = path.join(deep, 'journal.db');
    const run = runWith(['spawn', '--db', db, '--threads', '1', path.join(ROOT, 'test', 'fixtures', 'stepper.js'), '20', '150'], { TMPDIR: tmp, XDG_RUNTIME_DIR: undefined });
    const dir = path.join(tmp, `beamline-${process.getuid!()}`);
    const sockFile = await new Promise<string>((resolve, reject) => {
      const deadline = Date.now() + 30_000;
      const poll = () => {
        const f = fs.existsSync(dir) ? fs.readdirSync(dir).find((n) => n.endsWith('.sock')) : undefined;
        if (f !== undefined) resolve(path.join(dir, f));
        else if (Date.now() > deadline) reject(new Error('no socket in the run directory'));
        else setTimeout(poll, 20);
      };
      poll();
    });
    const st = fs.statSync(dir);
    expect(st.mode & 0o777).toBe(0o700);
    expect(st.uid).toBe(process.getuid!());
    expect(fs.statSync(sockFile).mode & 0o777).toBe(0o600);
    const out = await run;
    expect(out.code).toBe(0);
    expect(fs.existsSync(sockFile)).toBe(false);
  }, 120_000);

  it('a journal in a directory others can write to keeps its socket out of it', async () => {
    const tmp = tmpdir();
    const shared = tmpdir();
    fs.chmodSync(shared, 0o1777);
    const db = path.join(shared, 'journal.db');
    const out = await runWith(['spawn', '--db', db, '--threads', '1', path.join(ROOT, 'test', 'fixtures', 'stepper.js')], { TMPDIR: tmp, XDG_RUNTIME_DIR: undefined });
    expect(out.code).toBe(0);
    expect(fs.existsSync(`${db}.sock`)).toBe(false);
    expect(fs.existsSync(path.join(tmp, `beamline-${process.getuid!()}`))).toBe(true);
  }, 120_000);

  it("a run directory made by someone else is refused in one line (start does not hang or fail with EADDRINUSE)", async () => {
    const tmp = tmpdir();
    const dir = path.join(tmp, `beamline-${process.getuid!()}`);
    fs.mkdirSync(dir, { mode: 0o777 });
    fs.chmodSync(dir, 0o777);
    fs.chownSync(dir, OTHER_UID, OTHER_UID);
    const deep = path.join(tmpdir(), 'd'.repeat(60), 'e'.repeat(60));
    fs.mkdirSync(deep, { recursive: true, mode: 0o700 });
    const db = path.join(deep, 'journal.db');
    const out = await runWith(['start', '--db', db, '--threads', '1', tree(tmpdir())], { TMPDIR: tmp, XDG_RUNTIME_DIR: undefined });
    expect(out.hung).toBe(false);
    expect(out.code).toBe(2);
    oneLine(out, 'BL_UNSAFE_PATH');
    expect(out.stderr).toContain(dir);
  }, 120_000);

  it("start refuses a socket someone else put in its place, and leaves it alone", async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const s = await squat(`${db}.sock`);
    squatters.push(s);
    const out = await cli(['start', '--db', db, '--threads', '1', tree(dir)], 60_000);
    expect(out.hung).toBe(false);
    expect(out.code).toBe(2);
    oneLine(out, 'BL_UNSAFE_PATH');
    expect(fs.statSync(`${db}.sock`).uid).toBe(OTHER_UID);
    expect(s.got()).toBe('');
  }, 120_000);

  it("spawn refuses a socket someone else put in its place in one line, instead of hanging", async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    const s = await squat(`${db}.sock`);
    squatters.push(s);
    const out = await cli(['spawn', '--db', db, '--threads', '1', path.join(ROOT, 'test', 'fixtures', 'stepper.js')], 60_000);
    expect(out.hung).toBe(false);
    expect(out.code).toBe(2);
    oneLine(out, 'BL_UNSAFE_PATH');
    expect(out.stdout).toBe('');
    expect(s.got()).toBe('');
  }, 120_000);

  it("clients refuse a socket that belongs to someone else: nothing is sent to it, no forged answer is taken", async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'journal.db');
    // A journal exists (a node ran and stopped), then someone else listens in its socket's place.
    const started = await startNode(tree(dir), db);
    started.child.kill('SIGTERM');
    const ex = await started.exited;
    expect(ex, started.stderr).toEqual({ code: 0, signal: null });
    const s = await squat(`${db}.sock`);
    squatters.push(s);
    for (const args of [
      ['send', '--db', db, 'counter', '{"secret":"for the owner"}'],
      ['ps', '--db', db],
      ['query', '--db', db, 'counter', 'count'],
    ]) {
      const out = await cli(args, 60_000);
      expect(out.hung).toBe(false);
      expect(out.code).toBe(2);
      oneLine(out, 'BL_UNSAFE_PATH');
    }
    expect(s.got()).toBe('');
  }, 120_000);
});
