#!/usr/bin/env bash
# Bad input from the network or the user: each a one-line error naming the thing, exit 1 (or 2 for
# usage), and the state dir exactly as it was. Faults come from tests/lab/faultproxy.py in front of
# the real Pebble.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up
S=$LAB_DIR/state
via_proxy() { proxy_nacme --agree-tos "$@"; }
# STATE/lock holds the pid of the last run: it changes by design.
snapshot() { find "$S" -path "$S/lock" -prune -o -printf '%p %s %T@\n' 2>/dev/null | sort; }
one_line() { [ "$(printf "%s\n" "$OUT" | wc -l)" = 1 ]; }

# A good certificate first, through a passing proxy so that the account at the proxy's URL exists:
# every failure below must leave the state dir exactly as it is now.
proxy_up pass
t_ok "baseline certificate through the proxy" via_proxy issue -d base.example
before=$(snapshot)

expect_fail() { # expect_fail "what" PATTERN nacme-args...; HOW: how the case is provoked
    local what=$1 pat=$2
    shift 2
    t_status "$what: exit 1" 1 "$@"
    OUT=$T_OUTPUT
    t_check "$what: one line" one_line
    t_check "$what: names the cause ($pat)" 'printf "%s" "$OUT" | grep -qE -- "$pat"'
    t_check "$what: state dir unchanged" '[ "$before" = "$(snapshot)" ]'
    t_case "$what" "$HOW" "exit 1: $OUT; state dir unchanged"
}

refused_port
port=$REFUSED_PORT
HOW="--server on a loopback port where connections are refused"
expect_fail "unreachable server" "127.0.0.1:$port.*cannot reach" \
    "$NACME" --server "https://127.0.0.1:$port/dir" --state-dir "$S" --webroot "$LAB_WEBROOT" \
    --http-port "$LAB_HTTP_PORT" \
    --agree-tos issue -d base.example --force
HOW="--ca-bundle that does not hold the CA's HTTPS issuer (no insecure fallback exists)"
expect_fail "untrusted certificate on the CA" "cannot verify the server's certificate" \
    "$NACME" --server "$LAB_ACME_URL" --ca-bundle "$LAB_PEBBLE_ROOT" --state-dir "$S" \
    --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" --agree-tos issue -d base.example --force
t_status "plain http:// is refused: exit 1" 1 "$NACME" --server "http://127.0.0.1:$port/dir" \
    --state-dir "$S" --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" --agree-tos issue \
    -d base.example --force
t_check "naming https" 'printf "%s" "$T_OUTPUT" | grep -q "only https://"'

proxy_up not-directory
HOW="fault proxy answers the directory with text/html"
expect_fail "a URL that is not an ACME directory" "not an ACME directory" via_proxy issue -d base.example --force
proxy_up bad-json --match '^/dir$'
HOW="fault proxy answers the directory with {\"newOrder\": "
expect_fail "malformed JSON" "malformed JSON" via_proxy issue -d base.example --force
proxy_up no-neworder
HOW="fault proxy removes newOrder from the directory"
expect_fail "directory missing newOrder" '"newOrder" is missing' via_proxy issue -d base.example --force
proxy_up huge-body --match '^/dir$' --size $((8 * 1024 * 1024))
HOW="fault proxy answers the directory with 8 MiB"
expect_fail "a response body over the cap" "exceeds [0-9]+ bytes" via_proxy issue -d base.example --force
for tok in '../../../tmp/nacme-pwned' 'a/b' '..'; do
    proxy_up bad-token --token "$tok"
    HOW="fault proxy replaces every challenge token by $tok"
    expect_fail "token '$tok'" "not base64url" via_proxy issue -d base.example --force
    t_check "token '$tok': nothing written outside the webroot" '[ ! -e /tmp/nacme-pwned ] && [ ! -e "$LAB_WEBROOT/.well-known/b" ]'
done
proxy_up problem --match '/order-plz|new-order' --status 403 \
    --problem-type urn:ietf:params:acme:error:rejectedIdentifier --detail 'policy forbids it' \
    --subproblems '[{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"no way","identifier":{"type":"dns","value":"base.example"}}]'
HOW="fault proxy answers newOrder 403 rejectedIdentifier with a subproblem"
expect_fail "a problem document with subproblems" \
    "HTTP 403 urn:ietf:params:acme:error:rejectedIdentifier: policy forbids it \[dns:base.example: urn:ietf:params:acme:error:rejectedIdentifier: no way\]" \
    via_proxy issue -d base.example --force
proxy_down

printf 'server = "x"\nstate_dir = "%s"\nfrobnicate = 1\n' "$S" >"$LAB_DIR/bad.conf"
t_status "unknown key in the configuration: exit 2" 2 "$NACME" --config "$LAB_DIR/bad.conf" issue -d base.example
t_check "names file:line" 'printf "%s" "$T_OUTPUT" | grep -q "bad.conf:3"'
t_status "missing --config file: exit 2" 2 "$NACME" --config "$LAB_DIR/none.conf" issue -d base.example
t_check "names the file" 'printf "%s" "$T_OUTPUT" | grep -q "none.conf"'
t_check "state dir still unchanged" '[ "$before" = "$(snapshot)" ]'
t_done
