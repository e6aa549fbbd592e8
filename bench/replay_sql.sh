#!/usr/bin/env bash
# The generated SQL's own server time against hand-written SQL (issue 21 point 3), apart from
# the client: `bash bench/replay_sql.sh DB_URL SERVER_LOG APP SECTIONS [RUNS]`.
# SERVER_LOG is the log of a server run with log_min_duration_statement = 0 and
# log_line_prefix '%m [%p] %a ' (bench/run.sh's); APP the application_name of one (and only one)
# `orgexport run` logged there (PGAPPNAME=APP orgexport run …); SECTIONS a file of
# hand-written section queries, one a line (bench/*.sections). Replays that run's statements
# alone through psql, output to /dev/null — within a run a COPY's time includes the server
# waiting for a client slower than itself — alternating with the hand-written sections as
# binary COPYs, RUNS times (default 3), and prints each pair's server time from the log.
# Statements with bind parameters (history rows, the org lookup) cannot be replayed: their
# logged time is added as it was. Nothing here asserts a time.
set -euo pipefail
url=$1; log=$2; app=$3; sections=$4; runs=${5:-3}
tmp=$(mktemp -d /tmp/orgexport-replay.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# The run's parameterless statements in order (the extended protocol's execute lines).
awk -v a="$app" '$5 == a && $6 == "LOG:" && $7 == "duration:" && $10 == "execute" && $0 !~ /\$[0-9]/' "$log" |
    sed 's/^.*execute [^:]*: //; s/$/;/' >"$tmp/replay.sql"
fixed=$(awk -v a="$app" '$5 == a && $6 == "LOG:" && $7 == "duration:" && $0 ~ /\$[0-9]/ {s += $8}
                         END {printf "%.0f", s}' "$log")
while IFS= read -r q; do
    [ -n "$q" ] && echo "COPY ($q) TO STDOUT (FORMAT binary);"
done <"$sections" >"$tmp/hand.sql"
# run_ms APP FILE: runs FILE as APP and sums what the server logged for it.
run_ms() {
    local offset
    offset=$(stat -c %s "$log")
    PGAPPNAME=$1 psql -X -q -v ON_ERROR_STOP=1 -d "$url" -f "$2" >/dev/null
    sleep 0.3
    tail -c +"$((offset + 1))" "$log" |
        awk -v a="$1" '$5 == a && $6 == "LOG:" && $7 == "duration:" {s += $8} END {printf "%.0f", s}'
}
echo "$(wc -l <"$tmp/replay.sql") statements replayed; parameterised ones as logged: $fixed ms"
for i in $(seq "$runs"); do
    h=$(run_ms replay-hand "$tmp/hand.sql")
    g=$(run_ms replay-generated "$tmp/replay.sql")
    echo "run $i: generated $((g + fixed)) ms, hand-written $h ms, ratio $(awk -v g="$((g + fixed))" -v h="$h" 'BEGIN {printf "%.2f", g / h}')"
done
