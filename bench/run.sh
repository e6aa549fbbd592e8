#!/usr/bin/env bash
# The performance benchmark (one command: `bash bench/run.sh`). Builds a throwaway PostgreSQL
# cluster (default server settings but for memory and durability) from the local server
# binaries, loads the shapes of DESIGN §8, and measures each side by side, RUNS times
# (default 3), medians reported:
#   ceiling   a binary COPY of the same rows to /dev/null, with hand-written SQL per section
#             (bench/<shape>.sections): what the database alone costs
#   baseline  the operator's psql \copy (select row_to_json(t) from (…) t) | gzip -6, same SQL
#   orgexport run of the same org to a local store, at --jobs 1 and at the default (peak
#             RSS and client CPU user+sys by GNU time)
# The server logs every statement's duration (log_min_duration_statement = 0; sessions told
# apart by application_name): "server" is the sum of a run's statement durations, and a line
# per shape gives each section's COPY time under orgexport and under the plain COPY.
# PIN_CPUS=0 (a taskset CPU list) runs the server and every command on those CPUs only: 1 vs
# 2 cores on the same machine.
# Shapes: big (2,000,000 rows in 2 sections), shared (150,000 users referenced from 1,000,000
# comments), deep (a 5-hop child chain), partitions (a 10,000-partition tenant table), wide
# (1,000 tables, 2,200 foreign keys), onevalue (one 300 MiB bytea). Plus: a small org in the
# big database, and `plan --estimate` on the wide catalog. Writes bench/RESULTS.md. Nothing
# here asserts a time.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-bin.sh
. scripts/build-deps.sh
RUNS=${RUNS:-3}
PIN_CPUS=${PIN_CPUS:-}
pin() { if [ -n "$PIN_CPUS" ]; then taskset -c "$PIN_CPUS" "$@"; else "$@"; fi; }
SHAPES=${SHAPES:-"big shared deep partitions wide onevalue"}
RESTORE=${RESTORE:-1}  # RESTORE=0 skips the restore measurement of the big shape
# RESTORE_ONLY=1: the big shape's restore alone (psql COPY FROM and orgexport restore
# alternating, run by run), reported to bench/RESULTS.restore.md.new; nothing else measured.
RESTORE_ONLY=${RESTORE_ONLY:-0}
if [ "$RESTORE_ONLY" = 1 ]; then SHAPES=big; RESTORE=1; fi

if [ ! -x /usr/bin/time ]; then
    [ "$(id -u)" = 0 ] || { echo "/usr/bin/time is missing: apt-get install time" >&2; exit 1; }
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time
fi
echo "== building orgexport (release)" >&2
cargo build --release --locked --quiet
bin="$PWD/target/release/orgexport"

tmp=$(mktemp -d /tmp/orgexport-bench.XXXXXX)
chmod 755 "$tmp"
as_server_user() {
    if [ "$(id -u)" = 0 ]; then chown -R postgres: "$tmp/pg"; pin runuser -u postgres -- "$@"; else pin "$@"; fi
}
cleanup() {
    as_server_user "$PG_BIN/pg_ctl" -D "$tmp/pg/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/pg"
port=55500
while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
echo "== starting PostgreSQL on 127.0.0.1:$port" >&2
as_server_user "$PG_BIN/initdb" -D "$tmp/pg/data" -U postgres --auth=trust -E UTF8 >"$tmp/initdb.log" 2>&1
# Lock table, work_mem, planner settings: defaults. Memory and durability: tuned for loading.
as_server_user "$PG_BIN/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/server.log" -w \
    -o "-p $port -k $tmp/pg -c listen_addresses=127.0.0.1 -c shared_buffers=512MB -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB -c log_min_duration_statement=0 -c log_line_prefix='%m [%p] %a '" \
    start >/dev/null
psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"; }
url() { echo "postgres://postgres@127.0.0.1:$port/$1"; }

load() {
    local shape=$1
    psql -d postgres -c "CREATE DATABASE $shape"
    case "$shape" in
        big)
            psql -d big -f bench/schema.sql
            psql -d big -v big_events="${BIG_EVENTS:-1200000}" -v big_notes="${BIG_NOTES:-800000}" \
                -v small_orgs="${SMALL_ORGS:-2000}" -v only_small=0 -f bench/load.sql ;;
        wide) psql -d wide -f bench/wide.sql ;;
        *) psql -d "$shape" -f "bench/shapes/$shape.sql" ;;
    esac
    psql -d "$shape" -c "VACUUM ANALYZE"
}
sections_of() {
    case "$1" in
        big) echo bench/big.sections ;;
        wide)
            # Hand-written for 1,000 tables: tenant tables by org_id, each child by its parent,
            # each lookup table t5k by the lookup_id of the four after it that reference it
            # (the org's rows hold none, but a hand-written export must look; before issue 21's fifth
            # session these 199 sections were missing here).
            {
                echo "select * from orgs where id = 1"
                local ids="" lookups=""
                for n in $(seq 1 999); do
                    case $((n % 5)) in
                        0) ;;
                        1) ids="select id from t$n where org_id = 1"; echo "select * from t$n where org_id = 1"
                           lookups="select lookup_id from t$n where org_id = 1" ;;
                        *) echo "select * from t$n where parent_id in ($ids)"
                           lookups="$lookups union select lookup_id from t$n where parent_id in ($ids)"
                           ids="select id from t$n where parent_id in ($ids)" ;;
                    esac
                    if [ $((n % 5)) = 4 ] && [ "$n" -gt 5 ]; then
                        echo "select * from t$((n - 4)) where id in ($lookups)"
                    fi
                done
            } >"$tmp/wide.sections"
            echo "$tmp/wide.sections" ;;
        *) echo "bench/shapes/$1.sections" ;;
    esac
}
org_of() {
    case "$1" in big) echo big ;; shared) echo org1 ;; deep) echo deep ;; partitions) echo org1 ;; wide) echo o1 ;; onevalue) echo blob ;; esac
}

# server_ms APP OFFSET: the sum of the durations (ms) the server logged for APP's statements
# after byte OFFSET of its log; server_copies APP OFFSET: each COPY's, in order.
log_durations() {
    tail -c +"$(($2 + 1))" "$tmp/pg/server.log" |
        awk -v app="$1" -v only="$3" '$5 == app && $6 == "LOG:" && $7 == "duration:" &&
             (only == "" || (index($0, "COPY (") > 0 && ($10 == "execute" || $10 == "statement:"))) {print $8}'
}
server_ms() { log_durations "$1" "$2" "" | awk '{s += $1} END {printf "%.0f", s}'; }
# (one decimal: wide's thousand COPYs are fractions of a millisecond each)
server_copies() { log_durations "$1" "$2" copy | awk '{printf "%s%.1f", (NR > 1 ? " " : ""), $1}'; }
log_size() { sleep 0.2; stat -c %s "$tmp/pg/server.log"; }

# measure NAME APP CMD…: runs CMD $RUNS times as application APP, recording wall seconds,
# peak RSS (KiB), client CPU seconds (user + sys) and the server's statement time (ms).
declare -A WALLS RSS CPU SERVER COPIES OFFSET
measure() {
    local name=$1 app=$2; shift 2
    local walls=() rss=() cpu=() server=()
    for _ in $(seq "$RUNS"); do
        local start end offset
        offset=$(log_size)
        OFFSET[$name]=$offset
        start=$(date +%s.%N)
        PGAPPNAME=$app pin /usr/bin/time -f "%M %U %S" -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; return 1; }
        end=$(date +%s.%N)
        walls+=("$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}')")
        rss+=("$(tail -n1 "$tmp/time" | cut -d' ' -f1)")
        cpu+=("$(tail -n1 "$tmp/time" | awk '{printf "%.2f", $2 + $3}')")
        sleep 0.2
        server+=("$(server_ms "$app" "$offset")")
        COPIES[$name]=$(server_copies "$app" "$offset")
    done
    WALLS[$name]="${walls[*]}"
    RSS[$name]="${rss[*]}"
    CPU[$name]="${cpu[*]}"
    SERVER[$name]="${server[*]}"
    echo "   $name: ${walls[*]} s; client CPU ${cpu[*]} s; server ${server[*]} ms" >&2
}
median() { tr ' ' '\n' <<<"$1" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
max() { tr ' ' '\n' <<<"$1" | sort -g | tail -n1; }
# server_steps APP OFFSET: the statements of APP over 50 ms after OFFSET, "ms statement…".
server_steps() {
    tail -c +"$(($2 + 1))" "$tmp/pg/server.log" |
        awk -v app="$1" '$5 == app && $6 == "LOG:" && $7 == "duration:" && $8 > 50 {
            line = $0; sub(/.*ms  /, "", line); printf "%.0f %s\n", $8, substr(line, 1, 90)}'
}

# The restore of the big org into an empty copy of its schema, against psql loading the
# same rows with COPY FROM (text files written beforehand); each run starts from emptied
# tables; psql and orgexport alternate run by run, so that a change in the machine's load
# falls on both. Results in WALLS/RSS/CPU/SERVER under "big: restore, psql COPY FROM" and
# "big: restore, orgexport"; RATIOS holds orgexport ÷ psql pair by pair.
RATIOS=""
measure_restore() {
    psql -d postgres -c "CREATE DATABASE big_target"
    "$PG_BIN/pg_dump" -s -N orgexport -h 127.0.0.1 -p "$port" -U postgres big | grep -v '^\\' | psql -d big_target
    "$bin" run --org big --database-url "$(url big)" --store "$tmp/restore-src" -q >/dev/null
    local archive empty copyin i table q runs=$RUNS side n
    archive=$(ls "$tmp"/restore-src/*/*.json.gz)
    empty="TRUNCATE orgs, events, event_notes"
    copyin="$tmp/copyin.sql"; echo "$empty;" >"$copyin"
    i=0
    for table in orgs events event_notes; do
        q=$(sed -n "$((i + 1))p" bench/big.sections)
        psql -d big -c "\\copy ($q) to '$tmp/section$i.copy'"
        echo "\\copy $table from '$tmp/section$i.copy'" >>"$copyin"
        i=$((i + 1))
    done
    RUNS=1
    for n in $(seq "$runs"); do
        measure "restore psql $n" psql "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d big_target -f "$copyin"
        measure "restore orgexport $n" orgexport bash -c "$PG_BIN/psql -X -q -h 127.0.0.1 -p $port -U postgres -d big_target -c '$empty' && $bin restore $archive --target-url $(url big_target) -q"
        RATIOS="$RATIOS $(ratio "${WALLS["restore orgexport $n"]}" "${WALLS["restore psql $n"]}")"
    done
    RUNS=$runs
    for side in psql orgexport; do
        local key="big: restore, orgexport"
        [ "$side" = psql ] && key="big: restore, psql COPY FROM"
        for n in $(seq "$runs"); do
            WALLS[$key]="${WALLS[$key]:-}${WALLS[$key]:+ }${WALLS["restore $side $n"]}"
            RSS[$key]="${RSS[$key]:-}${RSS[$key]:+ }${RSS["restore $side $n"]}"
            CPU[$key]="${CPU[$key]:-}${CPU[$key]:+ }${CPU["restore $side $n"]}"
            SERVER[$key]="${SERVER[$key]:-}${SERVER[$key]:+ }${SERVER["restore $side $n"]}"
        done
    done
    server_steps psql "${OFFSET["restore psql $runs"]}" >"$tmp/steps.psql"
    server_steps orgexport "${OFFSET["restore orgexport $runs"]}" >"$tmp/steps.orgexport"
}

# The restore figures alone, as markdown.
restore_report() {
    local r p
    r=$(median "${WALLS["big: restore, orgexport"]}"); p=$(median "${WALLS["big: restore, psql COPY FROM"]}")
    echo "\`RESTORE_ONLY=1 RUNS=$RUNS bash bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "The big org (${ROWS[big]} rows) restored into an empty copy of its schema; psql and orgexport alternate run by run."
    echo
    echo "| | runs (s) | median (s) | client CPU (s) | server statements (s) | peak RSS |"
    echo "| --- | --- | ---: | --- | --- | ---: |"
    for key in "big: restore, psql COPY FROM" "big: restore, orgexport"; do
        echo "| ${key#big: restore, } | ${WALLS[$key]} | $(median "${WALLS[$key]}") | ${CPU[$key]} | $(tr ' ' '\n' <<<"${SERVER[$key]}" | awk '{printf "%s%.1f", (NR > 1 ? " " : ""), $1 / 1000}') | $(( $(max "${RSS[$key]}") / 1024 )) MiB |"
    done
    echo
    echo "orgexport ÷ psql, pair by pair:$RATIOS; medians: $(ratio "$r" "$p")×; server statement time, medians: $(ratio "$(median "${SERVER["big: restore, orgexport"]}")" "$(median "${SERVER["big: restore, psql COPY FROM"]}")")×."
    echo
    echo "Statements over 50 ms in the last run (ms):"
    echo
    echo "- psql: $(awk '{printf "%s%s", (NR > 1 ? "; " : ""), $0}' "$tmp/steps.psql")"
    echo "- orgexport: $(awk '{printf "%s%s", (NR > 1 ? "; " : ""), $0}' "$tmp/steps.orgexport")"
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

declare -A ROWS ARCHIVE GZIP6
for shape in $SHAPES; do
    echo "== shape $shape: loading" >&2
    load "$shape"
    org=$(org_of "$shape")
    sections=$(sections_of "$shape")
    # One psql session per side, every section in order, like an operator's script.
    ceiling="$tmp/$shape.ceiling.sql"; baseline="$tmp/$shape.baseline.sh"
    : >"$ceiling"
    echo "set -eo pipefail; { " >"$baseline"
    while IFS= read -r q; do
        [ -n "$q" ] || continue
        echo "COPY ($q) TO STDOUT (FORMAT binary);" >>"$ceiling"
        echo "$PG_BIN/psql -X -q -h 127.0.0.1 -p $port -U postgres -d $shape -c \"\\\\copy (select row_to_json(t) from ($q) t) to stdout\";" >>"$baseline"
    done <"$sections"
    echo "} | gzip -6 >/dev/null" >>"$baseline"
    ROWS[$shape]=$(while IFS= read -r q; do [ -n "$q" ] && psql -d "$shape" -Atc "select count(*) from ($q) t"; done <"$sections" | awk '{s += $1} END {print s}')
    # The history schema exists before the measured runs, so that each does the same work.
    "$bin" run --org "$org" --database-url "$(url "$shape")" --store "$tmp/warm" -q >/dev/null
    if [ "$RESTORE_ONLY" = 1 ]; then
        echo "== shape $shape: measuring the restore (${ROWS[$shape]} rows, $RUNS runs each)" >&2
        measure_restore
        continue
    fi
    echo "== shape $shape: measuring (${ROWS[$shape]} rows, $RUNS runs each)" >&2
    measure "$shape ceiling" ceiling bash -c "$PG_BIN/psql -X -q -h 127.0.0.1 -p $port -U postgres -d $shape -f $ceiling >/dev/null"
    if [ "$shape" = onevalue ]; then
        # to_json of a 300 MiB bytea is a 600 MiB string built by the server; it may fail.
        if ! measure "$shape baseline" baseline bash "$baseline" 2>/dev/null; then WALLS["$shape baseline"]=""; fi
    else
        measure "$shape baseline" baseline bash "$baseline"
    fi
    measure "$shape orgexport --jobs 1" orgexport "$bin" run --org "$org" --database-url "$(url "$shape")" --store "$tmp/store" -q --jobs 1
    rm -rf "$tmp/store"
    measure "$shape orgexport" orgexport "$bin" run --org "$org" --database-url "$(url "$shape")" --store "$tmp/store" -q
    # The archive against gzip -6 of the same JSON.
    archive=$(ls "$tmp"/store/*/*.json.gz | head -n1)
    ARCHIVE[$shape]=$(stat -c %s "$archive")
    GZIP6[$shape]=$(gzip -dc "$archive" | gzip -6 | wc -c)
    rm -rf "$tmp/store"
    case "$shape" in
        big)
            measure "big: small org in the big database" orgexport "$bin" run --org small --database-url "$(url big)" --store "$tmp/store" -q
            [ "$RESTORE" = 1 ] || continue
            measure_restore
            ;;
        wide)
            measure "wide: plan --estimate" orgexport "$bin" plan --org o1 --estimate --database-url "$(url wide)"
            measure "wide: plan (exact counts)" orgexport "$bin" plan --org o1 --database-url "$(url wide)" ;;
    esac
    [ "$shape" = big ] || [ "$shape" = wide ] || psql -d postgres -c "DROP DATABASE $shape"
done

# ---- report ----
if [ "$RESTORE_ONLY" = 1 ]; then
    restore_report | tee bench/RESULTS.restore.md.new
    echo "== wrote bench/RESULTS.restore.md.new" >&2
    exit 0
fi
cores=$(nproc)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
{
    echo "# Benchmark results"
    echo
    echo "\`bash bench/run.sh\` on $(date -u +%Y-%m-%d), $cores cores ($cpu), PostgreSQL $(psql -d postgres -Atc 'show server_version' | cut -d' ' -f1),"
    echo "default server settings but for memory and durability (shared_buffers 512MB, fsync off);"
    echo "medians of $RUNS runs, wall seconds with process start. *Ceiling*: a binary COPY of the"
    echo "same rows to /dev/null with hand-written SQL (bench/*.sections); *baseline*: the operator's"
    echo "\`psql \\copy (select row_to_json(t) from (…) t) | gzip -6\` over the same SQL; orgexport: \`run\`"
    echo "to a local store, everything included (connect, catalog, scope, history, archive, sidecar, link)."
    echo
    echo "| shape | rows | ceiling (s) | baseline (s) | orgexport --jobs 1 (s) | orgexport (s) | ÷ ceiling (goal ≤ 1.25) | × baseline speed (goal ≥ 2) | client CPU (s) | server: orgexport / ceiling (s) | peak RSS | archive ÷ gzip -6 |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for shape in $SHAPES; do
        c=$(median "${WALLS["$shape ceiling"]}")
        o=$(median "${WALLS["$shape orgexport"]}")
        o1=$(median "${WALLS["$shape orgexport --jobs 1"]}")
        if [ -n "${WALLS["$shape baseline"]:-}" ]; then
            b=$(median "${WALLS["$shape baseline"]}"); speed="$(ratio "$b" "$o")×"
        else
            b="failed"; speed="–"
        fi
        so=$(awk -v m="$(median "${SERVER["$shape orgexport"]}")" 'BEGIN {printf "%.2f", m / 1000}')
        sc=$(awk -v m="$(median "${SERVER["$shape ceiling"]}")" 'BEGIN {printf "%.2f", m / 1000}')
        echo "| $shape | ${ROWS[$shape]} | $c | $b | $o1 | $o | $(ratio "$o" "$c")× | $speed | $(median "${CPU["$shape orgexport"]}") | $so / $sc | $(( $(max "${RSS["$shape orgexport"]}") / 1024 )) MiB | $(ratio "${ARCHIVE[$shape]}" "${GZIP6[$shape]}") |"
    done
    echo
    echo "Server time per section (ms, last run; COPY statements in order):"
    echo
    for shape in $SHAPES; do
        for side in "orgexport --jobs 1" "orgexport" ceiling; do
            copies=${COPIES["$shape $side"]:-}
            n=$(wc -w <<<"$copies")
            if [ "$n" -gt 12 ]; then
                copies="$n COPYs, $(tr ' ' '\n' <<<"$copies" | awk '{s += $1} END {print s}') in all"
            fi
            echo "- $shape, $side: $copies"
        done
    done
    echo
    for name in "big: small org in the big database" "wide: plan --estimate" "wide: plan (exact counts)"; do
        [ -n "${WALLS[$name]:-}" ] || continue
        echo "- $name: $(median "${WALLS[$name]}") s, peak RSS $(( $(max "${RSS[$name]}") / 1024 )) MiB"
    done
    if [ -n "${WALLS["big: restore, orgexport"]:-}" ]; then
        r=$(median "${WALLS["big: restore, orgexport"]}"); p=$(median "${WALLS["big: restore, psql COPY FROM"]}")
        echo "- big: restore of the big org (${ROWS[big]} rows) into an empty copy of the schema:" \
             "orgexport $r s ($(awk -v n="${ROWS[big]}" -v t="$r" 'BEGIN {printf "%.0f", n / t}') rows/s)," \
             "psql COPY FROM of the same rows $p s ($(awk -v n="${ROWS[big]}" -v t="$p" 'BEGIN {printf "%.0f", n / t}') rows/s)," \
             "$(ratio "$r" "$p")× psql's time; orgexport peak RSS $(( $(max "${RSS["big: restore, orgexport"]}") / 1024 )) MiB"
        echo
        restore_report
    fi
} >bench/RESULTS.md.new
cat bench/RESULTS.md.new
echo "== wrote bench/RESULTS.md.new; the notes of bench/RESULTS.md are kept by hand" >&2
