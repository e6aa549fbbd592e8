#!/usr/bin/env bash
# The whole test suite: installs what it needs when missing (PostgreSQL server binaries), then
# runs `cargo test`. The tests start their own throwaway PostgreSQL; nothing else is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-bin.sh
echo "using PostgreSQL binaries in $ORGEXPORT_PG_BIN" >&2
cargo test --locked "$@"
