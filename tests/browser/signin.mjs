// Signing in in headless Chromium, run by tests/browser.rs:
//   node tests/browser/signin.mjs http://127.0.0.1:PORT/
// against a `serve` whose people.json holds HANAKO. Checks that a signed-out browser lands
// on the sign-in page, axe-core on it in both languages, a wrong password said in the
// page, markup typed into the fields staying text, the session cookie out of reach of
// scripts, the person shown on the dashboard, and sign-out. Prints "SUMMARY {json}" last.
import { launch } from './chromium.mjs';
import { start } from './harness.mjs';

const { base, puppeteer, summary, check, axe, printSummary } = start('signin.mjs');
const HANAKO = { email: 'hanako@city.example.jp', password: 'ごみ収集 2026 winter', name: '足立 花子' };
const XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

const browser = await launch(puppeteer);
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('pageerror', (err) => check(false, `page error: ${err.message}`));
  await page.evaluateOnNewDocument(() => {
    Object.defineProperty(navigator, 'languages', { get: () => ['ja-JP', 'ja'] });
  });
  const text = (selector) => page.$eval(selector, (n) => n.textContent.trim()).catch(() => null);
  async function submit(email, password) {
    await page.$eval('#signin-email', (n) => { n.value = ''; });
    await page.$eval('#signin-password', (n) => { n.value = ''; });
    await page.type('#signin-email', email);
    await page.type('#signin-password', password);
    await page.click('#signin-submit');
  }

  // Signed out: the dashboard's address opens the sign-in page.
  await page.goto(`${base}#/upcoming`, { waitUntil: 'networkidle0' });
  summary.landed = new URL(page.url()).pathname;
  check(summary.landed === '/signin.html', `a signed-out browser is sent to sign in (at ${page.url()})`);
  await page.waitForFunction(() => document.querySelector('h1').textContent !== '');
  summary.heading_ja = await text('h1');
  await axe(page, 'signin:ja');
  await page.select('#lang-select', 'en');
  summary.heading_en = await text('h1');
  await axe(page, 'signin:en');
  await page.select('#lang-select', 'ja');

  // A wrong password is said on the page, next to the form, and markup stays text.
  await submit(XSS, 'guess');
  await page.waitForFunction(() => document.getElementById('signin-error').textContent !== '');
  summary.wrong = await text('#signin-error');
  await submit(HANAKO.email, 'guess');
  await page.waitForFunction(() => document.getElementById('signin-error').textContent !== '');
  check(new URL(page.url()).pathname === '/signin.html', 'a wrong password stays on the sign-in page');
  await axe(page, 'signin-error:ja');

  // The right one opens the dashboard, showing who is signed in.
  await submit(HANAKO.email, HANAKO.password);
  await page.waitForFunction(() => location.pathname === '/' && !document.getElementById('session').hidden, { timeout: 10000 });
  summary.who = await text('#session-who');
  summary.hash = new URL(page.url()).hash;
  const cookies = await page.cookies();
  const session = cookies.find((c) => c.name === 'oshirase_session');
  summary.cookie = session ? { httpOnly: session.httpOnly, sameSite: session.sameSite } : null;
  summary.script_sees_cookie = await page.evaluate(() => document.cookie.includes('oshirase_session'));
  await page.waitForFunction(() => document.getElementById('view-body').textContent !== '');
  await axe(page, 'dashboard-signed-in:ja');
  summary.pwned = await page.evaluate(() => window.__pwned ?? null);

  // Sign-out ends the session: back to the sign-in page, and the dashboard stays closed.
  await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle0' }), page.click('#sign-out')]);
  summary.after_sign_out = new URL(page.url()).pathname;
  await page.goto(base, { waitUntil: 'networkidle0' });
  summary.after_reopen = new URL(page.url()).pathname;
} catch (err) {
  check(false, `signin.mjs stopped: ${err.stack || err}`);
} finally {
  await browser.close();
}
printSummary();
