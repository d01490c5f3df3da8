// The whole desk story in headless Chromium, run by tests/browser.rs:
//   node tests/browser/approvals.mjs http://127.0.0.1:PORT/
// against a `serve` whose people.json holds HANAKO (staff) and the CHIEF (admin, and the
// account's approver). Two browsers with their own sessions: Hanako proposes a post on the
// desk for the next minute but one (Tokyo time); the chief signs in, finds it waiting with
// both networks' previews (with the image each carries), approves it; both watch it go
// scheduled → published live. A newcomer the chief adds signs in with the temporary password
// and must choose their own first. axe-core checks the approvals, people and password views
// in both languages. Prints "SUMMARY {json}" last.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from './chromium.mjs';
import { signIn, start } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const IMAGE = path.resolve(here, '../../content-example/posts/images/gomi-nenmatsu-calendar.png');
const ALT = '年末年始のごみ収集カレンダー';

const { base, puppeteer, summary, check, axe, printSummary } = start('approvals.mjs');
const PASSWORD = 'ごみ収集 2026 winter';
const HANAKO = 'hanako@city.example.jp';
const CHIEF = 'koho-chief@city.example.jp';
const TITLE = '年末年始のごみ収集';

// A page of its own browser context (its own cookies), signed in.
async function signedIn(browser, email) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
  page.on('pageerror', (err) => check(false, `${email}: page error: ${err.message}`));
  await page.evaluateOnNewDocument(() => {
    Object.defineProperty(navigator, 'languages', { get: () => ['ja-JP', 'ja'] });
  });
  await signIn(page, base, email, PASSWORD);
  return page;
}

// The desk schedules to the minute: the first whole minute at least `lead` seconds away,
// as the date and time a person in Tokyo would type.
function tokyoMinute(lead) {
  const at = new Date(Math.ceil((Date.now() + lead * 1000) / 60000) * 60000);
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(at).map((p) => [p.type, p.value]));
  return { at, date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

// Sets a date or time input as a person picking from it would: value, then an input event.
const setValue = (page, selector, value) => page.$eval(selector, (n, v) => {
  n.value = v;
  n.dispatchEvent(new Event('input', { bubbles: true }));
}, value);

// Records, in the page, each state the post's row shows, in order, while the list follows
// live events; read back with seenStates.
const watchStates = (page, id) => page.evaluate((postId) => {
  window.__seen = [];
  setInterval(() => {
    const row = document.querySelector(`#view-body tr[data-post-id="${CSS.escape(postId)}"]`);
    const state = row ? row.getAttribute('data-state') : null;
    if (state && window.__seen[window.__seen.length - 1] !== state) window.__seen.push(state);
  }, 200);
}, id);
const seenStates = (page) => page.evaluate(() => window.__seen);

const stateOf = (page, id) => page.evaluate((postId) => {
  const row = document.querySelector(`#view-body tr[data-post-id="${CSS.escape(postId)}"]`);
  return row ? row.getAttribute('data-state') : null;
}, id);

const NEWCOMER = 'kenta@city.example.jp';

// Signs the newcomer in with the temporary password: the dashboard stays shut and the
// password page opens; they choose their own and the dashboard opens.
async function newcomerChoosesPassword(browser, temporary) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.on('pageerror', (err) => check(false, `${NEWCOMER}: page error: ${err.message}`));
  await page.goto(`${base}signin.html`, { waitUntil: 'networkidle0' });
  await page.type('#signin-email', NEWCOMER);
  await page.type('#signin-password', temporary);
  await page.click('#signin-submit');
  await page.waitForFunction(() => location.pathname === '/password.html' && !document.getElementById('password-why').hidden, { timeout: 10000 });
  const out = { landed: await page.evaluate(() => location.pathname) };
  // The dashboard itself sends them back here.
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => location.pathname === '/password.html', { timeout: 10000 });
  out.dashboard_sends_back = true;
  await page.waitForFunction(() => document.getElementById('password-heading').textContent.trim() !== '', { timeout: 10000 });
  await axe(page, 'password:ja');
  await page.select('#lang-select', 'en');
  await page.waitForFunction(() => document.getElementById('password-heading').textContent.includes('password'), { timeout: 10000 });
  await axe(page, 'password:en');
  // Too short first: said on the page, nothing sent.
  await page.type('#password-current', temporary);
  await page.type('#password-new', 'short');
  await page.type('#password-again', 'short');
  await page.click('#password-submit');
  out.too_short = (await page.$eval('#password-error', (n) => n.textContent)).trim();
  const chosen = '福祉課の窓口は 9時から';
  for (const id of ['#password-new', '#password-again']) {
    await page.$eval(id, (n) => { n.value = ''; });
    await page.type(id, chosen);
  }
  await page.click('#password-submit');
  await page.waitForFunction(() => location.pathname === '/' && !document.getElementById('session').hidden, { timeout: 10000 });
  out.after = await page.evaluate(() => location.pathname);
  out.who = (await page.$eval('#session-who', (n) => n.textContent)).trim();
  await context.close();
  return out;
}

const browser = await launch(puppeteer);
try {
  // Hanako proposes on the desk: two networks, one with a text of its own.
  const hanako = await signedIn(browser, HANAKO);
  await hanako.evaluate(() => { location.hash = '#/compose'; });
  await hanako.waitForSelector('#compose-network-news', { timeout: 10000 });
  await hanako.type('#compose-title', TITLE);
  for (const n of ['portal', 'news']) {
    if (!(await hanako.$eval(`#compose-network-${n}`, (c) => c.checked))) await hanako.click(`#compose-network-${n}`);
  }
  await hanako.type('#compose-body', '12月29日から1月3日まで、ごみ収集はお休みです。');
  await (await hanako.$('#compose-images')).uploadFile(IMAGE);
  await hanako.waitForSelector('#compose-alt-0', { timeout: 10000 });
  await hanako.type('#compose-alt-0', ALT);
  // Far enough ahead for the chief to review and approve before it falls due.
  const due = tokyoMinute(50);
  summary.due = due.at.toISOString();
  await hanako.click('#compose-when-at');
  await setValue(hanako, '#compose-date', due.date);
  await setValue(hanako, '#compose-time', due.time);
  await hanako.waitForFunction(() => document.querySelectorAll('.compose-preview .preview-card').length >= 2, { timeout: 10000 });
  await hanako.click('.compose .actions button.primary');
  await hanako.waitForSelector('#compose-status.ok', { timeout: 15000 });
  summary.proposed = (await hanako.$eval('#compose-status', (n) => n.textContent)).trim();
  await hanako.evaluate(() => { location.hash = '#/approvals'; });
  await hanako.waitForSelector('#approvals-count', { timeout: 10000 });
  summary.hanako_may_approve = await hanako.$$eval('button[data-action="approve"]', (b) => b.length);
  summary.hanako_may_withdraw = await hanako.$$eval('button[data-action="withdraw"]', (b) => b.length);

  // The chief finds it waiting, with what each network will receive.
  const chief = await signedIn(browser, CHIEF);
  await chief.evaluate(() => { location.hash = '#/approvals'; });
  await chief.waitForSelector('article.proposal', { timeout: 10000 });
  summary.heading = (await chief.$eval('h1', (n) => n.textContent)).trim();
  summary.waiting = await chief.$$eval('article.proposal h2', (h) => h.map((n) => n.textContent.trim()));
  summary.previews = await chief.$$eval('article.proposal .preview', (s) => s.map((n) => ({
    network: n.getAttribute('data-network'), text: n.querySelector('pre').textContent,
  })));
  // The approver's checklist: the office's policy findings, ahead of the previews.
  summary.checklist = await chief.$eval('article.proposal', (card) => {
    const list = card.querySelector('.policy-checklist');
    const preview = card.querySelector('.preview');
    return {
      items: list ? [...list.querySelectorAll('li')].map((li) => li.textContent) : [],
      before_previews: Boolean(list && preview
        && (list.compareDocumentPosition(preview) & Node.DOCUMENT_POSITION_FOLLOWING)),
    };
  });
  summary.proposer = await chief.$eval('article.proposal .proposal-meta', (n) => n.textContent);
  // The image itself, loaded from the proposal, with its alternative text shown.
  await chief.waitForFunction(() => {
    const img = document.querySelector('article.proposal .review-images img');
    return img && img.complete && img.naturalWidth > 0;
  }, { timeout: 10000 }).catch(() => check(false, 'the review image did not load'));
  summary.review_images = await chief.$$eval('article.proposal .review-images li', (items) => items.map((li) => ({
    alt: li.querySelector('img') ? li.querySelector('img').alt : null,
    width: li.querySelector('img') ? li.querySelector('img').naturalWidth : 0,
    caption: li.querySelector('figcaption').textContent,
  })));
  // Due in about a minute, and nobody has approved anything yet (a usual wait of an hour).
  summary.late = await chief.$$eval('article.proposal [data-late]', (n) => n.map((x) => x.getAttribute('data-late')));
  await axe(chief, 'approvals:ja');
  await chief.select('#lang-select', 'en');
  await chief.waitForFunction(() => document.querySelector('h1').textContent.trim() === 'Waiting for approval', { timeout: 10000 });
  await chief.waitForSelector('article.proposal', { timeout: 10000 });
  await axe(chief, 'approvals:en');
  summary.heading_en = (await chief.$eval('h1', (n) => n.textContent)).trim();

  // The people page, for the chief as an admin, in both languages.
  await chief.evaluate(() => { location.hash = '#/people'; });
  await chief.waitForSelector('table.people tbody tr', { timeout: 10000 });
  summary.people = await chief.$$eval('table.people tbody tr', (r) => r.map((n) => n.getAttribute('data-email')).sort());
  await axe(chief, 'people:en');
  await chief.select('#lang-select', 'ja');
  await chief.waitForSelector('table.people tbody tr', { timeout: 10000 });
  await axe(chief, 'people:ja');
  summary.nav_people_hidden_for_staff = await hanako.$eval('#nav-people', (n) => n.hidden);

  // A newcomer added on the people page signs in with the temporary password shown once,
  // lands on the page that replaces it (axe-checked in both languages), and chooses their own.
  await chief.type('#people-new-email', NEWCOMER);
  await chief.type('#people-new-name', '田中 健太');
  await chief.type('#people-new-department', '福祉課');
  await chief.click('#people-add button[type="submit"]');
  await chief.waitForSelector('#people-temporary', { timeout: 10000 });
  const temporary = await chief.$eval('#people-temporary', (n) => n.textContent);
  summary.password = await newcomerChoosesPassword(browser, temporary);

  // Both watch the search list, which follows live events; the chief approves.
  await chief.evaluate(() => { location.hash = '#/approvals'; });
  await chief.waitForSelector('button[data-action="approve"]', { timeout: 10000 });
  const id = await chief.$eval('article.proposal', (a) => a.getAttribute('data-proposal'));
  const postId = `posts/${id}`;
  summary.post_id = postId;
  await hanako.evaluate(() => { location.hash = '#/posts'; });
  await hanako.waitForSelector('#results-title', { timeout: 10000 });
  summary.before_approval = await stateOf(hanako, postId);
  await chief.click('button[data-action="approve"]');
  await chief.waitForSelector('article.proposal .proposal-status.ok', { timeout: 15000 });
  summary.approved = (await chief.$eval('article.proposal .proposal-status', (n) => n.textContent)).trim();
  await chief.evaluate(() => { location.hash = '#/posts'; });
  await chief.waitForSelector('#results-title', { timeout: 10000 });
  await Promise.all([watchStates(hanako, postId), watchStates(chief, postId)]);
  const publishedBy = (page) => page.waitForFunction(() => window.__seen.includes('published'), {
    timeout: Math.max(0, due.at - Date.now()) + 30000, polling: 500,
  }).then(() => true, () => false);
  const [byHanako, byChief] = await Promise.all([publishedBy(hanako), publishedBy(chief)]);
  summary.published_seen_by_hanako = byHanako;
  summary.published_seen_by_chief = byChief;
  summary.states_seen_by_hanako = await seenStates(hanako);
  summary.states_seen_by_chief = await seenStates(chief);
  summary.published_after_due = Date.now() >= due.at.getTime();
  await chief.evaluate(() => { location.hash = '#/approvals'; });
  await chief.waitForSelector('#approvals-count', { timeout: 10000 });
  summary.waiting_after = await chief.$$eval('article.proposal', (a) => a.length);
} catch (err) {
  check(false, `approvals.mjs stopped: ${err.stack || err}`);
} finally {
  await browser.close();
}
printSummary();
