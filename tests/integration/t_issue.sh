#!/usr/bin/env bash
# End to end against the real Pebble and nginx: one name, several names, the second run a no-op,
# --force, what lands on disk and with which modes, and nginx serving the result over HTTPS.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up
S=$LAB_DIR/state
umask 077 # the modes below must not depend on the caller's umask

t_ok "issue one name" lab_nacme --agree-tos --email admin@example.com issue -d one.example
t_check "live/one.example is a symlink to archive version 1" \
    '[ "$(readlink "$S/live/one.example")" = ../archive/one.example/1 ]'
for f in cert chain fullchain privkey; do
    t_check "$f.pem is a regular file" '[ -f "$S/live/one.example/'$f'.pem" ] && [ ! -L "$S/archive/one.example/1/'$f'.pem" ]'
done
t_check "privkey.pem is 0600" '[ "$(stat -c %a "$S/archive/one.example/1/privkey.pem")" = 600 ]'
t_check "cert.pem is 0644" '[ "$(stat -c %a "$S/archive/one.example/1/cert.pem")" = 644 ]'
t_check "state dir is 0700" '[ "$(stat -c %a "$S")" = 700 ]'
t_check "archive version dir is 0700" '[ "$(stat -c %a "$S/archive/one.example/1")" = 700 ]'
t_check "account key is 0600" '[ "$(stat -c %a "$S"/accounts/*/account.key)" = 600 ]'
t_check "the key matches the certificate" \
    '[ "$(openssl x509 -noout -pubkey -in "$S/live/one.example/cert.pem")" = "$(openssl pkey -pubout -in "$S/live/one.example/privkey.pem")" ]'
t_check "the key is ECDSA P-256 by default" \
    'openssl pkey -noout -text -in "$S/live/one.example/privkey.pem" | grep -q "prime256v1\|P-256"'
t_check "fullchain = cert + chain" \
    '[ "$(cat "$S/live/one.example/cert.pem" "$S/live/one.example/chain.pem")" = "$(cat "$S/live/one.example/fullchain.pem")" ]'
t_check "the chain verifies against Pebble's root" \
    'openssl verify -CAfile "$LAB_PEBBLE_ROOT" -untrusted "$S/live/one.example/chain.pem" "$S/live/one.example/cert.pem"'
t_check "the certificate names one.example" \
    'openssl x509 -noout -ext subjectAltName -in "$S/live/one.example/cert.pem" | grep -q "DNS:one.example"'
t_check "no token files are left in the webroot" \
    '[ -z "$(ls -A "$LAB_WEBROOT/.well-known/acme-challenge" 2>/dev/null)" ]'
t_check "no temp files are left in the state dir" '[ -z "$(find "$S" -name ".*")" ]'
t_check "lineage.json records names, key type and server" \
    'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"domains\"]==[\"one.example\"] and d[\"key_type\"]==\"ec256\" and d[\"server\"]==sys.argv[2]" "$S/archive/one.example/lineage.json" "$LAB_ACME_URL"'
t_ok "nginx serves it over HTTPS, verified against Pebble's root" lab_serve one.example "$S/live/one.example"

# Second run: nothing to do, says so, changes nothing, and does not talk to the CA.
before=$(find "$S" -path "$S/lock" -prune -o -printf '%p %T@\n' | sort)
t_ok "a second run succeeds" lab_nacme --agree-tos issue -d one.example
t_check "and says there is nothing to do" 'printf "%s" "$T_OUTPUT" | grep -q "nothing to do"'
t_check "and changes nothing in the state dir" '[ "$before" = "$(find "$S" -path "$S/lock" -prune -o -printf "%p %T@\n" | sort)" ]'
t_ok "--json on a no-op run" lab_nacme --json --agree-tos issue -d one.example
t_check "reports unchanged and 0 requests" \
    'printf "%s" "$T_OUTPUT" | python3 -c "import json,sys; d=json.loads(sys.stdin.read().splitlines()[-1]); assert d[\"result\"]==\"unchanged\" and d[\"requests\"]==0, d"'

t_ok "--force issues a new version" lab_nacme --agree-tos issue --force -d one.example
t_check "live/one.example now points at version 2" \
    '[ "$(readlink "$S/live/one.example")" = ../archive/one.example/2 ]'
t_check "version 1 is kept" '[ -f "$S/archive/one.example/1/cert.pem" ]'
t_check "the new certificate differs" \
    '! cmp -s "$S/archive/one.example/1/cert.pem" "$S/archive/one.example/2/cert.pem"'

t_ok "several names on one certificate, RSA key, --json" \
    lab_nacme --json --agree-tos issue -d multi.example -d www.multi.example -d API.Multi.Example --key-type rsa2048
t_check "JSON result says issued with the three names" \
    'printf "%s" "$T_OUTPUT" | python3 -c "import json,sys; d=json.loads(sys.stdin.read().splitlines()[-1]); assert d[\"result\"]==\"issued\" and sorted(d[\"domains\"])==[\"api.multi.example\",\"multi.example\",\"www.multi.example\"], d"'
t_check "the certificate holds all three names" \
    '[ "$(openssl x509 -noout -ext subjectAltName -in "$S/live/multi.example/cert.pem" | grep -o "DNS:[a-z.]*" | sort | tr "\n" " ")" = "DNS:api.multi.example DNS:multi.example DNS:www.multi.example " ]'
t_check "the key is RSA 2048" \
    'openssl pkey -noout -text -in "$S/live/multi.example/privkey.pem" | grep -q "2048 bit"'
t_ok "--cert-name names the lineage" lab_nacme --agree-tos issue --cert-name site1 -d site1.example -d alias.example
t_check "live/site1 exists" '[ -f "$S/live/site1/fullchain.pem" ]'
t_check "the account was reused: one account for the CA" '[ "$(ls "$S/accounts" | wc -l)" = 1 ]'

# An existing RSA account key (say, moved from another client) signs with RS256; a key without a
# recorded URL finds its account with onlyReturnExisting instead of creating a second one.
ca_id=$(ls "$S/accounts")
R=$LAB_DIR/rsa-state
mkdir -p "$R/accounts/$ca_id" && chmod 700 "$R" "$R/accounts" "$R/accounts/$ca_id"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$R/accounts/$ca_id/account.key" 2>/dev/null
chmod 600 "$R/accounts/$ca_id/account.key"
rsa_nacme() { "$NACME" --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$R" --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" --agree-tos "$@"; }
t_ok "an existing RSA account key is used (RS256)" rsa_nacme -vv issue -d rsa-account.example
t_check "it asked for an existing account, then created one: two newAccount requests" \
    '[ "$(printf "%s" "$T_OUTPUT" | grep -c "^POST .*/sign-me-up ")" = 2 ]'
t_check "the account URL was recorded" 'grep -q "\"url\"" "$R/accounts/$ca_id/account.json"'
url1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$R/accounts/$ca_id/account.json")
python3 - "$R/accounts/$ca_id/account.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d.pop("url"); json.dump(d, open(sys.argv[1], "w"))
PY
t_ok "the same key without a recorded URL" rsa_nacme -vv issue -d rsa-account2.example
t_check "one newAccount request (the lookup)" '[ "$(printf "%s" "$T_OUTPUT" | grep -c "^POST .*/sign-me-up ")" = 1 ]'
t_check "finds the same account (onlyReturnExisting)" \
    '[ "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[\"url\"])" "$R/accounts/$ca_id/account.json")" = "$url1" ]'
t_done
