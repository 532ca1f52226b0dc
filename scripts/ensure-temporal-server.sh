#!/usr/bin/env bash
# Prints four lines: the paths of the Temporal server, its SQL schema tool (temporal-sql-tool), the
# Temporal Web UI server, and the server's Go module (its schema/postgresql/v12/ and config/
# templates), building each binary from its Go module the first time. The binaries are cached beside
# the CLI (scripts/ensure-temporal-cli.sh), so every clone on this machine reuses them; the module
# stays in the Go module cache. The versions are the ones in temporal/versions.ts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

constant() { sed -n "s/^export const $1 = '\\(v[^']*\\)';.*/\\1/p" temporal/versions.ts; }
server_version=$(constant TEMPORAL_SERVER_VERSION)
ui_version=$(constant TEMPORAL_UI_VERSION)
if [[ -z "$server_version" || -z "$ui_version" ]]; then
  echo "berth: cannot read the Temporal versions from temporal/versions.ts" >&2
  exit 1
fi
cache="${BERTH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"

# build <target binary> <go package@version> <name of the binary go install makes> <label>
build() {
  local target=$1 package=$2 made=$3 label=$4
  [[ -x "$target" ]] && return 0
  if ! command -v go >/dev/null 2>&1; then
    echo "berth: the $label is not built yet and Go is not installed; install Go" >&2
    return 1
  fi
  echo "berth: building the $label from $package (one time, several minutes)..." >&2
  mkdir -p "$cache"
  local gobin
  gobin=$(mktemp -d "$cache/build.XXXXXX")
  if ! GOBIN="$gobin" go install "$package" >&2; then
    rm -rf "$gobin"
    echo "berth: building the $label failed (see above)" >&2
    return 1
  fi
  # Rename into place so a concurrent or interrupted build never leaves a half-written binary.
  mv "$gobin/$made" "$target"
  rm -rf "$gobin"
}

server="$cache/temporal-server-$server_version"
sql_tool="$cache/temporal-sql-tool-$server_version"
ui_server="$cache/temporal-ui-server-$ui_version"
build "$server" "go.temporal.io/server/cmd/server@$server_version" server "Temporal server $server_version"
build "$sql_tool" "go.temporal.io/server/cmd/tools/sql@$server_version" sql "Temporal SQL tool $server_version"
build "$ui_server" "github.com/temporalio/ui-server/v2/cmd/server@$ui_version" server "Temporal UI server $ui_version"
module_dir=$(go env GOMODCACHE 2>/dev/null)/go.temporal.io/server@$server_version
if [[ ! -d "$module_dir/schema/postgresql/v12" ]]; then
  # The binaries are cached but the module cache was cleaned: fetch the module's sources again.
  module_dir=$(go mod download -json "go.temporal.io/server@$server_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
fi
if [[ ! -d "$module_dir/schema/postgresql/v12" ]]; then
  echo "berth: cannot find the schema files of go.temporal.io/server@$server_version in the Go module cache" >&2
  exit 1
fi
echo "$server"
echo "$sql_tool"
echo "$ui_server"
echo "$module_dir"
