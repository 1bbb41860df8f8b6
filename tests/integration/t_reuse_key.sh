#!/usr/bin/env bash
# --reuse-key against the real Pebble: the new version keeps the live key (and the certificate is
# for it), without it the key is fresh, renew repeats what lineage.json records, and a key type
# change together with --reuse-key is refused before any order.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up
S=$LAB_DIR/state
DUE=$(($(date +%s) + 4 * 365 * 86400)) # Pebble's certificates last 5 years: due after 3.3

pub() { openssl pkey -pubout -in "$S/archive/$1/$2/privkey.pem"; }
certpub() { openssl x509 -noout -pubkey -in "$S/archive/$1/$2/cert.pem"; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], "absent"))' \
    "$S/archive/$1/lineage.json" "$2"; }

t_ok "first issue with --reuse-key (no key yet: a fresh one)" \
    lab_nacme --agree-tos --email admin@example.com issue --reuse-key -d keep.example
t_check "lineage.json records reuse_key" '[ "$(field keep.example reuse_key)" = True ]'
list_reuse() { lab_nacme --json list --cert-name keep.example | jq -e ".[0].reuse_key == $1"; }
t_check "nacme --json list says reuse_key true" list_reuse true
t_ok "--force --reuse-key issues version 2" lab_nacme issue --force --reuse-key -d keep.example
t_check "version 2's key is byte-identical to version 1's" \
    'cmp -s "$S/archive/keep.example/1/privkey.pem" "$S/archive/keep.example/2/privkey.pem"'
t_check "version 2's certificate is new and for that key" \
    '! cmp -s "$S/archive/keep.example/1/cert.pem" "$S/archive/keep.example/2/cert.pem" &&
     [ "$(certpub keep.example 2)" = "$(pub keep.example 1)" ]'
t_check "version 2's privkey.pem is 0600" \
    '[ "$(stat -c %a "$S/archive/keep.example/2/privkey.pem")" = 600 ]'

t_ok "renew when due repeats the lineage's --reuse-key" \
    env NACME_NOW=$DUE "$NACME" --http-port "$LAB_HTTP_PORT" --server "$LAB_ACME_URL" \
    --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" --webroot "$LAB_WEBROOT" \
    renew --no-reload --cert-name keep.example
t_check "renew made version 3" '[ "$(readlink "$S/live/keep.example")" = ../archive/keep.example/3 ]'
t_check "version 3 keeps the key, its certificate matches it" \
    '[ "$(pub keep.example 3)" = "$(pub keep.example 1)" ] && [ "$(certpub keep.example 3)" = "$(pub keep.example 1)" ]'
t_check "lineage.json still records reuse_key" '[ "$(field keep.example reuse_key)" = True ]'

# A key type change cannot go with --reuse-key: refused before anything is ordered.
t_status "--reuse-key with another --key-type is a usage error" 2 \
    lab_nacme issue --force --reuse-key --key-type rsa2048 -d keep.example
t_check "one line naming the lineage, the two types and what to drop" \
    '[ "$(printf "%s\n" "$T_OUTPUT" | grep -c .)" = 1 ] &&
     printf "%s" "$T_OUTPUT" | grep -q "keep.example: --reuse-key keeps its ec256 key, so the key type cannot change to rsa2048; drop --reuse-key or --key-type"'
t_check "nothing new was installed" '[ "$(readlink "$S/live/keep.example")" = ../archive/keep.example/3 ]'

# The default: a fresh key each time, and issue without --reuse-key records that.
t_ok "--force without --reuse-key" lab_nacme issue --force -d keep.example
t_check "version 4's key differs, its certificate matches the new key" \
    '[ "$(pub keep.example 4)" != "$(pub keep.example 3)" ] && [ "$(certpub keep.example 4)" = "$(pub keep.example 4)" ]'
t_check "lineage.json no longer records reuse_key" '[ "$(field keep.example reuse_key)" = absent ]'
t_check "and nacme --json list says reuse_key false" list_reuse false
t_ok "renew when due then generates a fresh key" \
    env NACME_NOW=$DUE "$NACME" --http-port "$LAB_HTTP_PORT" --server "$LAB_ACME_URL" \
    --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" --webroot "$LAB_WEBROOT" \
    renew --no-reload --cert-name keep.example
t_check "version 5's key differs from version 4's" \
    '[ "$(readlink "$S/live/keep.example")" = ../archive/keep.example/5 ] && [ "$(pub keep.example 5)" != "$(pub keep.example 4)" ]'

# renew --reuse-key on a lineage that does not record it: this renewal keeps the key, and records it.
t_ok "renew --reuse-key --force" "$NACME" --http-port "$LAB_HTTP_PORT" --server "$LAB_ACME_URL" \
    --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" --webroot "$LAB_WEBROOT" \
    renew --no-reload --force --reuse-key --cert-name keep.example
t_check "version 6 keeps version 5's key and records reuse_key" \
    '[ "$(pub keep.example 6)" = "$(pub keep.example 5)" ] && [ "$(field keep.example reuse_key)" = True ]'

# An RSA lineage keeps its RSA key.
t_ok "RSA lineage with --reuse-key" lab_nacme issue --reuse-key --key-type rsa2048 -d rsa.example
t_ok "again with --force" lab_nacme issue --force --reuse-key --key-type rsa2048 -d rsa.example
t_check "the RSA key is kept" \
    'cmp -s "$S/archive/rsa.example/1/privkey.pem" "$S/archive/rsa.example/2/privkey.pem"'
t_done
