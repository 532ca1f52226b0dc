#!/usr/bin/env bash
# Shared by `npm start` and `npm test`: dependencies and the Temporal CLI, each only if missing.
# Sourced, so it exports BERTH_TEMPORAL_CLI for the caller.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -d node_modules/@temporalio/worker || ! -d node_modules/better-sqlite3/build ]]; then
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
