#!/usr/bin/env bash
# Citus benchmark (`bash bench/citus.sh`): a throwaway coordinator + 2 workers on loopback
# (Citus built into the local server by scripts/test.sh), the ad-platform fixture of
# tests/fixtures/citus with one big tenant (CLICKS rows, default 1,000,000), and the export of
# that tenant through the coordinator and with --direct (read on its worker), RUNS times
# (default 3) each, side by side; prints the median wall times and their ratio. Nothing here
# asserts a time.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-bin.sh
. scripts/build-deps.sh
RUNS=${RUNS:-3}
CLICKS=${CLICKS:-1000000}
# ORGEXPORT_BIN: measure that binary instead of a fresh release build.
if [ -z "${ORGEXPORT_BIN:-}" ]; then cargo build --release --locked --quiet; fi
bin=${ORGEXPORT_BIN:-"$PWD/target/release/orgexport"}
tmp=$(mktemp -d /tmp/orgexport-citus-bench.XXXXXX)
chmod 755 "$tmp"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres: "$tmp"
ports=()
for n in 0 1 2; do
    ports+=("$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')")
done
cleanup() {
    for n in 0 1 2; do as_pg "$PG_BIN/pg_ctl" -D "$tmp/n$n" -m immediate stop >/dev/null 2>&1 || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
for n in 0 1 2; do
    as_pg "$PG_BIN/initdb" -D "$tmp/n$n" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    as_pg "$PG_BIN/pg_ctl" -D "$tmp/n$n" -l "$tmp/n$n.log" -w start -o \
        "-p ${ports[$n]} -k $tmp -c listen_addresses=127.0.0.1 -c shared_preload_libraries=citus \
         -c max_prepared_transactions=100 -c shared_buffers=256MB -c fsync=off" >/dev/null
    psql -qX -h 127.0.0.1 -p "${ports[$n]}" -U postgres -c "CREATE EXTENSION citus" >/dev/null
done
url="postgres://postgres@127.0.0.1:${ports[0]}/postgres"
psql -qX "$url" -c "SELECT citus_set_coordinator_host('127.0.0.1', ${ports[0]})" \
    -c "SELECT citus_add_node('127.0.0.1', ${ports[1]})" -c "SELECT citus_add_node('127.0.0.1', ${ports[2]})" >/dev/null
for f in tables distribute keys data; do psql -qX -v ON_ERROR_STOP=1 "$url" -f "tests/fixtures/citus/$f.sql" >/dev/null; done
psql -qX -v ON_ERROR_STOP=1 "$url" >/dev/null <<SQL
INSERT INTO clicks SELECT 1, 1000 + n, 1 + n % 6, timestamptz '2026-01-01' + n * interval '1 second',
    CASE WHEN n % 3 = 0 THEN 'FR' END FROM generate_series(1, $CLICKS) n;
ANALYZE;
SQL
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {
    local i
    for i in $(seq "$RUNS"); do
        rm -rf "$tmp/store"
        local start end
        start=$(date +%s.%N)
        "$bin" run --org 1 --database-url "$url" --store "$tmp/store" --quiet "$@" >/dev/null
        end=$(date +%s.%N)
        echo "$end - $start" | bc
    done | median
}
through=$(measure)
direct=$(measure --direct)
rows=$(psql -qXAt "$url" -c "SELECT count(*) FROM clicks WHERE company_id = 1")
echo "tenant: $rows clicks; median of $RUNS runs"
echo "through the coordinator: ${through}s"
echo "--direct (on its worker): ${direct}s"
echo "ratio direct/through: $(echo "scale=2; $direct / $through" | bc)"
