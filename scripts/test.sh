#!/usr/bin/env bash
# The whole test suite. Installs what the tests need when it is missing — PostgreSQL server
# binaries (Debian's postgresql package, as root), the age command, the S3 test server s3s-fs (cargo install,
# built once into ~/.cargo/bin), Azure's emulator Azurite (npm) and moto_server (pip, in a
# venv), both into ~/.cache/orgexport-test-tools — then runs `cargo test`. The tests start their own
# PostgreSQL cluster and object-store servers on loopback; nothing else is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-bin.sh
. scripts/build-deps.sh
echo "using PostgreSQL binaries in $ORGEXPORT_PG_BIN" >&2

if ! command -v s3s-fs >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/s3s-fs" ]; then
    echo "installing the S3 test server s3s-fs (a few minutes, once)" >&2
    # 0.14.1: newer releases need a newer rustc than this toolchain.
    cargo install s3s-fs@0.14.1 --features binary --locked >&2
fi

# GNU time measures the peak memory of a refused hostile archive (tests/hostile_archives.rs).
if [ ! -x /usr/bin/time ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2
    else
        echo "/usr/bin/time not found: install GNU time (Debian package time)" >&2
        exit 1
    fi
fi

# age, age-keygen and ssh-keygen: the interop tests decrypt orgexport's archives with the age
# command, give orgexport files it encrypted, and use SSH keys as recipients (tests/encryption.rs).
if ! command -v age >/dev/null 2>&1 || ! command -v age-keygen >/dev/null 2>&1 \
    || ! command -v ssh-keygen >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq age openssh-client >&2
    else
        echo "age or ssh-keygen not found: install them (Debian packages age, openssh-client)" >&2
        exit 1
    fi
fi

tools="$HOME/.cache/orgexport-test-tools"
if ! command -v azurite-blob >/dev/null 2>&1 && [ ! -x "$tools/node_modules/.bin/azurite-blob" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
        else
            echo "npm not found: install Node.js and npm (for the Azure emulator Azurite)" >&2
            exit 1
        fi
    fi
    echo "installing the Azure emulator Azurite" >&2
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-audit --no-fund --loglevel=error azurite@3.35.0 >&2
fi

if ! command -v moto_server >/dev/null 2>&1 && [ ! -x "$tools/moto/bin/moto_server" ]; then
    echo "installing moto_server (S3 ListMultipartUploads, to prove aborted uploads leave no parts)" >&2
    if ! python3 -m venv "$tools/moto" >&2; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
            python3 -m venv "$tools/moto" >&2
        else
            echo "python3 -m venv failed: install python3-venv (for moto_server)" >&2
            exit 1
        fi
    fi
    "$tools/moto/bin/pip" install -q "moto[server]==5.1.*" >&2
fi

# DuckDB and pyarrow read the CSV and Parquet bundles back as their users would (tests/formats.rs).
if [ ! -x "$tools/pydata/bin/python" ] || ! "$tools/pydata/bin/python" -c 'import duckdb, pyarrow' 2>/dev/null; then
    echo "installing duckdb and pyarrow (reading the CSV and Parquet bundles in tests/formats.rs)" >&2
    python3 -m venv "$tools/pydata" >&2
    "$tools/pydata/bin/pip" install -q "duckdb==1.1.*" "pyarrow==18.*" >&2
fi

# Citus (tests/citus.rs starts a coordinator and two workers): built from the 13.2.2 source in
# ../shared/vendor into the local server's library directory, once per machine (1.5-3 minutes).
citus_lib="$("$ORGEXPORT_PG_BIN/pg_config" --pkglibdir 2>/dev/null || echo /nonexistent)"
if [ ! -f "$citus_lib/citus.so" ]; then
    # The steering repository's shared/ sits beside the checkout (../shared).
    citus_build=""
    for shared in ../shared /work/shared; do
        [ -f "$shared/citus/build.sh" ] && { citus_build="$shared/citus/build.sh"; break; }
    done
    if [ -n "$citus_build" ]; then
        echo "building the Citus extension (once per machine)" >&2
        bash "$citus_build" "$ORGEXPORT_PG_BIN/pg_config" >&2
    else
        echo "citus.so missing and ../shared/citus/build.sh not found: tests/citus.rs will fail" >&2
    fi
fi

cargo test --locked "$@"
