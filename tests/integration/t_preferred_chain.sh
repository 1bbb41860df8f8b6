#!/usr/bin/env bash
# --preferred-chain against the real Pebble offering two alternate chains (PEBBLE_ALTERNATE_ROOTS=2):
# each root's chain picked by its name (the issuer CN of the chain's topmost certificate), checked
# with openssl verify against that root only; recorded so that renew picks it again; an unknown name
# keeps the default chain and says so at -v.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_ALTERNATE_ROOTS=2
S=$LAB_DIR/state
DUE=$(($(date +%s) + 4 * 365 * 86400)) # Pebble's certificates last 5 years: due after 3.3

cn_of() { openssl x509 -noout -subject -nameopt utf8,sep_comma_plus_space,space_eq -in "$1" |
    sed -n 's/^subject=.*CN = //p'; }
verifies() { # verifies NAME ROOT_INDEX: the installed chain leads to that root and no other
    openssl verify -CAfile "$LAB_DIR/root$2.pem" -untrusted "$S/live/$1/chain.pem" \
        "$S/live/$1/cert.pem" >/dev/null 2>&1
}
only_root() { # only_root NAME I: chains to root I and not to the other two
    local k
    for k in 0 1 2; do
        if [ "$k" = "$2" ]; then verifies "$1" "$k" || return 1; else ! verifies "$1" "$k" || return 1; fi
    done
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], "absent"))' \
    "$S/archive/$1/lineage.json" "$2"; }

for i in 0 1 2; do
    curl -sf --cacert "$LAB_CA_BUNDLE" -o "$LAB_DIR/root$i.pem" "$LAB_MGMT_URL/roots/$i" ||
        { echo "Bail out! cannot fetch $LAB_MGMT_URL/roots/$i"; exit 1; }
    CN[$i]=$(cn_of "$LAB_DIR/root$i.pem")
done
t_check "Pebble has three roots with three different names" \
    '[ -n "${CN[0]}" ] && [ "${CN[0]}" != "${CN[1]}" ] && [ "${CN[1]}" != "${CN[2]}" ] && [ "${CN[0]}" != "${CN[2]}" ]'

t_ok "without --preferred-chain" lab_nacme --agree-tos --email admin@example.com issue -d plain.example
t_check "the default chain leads to root 0 only" 'only_root plain.example 0'
t_check "lineage.json records no preferred chain" '[ "$(field plain.example preferred_chain)" = absent ]'

for i in 0 1 2; do
    t_ok "--preferred-chain \"${CN[$i]}\"" lab_nacme -v issue --preferred-chain "${CN[$i]}" -d "c$i.example"
    t_check "the installed chain leads to root $i only" "only_root c$i.example $i"
    t_check "fullchain = cert + chain" \
        '[ "$(cat "$S/live/c'$i'.example/cert.pem" "$S/live/c'$i'.example/chain.pem")" = "$(cat "$S/live/c'$i'.example/fullchain.pem")" ]'
    t_check "lineage.json records the name" '[ "$(field c'$i'.example preferred_chain)" = "${CN['$i']}" ]'
done

t_ok "renew when due" env NACME_NOW=$DUE "$NACME" --http-port "$LAB_HTTP_PORT" \
    --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" --webroot "$LAB_WEBROOT" \
    renew --no-reload --cert-name c2.example
t_check "renewed to version 2, again on root 2's chain" \
    '[ "$(readlink "$S/live/c2.example")" = ../archive/c2.example/2 ] && only_root c2.example 2'

t_ok "renew --force --preferred-chain switches a lineage to root 1" "$NACME" \
    --http-port "$LAB_HTTP_PORT" --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" \
    --state-dir "$S" --webroot "$LAB_WEBROOT" \
    renew --no-reload --force --preferred-chain "${CN[1]}" --cert-name c2.example
t_check "version 3 on root 1's chain, and recorded" \
    'only_root c2.example 1 && [ "$(field c2.example preferred_chain)" = "${CN[1]}" ]'

# nacme --json list shows what lineage.json records: the name, or null when there is none.
t_ok "--json list" lab_nacme --json list
t_check "list shows each lineage's preferred_chain, null without one" \
    'printf "%s" "$T_OUTPUT" | tail -n 1 | jq -e --arg c0 "${CN[0]}" --arg c1 "${CN[1]}" \
        "(map({key: .name, value: .preferred_chain}) | from_entries) as \$p |
         \$p[\"plain.example\"] == null and (.[] | select(.name == \"plain.example\") | has(\"preferred_chain\")) and
         \$p[\"c0.example\"] == \$c0 and \$p[\"c2.example\"] == \$c1"'

t_ok "an unknown name still issues" lab_nacme -v issue --preferred-chain "No Such Root CA" -d unknown.example
t_check "and -v says the default chain is kept" \
    'printf "%s" "$T_OUTPUT" | grep -q "none of the 3 chains offered tops out at a certificate issued by \"No Such Root CA\"; keeping the default chain"'
t_check "with the default chain (root 0)" 'only_root unknown.example 0'

t_status "an empty name is a usage error" 2 lab_nacme issue --preferred-chain "" -d bad.example
t_check "naming the option" 'printf "%s" "$T_OUTPUT" | grep -q -- "--preferred-chain: give the issuer"'
t_done
