#!/usr/bin/env bash
# `npm start`: prepare, then run the supervisor (Temporal dev server, worker, API).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prepare.sh
exec node --import tsx scripts/start.ts
