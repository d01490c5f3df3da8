#!/usr/bin/env bash
# Installs what the dashboard's browser test needs from npm: puppeteer-core (drives the
# system's Chromium; it downloads no browser) and axe-core (the accessibility rules).
# Idempotent; installs into ${OSHIRASE_BROWSER_HOME:-$HOME/.cache/oshirase-browser}.
# Needs node >= 18 and npm. Prints the install directory on its last line: pass it to the
# test as OSHIRASE_BROWSER_DEPS.
set -euo pipefail
# puppeteer-core 25 needs node 22; the 24 line runs on the node 20 Debian ships.
puppeteer_version=24.43.1
axe_version=4.14.1
home="${OSHIRASE_BROWSER_HOME:-$HOME/.cache/oshirase-browser}"
mkdir -p "$home"
cd "$home"
installed() {
  node -e 'const [n, v] = process.argv.slice(1); process.exit(require(`./node_modules/${n}/package.json`).version === v ? 0 : 1)' "$1" "$2" 2>/dev/null
}
if ! installed puppeteer-core "$puppeteer_version" || ! installed axe-core "$axe_version"; then
  [ -f package.json ] || npm init -y >/dev/null
  # No browser download: the test runs Debian's chromium.
  PUPPETEER_SKIP_DOWNLOAD=1 npm install --silent --no-audit --no-fund --save-exact \
    "puppeteer-core@$puppeteer_version" "axe-core@$axe_version" >/dev/null
fi
installed puppeteer-core "$puppeteer_version" && installed axe-core "$axe_version"
echo "$home"
