#!/usr/bin/env bash
# dns-01 against the real Pebble, with pebble-challtestsrv as the DNS Pebble asks: a hook
# (tests/lab/dns-hook.sh) sets and clears the TXT records through challtestsrv's management API
# and logs every call. One name; a wildcard with its base name in one certificate (two values for
# one record name, both added before either challenge starts); waiting for the resolver, and
# giving up on it, an interrupt; a failing and a slow hook; wildcards refused with http-01; --separate; the
# configuration keys; renew without flags; list --json.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
# Reused authorizations would skip the hook: every order here must meet its challenges.
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
HOOK=$NACME_SRC/tests/lab/dns-hook.sh
TXTQ=$NACME_SRC/tests/lab/txt-query.py
export DNS_HOOK_LOG=$LAB_DIR/dns-hook.log
RESOLVER=127.0.0.1:$LAB_DNS_PORT
dns_nacme() { lab_nacme --agree-tos --email admin@example.com "$@"; }
dns01() { dns_nacme issue --challenge dns-01 --dns-hook "$HOOK" "$@"; }
hook_log_reset() { rm -f "$DNS_HOOK_LOG" "$DNS_HOOK_LOG.state"; }
sans() { openssl x509 -noout -ext subjectAltName -in "$1" | grep -o 'DNS:[^, ]*' | sort | tr '\n' ' '; }

# What the hook relies on: challtestsrv's /set-txt adds a value beside those the name has (so a
# wildcard and its base name can both be answered), /clear-txt removes all of them.
api() { curl -fsS -o /dev/null -d "$2" "$LAB_CHALLTEST_MGMT_URL/$1"; }
api set-txt '{"host":"_acme-challenge.probe.example.","value":"one"}'
api set-txt '{"host":"_acme-challenge.probe.example.","value":"two"}'
t_check "challtestsrv: two set-txt for one name answer both values" \
    '[ "$(python3 "$TXTQ" _acme-challenge.probe.example "$LAB_DNS_PORT" | sort | tr "\n" " ")" = "one two " ]'
api clear-txt '{"host":"_acme-challenge.probe.example."}'
t_check "challtestsrv: clear-txt removes every value of the name" \
    '[ -z "$(python3 "$TXTQ" _acme-challenge.probe.example "$LAB_DNS_PORT")" ]'

# ---- one name ---------------------------------------------------------------------------------
hook_log_reset
t_ok "dns-01 for one name" dns01 -d one.example
t_check "the certificate names one.example" '[ "$(sans "$S/live/one.example/cert.pem")" = "DNS:one.example " ]'
t_check "the hook was called add, then remove, for _acme-challenge.one.example" \
    '[ "$(cut -d" " -f1,2,4 "$DNS_HOOK_LOG" | tr "\n" ";")" = "add _acme-challenge.one.example one.example;remove _acme-challenge.one.example one.example;" ]'
t_check "the value removed is the value added, 43 base64url characters" \
    '[ "$(awk "{print \$3}" "$DNS_HOOK_LOG" | sort -u | grep -cE "^[A-Za-z0-9_-]{43}$")" = 1 ]'
t_check "the record is gone from the DNS afterwards" \
    '[ -z "$(python3 "$TXTQ" _acme-challenge.one.example "$LAB_DNS_PORT")" ]'
t_check "no token file was written" '[ -z "$(ls -A "$LAB_WEBROOT/.well-known/acme-challenge" 2>/dev/null)" ]'
t_check "lineage.json records dns-01 and the hook" \
    '[ "$(jq -r "[.challenge, .dns_hook, .dns_resolver // \"none\"] | join(\" \")" "$S/archive/one.example/lineage.json")" = "dns-01 $HOOK none" ]'

# ---- a wildcard and its base name: one record name, two values ------------------------------
hook_log_reset
t_ok "dns-01 for wild.example and *.wild.example, waiting for the resolver" \
    dns01 -v --dns-resolver "$RESOLVER" -d wild.example -d '*.wild.example'
out=$T_OUTPUT
t_check "the lineage is named after the first name" '[ -f "$S/live/wild.example/cert.pem" ]'
t_check "the certificate holds both names" \
    '[ "$(sans "$S/live/wild.example/cert.pem")" = "DNS:*.wild.example DNS:wild.example " ]'
t_check "the chain verifies against Pebble's root" \
    'openssl verify -CAfile "$LAB_PEBBLE_ROOT" -untrusted "$S/live/wild.example/chain.pem" "$S/live/wild.example/cert.pem"'
t_check "both records were added (two values, one name each domain) before any remove" \
    '[ "$(head -n 2 "$DNS_HOOK_LOG" | awk "{print \$1, \$2, \$4}" | sort | tr "\n" ";")" = "add _acme-challenge.wild.example *.wild.example;add _acme-challenge.wild.example wild.example;" ]'
t_check "the two values differ" '[ "$(head -n 2 "$DNS_HOOK_LOG" | awk "{print \$3}" | sort -u | wc -l)" = 2 ]'
t_check "both were removed, each with its own value" \
    '[ "$(awk "\$1 == \"remove\" {print \$3, \$4}" "$DNS_HOOK_LOG" | sort)" = "$(awk "\$1 == \"add\" {print \$3, \$4}" "$DNS_HOOK_LOG" | sort)" ]'
t_check "nacme saw both values at the resolver before the CA looked" \
    '[ "$(printf "%s\n" "$out" | grep -c "$RESOLVER answers TXT _acme-challenge.wild.example with the value")" = 2 ]'
t_check "lineage.json records the resolver" \
    '[ "$(jq -r .dns_resolver "$S/archive/wild.example/lineage.json")" = "$RESOLVER" ]'

# ---- refusals before any order -----------------------------------------------------------------
FRESH=$LAB_DIR/fresh-state
t_status "a wildcard with http-01 is a usage error" 2 \
    "$NACME" --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$FRESH" \
    --agree-tos issue -d ok.example -d '*.ok.example'
t_check "one line saying a wildcard needs --challenge dns-01" \
    '[ "$T_OUTPUT" = "nacme: *.ok.example: a wildcard name needs --challenge dns-01 (and --dns-hook PROG)" ]'
t_check "refused before any order: not even a state directory" '[ ! -e "$FRESH" ]'
t_status "dns-01 without a hook is a usage error" 2 dns_nacme issue --challenge dns-01 -d x.example
t_check "saying --dns-hook is needed" 'printf "%s" "$T_OUTPUT" | grep -q "needs --dns-hook PROG"'
t_status "a hook by a relative path is a usage error (renew runs elsewhere)" 2 \
    dns_nacme issue --challenge dns-01 --dns-hook ./hook.sh -d x.example
t_check "asking for the absolute path" 'printf "%s" "$T_OUTPUT" | grep -q "give the program.s absolute path"'
t_status "a bad --dns-resolver is a usage error" 2 dns01 --dns-resolver '[::1' -d x.example
t_status "--challenge tls-alpn-01 is a usage error" 2 dns_nacme issue --challenge tls-alpn-01 -d x.example

# ---- a failing hook: one line, nothing written, the previous certificate kept ----------------
hook_log_reset
DNS_HOOK_FAIL=add t_fails "a hook exiting 3 fails a new name" dns01 -d broken.example
t_check "one line naming the domain, the hook and its exit status, with its stderr" \
    '[ "$(printf "%s\n" "$T_OUTPUT" | grep -c .)" = 1 ] && printf "%s" "$T_OUTPUT" | grep -qF "nacme: broken.example: dns_hook \"$HOOK\" add _acme-challenge.broken.example exited with status 3: dns-hook: refusing to add _acme-challenge.broken.example"'
t_check "no lineage was written" '[ ! -e "$S/archive/broken.example" ] && [ ! -e "$S/live/broken.example" ]'
t_check "the remove hook was still called" \
    '[ "$(cut -d" " -f1,2 "$DNS_HOOK_LOG" | tr "\n" ";")" = "add _acme-challenge.broken.example;remove _acme-challenge.broken.example;" ]'
before=$(readlink "$S/live/one.example")
cert_before=$(cat "$S/live/one.example/cert.pem")
DNS_HOOK_FAIL=add t_fails "a hook exiting 3 on --force of an existing lineage" \
    dns01 --force -d one.example
t_check "the previous certificate stays live" \
    '[ "$(readlink "$S/live/one.example")" = "$before" ] && [ "$(cat "$S/live/one.example/cert.pem")" = "$cert_before" ]'

# ---- the resolver never sees the record: a clear timeout ------------------------------------
CONF=$LAB_DIR/nacme.conf
printf 'dns_wait_timeout = 2\n' >"$CONF"
hook_log_reset
start=$(date +%s)
DNS_HOOK_SKIP=1 t_fails "a record that never appears at the resolver" \
    dns01 --config "$CONF" --dns-resolver "$RESOLVER" -d invisible.example
out=$T_OUTPUT
# (the whole run, slow under valgrind; the default dns_wait_timeout would be 120 s)
t_check "after dns_wait_timeout (2 s), not the default" '[ $(($(date +%s) - start)) -le 40 ]'
t_check "one line naming the record, the resolver and what it answered" \
    '[ "$(printf "%s\n" "$out" | grep -c .)" = 1 ] && printf "%s" "$out" | grep -qE "^nacme: invisible.example: TXT _acme-challenge.invisible.example with value \"[A-Za-z0-9_-]{43}\" not visible at $RESOLVER after 2 s \(dns_wait_timeout\); it answered: .+"'
t_check "the remove hook was called after the failure" \
    '[ "$(cut -d" " -f1 "$DNS_HOOK_LOG" | tr "\n" " ")" = "add remove " ]'
t_check "no lineage was written" '[ ! -e "$S/archive/invisible.example" ]'

# ---- interrupted while waiting for the resolver: the record is still removed -----------------
printf 'dns_wait_timeout = 60\n' >"$CONF"
hook_log_reset
DNS_HOOK_SKIP=1 "$NACME" --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" \
    --config "$CONF" --agree-tos issue --challenge dns-01 --dns-hook "$HOOK" \
    --dns-resolver "$RESOLVER" -d interrupted.example >"$LAB_DIR/int.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "^add " "$DNS_HOOK_LOG" 2>/dev/null && break; sleep 0.1; done
start=$(date +%s)
kill -TERM "$pid"
wait "$pid"
status=$? out=$(cat "$LAB_DIR/int.out")
t_check "SIGTERM while waiting for the resolver (60 s): exit 1 at once" \
    '[ "$status" = 1 ] && [ $(($(date +%s) - start)) -le 15 ]'
t_check "saying it was interrupted, naming the record" \
    'printf "%s" "$out" | grep -q "^nacme: interrupted.example: interrupted by .* waiting for TXT _acme-challenge.interrupted.example at $RESOLVER"'
t_check "the remove hook was called after the interrupt" \
    '[ "$(cut -d" " -f1,2 "$DNS_HOOK_LOG" | tr "\n" ";")" = "add _acme-challenge.interrupted.example;remove _acme-challenge.interrupted.example;" ]'

# ---- a hook that takes too long is killed -------------------------------------------------------
printf 'dns_hook_timeout = 1\n' >"$CONF"
hook_log_reset
DNS_HOOK_SLEEP=5 t_fails "a hook slower than dns_hook_timeout" \
    dns01 --config "$CONF" -d slow.example
t_check "says it was killed after 1 s, naming the domain and the hook" \
    'printf "%s" "$T_OUTPUT" | grep -qF "nacme: slow.example: dns_hook \"$HOOK\" add _acme-challenge.slow.example did not finish within 1 s (dns_hook_timeout); killed"'

# ---- the configuration instead of flags; --separate ------------------------------------------
printf 'challenge = dns-01\ndns_hook = "%s"\ndns_resolver = "%s"\n' "$HOOK" "$RESOLVER" >"$CONF"
hook_log_reset
t_ok "challenge, dns_hook and dns_resolver from nacme.conf, --separate" \
    dns_nacme --config "$CONF" issue --separate -d sep1.example -d '*.sep2.example'
t_check "two lineages, the wildcard's named after its base name" \
    '[ "$(sans "$S/live/sep1.example/cert.pem")" = "DNS:sep1.example " ] && [ "$(sans "$S/live/sep2.example/cert.pem")" = "DNS:*.sep2.example " ]'
t_check "the hook added and removed both records" \
    '[ "$(awk "{print \$1, \$2}" "$DNS_HOOK_LOG" | sort | tr "\n" ";")" = "add _acme-challenge.sep1.example;add _acme-challenge.sep2.example;remove _acme-challenge.sep1.example;remove _acme-challenge.sep2.example;" ]'
t_check "NACME_DOMAIN is the name as ordered" 'grep -q "^add _acme-challenge.sep2.example [^ ]* \*.sep2.example$" "$DNS_HOOK_LOG"'
t_status "--separate with a wildcard and its base name is refused (one lineage)" 2 \
    dns01 --separate -d same.example -d '*.same.example'

# ---- renew repeats the challenge, hook and resolver without flags -----------------------------
hook_log_reset
t_ok "renew --force of the dns-01 lineage, no dns flags" \
    dns_nacme -v renew --force --no-reload --cert-name wild.example
# Pebble reuses a valid authorization 1 time in 100 even with PEBBLE_AUTHZREUSE=0: such a name
# needs no record, and nacme says so.
reused=$(printf "%s\n" "$T_OUTPUT" | grep -c "authorization still valid; no challenge needed")
t_check "renewed: version 2 is live" '[ "$(readlink "$S/live/wild.example")" = ../archive/wild.example/2 ]'
t_check "through the recorded hook: an add and a remove for each of the two names ($reused reused)" \
    '[ "$(cut -d" " -f1 "$DNS_HOOK_LOG" | sort | uniq -c | awk "{print \$1, \$2}" | tr "\n" ";")" = "$((2 - reused)) add;$((2 - reused)) remove;" ]'
t_check "still both names" '[ "$(sans "$S/live/wild.example/cert.pem")" = "DNS:*.wild.example DNS:wild.example " ]'
t_check "the record still says dns-01, the hook and the resolver" \
    '[ "$(jq -r "[.challenge, .dns_hook, .dns_resolver] | join(\" \")" "$S/archive/wild.example/lineage.json")" = "dns-01 $HOOK $RESOLVER" ]'

# ---- a certificate of a wildcard only, renewed in front of nginx ------------------------------
# deploy checks nginx by SNI; "*" is no host name, so it asks for a name under the wildcard.
NCONF=$LAB_DIR/nginx-nacme.conf
cat >"$NCONF" <<EOF
nginx_test = "$LAB_NGINX -t"
nginx_reload = "$LAB_NGINX -s reload"
nginx_pid_file = "$LAB_DIR/nginx/nginx.pid"
nginx_error_log = "$LAB_DIR/nginx/error.log"
nginx_https_port = $LAB_HTTPS_PORT
EOF
served() {
    openssl s_client -connect "127.0.0.1:$LAB_HTTPS_PORT" -servername "$1" </dev/null 2>/dev/null |
        openssl x509 -noout -serial | cut -d= -f2
}
live_serial() { openssl x509 -in "$S/live/$1/cert.pem" -noout -serial | cut -d= -f2; }
t_ok "dns-01 for *.srv.example alone" dns01 -d '*.srv.example'
t_check "its lineage is srv.example" '[ "$(sans "$S/live/srv.example/cert.pem")" = "DNS:*.srv.example " ]'
cat >"$LAB_DIR/nginx/sites/srv.example.conf" <<EOF
server {
    listen 127.0.0.1:$LAB_HTTPS_PORT ssl;
    server_name *.srv.example;
    ssl_certificate $S/live/srv.example/fullchain.pem;
    ssl_certificate_key $S/live/srv.example/privkey.pem;
}
EOF
t_ok "the lab's nginx takes it" $LAB_NGINX -s reload
# nginx -s reload only signals the master: its old worker may take a connection for a moment.
is_live() { [ "$(served www.srv.example)" = "$(live_serial srv.example)" ]; }
for _ in $(seq 200); do is_live && is_live && break; sleep 0.1; done
t_check "nginx serves it for www.srv.example" \
    'is_live || { tail -n 5 "$LAB_DIR/nginx/error.log"; false; }'
t_ok "renew --force: tested, switched, reloaded, checked" \
    dns_nacme -v --config "$NCONF" renew --force --cert-name srv.example
t_check "checked through a name under the wildcard" \
    'printf "%s" "$T_OUTPUT" | grep -q "^nacme-check.srv.example: nginx serves the new certificate"'
t_check "nginx serves the renewed certificate" \
    '[ "$(served any.srv.example)" = "$(live_serial srv.example)" ] && [ "$(readlink "$S/live/srv.example")" = ../archive/srv.example/2 ]'

# ---- list --json shows the challenge ----------------------------------------------------------
t_ok "an http-01 certificate beside them" dns_nacme issue -d plain.example
t_ok "list --json" dns_nacme --json list
t_check "the dns-01 lineages say dns-01, the http-01 one http-01" \
    '[ "$(printf "%s" "$T_OUTPUT" | jq -r "map(select(.name == \"wild.example\" or .name == \"one.example\" or .name == \"plain.example\") | \"\(.name)=\(.challenge)\") | sort | join(\" \")")" = "one.example=dns-01 plain.example=http-01 wild.example=dns-01" ]'
t_done
