#!/usr/bin/env bash
# Compares the archives of two orgexport binaries on every test fixture and the benchmark
# shapes a database URL serves: `bash bench/same_archives.sh OLD_BIN NEW_BIN [PG_URL]`.
# Exports each fixture's org with both (at --jobs 1 and 2) and compares the archives from
# their sections on (the manifest holds ids and times): "same" when every section holds the
# same rows in the same order, "same rows, other order" when only the order of rows within
# a section differs (a section's COPY has no ORDER BY: its order is the plan's), "DIFFERENT"
# otherwise; naming the sections. Exit 1 on any
# difference. PG_URL: a server to create scratch databases on (default: a throwaway cluster
# from the local PostgreSQL binaries). BENCH_DBS="shared:org1 wide:o1" adds existing
# databases of that server, not dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1"); new=$(realpath "$2"); url=${3:-}
tmp=$(mktemp -d /tmp/orgexport-same.XXXXXX)
chmod 755 "$tmp"
stop=()
cleanup() { for c in "${stop[@]}"; do eval "$c" || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
if [ -z "$url" ]; then
    . scripts/pg-bin.sh
    as_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres: "$tmp"; runuser -u postgres -- "$@"; else "$@"; fi; }
    port=55900
    while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    as_pg "$PG_BIN/initdb" -D "$tmp/data" -U postgres --auth=trust >/dev/null
    as_pg "$PG_BIN/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -o "-p $port -k $tmp -c listen_addresses=127.0.0.1" start >/dev/null
    stop+=("as_pg $PG_BIN/pg_ctl -D $tmp/data -m fast stop >/dev/null")
    url="postgres://postgres@127.0.0.1:$port"
fi
psql_() { psql -X -q -v ON_ERROR_STOP=1 "$url/$1" "${@:2}"; }

# "same", "same rows, other order: <sections>" or "DIFFERENT: <sections>", from the
# sections on (the manifest holds ids and times); rows compared one section at a time.
verdict() { python3 - "$1" "$2" <<'PY'
import gzip, json, sys
a, b = (json.load(gzip.open(f))["sections"] for f in sys.argv[1:3])
if list(a) != list(b):
    sys.exit(print("DIFFERENT: the sections or their order"))
order, rows = [], []
for name in a:
    if a[name] == b[name]:
        continue
    key = lambda v: sorted(json.dumps(r, sort_keys=True) for r in v) if isinstance(v, list) else v
    (order if key(a[name]) == key(b[name]) else rows).append(name)
print("DIFFERENT: " + ", ".join(rows) if rows else
      "same rows, other order: " + ", ".join(order) if order else "same")
PY
}

failed=0
compare() { # NAME DB ORG CONFIG
    local name=$1 db=$2 org=$3 config=$4
    printf '%s' "$config" >"$tmp/config.toml"
    for jobs in 1 2; do
        for side in old new; do
            rm -rf "$tmp/store-$side"
            local bin=$old; [ "$side" = new ] && bin=$new
            "$bin" run --org "$org" --database-url "$url/$db" --store "$tmp/store-$side" \
                --config "$tmp/config.toml" --jobs "$jobs" -q >/dev/null
        done
        local v
        v=$(verdict "$tmp"/store-old/*/*.json.gz "$tmp"/store-new/*/*.json.gz)
        echo "$name --jobs $jobs: $v"
        case "$v" in DIFFERENT*) failed=1 ;; esac
    done
}

fixture() { # NAME SQL ORG CONFIG
    psql_ postgres -c "DROP DATABASE IF EXISTS same_$1" -c "CREATE DATABASE same_$1"
    psql_ "same_$1" -f "$2" >/dev/null
    compare "$1" "same_$1" "$3" "$4"
    psql_ postgres -c "DROP DATABASE same_$1"
}

# The fixtures as tests/plan_snapshots.rs exports them.
fixture chatwoot tests/fixtures/chatwoot.sql acme $'tenant_columns = ["account_id"]\ninfer_references = true\n'
fixture cyclic tests/fixtures/cyclic.sql a ""
fixture formbricks tests/fixtures/formbricks.sql acme ""
fixture hostile tests/fixtures/hostile.sql "a'; DROP TABLE \"select\".\"\$1 table\"; --" ""
fixture partitioned tests/fixtures/partitioned.sql a ""
fixture prisma tests/fixtures/prisma.sql acme ""
fixture rails tests/fixtures/rails.sql acme $'infer_references = true\n'
fixture sharding tests/fixtures/sharding.sql acme $'references = ["public.ci_builds.project_id -> public.projects.id"]\n'
fixture typed tests/fixtures/typed.sql a ""
fixture saas examples/saas.sql acme ""
for db_org in ${BENCH_DBS:-}; do compare "${db_org%%:*}" "${db_org%%:*}" "${db_org#*:}" ""; done
exit "$failed"
