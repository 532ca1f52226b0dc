#!/usr/bin/env bash
# `npm test`: prepare, then the whole vitest suite against a real Temporal dev server.
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH_NEED_TEMPORAL_CLI=1
source scripts/prepare.sh
exec npx vitest run "$@"
