#!/usr/bin/env bash
# Short-lived certificates on the real clock (no NACME_NOW): Pebble issues 40-second certificates
# (LAB_CERT_VALIDITY), due at half their lifetime; renew leaves one alone before that moment and
# renews it once the moment has passed.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0 LAB_CERT_VALIDITY=40
S=$LAB_DIR/state
field() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("renewal", {}).get(sys.argv[2], ""))' \
        "$S/archive/$1/lineage.json" "$2"
}
ver() { readlink "$S/live/$1" | sed 's|.*/||'; }

t_ok "a 40-second certificate" lab_nacme --agree-tos issue -d short.example
life() {
    local c=$S/live/$1/cert.pem
    echo $(($(date -d "$(openssl x509 -in "$c" -noout -enddate | cut -d= -f2)" +%s) -
        $(date -d "$(openssl x509 -in "$c" -noout -startdate | cut -d= -f2)" +%s)))
}
t_check "Pebble made it 40 seconds long" '[ "$(life short.example)" -ge 39 ] && [ "$(life short.example)" -le 41 ]'
t_ok "renew at once: not due" lab_nacme renew --no-reload
t_check "it says not due, by the lifetime rule" \
    'printf "%s" "$T_OUTPUT" | grep -q "^short.example: not due, renewing at .* (lifetime rule)"'
at=$(field short.example next_renewal)
t_check "due at half the lifetime" \
    '[ "$at" = $(( $(field short.example not_after) - ($(field short.example not_after) - $(field short.example not_before)) / 2 )) ]'
while [ "$(date +%s)" -le "$at" ]; do sleep 0.5; done
t_ok "after that moment: renewed" lab_nacme renew --no-reload
t_check "it says renewed; version 2" \
    'printf "%s" "$T_OUTPUT" | grep -q "^short.example: renewed" && [ "$(ver short.example)" = 2 ]'
t_done
