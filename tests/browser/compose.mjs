// The desk's compose view in headless Chromium, run by tests/browser.rs:
//   node tests/browser/compose.mjs http://127.0.0.1:PORT/
// against a `serve` whose people.json holds HANAKO and whose account has an `x` network.
// Signs in as staff, tries markup in every field (it must stay text), writes a Japanese
// post, watches X's count change while typing, attaches an image with its description,
// checks the draft survives a reload, runs axe-core on the view in both languages, and
// proposes it. Prints "SUMMARY {json}" last.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from './chromium.mjs';
import { signIn, start } from './harness.mjs';

const { base, puppeteer, summary, check, axe, printSummary } = start('compose.mjs');
const here = path.dirname(fileURLToPath(import.meta.url));
const IMAGE = path.resolve(here, '../../content-example/posts/images/gomi-nenmatsu-calendar.png');
const HANAKO = { email: 'hanako@city.example.jp', password: 'ごみ収集 2026 winter' };
const XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

const browser = await launch(puppeteer);
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
  page.on('pageerror', (err) => check(false, `page error: ${err.message}`));
  await page.evaluateOnNewDocument(() => {
    Object.defineProperty(navigator, 'languages', { get: () => ['ja-JP', 'ja'] });
  });
  const text = (selector) => page.$eval(selector, (n) => n.textContent.trim()).catch(() => null);
  const xCount = () => text('.count[data-network="x"]');
  async function clearAndType(selector, value) {
    await page.$eval(selector, (n) => { n.value = ''; n.dispatchEvent(new Event('input')); });
    await page.type(selector, value);
  }

  await signIn(page, base, HANAKO.email, HANAKO.password);
  await page.evaluate(() => { location.hash = '#/compose'; });
  await page.waitForSelector('#compose-network-x', { timeout: 10000 });
  summary.heading = await text('h1');
  summary.department = await page.$eval('#compose-department', (n) => n.value);

  // Markup in every field stays text, in the form and in the server's preview.
  await page.type('#compose-title', XSS);
  await clearAndType('#compose-department', XSS);
  await page.click('#compose-network-x');
  await page.type('#compose-body', XSS);
  await page.$eval('#compose-per-network details', (d) => { d.open = true; });
  await page.type('#compose-text-x', XSS);
  await (await page.$('#compose-images')).uploadFile(IMAGE);
  await page.waitForSelector('#compose-alt-0', { timeout: 10000 });
  await page.type('#compose-alt-0', XSS);
  await page.waitForFunction(() => document.querySelector('.preview-text') !== null, { timeout: 10000 });
  summary.xss_preview = await text('.preview-text');
  summary.pwned = await page.evaluate(() => window.__pwned ?? null);
  await page.click('.compose .actions button:not(.primary)');
  await page.waitForFunction(() => document.getElementById('compose-title').value === '' && !document.getElementById('compose-alt-0'));

  // A Japanese post: X's count follows the typing.
  await page.type('#compose-title', '年末年始のごみ収集');
  await page.click('#compose-network-x');
  await page.type('#compose-body', '12月29日から1月3日まで、ごみ収集はお休みです。');
  await page.waitForFunction(() => document.querySelector('.count[data-network="x"]') !== null, { timeout: 10000 });
  summary.count_before = await xCount();
  await page.type('#compose-body', ' 詳しくは www.city.example.jp/gomi へ #ごみ');
  await page.waitForFunction((before) => {
    const n = document.querySelector('.count[data-network="x"]');
    return n && n.textContent.trim() !== before;
  }, { timeout: 10000 }, summary.count_before);
  summary.count_after = await xCount();

  // A problem shows next to the field it belongs to: X's own text, too long for X.
  await page.$eval('#compose-per-network details', (d) => { d.open = true; });
  const setText = (v) => page.$eval('#compose-text-x', (n, value) => {
    n.value = value;
    n.dispatchEvent(new Event('input', { bubbles: true }));
  }, v);
  await setText('お知らせ'.repeat(80));
  await page.waitForFunction(() => document.getElementById('compose-text-x-error')?.textContent.trim() !== '', { timeout: 10000 })
    .catch(() => check(false, 'no problem shown under the X text'));
  summary.x_text_error = await text('#compose-text-x-error');
  await setText('');
  await page.waitForFunction(() => document.getElementById('compose-text-x-error')?.textContent.trim() === '', { timeout: 10000 })
    .catch(() => check(false, 'the problem under the X text stays after it is fixed'));

  // A line holding only +++ makes a thread: the preview shows each part with its count.
  const setBody = (v) => page.$eval('#compose-body', (n, value) => {
    n.value = value;
    n.dispatchEvent(new Event('input', { bubbles: true }));
  }, v);
  const body = await page.$eval('#compose-body', (n) => n.value);
  await setBody(`${body}\n+++\n収集日程の一覧は区のホームページにあります。`);
  await page.waitForFunction(() => document.querySelectorAll('.preview-card .thread-parts > li').length === 2, { timeout: 10000 })
    .catch(() => check(false, 'the preview does not show the thread part by part'));
  const parts = await page.$$eval('.preview-card .thread-parts > li', (items) => items.map((li) => ({
    head: li.querySelector('.part-head').textContent, text: li.querySelector('pre').textContent })));
  check(parts.length === 2 && parts[1].text === '収集日程の一覧は区のホームページにあります。' && /\d/.test(parts[1].head),
    `thread parts in the preview: ${JSON.stringify(parts)}`);
  await axe(page, 'compose-thread:ja');
  await setBody(body);
  await page.waitForFunction(() => document.querySelector('.preview-card .thread-parts') === null, { timeout: 10000 })
    .catch(() => check(false, 'the thread stays in the preview after its +++ line is gone'));

  // An image, with its description.
  const picker = await page.$('#compose-images');
  await picker.uploadFile(IMAGE);
  await page.waitForSelector('#compose-alt-0', { timeout: 10000 });
  await page.type('#compose-alt-0', '年末年始の収集日カレンダー');
  await page.waitForFunction(() => document.getElementById('compose-preview-body').textContent.includes('1'), { timeout: 10000 });
  await axe(page, 'compose:ja');

  // The draft survives a reload, and the view passes axe in English too.
  await new Promise((r) => setTimeout(r, 600));
  await page.reload({ waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#compose-title', { timeout: 10000 });
  summary.after_reload = await page.$eval('#compose-title', (n) => n.value);
  summary.images_after_reload = await page.$$eval('#compose-image-list li', (l) => l.length);
  await page.select('#lang-select', 'en');
  await page.waitForSelector('#compose-title');
  summary.heading_en = await text('h1');
  await page.waitForFunction(() => document.querySelector('.count[data-network="x"]') !== null, { timeout: 10000 });
  await axe(page, 'compose:en');
  await page.select('#lang-select', 'ja');
  await page.waitForSelector('#compose-title');

  // Proposed: the status names the branch, and it is listed as one's own.
  await page.click('.compose .actions button.primary');
  await page.waitForSelector('#compose-status.ok', { timeout: 15000 });
  summary.status = await text('#compose-status');
  await page.waitForFunction(() => document.querySelector('#compose-proposals code') !== null, { timeout: 10000 });
  summary.listed = await text('#compose-proposals code');
  summary.title_after = await page.$eval('#compose-title', (n) => n.value);
  summary.pull_request = await page.$eval('#compose-status a', (a) => a.href).catch(() => null);
  summary.pwned = summary.pwned ?? (await page.evaluate(() => window.__pwned ?? null));
} catch (err) {
  check(false, `compose.mjs stopped: ${err.stack || err}`);
} finally {
  await browser.close();
}
printSummary();
