/// <reference lib="dom" />
// The live view in a real browser: Debian's Chromium, headless, driven by
// puppeteer-core, against `runtime start --ui 127.0.0.1:0` in a child
// process running a tree of a few hundred processes. Each screen is saved as
// a screenshot under this run's temp folder (printed at the end); set
// BEAMLINE_UI_SHOTS=DIR to copy them there too (README's pictures come from
// this test).
//
// Chromium is required: .ci/run installs it with apt-get. Without it this
// file fails, naming the fix; it never skips.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, FIXTURES, tmpdir, until } from '../helpers.js';

const CHROMIUM = process.env.BEAMLINE_CHROMIUM ?? '/usr/bin/chromium';
const TREE = path.join(FIXTURES, 'ui', 'tree.yaml');
const WAIT = { timeout: 20_000 };

let child: ChildProcess;
let browser: Browser;
let page: Page;
let url: URL;
let shots: string;

async function shot(name: string, p: Page = page): Promise<void> {
  const file = path.join(shots, `${name}.png`);
  await p.screenshot({ path: file as `${string}.png` });
  if (process.env.BEAMLINE_UI_SHOTS) {
    fs.mkdirSync(process.env.BEAMLINE_UI_SHOTS, { recursive: true });
    fs.copyFileSync(file, path.join(process.env.BEAMLINE_UI_SHOTS, `${name}.png`));
  }
}

const text = (p: Page, sel: string) => p.$eval(sel, (e) => e.textContent ?? '');

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`the live view's browser tests need Chromium at ${CHROMIUM}: apt-get install -y chromium (.ci/run does), or set BEAMLINE_CHROMIUM`);
  }
  const dir = tmpdir('beamline-ui-');
  shots = path.join(dir, 'screens');
  fs.mkdirSync(shots);
  child = spawn(process.execPath, [CLI, 'start', '--db', path.join(dir, 'journal.db'), '--threads', '2', '--ui', '127.0.0.1:0', TREE], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  url = new URL((await until(() => /live view on (http:\/\/\S+)/.exec(err)?.[1], 30_000, 'the live view line'))!);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: path.join(dir, 'chromium-profile'),
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  page.on('dialog', (d) => void d.accept());
});

afterAll(async () => {
  await browser?.close();
  if (child !== undefined && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  if (shots) process.stdout.write(`live view screenshots: ${shots}\n`);
});

describe('the live view in Chromium', () => {
  it('shows the overview with live charts', async () => {
    await page.goto(url.href);
    // The token leaves the address bar once the page has kept it.
    await page.waitForFunction(() => !location.search.includes('token'), WAIT);
    await page.waitForFunction(() => Number(document.querySelector('#live-count')?.textContent?.replace(/,/g, '')) >= 303, WAIT);
    expect(await text(page, '#mode')).toBe('actions enabled');
    expect(await text(page, '#live')).toBe('live');
    // Charts fill as the pushes arrive (one point per second).
    await page.waitForFunction(() => (document.querySelector('[data-chart="wakes / s"] polyline')?.getAttribute('points') ?? '').split(' ').length >= 3, WAIT);
    await shot('overview');
  });

  it('lists the processes, pages them and filters by name', async () => {
    await page.click('header nav a[href="#/processes"]');
    await page.waitForFunction(() => document.querySelectorAll('#ps tbody tr').length === 50, WAIT);
    const range = await text(page, '#range');
    expect(Number(/of ([\d,]+)/.exec(range)![1]!.replace(/,/g, ''))).toBeGreaterThanOrEqual(303);
    await shot('processes');
    await page.click('#next');
    await page.waitForFunction(() => document.querySelector('#range')?.textContent?.startsWith('51–100'), WAIT);
    await page.type('#f-name', 'worker-12');
    await page.waitForFunction(() => document.querySelectorAll('#ps tbody tr').length === 11, WAIT);
    const names = await page.$$eval('#ps tbody tr td:nth-child(2)', (tds) => tds.map((td) => td.textContent));
    expect(names.every((n) => n!.startsWith('worker-12'))).toBe(true);
    await shot('processes-filtered');
  });

  it('opens a process and follows its timeline as it sleeps and wakes', async () => {
    // Clear the filter as a person would (select all, delete), then type.
    await page.click('#f-name', { count: 3 });
    await page.keyboard.press('Backspace');
    await page.type('#f-name', 'ticker');
    await page.waitForFunction(() => document.querySelectorAll('#ps tbody tr').length === 1, WAIT);
    await page.click('#ps tbody tr td a');
    await page.waitForSelector('#timeline .row', WAIT);
    const before = Number(await text(page, '#h-count'));
    // No reload: the pushes make the page refetch, and new rows appear.
    await page.waitForFunction((n: number) => Number(document.querySelector('#h-count')?.textContent) >= n + 3, WAIT, before);
    const timeline = await text(page, '#timeline');
    expect(timeline).toMatch(/sleep/);
    expect(timeline).toMatch(/log tick \d+/);
    expect(await text(page, '#effects')).toMatch(/timer.*fires/s);
    await page.type('#q-name', 'count');
    await page.click('#q-run');
    await page.waitForSelector('#q-answer.okmsg', WAIT);
    expect(Number(await text(page, '#q-answer'))).toBeGreaterThan(0);
    await shot('process');
    // The handlers it registered are listed, and each is called from its own
    // button: the call goes out by that name and its answer is shown.
    expect(await text(page, '#q-handlers')).toMatch(/count/);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/query') && r.request().method() === 'POST', WAIT),
      page.click('#q-handlers .q-call[data-name="count"]'),
    ]);
    expect(JSON.parse(res.request().postData()!).name).toBe('count');
    const answer = ((await res.json()) as { answer: number }).answer;
    expect(answer).toBeGreaterThan(0);
    await page.waitForFunction((n: number) => Number(document.querySelector('#q-answer.okmsg')?.textContent) >= n, WAIT, answer);
  });

  it('shows the supervision tree, which expands and collapses', async () => {
    await page.click('header nav a[href="#/tree"]');
    await page.waitForSelector('li[data-child="keeper"]', WAIT);
    expect(await page.$$eval('li.worker', (l) => l.map((e) => e.getAttribute('data-child')))).toEqual(['ticker', 'keeper', 'crowd']);
    await page.click('li.sup > .tog');
    await page.waitForFunction(() => document.querySelectorAll('li.worker').length === 0, WAIT);
    await page.click('li.sup > .tog');
    await page.waitForSelector('li[data-child="keeper"]', WAIT);
    await shot('tree');
  });

  it('kills a process with the token and shows its supervisor restart it', async () => {
    await page.click('li[data-child="keeper"] a');
    await page.waitForSelector('#kill:not([disabled])', WAIT);
    expect(await text(page, '#p-restarts')).toBe('0');
    await page.click('#kill'); // the confirmation dialog is accepted
    await page.waitForFunction(() => document.querySelector('#action-result')?.textContent === 'kill: done', WAIT);
    await page.waitForFunction(
      () => document.querySelector('#p-restarts')?.textContent === '1' && document.querySelector('#p-run')?.textContent === '2' && document.querySelector('#p-state')?.textContent !== 'dead',
      WAIT,
    );
    expect(await text(page, '#timeline')).toMatch(/exit|run 2/);
    await page.click('header nav a[href="#/tree"]');
    await page.waitForFunction(() => document.querySelector('li[data-child="keeper"] .restarts')?.textContent === '1', WAIT);
    await shot('tree-after-kill');
  });

  it('is read-only without the token: the kill is refused', async () => {
    const ctx = await browser.createBrowserContext();
    const anon = await ctx.newPage();
    await anon.setViewport({ width: 1280, height: 800 });
    anon.on('dialog', (d) => void d.accept());
    await anon.goto(`${url.origin}/#/processes`);
    await anon.waitForFunction(() => document.querySelector('#mode')?.textContent === 'read-only', WAIT);
    await anon.type('#f-name', 'worker-7');
    await anon.waitForFunction(() => [...document.querySelectorAll('#ps tbody tr td:nth-child(2)')].some((td) => td.textContent === 'worker-7'), WAIT);
    const pid = await anon.$$eval('#ps tbody tr', (rows) => rows.find((r) => r.children[1]!.textContent === 'worker-7')!.getAttribute('data-pid')!);
    await anon.goto(`${url.origin}/#/process/${pid}`);
    await anon.waitForSelector('#kill', WAIT);
    expect(await anon.$eval('#kill', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    // Past the disabled button, the node itself refuses.
    const res = await anon.evaluate(async (p: string) => {
      const r = await fetch('/api/kill', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pid: p }) });
      return { status: r.status, body: (await r.json()) as { error: { code: string } } };
    }, pid);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('BL_UI_FORBIDDEN');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await text(anon, '#p-state')).toBe('parked');
    expect(await text(anon, '#p-restarts')).toBe('0');
    await shot('read-only', anon);
    await ctx.close();
  });
});
