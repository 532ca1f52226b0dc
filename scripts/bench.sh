#!/usr/bin/env bash
# `npm run bench [-- --quick]`: prepare as `npm test` does, then run the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH_NEED_TEMPORAL_CLI=1
source scripts/prepare.sh
exec node --expose-gc --import tsx bench/run.ts "$@"
