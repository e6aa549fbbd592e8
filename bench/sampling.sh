#!/usr/bin/env bash
# The cost of content sampling in `plan` (DESIGN §3: ≤ 10 % of `plan`) on the wide catalog
# (bench/wide.sql: 1,000 tables, 2,200 foreign keys): `plan --org o1` with sampling, and with
# every text column allowed by `allow_columns` (nothing left to sample; no other rule changes
# on this catalog). The two run alternately, RUNS times each; for each the medians of: wall
# time, the client's CPU time (user + system, GNU time) and the server's statement time (the
# sum of the durations the server logs, log_min_duration_statement = 0, both arms alike),
# with the statements counted. On a shared machine wall time follows the load; the CPU and
# server figures are the steadier ones.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-bin.sh
. scripts/build-deps.sh
RUNS=${RUNS:-7}
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
log="$tmp/pg/server.log"
psql -d postgres -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null
one_run() { # config file → "wall cpu server_ms statements"
    local start end before cpu
    before=$(wc -l <"$log")
    start=$(date +%s.%N)
    /usr/bin/time -o "$tmp/cpu" -f "%U %S" "$bin" plan --org o1 --database-url "$url" --config "$1" >/dev/null 2>&1
    cpu=$(tail -1 "$tmp/cpu")
    end=$(date +%s.%N)
    sleep 0.2 # the server writes its last log lines
    # parse, bind (where planning happens) and execute alike; a statement is its execute.
    tail -n +"$((before + 1))" "$log" | grep -oE 'duration: [0-9.]+ ms +[a-z]+' |
        awk -v wall="$(echo "$end - $start" | bc)" -v cpu="$cpu" \
            '{s += $2; if ($4 == "execute" || $4 == "statement") n++} END {split(cpu, c, " "); printf "%s %.3f %.1f %d\n", wall, c[1] + c[2], s, n}'
}
"$bin" plan --org o1 --database-url "$url" --config "$tmp/sample.toml" >/dev/null # warm the cache
for _ in $(seq "$RUNS"); do
    one_run "$tmp/sample.toml" >>"$tmp/with"
    one_run "$tmp/nosample.toml" >>"$tmp/without"
done
col() { awk -v k="$2" '{print $k}' "$1" | median; }
for k in 1 2 3; do
    w=$(col "$tmp/with" $k); o=$(col "$tmp/without" $k)
    label=$(echo "wall_s client_cpu_s server_ms" | cut -d' ' -f$k)
    echo "$label: with sampling $w, without $o, cost $(echo "scale=1; ($w - $o) * 100 / $o" | bc) % (median of $RUNS, alternating)"
done
echo "statements executed: with $(col "$tmp/with" 4), without $(col "$tmp/without" 4)"
