// Headless Chromium as the browser tier and the dashboard benchmark run it: Debian's
// chromium (or OSHIRASE_CHROMIUM) with exactly these flags; puppeteer adds only its pipe
// and a temporary profile.
export const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launch(puppeteer) {
  return puppeteer.launch({
    executablePath: process.env.OSHIRASE_CHROMIUM || 'chromium',
    ignoreDefaultArgs: true,
    args: FLAGS,
    pipe: true,
    timeout: 60000,
  });
}
