#!/usr/bin/env bash
# ACME profiles (draft-ietf-acme-profiles). Neither Debian 12's Pebble 2.4 nor Debian 13's 2.6 (the
# lab's LAB_PEBBLE=newer) offers profiles (they came with Pebble 2.7), so the fault proxy adds
# meta.profiles to Pebble's directory and logs the "profile" of every newOrder payload; Pebble 2.4
# ignores the member it does not know. Cases: the profile sent and recorded; an unknown name refused
# with the CA's list and no newOrder sent; a CA without profiles; renew keeps the profile; list
# shows it; the configuration's profile; an order naming another profile warns.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up
S=$LAB_DIR/state
LOG=$LAB_DIR/proxy.log
orders() { grep -c '^POST /order-plz ' "$LOG"; }
record() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("profile", "-"))' \
        "$S/archive/$1/lineage.json"
}

proxy_up pass --profiles '{"classic": "90 days", "shortlived": "https://ca.example/docs#6-days"}'
t_ok "issue --profile shortlived through a CA offering classic and shortlived" \
    proxy_nacme --agree-tos --json issue -d prof.example --profile shortlived
json=$(printf "%s\n" "$T_OUTPUT" | tail -n 1)
t_check "newOrder carried \"profile\": \"shortlived\"" \
    'grep -q "^POST /order-plz 201 fault=n profile=shortlived$" "$LOG"'
t_check "--json says the profile" \
    '[ "$(printf "%s" "$json" | jq -r ".result + \" \" + .profile")" = "issued shortlived" ]'
t_check "lineage.json records it" '[ "$(record prof.example)" = shortlived ]'

: >"$LOG"
t_status "an unknown profile is a usage error" 2 \
    proxy_nacme --agree-tos issue -d other.example --profile tlsserver
t_check "one line naming the name and listing the CA's profiles" \
    '[ "$(printf "%s\n" "$T_OUTPUT" | grep -c .)" = 1 ] &&
     printf "%s" "$T_OUTPUT" | grep -q "profile \"tlsserver\": $PROXY_URL does not offer it; it offers classic, shortlived$"'
t_check "no newOrder was sent (only the directory was fetched)" \
    '[ "$(orders)" = 0 ] && grep -q "^GET /dir " "$LOG"'
t_check "no lineage was made" '[ ! -e "$S/archive/other.example" ]'
# On a first run the refusal comes before the account: no key made, no newAccount sent.
F=$LAB_DIR/fresh-state
fresh_nacme() { "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$F" \
    --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" "$@"; }
: >"$LOG"
t_status "an unknown profile on a fresh state dir is a usage error" 2 \
    fresh_nacme --agree-tos issue -d fresh.example --profile tlsserver
t_check "naming the CA's profiles" \
    'printf "%s" "$T_OUTPUT" | grep -q "profile \"tlsserver\": $PROXY_URL does not offer it"'
t_check "no newAccount (POST /sign-me-up) was sent, only the directory fetched" \
    '! grep -q "^POST /sign-me-up " "$LOG" && grep -q "^GET /dir " "$LOG"'
t_check "no account key or account dir was made" '[ -z "$(ls -A "$F/accounts" 2>/dev/null)" ]'
: >"$LOG"
t_status "the same for --separate: every order refused on the directory alone (exit 1)" 1 \
    fresh_nacme --agree-tos issue --separate -d f1.example -d f2.example --profile tlsserver
t_check "no newAccount, no account dir" \
    '! grep -q "^POST /sign-me-up " "$LOG" && [ -z "$(ls -A "$F/accounts" 2>/dev/null)" ]'
t_status "a name no CA could offer is refused before the CA is asked" 2 \
    proxy_nacme --agree-tos issue -d other.example --profile "short lived"
t_check "naming --profile" 'printf "%s" "$T_OUTPUT" | grep -q -- "--profile: give the name"'

t_status "a CA offering no profiles (Pebble itself)" 2 \
    lab_nacme --agree-tos issue -d plain.example --profile shortlived
t_check "says the CA offers none" \
    'printf "%s" "$T_OUTPUT" | grep -q "profile \"shortlived\": $LAB_ACME_URL offers no certificate profiles"'
t_ok "without --profile the same CA issues" lab_nacme --agree-tos issue -d plain.example
t_check "and records no profile" '[ "$(record plain.example)" = - ]'

: >"$LOG"
t_ok "renew --force keeps the recorded profile" proxy_nacme renew --force --no-reload \
    --cert-name prof.example
t_check "its newOrder carried profile=shortlived" \
    '[ "$(grep -c "^POST /order-plz 201 fault=n replaces=[^ ]* profile=shortlived$" "$LOG")" = 1 ]'
t_check "version 2, still recorded" \
    '[ "$(readlink "$S/live/prof.example")" = ../archive/prof.example/2 ] && [ "$(record prof.example)" = shortlived ]'
: >"$LOG"
t_ok "renew --profile classic replaces it" proxy_nacme --json renew --force --no-reload \
    --cert-name prof.example --profile classic
t_check "renew --json says the profile now recorded" \
    'printf "%s\n" "$T_OUTPUT" | grep "^\[" | jq -e ".[0].result == \"renewed\" and .[0].profile == \"classic\""'
t_check "newOrder carried profile=classic, and it is recorded" \
    'grep -q "^POST /order-plz 201 fault=n replaces=[^ ]* profile=classic$" "$LOG" &&
     [ "$(record prof.example)" = classic ]'

t_ok "list --json" "$NACME" --state-dir "$S" --json list
t_check "shows the profile of each lineage (null when none)" \
    '[ "$(printf "%s" "$T_OUTPUT" | jq -r "map(\"\(.name)=\(.profile)\") | join(\" \")")" = "plain.example=null prof.example=classic" ]'
t_ok "list" "$NACME" --state-dir "$S" list
t_check "the table says profile classic" \
    'printf "%s\n" "$T_OUTPUT" | grep -q "^prof.example .* prof.example profile classic$"'

# nacme.conf's profile: for new certificates, and for lineages that record none.
C=$LAB_DIR/nacme.conf
printf 'profile = "shortlived"\n' >"$C"
: >"$LOG"
t_ok "issue with the configuration's profile" proxy_nacme --config "$C" --agree-tos issue -d conf.example
t_check "sent and recorded" \
    'grep -q "^POST /order-plz 201 fault=n profile=shortlived$" "$LOG" && [ "$(record conf.example)" = shortlived ]'
printf 'profile = "short lived"\n' >"$C"
t_status "a configured profile that is no name" 2 proxy_nacme --config "$C" list
t_check "names the file and line" 'printf "%s" "$T_OUTPUT" | grep -q "$C:1: profile \"short lived\""'

# A CA that applies another profile than the one asked for: a warning, the certificate installed.
proxy_up pass --profiles '{"classic": "", "shortlived": ""}' --order-profile classic
t_ok "an order naming another profile" \
    proxy_nacme --agree-tos issue -d warn.example --profile shortlived
t_check "warns, naming both" \
    'printf "%s" "$T_OUTPUT" | grep -q "^warn.example: warning: asked $PROXY_URL for profile \"shortlived\", the order says profile \"classic\"$"'
t_check "the certificate is live all the same" '[ -f "$S/live/warn.example/cert.pem" ]'
t_ok "-q still shows the warning" proxy_nacme -q --agree-tos issue --force -d warn.example \
    --profile shortlived
t_check "once" '[ "$(printf "%s\n" "$T_OUTPUT" | grep -c "warning: asked")" = 1 ]'
t_ok "the same profile: no warning" proxy_nacme --agree-tos issue --force -d warn.example \
    --profile classic
t_check "none" '! printf "%s" "$T_OUTPUT" | grep -q warning'
t_done
