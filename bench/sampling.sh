#!/usr/bin/env bash
# The cost of content sampling in `plan` (DESIGN §3: ≤ 10 % of `plan`) on the wide catalog
# (bench/wide.sql: 1,000 tables, 2,200 foreign keys): `plan --org o1` with sampling, and with
# every text column allowed by `allow_columns` (nothing left to sample; no other rule changes
# on this catalog). Prints the median of RUNS wall times of each and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-bin.sh
RUNS=${RUNS:-5}
cargo build --release --locked --quiet
bin="$PWD/target/release/orgexport"
tmp=$(mktemp -d /tmp/orgexport-sampling.XXXXXX)
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
    -o "-p $port -k $tmp/pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"; }
psql -d postgres -c "CREATE DATABASE wide"
psql -d wide -f bench/wide.sql >/dev/null
psql -d wide -c "VACUUM ANALYZE"
url="postgres://postgres@127.0.0.1:$port/wide"
printf 'allow_columns = ["public.*.v", "public.*.name"]\n' >"$tmp/nosample.toml"
printf '\n' >"$tmp/sample.toml"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_of() {
    for _ in $(seq "$RUNS"); do
        local start end
        start=$(date +%s.%N)
        "$bin" plan --org o1 --database-url "$url" --config "$1" >/dev/null
        end=$(date +%s.%N)
        echo "$end - $start" | bc
    done | median
}
time_of "$tmp/sample.toml" >/dev/null # warm the cache
with=$(time_of "$tmp/sample.toml")
without=$(time_of "$tmp/nosample.toml")
echo "plan on the wide catalog: with sampling ${with}s, without ${without}s (median of $RUNS)"
echo "sampling cost: $(echo "scale=1; ($with - $without) * 100 / $without" | bc) %"
