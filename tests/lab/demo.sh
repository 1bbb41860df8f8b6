#!/bin/bash
# The README's demo: get a certificate from a local Pebble with nacme over http-01, serve it with
# nginx, and fetch the page trusting only Pebble's root. Builds nothing.
#
#   NACME=./build/nacme tests/lab/demo.sh      (NACME_KEEP=1 keeps the lab directory)
set -u -o pipefail

NACME=${NACME:-./build/nacme}
NAME=demo.example
LAB_SH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/lab.sh"
DIR=""

cleanup() {
    [ -n "$DIR" ] || return 0
    bash "$LAB_SH" stop "$DIR"
    if [ "${NACME_KEEP:-0}" = 1 ]; then
        echo "(NACME_KEEP=1: the lab's files stay in $DIR)"
    else
        rm -rf -- "$DIR"
    fi
}

# step "what happens" COMMAND ARGS...: say it, show the command, run it, stop at the first failure.
step() {
    local what=$1
    shift
    printf '\n==> %s\n$' "$what"
    printf ' %q' "$@"
    printf '\n'
    if ! "$@"; then
        printf '\ndemo: failed: %s\n' "$what" >&2
        exit 1
    fi
}

if [ ! -x "$NACME" ]; then
    echo "demo: $NACME is not an executable; build first (cmake -B build && cmake --build build)" \
        "or set NACME=/path/to/nacme" >&2
    exit 1
fi
NACME=$(cd "$(dirname "$NACME")" && pwd -P)/$(basename "$NACME")

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
DIR=$(mktemp -d "${TMPDIR:-/tmp}/nacme-demo.XXXXXX") || exit 1

echo "A private ACME lab: Pebble (a test CA), a mock DNS that answers 127.0.0.1 for every name,"
echo "and an nginx on loopback that serves the http-01 webroot. All of it lives in $DIR."
step "Start the lab" bash "$LAB_SH" start "$DIR"
# shellcheck disable=SC1091
. "$DIR/lab.env"
cat <<EOF
    ACME directory:   $LAB_ACME_URL
    webroot:          $LAB_WEBROOT  (nginx serves it on 127.0.0.1:$LAB_HTTP_PORT)
    HTTPS sites on:   127.0.0.1:$LAB_HTTPS_PORT
EOF

echo
echo "nacme puts a token in the webroot, checks that nginx serves it (--http-port), then asks"
echo "Pebble, which fetches it through nginx too, then signs."
step "Ask Pebble for a certificate for $NAME" \
    "$NACME" --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$DIR/state" \
    --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" --agree-tos --email admin@example.com \
    issue -d "$NAME"

step "What nacme stored" ls -l "$DIR/state/live/$NAME/"

step "The certificate" openssl x509 -in "$DIR/state/live/$NAME/fullchain.pem" -noout \
    -subject -issuer -dates -ext subjectAltName

step "Serve $NAME over HTTPS with the lab's nginx" \
    bash "$LAB_SH" serve "$DIR" "$NAME" "$DIR/state/live/$NAME"

step "Fetch https://$NAME:$LAB_HTTPS_PORT/ trusting only Pebble's root" \
    curl -sS --resolve "$NAME:$LAB_HTTPS_PORT:127.0.0.1" --cacert "$LAB_PEBBLE_ROOT" \
    "https://$NAME:$LAB_HTTPS_PORT/"

printf '\n==> Done: nacme got a certificate over http-01 and nginx serves it. Stopping the lab.\n'
