#!/bin/sh
# uacme challenge hook for the benchmark (uacme -h): serves http-01 from a webroot.
#   uacme-hook.sh METHOD TYPE IDENT TOKEN AUTH      (see "man uacme", -h/--hook)
# The webroot comes from $BENCH_WEBROOT (the lab's LAB_WEBROOT is the fallback). Only http-01 is
# accepted; any other type is declined (exit 1) so uacme picks http-01.
set -u
[ $# -eq 5 ] || { echo "usage: $(basename "$0") method type ident token auth" >&2; exit 85; }
method=$1 type=$2 token=$4 auth=$5
root=${BENCH_WEBROOT:-${LAB_WEBROOT:-}}
[ -n "$root" ] || { echo "uacme-hook: BENCH_WEBROOT is not set" >&2; exit 1; }
[ "$type" = http-01 ] || exit 1
# Tokens are base64url; refuse anything that could escape the challenge directory.
case $token in
'' | *[!A-Za-z0-9_-]*) echo "uacme-hook: bad token '$token'" >&2; exit 1 ;;
esac
dir=$root/.well-known/acme-challenge
case $method in
begin)
    mkdir -p "$dir" && printf '%s' "$auth" >"$dir/$token"
    ;;
done | failed)
    rm -f -- "$dir/$token"
    ;;
*)
    echo "uacme-hook: unknown method '$method'" >&2
    exit 1
    ;;
esac
