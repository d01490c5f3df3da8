// The dashboard end to end in headless Chromium, run by tests/browser.rs:
//   node tests/browser/e2e.mjs http://127.0.0.1:PORT/
// with OSHIRASE_BROWSER_DEPS (from tests/browser/setup.sh), OSHIRASE_CHROMIUM and
// OSHIRASE_BROWSER_ARTIFACTS. Prints "READY" when the page is up (the Rust side then merges
// a post due a few seconds later) and, last, "SUMMARY {json}" for the Rust test to check.
// A failed check is collected, not thrown, so one run reports everything that is wrong.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { launch } from './chromium.mjs';
import { start, WCAG } from './harness.mjs';

const artifacts = process.env.OSHIRASE_BROWSER_ARTIFACTS || 'target/browser-artifacts';
mkdirSync(artifacts, { recursive: true });

const SOON = 'posts/soon';
const XSS_TITLE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';
const XSS_BODY = '<img src=x onerror="window.__pwned=2">\n<script>window.__pwned=1</script>';

const { base, puppeteer, summary, check, axe: axeOn, injectAxe, printSummary } = start('e2e.mjs', {
  live: { scheduled: false, published: false, reloaded: null, announced: null },
  xss: {},
  lang: {},
  search: {},
  emergency: {},
  screenshots: [],
});

const log = (message) => console.error(`e2e: ${message}`);

const browser = await launch(puppeteer);

try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('console', (msg) => {
    if (msg.type() === 'error') log(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => check(false, `page error: ${err.message}`));
  // A Japanese browser; the first load must pick Japanese from it.
  await page.evaluateOnNewDocument(() => {
    Object.defineProperty(navigator, 'languages', { get: () => ['ja-JP', 'ja', 'en-US'] });
    // Every announcement the live region makes, for the checks below.
    window.__announced = [];
    document.addEventListener('DOMContentLoaded', () => {
      const region = document.getElementById('announcer');
      if (!region) return;
      new MutationObserver(() => {
        if (region.textContent) window.__announced.push(region.textContent);
      }).observe(region, { childList: true, characterData: true, subtree: true });
    });
  });

  const text = (selector) => page.$eval(selector, (n) => n.textContent.trim()).catch(() => null);
  const wait = (fn, arg, timeout = 10000) => page.waitForFunction(fn, { timeout, polling: 'mutation' }, arg);

  const axe = (name) => axeOn(page, name);

  // Navigates by following the dashboard's own link, as a person would.
  async function go(route, ready) {
    await page.click(`#site-nav a[data-route="${route}"]`);
    await wait(ready);
  }

  async function views(lang) {
    await go('overview', () => document.querySelector('.tiles'));
    await axe(`overview:${lang}`);
    await go('attention', () => document.querySelector('.attention-item'));
    await axe(`attention:${lang}`);
    await go('upcoming', () => document.querySelector('.timeline .slot'));
    await axe(`upcoming:${lang}`);
    await go('published', () => document.querySelector('section[data-network] table'));
    await axe(`published:${lang}`);
    await go('posts', () => document.querySelector('#search-form') && document.querySelector('#view-body table'));
    await axe(`posts:${lang}`);
    await page.evaluate(() => { location.hash = '#/post/posts%2Fgomi'; });
    await wait(() => document.querySelector('.preview'));
    await axe(`post:${lang}`);
    // A thread (the body cut by a `+++` line) shows its parts in order, each counted.
    await page.evaluate(() => { location.hash = '#/post/posts%2Ftoshokan'; });
    await wait(() => document.querySelector('.preview[data-network="portal"] .thread-parts'));
    const parts = await page.$$eval('.preview[data-network="portal"] .thread-parts > li', (items) => items.map((li) => ({
      part: li.dataset.part, text: li.querySelector('pre').textContent, count: Boolean(li.querySelector('.count-line')) })));
    check(parts.length === 2 && parts[0].part === '1' && parts[1].text === '返却は返却ポストをご利用ください。' && parts.every((p) => p.count),
      `thread parts in order with counts (${lang}): ${JSON.stringify(parts)}`);
    await axe(`thread:${lang}`);
    // Back to the post the checks after the views read.
    await page.evaluate(() => { location.hash = '#/post/posts%2Fgomi'; });
    await wait(() => document.querySelector('.preview[data-network="x"]'));
  }

  // axe itself must find a planted violation, or a clean result would mean nothing.
  async function axeFindsPlantedViolation() {
    await page.evaluate(() => {
      const input = document.createElement('input');
      input.id = 'planted-unlabelled-input';
      document.getElementById('main').append(input);
    });
    await injectAxe(page);
    const ids = await page.evaluate(async (tags) => (await window.axe.run(document, { runOnly: { type: 'tag', values: tags } }))
      .violations.map((v) => v.id), WCAG);
    await page.evaluate(() => document.getElementById('planted-unlabelled-input').remove());
    return ids.includes('label');
  }

  // ---------------------------------------------------------------- first load, Japanese
  await page.goto(base, { waitUntil: 'load' });
  await page.evaluate(() => { window.__loadMarker = 'first-load'; });
  await wait(() => document.querySelector('.attention-item') && document.querySelector('.slot'));
  summary.lang.initial = await page.evaluate(() => document.documentElement.lang);
  check(summary.lang.initial === 'ja', `initial language from navigator.languages: ${summary.lang.initial}`);
  check((await text('#site-nav a[data-route="overview"]')) === '概要', 'Japanese navigation text');
  await wait(() => document.querySelector('#live[data-live="live"]'));
  summary.axe.selftest = await axeFindsPlantedViolation();
  check(summary.axe.selftest, 'axe-core reports a planted unlabelled input');

  // ---------------------------------------------------------------- live: scheduled → published
  console.log('READY');
  try {
    await wait((id) => document.querySelector(`.slot[data-post-id="${id}"][data-state="scheduled"]`), SOON, 20000);
    summary.live.scheduled = true;
    await wait((id) => document.querySelector(`#view-body tr[data-post-id="${id}"] li[data-network="portal"]`)
      && !document.querySelector(`.slot[data-post-id="${id}"]`), SOON, 40000);
    summary.live.published = true;
  } catch (err) {
    check(false, `live update: ${err.message}`);
  }
  summary.live.reloaded = (await page.evaluate(() => window.__loadMarker)) !== 'first-load';
  // The live region speaks a moment after the change (it is cleared first).
  const announcedPublication = await page.waitForFunction(
    () => window.__announced.some((a) => a.includes('窓口受付時間延長のお知らせ') && a.includes('投稿済み')),
    { timeout: 3000, polling: 100 },
  ).then(() => true, () => false);
  summary.live.announced = await page.evaluate(() => window.__announced.slice());
  check(announcedPublication, `the live region announced the publication: ${JSON.stringify(summary.live.announced)}`);

  // The screenshot of the main view, after the live update.
  await page.evaluate(() => window.scrollTo(0, 0));
  const main = path.join(artifacts, 'dashboard.png');
  await page.screenshot({ path: main, fullPage: true });
  summary.screenshots.push(main);

  // Keyboard: the first Tab reaches the skip link, and it leads into the main content.
  await page.keyboard.press('Tab');
  check((await page.evaluate(() => document.activeElement.className)) === 'skip-link', 'first Tab reaches the skip link');
  await page.keyboard.press('Enter');
  check(await page.evaluate(() => document.activeElement.id === 'main' || location.hash === '#main'), 'the skip link moves to main');
  await page.evaluate(() => { location.hash = '#/'; });
  // The overview from the earlier hash is still up until hashchange fires, and the view
  // reads its lists again after it: wait until it says it is done (aria-busy), so the link
  // focused below is not replaced under the keyboard.
  await wait(() => location.hash === '#/' && document.querySelector('.tiles')
    && document.getElementById('view-body').getAttribute('aria-busy') === 'false');

  // Keyboard: a post in the attention list opens with Enter.
  await page.focus('.attention-item[data-kind="failed"] a.post-link');
  await page.keyboard.press('Enter');
  await wait(() => document.querySelector('.preview[data-network="slack"]'));
  check((await text('#view-title')) === '窓口の混雑状況', 'Enter on a focused post link opens the post');
  await page.goBack();
  await wait(() => document.querySelector('.tiles'));

  // ---------------------------------------------------------------- an emergency on its way
  // Merged by the approver, out on the portal, waiting on a network that refused its
  // credentials: the banner names it above every view and the list pins it on top.
  await wait(() => document.querySelector('#emergency:not([hidden]) a'));
  summary.emergency.banner = await text('#emergency');
  check(summary.emergency.banner.includes('緊急投稿を送信中') && summary.emergency.banner.includes('地震による避難所の開設')
    && summary.emergency.banner.includes('2 か所中 1 か所'), `the emergency banner: ${summary.emergency.banner}`);
  check(await page.$eval('#emergency a', (a) => a.getAttribute('href')) === '#/post/posts%2Fjishin', 'the banner links to the post');
  await go('posts', () => document.querySelector('#view-body tbody tr'));
  // Read in one go: the list may be rebuilt as it loads.
  const firstRow = () => {
    const tr = document.querySelector('#view-body tbody tr');
    const mark = tr && tr.querySelector('.emergency-mark');
    return tr ? { id: tr.getAttribute('data-post-id'), mark: mark && mark.textContent } : null;
  };
  const pinned = await wait(() => { const tr = document.querySelector('#view-body tbody tr .emergency-mark'); return tr && tr.closest('tr').getAttribute('data-post-id'); })
    .then((h) => h.jsonValue(), () => null);
  const row = await page.evaluate(firstRow);
  summary.emergency.first = row && row.id;
  check(pinned === 'posts/jishin' && summary.emergency.first === 'posts/jishin', `the emergency is pinned on top of the list: ${JSON.stringify(row)}`);
  check(row && row.mark === '緊急', `the pinned row says why: ${JSON.stringify(row)}`);

  // ---------------------------------------------------------------- every view, Japanese
  await views('ja');

  const post = path.join(artifacts, 'post.png');
  await page.screenshot({ path: post, fullPage: true });
  summary.screenshots.push(post);

  // ---------------------------------------------------------------- one post
  const detail = await page.evaluate(() => {
    const x = document.querySelector('.preview[data-network="x"]');
    return {
      title: document.getElementById('view-title').textContent,
      xText: x && x.querySelector('pre.post-text').textContent,
      xLength: x && x.querySelector('.count-line').getAttribute('data-length'),
      xLimit: x && x.querySelector('.count-line').getAttribute('data-limit'),
      alt: document.querySelector('.image-facts dd') && document.querySelector('.image-facts dd').textContent,
      whiteSpace: x && getComputedStyle(x.querySelector('pre.post-text')).whiteSpace,
      proposer: [...document.querySelectorAll('.facts-grid dd')].map((d) => d.textContent).join('|'),
      events: document.querySelectorAll('table.audit tbody tr').length,
    };
  });
  check(detail.title === '年末年始のごみ収集日程', `post view title: ${detail.title}`);
  check(detail.xText === '【年末年始のごみ収集】\n12月31日～1月3日は収集を休みます。\n年始は1月4日からいつもの曜日どおりです。\n#ごみ収集',
    `the exact X text with its line breaks: ${JSON.stringify(detail.xText)}`);
  check(detail.whiteSpace === 'pre-wrap', `post text keeps line breaks: ${detail.whiteSpace}`);
  check(detail.xLimit === '280' && Number(detail.xLength) > 0 && Number(detail.xLength) <= 280, `count/limit: ${detail.xLength}/${detail.xLimit}`);
  check(detail.alt && detail.alt.startsWith('年末年始のごみ収集カレンダー'), `image alt text: ${detail.alt}`);
  check(detail.proposer.includes('yamada@city.example.jp') && detail.proposer.includes('koho-chief@city.example.jp'), `provenance: ${detail.proposer}`);
  check(detail.events >= 2, `audit trail rows: ${detail.events}`);

  // A published image is shown from /media; the alt text travels with it.
  await page.evaluate(() => { location.hash = '#/post/posts%2Fkenshin'; });
  await wait(() => document.querySelector('.preview[data-network="portal"] img.thumb'));
  const thumb = await page.$eval('.preview[data-network="portal"] img.thumb', (img) => img.decode().then(
    () => ({ width: img.naturalWidth, alt: img.alt, src: img.getAttribute('src') }),
    () => ({ width: 0, alt: img.alt, src: img.getAttribute('src') })));
  check(thumb.width > 0 && thumb.alt.startsWith('年末年始のごみ収集カレンダー') && /^media\/[0-9a-f]{40}$/.test(thumb.src),
    `published image thumbnail: ${JSON.stringify(thumb)}`);

  // What staff read is in their language and their time: a missed delivery's audit entry
  // is worded in Japanese from its facts, with the time in the repository's timezone.
  await page.evaluate(() => { location.hash = '#/post/posts%2Fouen'; });
  await wait(() => document.querySelector('td.event-detail'));
  const details = await page.$$eval('td.event-detail', (cells) => cells.map((c) => c.textContent));
  const missed = details.find((d) => d.includes('過ぎたため送信しませんでした'));
  check(missed !== undefined, `the missed entry in Japanese: ${JSON.stringify(details)}`);
  check(details.every((d) => !/\d{2}:\d{2}:\d{2}\+00:00/.test(d)), `no UTC timestamps shown: ${JSON.stringify(details)}`);
  check(missed !== undefined && /\d時間|\d分/.test(missed), `durations in Japanese: ${missed}`);
  // A post held for approval says why in Japanese too, in its audit trail.
  await page.evaluate(() => { location.hash = '#/post/posts%2Fheld'; });
  await wait(() => document.querySelector('td.event-detail'));
  const heldDetails = await page.$$eval('td.event-detail', (cells) => cells.map((c) => c.textContent));
  check(heldDetails.some((d) => d.includes('承認者のマージを通さずにブランチに直接入りました')),
    `the hold's reason in Japanese: ${JSON.stringify(heldDetails)}`);
  check(heldDetails.some((d) => d.includes('がマージを通さずに push しました')),
    `provenance in Japanese: ${JSON.stringify(heldDetails)}`);

  // ---------------------------------------------------------------- search
  async function search(fill) {
    await page.click('#site-nav a[data-route="posts"]');
    await wait(() => document.querySelector('#search-form'));
    await page.click('#search-form button[type="reset"]');
    // Results are read only once they answer the search just made (`data-params` is the
    // search they were shown for), never while the previous search's are still on screen.
    const answered = (h) => {
      const title = document.querySelector('#results-title');
      const query = location.hash.includes('?') ? location.hash.slice(location.hash.indexOf('?') + 1) : '';
      return location.hash !== h && title !== null && title.dataset.params === new URLSearchParams(query).toString();
    };
    await wait(answered, '');
    check(await page.evaluate(() => location.hash === '#/posts'), 'reset clears the search');
    await fill();
    const before = await page.evaluate(() => location.hash);
    await page.keyboard.press('Enter');
    await wait(answered, before);
    return page.evaluate(() => [...document.querySelectorAll('#view-body tbody tr')].map((r) => r.getAttribute('data-post-id')).sort());
  }
  summary.search.q = await search(async () => {
    await page.type('#f-q', 'ごみ');
    await page.focus('#f-q');
  });
  check(JSON.stringify(summary.search.q) === '["posts/gomi"]', `search by text: ${summary.search.q}`);
  check((await page.evaluate(() => location.hash)).includes('q=%E3%81%94%E3%81%BF'), 'the search is in the address');
  check(await page.evaluate(() => document.activeElement && document.activeElement.id === 'results-title'), 'focus moves to the results');
  summary.search.department = await search(async () => {
    await page.select('#f-department', '危機管理部 災害対策課');
    await page.focus('#f-q');
  });
  check(JSON.stringify(summary.search.department) === '["posts/bousai"]', `search by department: ${summary.search.department}`);
  // A date range, in the repository's timezone: the day five days from now, ±1 day.
  const jstDay = (days) => new Date(Date.now() + days * 86400000).toLocaleDateString('en-CA', { timeZone: 'Asia/Tokyo' });
  summary.search.dates = await search(async () => {
    await page.$eval('#f-from', (input, v) => { input.value = v; }, jstDay(4));
    await page.$eval('#f-to', (input, v) => { input.value = v; }, jstDay(6));
    await page.focus('#f-q');
  });
  check(JSON.stringify(summary.search.dates) === '["posts/kosodate"]', `search by date range: ${summary.search.dates} at ${await page.evaluate(() => location.hash)}`);
  const dateQuery = await page.evaluate(() => location.hash);
  check(dateQuery.includes(`from=${jstDay(4)}`) && dateQuery.includes(`to=${jstDay(6)}`), `the date range is in the address: ${dateQuery}`);
  summary.search.state = await search(async () => {
    await page.select('#f-state', 'failed');
    await page.focus('#f-q');
  });
  check(JSON.stringify(summary.search.state) === '["posts/madoguchi"]', `search by state: ${summary.search.state}`);
  // Open a result, then the browser's back button returns to the search.
  const searchHash = await page.evaluate(() => location.hash);
  await page.click('#view-body a[href="#/post/posts%2Fmadoguchi"]');
  await wait(() => document.querySelector('.preview[data-network="slack"]'));
  check((await text('#view-title')) === '窓口の混雑状況', 'a search result opens its post');
  check(await page.evaluate(() => document.activeElement && document.activeElement.id === 'view-title'), 'focus moves to the opened post');
  await page.goBack();
  await wait((h) => location.hash === h && document.querySelector('#search-form'), searchHash);
  check((await page.evaluate(() => document.getElementById('f-state').value)) === 'failed', 'back restores the search');

  // ---------------------------------------------------------------- untrusted content
  await page.evaluate(() => { location.hash = '#/post/posts%2Fxss'; });
  await wait(() => document.querySelector('.preview[data-network="portal"]'));
  summary.xss = await page.evaluate((title, body) => ({
    pwned: window.__pwned === undefined ? null : window.__pwned,
    title_literal: document.getElementById('view-title').textContent === title,
    body_literal: document.querySelector('pre.post-text').textContent === body,
    department_literal: document.querySelector('.post-summary').textContent.includes('<b>総務部</b>'),
    injected_elements: document.querySelectorAll('img[src="x"], script:not([src]), #view-body b, #view-body script').length,
    javascript_links: [...document.querySelectorAll('a[href]')].filter((a) => !/^(https?:|#|\/|media\/)/.test(a.getAttribute('href'))).length,
  }), XSS_TITLE, XSS_BODY);
  check(summary.xss.title_literal && summary.xss.body_literal && summary.xss.department_literal, `markup shown as text: ${JSON.stringify(summary.xss)}`);
  await page.click('#site-nav a[data-route="published"]');
  await wait(() => document.querySelector('section[data-network="x"]'));
  const links = await page.evaluate(() => ({
    x: [...document.querySelectorAll('section[data-network="x"] a.external')].map((a) => a.href),
    bad: [...document.querySelectorAll('a[href]')].filter((a) => a.getAttribute('href').startsWith('javascript:')).length,
    shown: document.body.textContent.includes('javascript:window.__pwned=3'),
  }));
  check(links.x.includes('https://x.com/city_example/status/1871234567890'), `published link to the network: ${links.x}`);
  summary.xss.javascript_links += links.bad;
  check(summary.xss.pwned === null && (await page.evaluate(() => window.__pwned)) === undefined, 'no injected script ran');

  // ---------------------------------------------------------------- English
  await page.select('#lang-select', 'en');
  summary.lang.switched = await page.evaluate(() => document.documentElement.lang);
  check((await text('#site-nav a[data-route="overview"]')) === 'Overview', 'English navigation text');
  check((await text('#view-title')) === 'Published', `the view follows the language: ${await text('#view-title')}`);
  await views('en');
  await page.reload({ waitUntil: 'load' });
  await wait(() => document.querySelector('#view-title'));
  summary.lang.after_reload = await page.evaluate(() => document.documentElement.lang);
  check((await page.evaluate(() => window.__pwned)) === undefined, 'still nothing ran after a reload');
} catch (err) {
  check(false, `e2e: ${err.stack || err}`);
} finally {
  await browser.close();
}
printSummary();
