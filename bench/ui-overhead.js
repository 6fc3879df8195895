#!/usr/bin/env node
// What the live view costs a node under load: the bench's `spawn` and
// `ping-pong` workloads (same scripts, same in-flight count as
// bench/workloads/), each run alternately on a node without the view and on
// a node with `--ui` and a real page open in headless Chromium, watching it
// (the overview, then the process table, both refreshed by the 1 s push).
//
//   node bench/ui-overhead.js [--pairs N] [--n N] [--screen overview|processes]
//
// Prints, per workload, the median throughput of each side and their ratio,
// and the view's own time (what the node's main thread spent building
// views) as a share of the run. Needs Chromium (/usr/bin/chromium or
// BEAMLINE_CHROMIUM) and a build.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer-core';
import { openNode, runProcess } from './lib/beamline.js';
import { ROOT, script } from './lib/harness.js';
import { inFlight } from './lib/load.js';

const { UiServer } = await import('../dist/runtime/ui/server.js');

const { values } = parseArgs({
  options: { pairs: { type: 'string', default: '3' }, n: { type: 'string', default: '20000' }, screen: { type: 'string', default: 'processes' } },
});
const PAIRS = Number(values.pairs);
const N = Number(values.n);
const SCREEN = values.screen === 'overview' ? '#/' : '#/processes';
const CHROMIUM = process.env.BEAMLINE_CHROMIUM ?? '/usr/bin/chromium';
const threads = Math.min(2, os.availableParallelism());
const opts = { threads, durability: 'full' };

const WORKLOADS = {
  // bench/workloads/spawn.js: empty processes to a committed exit, 256 in flight.
  spawn: async (node, mark) => {
    const file = script('empty.js');
    await inFlight(1000, 256, () => runProcess(node, file));
    mark();
    const t = performance.now();
    await inFlight(N, 256, () => runProcess(node, file));
    return { ms: performance.now() - t, unit: 'processes/s' };
  },
  // bench/workloads/ping-pong.js: two durable processes exchanging N messages.
  'ping-pong': async (node, mark) => {
    const ping = path.join(ROOT, 'scripts', 'ping.js');
    await runProcess(node, ping, [1000]);
    mark();
    const t = performance.now();
    await runProcess(node, ping, [N]);
    return { ms: performance.now() - t, unit: 'round trips/s' };
  },
};

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'beamline-ui-bench-'));
const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  userDataDir: path.join(dataDir, 'profile'),
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

async function once(name, withPage) {
  const { node, close } = await openNode(opts);
  let ui = null;
  let page = null;
  try {
    if (withPage) {
      ui = new UiServer(node, { port: 0 });
      const addr = await ui.listen();
      page = await browser.newPage();
      await page.goto(`${ui.url(addr)}${SCREEN}`);
      await page.waitForSelector(SCREEN === '#/' ? '#live-count' : '#ps', { timeout: 20_000 });
    }
    // The view's time is counted over the timed part only, like the rate.
    let cost0 = 0;
    const { ms, unit } = await WORKLOADS[name](node, () => (cost0 = ui?.costMs ?? 0));
    const cost = (ui?.costMs ?? 0) - cost0;
    return { rate: (N / ms) * 1000, unit, share: cost / ms };
  } finally {
    await page?.close();
    await ui?.close();
    await close();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => Math.round(x).toLocaleString('en-US');
process.stderr.write(`ui-overhead: ${N} per run, ${PAIRS} pairs, ${threads} threads, durability full, page on ${SCREEN}\n`);
const lines = [];
for (const name of Object.keys(WORKLOADS)) {
  const off = [];
  const on = [];
  const shares = [];
  for (let i = 0; i < PAIRS; i++) {
    // Alternate which side goes first, so drift on a shared machine hits both.
    for (const withPage of i % 2 === 0 ? [false, true] : [true, false]) {
      const r = await once(name, withPage);
      (withPage ? on : off).push(r.rate);
      if (withPage) shares.push(r.share);
      process.stderr.write(`  ${name} ${withPage ? 'page open' : 'no view  '}: ${fmt(r.rate)} ${r.unit}${withPage ? `, view ${(r.share * 100).toFixed(2)} % of the run` : ''}\n`);
    }
  }
  const unit = name === 'spawn' ? 'processes/s' : 'round trips/s';
  lines.push(
    `| ${name} | ${fmt(median(off))} ${unit} | ${fmt(median(on))} ${unit} | ${(median(on) / median(off)).toFixed(3)} | ${(median(shares) * 100).toFixed(2)} % |`,
  );
}
await browser.close();
fs.rmSync(dataDir, { recursive: true, force: true });
process.stdout.write(`| workload | no view (median) | page open (median) | ratio | view's own time |\n| --- | --- | --- | --- | --- |\n${lines.join('\n')}\n`);
