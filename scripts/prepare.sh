#!/usr/bin/env bash
# Shared by `npm start` and `npm test`: dependencies and the Temporal CLI, each only if missing.
# Sourced, so it exports BERTH_TEMPORAL_CLI for the caller.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -d node_modules/@temporalio/worker || ! -d node_modules/better-sqlite3/build || ! -d node_modules/vite || ! -d node_modules/preact || ! -d node_modules/playwright-core ]]; then
  echo "berth: installing dependencies (first run, a few minutes)..." >&2
  # Not `npm ci`: the lock file lacks the other platforms' optional binaries (swc, rollup, esbuild)
  # when the registry it was made against does not serve them, and `npm ci` then refuses to run.
  # `npm install --no-save` installs the locked versions and leaves the lock file alone.
  npm install --no-save --no-audit --no-fund >&2
fi
if [[ -z "${TEMPORAL_ADDRESS:-}" || "${BERTH_NEED_TEMPORAL_CLI:-}" == 1 ]]; then
  BERTH_TEMPORAL_CLI=$(bash scripts/ensure-temporal-cli.sh)
  export BERTH_TEMPORAL_CLI
fi

# The web console (console/dist), rebuilt only when its sources or the lock file changed.
node console/build.mjs >&2

# The browser tests drive the distribution's Chromium (no browser download site is reachable).
if [[ "${BERTH_NEED_TEMPORAL_CLI:-}" == 1 && -z "${BERTH_CHROMIUM:-}" ]] && ! command -v chromium >/dev/null 2>&1; then
  echo "berth: installing Chromium for the browser tests (apt-get install chromium)..." >&2
  sudo_=()
  [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1 && sudo_=(sudo -n)
  if ! { "${sudo_[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo_[@]}" apt-get install -y -qq chromium; } >&2; then
    echo "berth: could not install Chromium; the browser tests (test/browser) will fail. Install it with: apt-get install chromium" >&2
  fi
fi
