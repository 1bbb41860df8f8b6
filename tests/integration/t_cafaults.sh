#!/usr/bin/env bash
# A CA that misbehaves, case by case, through tests/lab/faultproxy.py in front of the real Pebble:
# nonces rejected, missing or invalid; a connection cut or reset in the middle of a body; hostile
# JSON; hostile tokens; hostile certificate chains; orders that stay processing, turn invalid or
# are not ready yet. Each failure is one line naming the URL or the name and the cause, exit 1,
# and nothing is lost: the previous certificate stays live, nothing new is archived, no token or
# temp file is left, and the next run with a CA that behaves completes. Each case is recorded for
# docs/hardening.md.
set -u
. "$NACME_SRC/tests/lab/lib.sh"

# ---- nonces: 90 % rejected by Pebble itself ---------------------------------------------------
lab_up LAB_NONCEREJECT=90 LAB_AUTHZREUSE=0
proxy_up pass --log-nonces
t_ok "90 % of nonces rejected: the certificate is issued all the same" \
    proxy_nacme -v --agree-tos issue -d churn.example
OUT=$T_OUTPUT
bad=$(grep -c '^POST .* 400 ' "$LAB_DIR/proxy.log")
posts=$(grep -c '^POST ' "$LAB_DIR/proxy.log")
t_check "most POSTs were refused ($bad of $posts)" '[ "$bad" -ge 10 ] && [ "$bad" -gt $((posts / 2)) ]'
# One name, so one request at a time: each POST after a refusal is the retry of the refused one.
t_check "every retry carries the nonce of the refusal and a fresh signature" python3 -c '
import re, sys
prev = None
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] != "POST":
        continue
    kv = dict(x.split("=", 1) for x in f[3:] if "=" in x)
    if prev is not None:
        assert prev[0] == f[1], ("the retry went elsewhere", prev, line)
        assert kv.get("nonce") == prev[1], ("not the refusal nonce", prev, line)
        assert kv.get("sig") != prev[2], ("the same signature", prev, line)
    prev = (f[1], kv.get("rnonce"), kv.get("sig")) if f[2] == "400" else None
' "$LAB_DIR/proxy.log"
t_check "the certificate is whole" \
    '[ "$(openssl x509 -noout -pubkey -in "$LAB_DIR/state/live/churn.example/cert.pem")" = "$(openssl pkey -pubout -in "$LAB_DIR/state/live/churn.example/privkey.pem")" ]'
t_case "nonce churn, 90 % rejected" "PEBBLE_WFE_NONCEREJECT=90, issue -d NAME" \
    "exit 0 after $bad badNonce refusals in $posts POSTs; each retry signed afresh with the nonce of the refusal"

# ---- the main lab: a good certificate first, through a passing proxy ---------------------------
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
via_proxy() { proxy_nacme --agree-tos "$@"; }
# STATE/lock holds the pid of the last run: it changes by design.
snapshot() { find "$S" -path "$S/lock" -prune -o -printf '%p %s %T@\n' 2>/dev/null | sort; }
tokens() { ls -A "$LAB_WEBROOT/.well-known/acme-challenge" 2>/dev/null; }
count() { grep -cE "$1" "$LAB_DIR/proxy.log"; }
# The proxy's log holds only what the proxy of the current case saw.
fresh_proxy() { proxy_up "$@" && : >"$LAB_DIR/proxy.log"; }
live_version() { readlink "$S/live/base.example"; }
proxy_up pass
t_ok "baseline certificates through the proxy" via_proxy issue -d base.example
t_ok "and one for another name and key" via_proxy issue -d other.example
before=$(snapshot)

# fault_case "what" PATTERN "how" "nacme does" PROXY_MODE [proxy args...]: the proxy in that mode,
# issue --force for base.example fails with exit 1 and one line matching PATTERN; state dir and
# webroot as they were.
fault_case() {
    local what=$1 pat=$2 how=$3 did=$4
    shift 4
    fresh_proxy "$@"
    t_status "$what: exit 1" 1 via_proxy issue --force -d base.example
    OUT=$T_OUTPUT
    t_check "$what: one line" '[ "$(printf "%s\n" "$OUT" | wc -l)" = 1 ]'
    t_check "$what: it names the cause" 'printf "%s" "$OUT" | grep -qE -- "$pat"'
    t_check "$what: state dir unchanged, the same version live" \
        '[ "$before" = "$(snapshot)" ] && [ "$(live_version)" = "$BASEVER" ]'
    t_check "$what: no token file left" '[ -z "$(tokens)" ]'
    t_case "$what" "$how" "exit 1: $OUT; $did"
}
UNCHANGED="state dir unchanged, previous certificate live"

# ---- nonces missing or invalid ------------------------------------------------------------------
fresh_proxy headers --match '^/(?!nonce-plz)' --drop-header Replay-Nonce
t_ok "no Replay-Nonce on any answer but newNonce: issued" via_proxy issue --force -d base.example
heads=$(count '^HEAD /nonce-plz ')
posts=$(count '^POST ')
t_check "a fresh nonce fetched for every POST ($heads HEADs, $posts POSTs)" '[ "$heads" -ge "$posts" ]'
t_case "Replay-Nonce missing" "fault proxy drops Replay-Nonce from every answer but newNonce's" \
    "exit 0: a HEAD newNonce before each POST ($heads for $posts)"

fresh_proxy headers --match '^/(?!nonce-plz)' --set-header 'Replay-Nonce: bad+nonce/==' --log-nonces
t_ok "an invalid Replay-Nonce on every answer but newNonce's: issued" \
    via_proxy issue --force -d base.example
t_check "the invalid nonce was never sent back" '! grep -q " nonce=bad+nonce" "$LAB_DIR/proxy.log"'
t_check "a fresh nonce fetched instead ($(count '^HEAD /nonce-plz ') HEADs)" \
    '[ "$(count "^HEAD /nonce-plz ")" -ge "$(count "^POST ")" ]'
t_case "Replay-Nonce invalid" "fault proxy sets Replay-Nonce: bad+nonce/== on every answer but newNonce's" \
    "exit 0: the value ignored (not base64url), a HEAD newNonce before each POST"
before=$(snapshot)
BASEVER=$(live_version)

fault_case "newNonce answers an invalid nonce" "nonce-plz: no valid Replay-Nonce in the answer" \
    "fault proxy sets Replay-Nonce: bad+nonce/== on every answer" "$UNCHANGED" \
    headers --set-header 'Replay-Nonce: bad+nonce/=='

# ---- the connection cut in the middle of a body ---------------------------------------------------
fault_case "connection closed mid-body (newOrder)" "order-plz: cannot reach the server: " \
    "fault proxy: newOrder's answer announces its length, sends half, closes" "$UNCHANGED" \
    truncate --match '^/order-plz' --count 1
fault_case "connection reset mid-body (authorization)" "authZ/.*: cannot reach the server: " \
    "fault proxy: the authorization's answer cut after 20 bytes with a TCP RST" "$UNCHANGED" \
    truncate --match '^/authZ/' --size 20 --reset --count 1

# ---- hostile JSON -----------------------------------------------------------------------------------
fault_case "truncated JSON (authorization)" "authZ/.*malformed JSON" \
    "fault proxy: the authorization answered as {\"newOrder\": " "$UNCHANGED" \
    bad-json --match '^/authZ/'
fault_case "duplicate keys (authorization)" "authZ/.*duplicate object key" \
    "fault proxy: an authorization with \"status\" twice" "$UNCHANGED" \
    body --match '^/authZ/' \
    --body '{"status": "pending", "status": "valid", "identifier": {"type": "dns", "value": "base.example"}, "challenges": []}'
python3 -c 'import sys; sys.stdout.write("[" * 100000 + "]" * 100000)' >"$LAB_DIR/deep.json"
fault_case "deep nesting (newOrder)" "order-plz.*malformed JSON" \
    "fault proxy: newOrder answered with 100,000 nested arrays" "$UNCHANGED" \
    body --match '^/order-plz' --body-file "$LAB_DIR/deep.json"
fault_case "\\u0000 in a string (directory)" "/dir.*malformed JSON" \
    "fault proxy: the directory's newNonce URL holds \\u0000" "$UNCHANGED" \
    body --match '^/dir$' \
    --body '{"newNonce": "https://127.0.0.1/nonce\u0000x", "newAccount": "https://127.0.0.1/a", "newOrder": "https://127.0.0.1/o"}'
fault_case "wrong type: challenges a number (authorization)" "authZ/.*challenges" \
    "fault proxy: the authorization's \"challenges\": 7" "$UNCHANGED" \
    json-set --match '^/authZ/' --set challenges=7
fault_case "wrong type: status a number (order)" "order-plz.*status" \
    "fault proxy: newOrder's \"status\": 42" "$UNCHANGED" \
    json-set --match '^/order-plz' --set status=42
fault_case "a 2 MiB body (authorization)" "authZ/.*exceeds [0-9]+ bytes" \
    "fault proxy: the authorization's answer 2 MiB long" "$UNCHANGED" \
    huge-body --match '^/authZ/' --size $((2 * 1024 * 1024))

# ---- hostile tokens -----------------------------------------------------------------------------------
long=$(head -c 2000 /dev/zero | tr '\0' a)
for tok in '../x' 'a/b' '' 'YWJj=' "$long"; do
    label=$tok
    [ -n "$tok" ] || label="(empty)"
    [ "${#tok}" -lt 100 ] || label="2,000 characters"
    fault_case "token $label" "not base64url" \
        "fault proxy: every challenge's token replaced by $label" "$UNCHANGED, nothing written" \
        bad-token --token "$tok"
    t_check "token $label: nothing outside the webroot's challenge dir" \
        '[ ! -e "$LAB_WEBROOT/.well-known/x" ] && [ ! -e "$LAB_WEBROOT/.well-known/acme-challenge/a" ] && [ ! -e "$LAB_WEBROOT/x" ]'
done

# ---- hostile certificate chains (the CA issued; nacme refuses what it sent) -----------------------
NEWVER="previous certificate live, nothing archived"
fault_case "chain with a PRIVATE KEY block appended" \
    "base.example: certificate chain holds a PRIVATE KEY block" \
    "fault proxy appends a PEM PRIVATE KEY to the certificate download" "$NEWVER" \
    chain --chain append-key
fault_case "chain in DER" "base.example: certificate chain holds no certificate" \
    "fault proxy answers the download with the leaf in DER" "$NEWVER" chain --chain der
fault_case "empty chain" "base.example: certificate chain holds no certificate" \
    "fault proxy answers the download with no body" "$NEWVER" chain --chain empty
fault_case "a leaf for another key and other names" \
    "base.example: certificate does not match the private key" \
    "fault proxy answers the download with other.example's chain" "$NEWVER" \
    chain --chain file --chain-file "$S/live/other.example/fullchain.pem"

# ---- orders ----------------------------------------------------------------------------------------------
start=$(date +%s)
fresh_proxy json-set --match '^/(my-order|finalize-order)/' --set status='"processing"'
t_status "an order that stays processing: exit 1" 1 via_proxy issue --force --timeout 5 -d base.example
OUT=$T_OUTPUT
took=$(($(date +%s) - start))
t_check "one line naming the order and the wait" \
    '[ "$(printf "%s\n" "$OUT" | wc -l)" = 1 ] &&
     printf "%s" "$OUT" | grep -q "^nacme: base.example: timed out after 5 s waiting for the certificate"'
t_check "it gave up at --timeout 5 (took $took s)" '[ "$took" -ge 5 ] && [ "$took" -le 20 ]'
t_check "state dir unchanged, no token file" '[ "$before" = "$(snapshot)" ] && [ -z "$(tokens)" ]'
t_case "an order that stays processing" "fault proxy: every order answer \"status\": \"processing\", --timeout 5" \
    "exit 1 at the deadline: $OUT; $UNCHANGED"
fault_case "an order that turns invalid" "base.example: .*invalid.*badCSR|badCSR.*invalid" \
    "fault proxy: finalize answers the order \"invalid\" with an error badCSR" "$UNCHANGED" \
    json-set --match '^/finalize-order/' --set status='"invalid"' \
    --set error='{"type": "urn:ietf:params:acme:error:badCSR", "detail": "injected by faultproxy"}'

fresh_proxy problem --match '^/finalize-order/' --count 1 --status 403 \
    --problem-type urn:ietf:params:acme:error:orderNotReady --detail "not ready yet"
t_ok "finalize answered orderNotReady once: issued" via_proxy -v issue --force -d base.example
t_check "it waited for the order and finalized again (2 finalize POSTs)" \
    '[ "$(count "^POST /finalize-order/")" = 2 ] && printf "%s" "$T_OUTPUT" | grep -q "not ready"'
t_check "a new version live and whole" \
    '[ "$(live_version)" != "$BASEVER" ] && [ "$(openssl x509 -noout -pubkey -in "$S/live/base.example/cert.pem")" = "$(openssl pkey -pubout -in "$S/live/base.example/privkey.pem")" ]'
t_case "orderNotReady at finalize" "fault proxy: the first finalize answered 403 orderNotReady" \
    "exit 0: waited for the order to be ready, finalized again, installed"

# ---- and with the CA behaving again, everything completes ------------------------------------------
proxy_up pass
t_ok "the next run with the CA behaving: issued" via_proxy issue --force -d base.example
t_check "a new version live, no temp files" \
    '[ "$(live_version)" != "$BASEVER" ] && [ -z "$(find "$S" -name ".*")" ] && [ -z "$(tokens)" ]'
t_done
