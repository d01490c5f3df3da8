// What every browser script shares: its one argument (the dashboard's address), the npm
// packages tests/browser/setup.sh installed, the summary it prints last for
// tests/browser.rs, axe-core run the same way on every view, and signing in as a person
// would. A failed check is collected, not thrown, so one run reports everything wrong.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const WCAG = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

// `script` names the file for the usage line; `extra` adds fields to the summary.
export function start(script, extra = {}) {
  const base = process.argv[2];
  const deps = process.env.OSHIRASE_BROWSER_DEPS;
  if (!base || !deps) {
    console.error(`usage: OSHIRASE_BROWSER_DEPS=DIR node ${script} URL`);
    process.exit(2);
  }
  const require = createRequire(path.join(deps, 'package.json'));
  const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const summary = { failures: [], axe: { checked: [], violations: 0, details: [] }, ...extra };

  function check(ok, message) {
    if (!ok) {
      summary.failures.push(message);
      console.error(`FAIL: ${message}`);
    }
    return ok;
  }

  // Runtime.evaluate is not subject to the page's CSP, unlike a <script> tag would be.
  async function injectAxe(page) {
    if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(axeSource);
  }

  // Runs axe-core's WCAG 2.1 A and AA rules on the page as it is now, recorded as `name`.
  async function axe(page, name) {
    await injectAxe(page);
    const found = await page.evaluate(async (tags) => {
      const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
      return r.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
      }));
    }, WCAG);
    summary.axe.checked.push(name);
    summary.axe.violations += found.length;
    for (const v of found) {
      summary.axe.details.push({ view: name, ...v });
      console.error(`axe ${name}: ${v.id} (${v.impact}) ${v.help}`);
      for (const n of v.nodes) console.error(`    ${n.target}\n      ${String(n.summary).replace(/\n/g, '\n      ')}`);
    }
  }

  const printSummary = () => console.log(`SUMMARY ${JSON.stringify(summary)}`);

  return { base, puppeteer: require('puppeteer-core'), summary, check, axe, injectAxe, printSummary };
}

// Signs in on the sign-in page and waits for the dashboard to show the session. The
// dashboard keeps its live stream open, so the network never idles: wait for the page.
export async function signIn(page, base, email, password) {
  await page.goto(`${base}signin.html`, { waitUntil: 'networkidle0' });
  await page.type('#signin-email', email);
  await page.type('#signin-password', password);
  await page.click('#signin-submit');
  await page.waitForFunction(() => location.pathname === '/' && !document.getElementById('session').hidden, { timeout: 10000 });
}
