#!/usr/bin/env bash
# Prints the path of the Temporal CLI (dev server + Web UI), building it from its Go module the
# first time. The binary is cached outside the repo so every clone on this machine reuses it.
set -euo pipefail

version=v1.5.1 # later tags carry a replace directive and refuse `go install`
cache="${BERTH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"
binary="$cache/temporal-$version"

if [[ -n "${BERTH_TEMPORAL_CLI:-}" ]]; then
  echo "$BERTH_TEMPORAL_CLI"
  exit 0
fi
if [[ -x "$binary" ]]; then
  echo "$binary"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "berth: the Temporal CLI is not built yet and Go is not installed; install Go, or set TEMPORAL_ADDRESS to use a running server" >&2
  exit 1
fi

echo "berth: building the Temporal CLI $version from its Go module (one time, several minutes)..." >&2
mkdir -p "$cache"
gobin=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$gobin"' EXIT
if ! GOBIN="$gobin" go install "github.com/temporalio/cli/cmd/temporal@$version" >&2; then
  echo "berth: building the Temporal CLI failed (see above)" >&2
  exit 1
fi
# Rename into place so a concurrent or interrupted build never leaves a half-written binary.
mv "$gobin/temporal" "$binary"
echo "$binary"
