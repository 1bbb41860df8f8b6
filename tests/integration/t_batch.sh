#!/usr/bin/env bash
# Many certificates in one run (issue --separate): 50 names all issued and stored; Pebble rejecting
# half the nonces while orders run concurrently; a batch where some names are not served (those
# fail with the CA's problem (preflight off), the rest succeed, nothing half-written); SIGINT in the middle of a
# batch (every finished lineage whole, no temp or token files, the rest not attempted).
set -u
. "$NACME_SRC/tests/lab/lib.sh"

names() { local p=$1 n=$2 i; for i in $(seq 1 "$n"); do printf -- '-d %s%d.example ' "$p" "$i"; done; }
tokens() { ls -A "$LAB_WEBROOT/.well-known/acme-challenge" 2>/dev/null; }
# whole NAME: live/NAME is a link to a version with the four files, the certificate for NAME,
# matching the key and chaining to Pebble's root.
whole() {
    local d=$S/live/$1
    [ -L "$S/live/$1" ] && for f in cert chain fullchain privkey; do [ -s "$d/$f.pem" ] || return 1; done &&
        openssl x509 -in "$d/cert.pem" -noout -checkhost "$1" | grep -q "does match" &&
        [ "$(openssl x509 -in "$d/cert.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)" = \
          "$(openssl pkey -in "$d/privkey.pem" -pubout -outform DER | sha256sum)" ] &&
        openssl verify -CAfile "$LAB_PEBBLE_ROOT" -untrusted "$d/chain.pem" "$d/cert.pem" >/dev/null
}
all_whole() { local n; for n in "$@"; do whole "$n" || { echo "not whole: $n"; return 1; }; done; }
live_names() { ls "$S/live" 2>/dev/null; }

# shellcheck disable=SC2046
t_batch_ok "50 names, one certificate each, in one run" LAB_AUTHZREUSE=0 \
    --agree-tos issue --separate $(names b 50)
OUT=$T_OUTPUT
t_check "50 lineages under live/" '[ "$(live_names | wc -l)" = 50 ]'
t_check "every one whole: four files, its name, its key, Pebble's chain" 'all_whole $(live_names)'
t_check "the summary lists every name as issued" \
    '[ "$(printf "%s\n" "$OUT" | grep -cE "^b[0-9]+\.example +issued")" = 50 ]'
t_check "and counts them" 'printf "%s" "$OUT" | grep -q "50 certificates in .*: 50 issued, 0 unchanged, 0 failed"'
t_check "progress: one line per certificate when stderr is not a terminal" \
    '[ "$(printf "%s\n" "$OUT" | grep -cE "^\[[0-9]+/50\] b[0-9]+\.example: issued")" = 50 ]'
t_check "one account for the whole run" '[ "$(ls "$S/accounts" | wc -l)" = 1 ]'
t_check "no token files are left" '[ -z "$(tokens)" ]'

# shellcheck disable=SC2046
t_ok "the same batch again with --json: nothing due" lab_nacme --json issue --separate $(names b 50)
t_check "a JSON array of 50 results, all unchanged, none asking the CA" \
    'printf "%s\n" "$T_OUTPUT" | grep "^\[{" | python3 -c "
import json, sys
a = json.load(sys.stdin)
assert len(a) == 50 and all(o[\"result\"] == \"unchanged\" and o[\"requests\"] == 0 for o in a), a"'

# shellcheck disable=SC2046
t_status "a batch that cannot set up its account (terms not agreed): exit 2" 2 "$NACME" \
    --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$LAB_DIR/fresh" \
    --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" issue --separate $(names t 20)
t_check "one line, said once, not once per name" \
    '[ "$(printf "%s\n" "$T_OUTPUT" | wc -l)" = 1 ] && printf "%s" "$T_OUTPUT" | grep -q "^nacme: .*--agree-tos"'

# shellcheck disable=SC2046
t_batch_ok "20 names concurrently with half the nonces rejected" \
    "LAB_NONCEREJECT=50 LAB_AUTHZREUSE=0" -v --agree-tos issue --separate --parallel 10 $(names n 20)
t_check "badNonce was seen and retried" 'printf "%s" "$T_OUTPUT" | grep -q "rejected the nonce"'
t_check "all 20 whole" '[ "$(live_names | wc -l)" = 20 ] && all_whole $(live_names)'
t_case "nonce churn under concurrency" "PEBBLE_WFE_NONCEREJECT=50, issue --separate --parallel 10 with 20 names" \
    "exit 0: all 20 issued and whole"

lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
# The preflight off: this is about the CA's problems reaching the summary (t_preflight.sh has a
# batch stopped by it).
t_status "a batch with 3 names nginx does not serve: exit 1" 1 lab_nacme --agree-tos --no-preflight \
    issue --separate \
    -d m1.example -d x1.unserved.test -d m2.example -d x2.unserved.test -d m3.example \
    -d x3.unserved.test -d m4.example
OUT=$T_OUTPUT
t_check "the 4 served names are issued and whole" \
    '[ "$(live_names | tr "\n" " ")" = "m1.example m2.example m3.example m4.example " ] && all_whole $(live_names)'
t_check "the summary gives each failure the CA's problem type" \
    '[ "$(printf "%s\n" "$OUT" | grep -cE "^x[1-3]\.unserved\.test +failed .*urn:ietf:params:acme:error:unauthorized")" = 3 ]'
t_check "the last line counts the failures" \
    '[ "$(printf "%s\n" "$OUT" | grep "^nacme: " | tail -1 | grep -c "^nacme: 3 of 7 certificates failed; the first: x1.unserved.test: ")" = 1 ]'
t_check "nothing archived for the failed names" '[ -z "$(ls "$S/archive" | grep unserved)" ]'
t_check "no temp files, no tokens" '[ -z "$(find "$S" -name ".*")" ] && [ -z "$(tokens)" ]'
t_case "a batch with names the CA cannot validate" \
    "issue --separate --no-preflight, 4 served names and 3 without a server block" \
    "exit 1: the 4 issued and whole, each of the 3 failed with the CA's unauthorized problem in the summary, nothing archived for them, no temp or token file"
t_status "--json: the same batch reports failures as JSON objects, exit 1" 1 lab_nacme --json \
    --no-preflight issue --separate -d m1.example -d x1.unserved.test
t_check "with the CA's problem type" 'printf "%s\n" "$T_OUTPUT" | grep "^\[{" | python3 -c "
import json, sys
a = {o[\"name\"]: o for o in json.load(sys.stdin)}
assert a[\"m1.example\"][\"result\"] == \"unchanged\", a
x = a[\"x1.unserved.test\"]
assert x[\"result\"] == \"failed\" and x[\"problem\"] == \"urn:ietf:params:acme:error:unauthorized\", x
assert x[\"error\"].startswith(\"x1.unserved.test: \"), x"'

# SIGINT in the middle: the first 3 challenge requests hang in the proxy, the other workers keep
# finishing certificates; once some are done, interrupt.
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
proxy_up delay --match '/chalZ/' --count 3 --delay 60
out=$LAB_DIR/interrupt.out
# bash starts background jobs with SIGINT ignored; give nacme the default disposition back.
# shellcheck disable=SC2046
python3 -c 'import os,signal,sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
    "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" \
    --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" --agree-tos issue --separate --parallel 6 \
    $(names i 60) >"$out" 2>&1 &
pid=$!
for _ in $(seq 300); do [ "$(live_names | wc -l)" -ge 8 ] && break; sleep 0.05; done
start=$(date +%s%N)
kill -INT "$pid"
wait "$pid"
STATUS=$?
ELAPSED_MS=$((($(date +%s%N) - start) / 1000000))
OUT=$(cat "$out")
done_before=$(live_names | wc -l)
t_check "SIGINT mid-batch: exit 1 (got $STATUS)" '[ "$STATUS" = 1 ]'
t_check "stopped within 3 s (took $ELAPSED_MS ms)" '[ "$ELAPSED_MS" -lt 3000 ]'
t_check "some certificates were finished ($done_before), not all" \
    '[ "$done_before" -ge 8 ] && [ "$done_before" -lt 60 ]'
t_check "every finished lineage is whole" 'all_whole $(live_names)'
t_check "no half-written version: every archive dir is a live one" \
    '[ "$(ls "$S/archive" | sort)" = "$(live_names | sort)" ]'
t_check "no temp files, no tokens" '[ -z "$(find "$S" -name ".*")" ] && [ -z "$(tokens)" ]'
t_check "the names never started are reported as not attempted" \
    'printf "%s" "$OUT" | grep -qE "^i[0-9]+\.example +failed +i[0-9]+\.example: not attempted: interrupted"'
t_check "the hanging orders say they were interrupted" \
    '[ "$(printf "%s\n" "$OUT" | grep -cE "^i[0-9]+\.example +failed +i[0-9]+\.example: .*interrupted by")" -ge 3 ]'
t_check "the last line says how many failed" \
    'printf "%s\n" "$OUT" | tail -1 | grep -qE "^nacme: [0-9]+ of 60 certificates failed"'
proxy_down
# shellcheck disable=SC2046
t_ok "the next run completes the batch" lab_nacme --agree-tos issue --separate $(names i 60)
t_check "all 60 whole" '[ "$(live_names | wc -l)" = 60 ] && all_whole $(live_names)'
t_case "SIGINT during a batch" "kill -INT once 8 of 60 certificates (--parallel 6) are done, 3 challenges held by the fault proxy" \
    "exit 1 within 3 s: finished lineages whole, no half-written version, no temp or token file; hanging orders \"interrupted by\", the rest \"not attempted\"; the next run completes the batch"
t_done
