// Bug 3's measurement (not a benchmark workload): one message that never
// matches sits at the head of a process's mailbox while N messages stream
// through selective receive (test/fixtures/mailbox/stream.js, batches of
// 1,000). Prints wall time and the process thread's heap growth after a
// full collection, for each N in a fresh node process.
//   node bench/mailbox-stuck.js [dist-dir] [N...]     (defaults: ./dist 20000 200000)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [distArg, ...counts] = process.argv.slice(2);

if (distArg === '--one') {
  const [dist, total] = counts;
  const { Node } = await import(pathToFileURL(path.join(dist, 'runtime', 'node.js')).href);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'beamline-mailbox-'));
  const node = await Node.open({ threads: 1, log: () => {}, db: path.join(dir, 'journal.db') });
  const started = performance.now();
  const pid = await node.spawn(path.join(root, 'test', 'fixtures', 'mailbox', 'stream.js'), [Number(total), 1000, Number(total), 1e9]);
  const exit = await node.waitExit(pid);
  const ms = performance.now() - started;
  await node.close();
  fs.rmSync(dir, { recursive: true, force: true });
  if (!exit.normal) {
    console.log(JSON.stringify({ messages: Number(total), ms: Math.round(ms), exit: exit.reason }));
  } else {
    const s = exit.result.samples.at(-1);
    console.log(JSON.stringify({ messages: exit.result.streamed, ms: Math.round(ms), heapGrownMb: s.grownMb }));
  }
} else {
  const dist = path.resolve(distArg ?? path.join(root, 'dist'));
  const rows = [];
  for (const n of counts.length > 0 ? counts : ['20000', '200000']) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--one', dist, n], { encoding: 'utf8' });
    rows.push(JSON.parse(out.trim().split('\n').at(-1)));
    console.log(rows.at(-1));
  }
  if (rows.length === 2 && rows.every((r) => r.heapGrownMb !== undefined)) {
    console.log(`time ratio ${(rows[1].ms / rows[0].ms).toFixed(1)}x for ${rows[1].messages / rows[0].messages}x the messages; heap ${rows[0].heapGrownMb} MB -> ${rows[1].heapGrownMb} MB`);
  }
}
