# Sourced by the scripts before they build: the default feature `isal` builds Intel's ISA-L
# (igzip, the default level's compressor) from its vendored source, which needs nasm and the
# autotools. Installs Debian's packages when they are missing and we are root; otherwise says
# what to install, or how to build without it.

missing_build_tools() {
    local tool
    for tool in nasm autoreconf automake libtoolize make; do
        command -v "$tool" >/dev/null 2>&1 || echo "$tool"
    done
}

if [ -n "$(missing_build_tools)" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing what building ISA-L needs: nasm autoconf automake libtool make" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nasm autoconf automake libtool make >&2
    else
        echo "building orgexport needs $(missing_build_tools | tr '\n' ' ')(Debian packages nasm autoconf automake libtool make), or build without ISA-L: cargo build --no-default-features" >&2
        exit 1
    fi
fi
