#!/bin/bash
# Fetch Debian 13 (trixie)'s pebble, which speaks ACME Renewal Information (RFC 9773), for the lab
# (LAB_PEBBLE=newer), without touching the system's apt state or installed packages: apt-get runs
# with a private sources list, lists directory and cache, downloads the one .deb, and dpkg-deb -x
# unpacks it into a cache directory. Idempotent: a binary already there is reused.
#
#   pebble-newer.sh [fetch]   fetch if needed, print the binary's path; exit 1 when it cannot
#   pebble-newer.sh path      print the binary's path if it is there already; exit 1 otherwise
#
# Environment: NACME_PEBBLE_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/nacme/pebble-trixie),
# NACME_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -u -o pipefail

CACHE=${NACME_PEBBLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nacme/pebble-trixie}
MIRROR=${NACME_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BIN=$CACHE/root/usr/bin/pebble
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg


fetch() {
    local apt=$CACHE/apt debs tmp
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/etc" "$CACHE/debs" || return 1
    : >"$apt/status" # no installed packages: the system's are none of this apt's business
    # trixie's Release file is signed by keys bookworm's keyring already holds.
    printf 'deb [signed-by=%s] %s trixie main\n' "$KEYRING" "$MIRROR" >"$apt/etc/sources.list"
    local opts=(-o "Dir::Etc::sourcelist=$apt/etc/sources.list" -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
        -o "Dir::State::status=$apt/status" -o "APT::Get::List-Cleanup=0"
        -o "Debug::NoLocking=1" -o "Acquire::Retries=2" -o "Acquire::http::Timeout=20")
    apt-get -q "${opts[@]}" update >"$CACHE/apt-update.log" 2>&1 ||
        { echo "pebble-newer: apt-get update failed: $(tail -n 2 "$CACHE/apt-update.log" | tr '\n' ' ')" >&2; return 1; }
    (cd "$CACHE/debs" && apt-get -q "${opts[@]}" download pebble/trixie) >"$CACHE/apt-download.log" 2>&1 ||
        { echo "pebble-newer: apt-get download failed: $(tail -n 2 "$CACHE/apt-download.log" | tr '\n' ' ')" >&2; return 1; }
    debs=$(ls -t "$CACHE"/debs/pebble_*.deb 2>/dev/null | head -n 1)
    [ -n "$debs" ] || { echo "pebble-newer: no pebble .deb downloaded" >&2; return 1; }
    tmp=$CACHE/root.tmp
    rm -rf -- "$tmp"
    dpkg-deb -x "$debs" "$tmp" || { echo "pebble-newer: dpkg-deb -x $debs failed" >&2; return 1; }
    [ -x "$tmp/usr/bin/pebble" ] || { echo "pebble-newer: $debs has no usr/bin/pebble" >&2; return 1; }
    rm -rf -- "$CACHE/root"
    mv "$tmp" "$CACHE/root"
}

case ${1:-fetch} in
path)
    [ -x "$BIN" ] || exit 1
    echo "$BIN"
    ;;
fetch)
    if [ ! -x "$BIN" ]; then
        fetch || exit 1
    fi
    echo "$BIN"
    ;;
*)
    echo "usage: pebble-newer.sh [fetch|path]" >&2
    exit 2
    ;;
esac
