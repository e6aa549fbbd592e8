#!/usr/bin/env bash
# What each archive format costs on the benchmark's big shape (issue 22): `bash bench/formats.sh`.
# Builds a throwaway PostgreSQL cluster as bench/run.sh does, loads the big shape, and exports
# the big org in every format RUNS times (default 3), the formats taking turns within each
# round (json, ndjson, csv, json, …) so that a busy machine slows them alike; then the time
# of each against the json export of the same round, the archive's size and the peak RSS
# (GNU time), medians. Then `verify` of each archive (time and peak RSS). Prints a table;
# asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-bin.sh
. scripts/build-deps.sh
RUNS=${RUNS:-3}
FORMATS=${FORMATS:-"json ndjson csv parquet"}
bin="$PWD/target/release/orgexport"

tmp=$(mktemp -d /tmp/orgexport-formats.XXXXXX)
chmod 755 "$tmp"
as_server_user() {
    if [ "$(id -u)" = 0 ]; then chown -R postgres: "$tmp/pg"; runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
    as_server_user "$PG_BIN/pg_ctl" -D "$tmp/pg/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/pg"
port=55600
while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
as_server_user "$PG_BIN/initdb" -D "$tmp/pg/data" -U postgres --auth=trust -E UTF8 >"$tmp/initdb.log" 2>&1
as_server_user "$PG_BIN/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/server.log" -w \
    -o "-p $port -k $tmp/pg -c listen_addresses=127.0.0.1 -c shared_buffers=512MB -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB" \
    start >/dev/null
psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"; }
url="postgres://postgres@127.0.0.1:$port/big"
echo "== loading the big shape" >&2
psql -d postgres -c "CREATE DATABASE big"
psql -d big -f bench/schema.sql
psql -d big -v big_events="${BIG_EVENTS:-1200000}" -v big_notes="${BIG_NOTES:-800000}" \
    -v small_orgs="${SMALL_ORGS:-2000}" -v only_small=0 -f bench/load.sql
psql -d big -c "VACUUM ANALYZE"
cargo build --release --locked --quiet
"$bin" run --org big --database-url "$url" --store "$tmp/warm" -q >/dev/null

declare -A WALL RSS SIZE RATIO VERIFY VERIFY_RSS
for round in $(seq "$RUNS"); do
    for format in $FORMATS; do
        store="$tmp/store-$format"
        rm -rf "$store"
        start=$(date +%s.%N)
        /usr/bin/time -f "%M" -o "$tmp/time" "$bin" run --org big --database-url "$url" --store "$store" -q --format "$format" >/dev/null
        end=$(date +%s.%N)
        wall=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}')
        archive=$(ls "$store"/*/* | grep -v manifest.json | head -n1)
        WALL[$format]+="$wall "
        RSS[$format]+="$(tail -n1 "$tmp/time") "
        SIZE[$format]=$(stat -c %s "$archive")
        [ "$format" = json ] && json_wall=$wall
        RATIO[$format]+="$(awk -v a="$wall" -v b="$json_wall" 'BEGIN {printf "%.2f", a / b}') "
        echo "   round $round $format: ${wall}s" >&2
        if [ "$round" = 1 ]; then
            start=$(date +%s.%N)
            /usr/bin/time -f "%M" -o "$tmp/time" "$bin" verify "$archive" -q >/dev/null
            end=$(date +%s.%N)
            VERIFY[$format]=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}')
            VERIFY_RSS[$format]=$(awk -v k="$(tail -n1 "$tmp/time")" 'BEGIN {printf "%.1f", k / 1024}')
        fi
    done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
max() { tr ' ' '\n' <<<"$1" | grep . | sort -g | tail -n1; }
printf "%-7s  %9s  %13s  %12s  %13s  %9s  %14s\n" format "time (s)" "time vs json" "size (MiB)" "peak RSS MiB" "verify (s)" "verify RSS MiB"
for format in $FORMATS; do
    printf "%-7s  %9s  %13s  %12s  %13s  %9s  %14s\n" "$format" "$(median "${WALL[$format]}")" \
        "$(median "${RATIO[$format]}")" "$(awk -v b="${SIZE[$format]}" 'BEGIN {printf "%.1f", b / 1048576}')" \
        "$(awk -v k="$(max "${RSS[$format]}")" 'BEGIN {printf "%.1f", k / 1024}')" "${VERIFY[$format]}" "${VERIFY_RSS[$format]}"
done
