// Drives the dashboard for benches/dashboard.rs in headless Chromium (the browser tier's
// flags) and prints figures:
//   node benches/dashboard.mjs http://127.0.0.1:PORT/ NEW_POST_ID
// Prints "LAND" when the overview is open and waits for "LANDED" on stdin: the Rust side
// has then written one new post, and the page's live update is measured.
import { createRequire } from 'node:module';
import path from 'node:path';
import { launch } from '../tests/browser/chromium.mjs';
import readline from 'node:readline';

const [base, newId] = process.argv.slice(2);
const require = createRequire(path.join(process.env.OSHIRASE_BROWSER_DEPS, 'package.json'));
const puppeteer = require('puppeteer-core');

const browser = await launch(puppeteer);

const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

// Every byte the page receives, by CDP's count (headers and bodies, the event stream's too).
async function meter(page) {
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  await cdp.send('Performance.enable');
  const m = { bytes: 0, requests: 0, cdp };
  cdp.on('Network.dataReceived', (e) => { m.bytes += e.encodedDataLength; });
  cdp.on('Network.responseReceived', () => { m.requests += 1; });
  return m;
}

async function heap(m) {
  await m.cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await m.cdp.send('Performance.getMetrics');
  return metrics.find((x) => x.name === 'JSHeapUsedSize').value;
}

// The view is shown and the dashboard says it is done reading (aria-busy on #view-body).
const shown = (selector) => `(() => { const b = document.getElementById('view-body');
  return b && b.getAttribute('aria-busy') === 'false' && document.querySelector(${JSON.stringify(selector)}); })()`;

async function firstView(name, hash, selector) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const m = await meter(page);
  await page.goto(`${base}${hash}`, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(shown(selector), { timeout: 60000, polling: 'mutation' });
  const ms = await page.evaluate(() => performance.now());
  // Where the time went: the page and its modules in, the data in (both as the latest
  // resource of its kind to finish), and the rest is rendering.
  const split = await page.evaluate(() => {
    const done = (test) => Math.max(0, ...performance.getEntriesByType('resource')
      .filter((e) => test(new URL(e.name).pathname)).map((e) => e.responseEnd));
    const api = performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname.startsWith('/api/'))
      .map((e) => `${new URL(e.name).pathname}${new URL(e.name).search.slice(0, 40)} ${e.startTime.toFixed(0)}+${e.duration.toFixed(0)}`);
    return { modules: done((p) => p.startsWith('/js/')), data: done((p) => p.startsWith('/api/')), api };
  });
  if (process.env.OSHIRASE_BENCH_DETAIL) console.log(split.api.join('\n'));
  // Headers of the event stream still arrive; the view itself is done.
  const bytes = m.bytes;
  const h = await heap(m);
  console.log(`${name.padEnd(28)} first view ${ms.toFixed(0).padStart(6)} ms   read ${kb(bytes).padStart(10)} in ${m.requests} requests   JS heap ${mb(h)}   (modules in by ${split.modules.toFixed(0)} ms, data by ${split.data.toFixed(0)} ms)`);
  return { page, m };
}

try {
  console.log('\nheadless Chromium, 10,000 posts (targets: first view < 1 s, live update < 50 KB)');
  const upcoming = await firstView('upcoming (#/upcoming)', '#/upcoming', '.timeline .slot');
  await upcoming.page.close();
  const { page, m } = await firstView('overview (#/)', '', '.tiles');
  // Wait for the event stream to be up before anything lands.
  await page.waitForFunction(() => document.querySelector('#live[data-live="live"]'), { timeout: 30000 });
  await new Promise((r) => setTimeout(r, 500));
  await page.evaluate(() => {
    window.__updates = 0;
    new MutationObserver(() => {
      if (document.getElementById('view-body').getAttribute('aria-busy') === 'false') window.__updates += 1;
    }).observe(document.getElementById('view-body'), { attributes: true, attributeFilter: ['aria-busy'] });
  });
  const before = { bytes: m.bytes, requests: m.requests };
  const started = Date.now();
  console.log('LAND');
  await nextLine();
  await page.waitForFunction(() => window.__updates > 0, { timeout: 30000, polling: 50 });
  const took = Date.now() - started;
  const tile = await page.$eval('.tile a[href="#/upcoming"] .tile-number', (n) => n.textContent);
  const h = await heap(m);
  console.log(`${'live update (one new post)'.padEnd(28)} ${took.toString().padStart(6)} ms   read ${kb(m.bytes - before.bytes).padStart(10)} in ${m.requests - before.requests} requests   JS heap ${mb(h)}   (upcoming tile now ${tile}; ${newId})`);
} finally {
  await browser.close();
  lines.close();
}
