#!/usr/bin/env bash
# Shared by `npm start` and `npm test`: dependencies and the Temporal CLI, each only if missing.
# Sourced, so it exports BERTH_TEMPORAL_CLI for the caller.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A tree installed before a dependency was added gets it too: one package of each late addition.
missing=0
for package in @temporalio/worker better-sqlite3/build vite preact playwright-core swagger-ui-dist @redocly/openapi-core @readme/openapi-parser prom-client typescript-eslint prettier; do
  [[ -d node_modules/$package ]] || missing=1
done
if [[ $missing == 1 ]]; then
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

# --- API fuzzing (npm test only) -----------------------------------------------------------------
# Schemathesis, for test/contract/fuzz.test.ts, in a virtualenv of its own beside the Temporal CLI,
# made once (pip, from PyPI) and reused by every clone on the machine.
if [[ "${BERTH_NEED_TEMPORAL_CLI:-}" == 1 && -z "${BERTH_SCHEMATHESIS:-}" ]]; then
  schemathesis_version=4.32.5
  venv="${BERTH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}/venv"
  if ! compgen -G "$venv/lib/python3*/site-packages/schemathesis-$schemathesis_version.dist-info" >/dev/null; then
    echo "berth: installing Schemathesis $schemathesis_version for the API fuzzing test (pip, into $venv)..." >&2
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"; } >&2; then
      echo "berth: could not install Schemathesis; test/contract/fuzz.test.ts will fail. It needs python3 with venv and pip (apt-get install python3-venv)." >&2
    fi
  fi
  BERTH_SCHEMATHESIS="$venv/bin/schemathesis"
  export BERTH_SCHEMATHESIS
fi
