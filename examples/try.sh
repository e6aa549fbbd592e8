#!/usr/bin/env bash
# Try orgexport on a bundled example SaaS database: starts a throwaway PostgreSQL from the
# local server binaries (installing the postgresql package when missing and root), loads
# examples/saas.sql (five orgs, three schemas, a few thousand rows), exports org "acme" to
# ./orgexports, prints the link and a summary of the archive, and removes the server again.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-bin.sh
. scripts/build-deps.sh
org="${1:-acme}"

cargo build --quiet --locked
bin="$PWD/target/debug/orgexport"

tmp=$(mktemp -d /tmp/orgexport-try.XXXXXX)
chmod 755 "$tmp"
as_server_user() {
    if [ "$(id -u)" = 0 ]; then chown -R postgres: "$tmp"; runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
    as_server_user "$PG_BIN/pg_ctl" -D "$tmp/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

as_server_user "$PG_BIN/initdb" -D "$tmp/data" -U postgres --auth=trust -E UTF8 >"$tmp/initdb.log" 2>&1 \
    || { cat "$tmp/initdb.log"; exit 1; }
# A free port, again on another one if something takes it first; a server that will not
# start shows its log before the cleanup removes it.
port=55400
for attempt in 1 2 3; do
    while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    echo "== starting a throwaway PostgreSQL on 127.0.0.1:$port ($PG_BIN)"
    if as_server_user "$PG_BIN/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w \
        -o "-p $port -k $tmp -c listen_addresses=127.0.0.1" start >/dev/null; then
        break
    fi
    if [ "$attempt" = 3 ] || ! grep -q "could not bind" "$tmp/server.log" 2>/dev/null; then
        echo "== PostgreSQL did not start; its log ($tmp/server.log):" >&2
        cat "$tmp/server.log" >&2 || true
        exit 1
    fi
    port=$((port + 1))
done

url="postgres://postgres@127.0.0.1:$port/saas"
"$PG_BIN/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE saas"
echo "== loading examples/saas.sql"
"$PG_BIN/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d saas -v ON_ERROR_STOP=1 -f examples/saas.sql

echo "== orgexport run --org $org --store ./orgexports"
link=$("$bin" run --org "$org" --database-url "$url" --store ./orgexports)
archive="${link#file://}"
sidecar="${archive%.json.gz}.manifest.json"

echo "== archive sections (from the sidecar manifest $sidecar)"
grep -E '^    \{$|^      "name"|^      "scope"|^      "record_count"' "$sidecar" \
    | sed -E 's/^ +//; s/[",]//g' \
    | awk 'function show() { if (name != "") printf "  %-28s %7d rows  (%s)\n", name, rows, scope; name = "" }
           /^\{$/ {show()} /^name:/ {name=$2} /^scope:/ {sub(/^scope: /, ""); scope=$0}
           /^record_count:/ {rows=$2} END {show()}'
echo "== download link"
echo "$link"
