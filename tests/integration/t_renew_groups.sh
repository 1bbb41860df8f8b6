#!/usr/bin/env bash
# nacme renew tests and reloads nginx once per run, however many batches the due lineages make:
# here two CAs (the lab's Pebble directly, and through the fault proxy: two directory URLs, two
# accounts, two batches), every lineage due at once. nginx's test and reload commands are
# wrappers that count their runs; nginx serves one lineage of each CA through live/, and both
# new certificates are served after the one reload. With nginx broken, nothing of either CA goes
# live and both are failures.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
CONF=$LAB_DIR/nacme.conf
TESTS=$LAB_DIR/tests.count
RELOADS=$LAB_DIR/reloads.count
printf '#!/bin/sh\necho t >>%s\nexec %s -t "$@"\n' "$TESTS" "$LAB_NGINX" >"$LAB_DIR/test.sh"
printf '#!/bin/sh\necho r >>%s\nexec %s -s reload\n' "$RELOADS" "$LAB_NGINX" >"$LAB_DIR/reload.sh"
chmod +x "$LAB_DIR/test.sh" "$LAB_DIR/reload.sh"
cat >"$CONF" <<EOF
nginx_test = "$LAB_DIR/test.sh"
nginx_reload = "$LAB_DIR/reload.sh"
nginx_pid_file = "$LAB_DIR/nginx/nginx.pid"
nginx_error_log = "$LAB_DIR/nginx/error.log"
nginx_https_port = $LAB_HTTPS_PORT
lock_wait = 0
EOF
count() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
ver() { readlink "$S/live/$1" | sed 's|.*/||'; }
ca() { jq -r .server "$S/archive/$1/lineage.json"; }
live_serial() { openssl x509 -in "$S/live/$1/cert.pem" -noout -serial | cut -d= -f2; }
served() {
    openssl s_client -connect "127.0.0.1:$LAB_HTTPS_PORT" -servername "$1" </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}

proxy_up pass
t_ok "two lineages from Pebble directly" lab_nacme --agree-tos issue --separate -d a.example -d b.example
t_ok "two through the fault proxy (another directory URL)" \
    proxy_nacme --agree-tos issue --separate -d c.example -d d.example
t_check "two CAs recorded" \
    '[ "$(ca a.example)" = "$LAB_ACME_URL" ] && [ "$(ca c.example)" = "$PROXY_URL" ] && [ "$LAB_ACME_URL" != "$PROXY_URL" ]'

# nginx serves a.example and c.example through live/, as an admin's configuration would.
for n in a.example c.example; do
    cat >"$LAB_DIR/nginx/sites/$n.conf" <<EOF
server {
    listen 127.0.0.1:$LAB_HTTPS_PORT ssl;
    server_name $n;
    ssl_certificate $S/live/$n/fullchain.pem;
    ssl_certificate_key $S/live/$n/privkey.pem;
}
EOF
done
t_ok "nginx serves them" $LAB_NGINX -s reload
for _ in $(seq 50); do
    [ "$(served a.example)" = "$(live_serial a.example)" ] &&
        [ "$(served c.example)" = "$(live_serial c.example)" ] && break
    sleep 0.1
done
t_check "nginx presents live/a.example and live/c.example" \
    '[ "$(served a.example)" = "$(live_serial a.example)" ] && [ "$(served c.example)" = "$(live_serial c.example)" ]'

# All four due at once: the clock four years on (Pebble's certificates last five).
DUE=$(($(date +%s) + 4 * 365 * 86400))
t_ok "renew: all four due, two CAs" env NACME_NOW=$DUE "$NACME" -v --ca-bundle "$LAB_CA_BUNDLE" \
    --state-dir "$S" --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" --config "$CONF" renew
OUT=$T_OUTPUT
t_check "all four renewed" \
    '[ "$(printf "%s\n" "$OUT" | grep -c "^[abcd].example: renewed, valid until")" = 4 ] && [ "$(ver a.example)$(ver b.example)$(ver c.example)$(ver d.example)" = 2222 ]'
t_check "nginx reloaded exactly once (the reload command ran once)" '[ "$(count "$RELOADS")" = 1 ]'
t_check "nginx tested twice: before and after the switch" '[ "$(count "$TESTS")" = 2 ]'
t_check "and nacme said so once" '[ "$(printf "%s\n" "$OUT" | grep -c "nginx reloaded")" = 1 ]'
# nacme saw the new certificates served; an old worker of nginx may still take a connection for
# a moment after a reload, so this check asks twice in a row, for up to 5 s.
both_new() { [ "$(served a.example)" = "$(live_serial a.example)" ] && [ "$(served c.example)" = "$(live_serial c.example)" ]; }
for _ in $(seq 50); do both_new && both_new && break; sleep 0.1; done
t_check "nginx serves the new certificates of both CAs" both_new
t_check "the two CAs were two batches: the proxy saw only c and d" \
    '[ "$(grep -c "^POST /finalize-order/.* 200" "$LAB_DIR/proxy.log")" = 4 ]'

# nginx broken by something else: the new versions of both CAs stay staged, nothing is reloaded.
echo "this is not nginx configuration;" >"$LAB_DIR/nginx/sites/zz-broken.conf"
: >"$RELOADS"
t_status "renew --force with nginx broken: exit 1" 1 "$NACME" --server "$LAB_ACME_URL" \
    --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" --webroot "$LAB_WEBROOT" \
    --http-port "$LAB_HTTP_PORT" --config "$CONF" renew --force
OUT=$T_OUTPUT
t_check "every lineage failed, naming nginx's configuration" \
    '[ "$(printf "%s\n" "$OUT" | grep -c "^[abcd].example: failed: nginx.s configuration is broken before any change")" = 4 ]'
t_check "nothing switched, nothing reloaded" \
    '[ "$(ver a.example)$(ver b.example)$(ver c.example)$(ver d.example)" = 2222 ] && [ "$(count "$RELOADS")" = 0 ]'
rm -f "$LAB_DIR/nginx/sites/zz-broken.conf"
t_done
