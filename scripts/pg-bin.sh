# Sourced by the scripts: finds the PostgreSQL server binaries (initdb, pg_ctl) and sets
# PG_BIN, installing Debian's postgresql package first when they are missing and we are root.

find_pg_bin() {
    if [ -n "${ORGEXPORT_PG_BIN:-}" ] && [ -x "$ORGEXPORT_PG_BIN/initdb" ]; then
        echo "$ORGEXPORT_PG_BIN"; return 0
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
    return 1
}

if ! PG_BIN=$(find_pg_bin); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "PostgreSQL server binaries not found: installing the postgresql package" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        PG_BIN=$(find_pg_bin) || { echo "postgresql installed, but initdb is still missing" >&2; exit 1; }
    else
        echo "PostgreSQL server binaries (initdb, pg_ctl) not found: install the postgresql package, or set ORGEXPORT_PG_BIN" >&2
        exit 1
    fi
fi
export ORGEXPORT_PG_BIN="$PG_BIN"
