#!/usr/bin/env bash
# What goes wrong at the CA reaches the user as one line with the CA's problem, and nothing
# half-written is left: a name nginx does not serve, Pebble rejecting half the nonces, EAB.
set -u
. "$NACME_SRC/tests/lab/lib.sh"

lab_up LAB_NONCEREJECT=50
S=$LAB_DIR/state
t_ok "issuance succeeds with half the nonces rejected" lab_nacme -v --agree-tos issue -d nonce.example
t_check "badNonce was seen and retried" 'printf "%s" "$T_OUTPUT" | grep -q "rejected the nonce"'
t_ok "a second certificate too" lab_nacme --agree-tos issue -d nonce2.example -d www.nonce2.example
t_case "nonce churn, 50 % rejected" "PEBBLE_WFE_NONCEREJECT=50, two issues" \
    "exit 0: the refused requests retried (t_cafaults checks that each retry carries the refusal's nonce)"

lab_up
S=$LAB_DIR/state
t_ok "first a good certificate" lab_nacme --agree-tos issue -d good.example
# With the preflight off, so that the CA's own verdict is what reaches the user (t_preflight.sh
# has the same names stopped before the CA is asked).
t_status "a name nginx does not serve fails at the CA with exit 1" 1 lab_nacme --agree-tos \
    --no-preflight issue --cert-name good.example -d good.example -d bad.unserved.test
OUT=$T_OUTPUT
t_check "the error is one line" '[ "$(printf "%s\n" "$OUT" | grep -c "^nacme: ")" = 1 ]'
t_check "it names the domain and the CA's problem type" \
    'printf "%s" "$OUT" | grep -q "bad.unserved.test.*urn:ietf:params:acme:error:unauthorized"'
t_check "the previous certificate stays live" \
    '[ "$(readlink "$S/live/good.example")" = ../archive/good.example/1 ] && [ ! -e "$S/archive/good.example/2" ]'
t_check "lineage.json still lists the old names" 'grep -q "good.example" "$S/archive/good.example/lineage.json" && ! grep -q unserved "$S/archive/good.example/lineage.json"'
t_check "no token files are left" '[ -z "$(ls -A "$LAB_WEBROOT/.well-known/acme-challenge")" ]'
t_check "no temp files are left" '[ -z "$(find "$S" -name ".*")" ]'
t_case "a name the CA cannot validate" "issue --no-preflight -d good.example -d bad.unserved.test (no server block for it)" \
    "exit 1: $(printf "%s\n" "$OUT" | grep "^nacme: "); previous certificate live, lineage.json unchanged, no token or temp file"
t_status "a new name nginx does not serve: exit 1" 1 lab_nacme --agree-tos --no-preflight issue \
    -d only.unserved.test
t_check "nothing under live/ for it" '[ ! -e "$S/live/only.unserved.test" ] && [ ! -e "$S/archive/only.unserved.test/1" ]'

t_status "no --agree-tos at a CA with terms: exit 2" 2 \
    "$NACME" --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$LAB_DIR/fresh" \
    --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" issue -d tos.example
t_check "says to read the terms and add --agree-tos" 'printf "%s" "$T_OUTPUT" | grep -q -- "--agree-tos"'

lab_up LAB_EAB=1
t_status "EAB required, none given: exit 2" 2 lab_nacme --agree-tos issue -d eab.example
t_check "says EAB is required" 'printf "%s" "$T_OUTPUT" | grep -q "External Account Binding"'
t_status "wrong EAB MAC key: exit 1" 1 lab_nacme --agree-tos --eab-kid "$LAB_EAB_KID" \
    --eab-hmac-key "AAAA${LAB_EAB_HMAC:4}" issue -d eab.example
t_check "the CA's problem is shown" 'printf "%s" "$T_OUTPUT" | grep -q "urn:ietf:params:acme:error"'
t_status "unknown EAB kid: exit 1" 1 lab_nacme --agree-tos --eab-kid nosuchkid \
    --eab-hmac-key "$LAB_EAB_HMAC" issue -d eab.example
t_ok "right EAB credentials" lab_nacme --agree-tos --eab-kid "$LAB_EAB_KID" \
    --eab-hmac-key "$LAB_EAB_HMAC" issue -d eab.example
t_check "certificate issued" '[ -f "$LAB_DIR/state/live/eab.example/fullchain.pem" ]'
t_ok "the account is reused without EAB afterwards" lab_nacme --agree-tos issue -d eab2.example
t_done
