#!/usr/bin/env bash
# issue --reload never leaves nginx broken and says when nginx did not take the new certificate:
# the lab's real nginx serves a lineage; a forced renewal is tested, switched, reloaded and
# checked by a TLS handshake; an nginx already broken gets nothing switched; a test that fails
# after the switch switches live/ back; a reload that does nothing is caught; nginx not running
# keeps the new certificate live and is neither reloaded nor started.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
CONF=$LAB_DIR/nacme.conf
write_conf() { # write_conf TEST_CMD RELOAD_CMD
    cat >"$CONF" <<EOF
nginx_test = "$1"
nginx_reload = "$2"
nginx_pid_file = "$LAB_DIR/nginx/nginx.pid"
nginx_error_log = "$LAB_DIR/nginx/error.log"
nginx_https_port = $LAB_HTTPS_PORT
EOF
}
write_conf "$LAB_NGINX -t" "$LAB_NGINX -s reload"
rl() { lab_nacme --config "$CONF" "$@"; }
served() {
    openssl s_client -connect "127.0.0.1:$LAB_HTTPS_PORT" -servername "$1" </dev/null 2>/dev/null |
        openssl x509 -noout -serial | cut -d= -f2
}
live_serial() { openssl x509 -in "$S/live/$1/cert.pem" -noout -serial | cut -d= -f2; }
version() { readlink "$S/live/$1" | sed 's|.*/||'; }

t_ok "a first certificate" rl --agree-tos issue -d web.example
# Served through live/ as an admin's nginx would (lab_serve pins the archive version).
cat >"$LAB_DIR/nginx/sites/web.example.conf" <<EOF
server {
    listen 127.0.0.1:$LAB_HTTPS_PORT ssl;
    server_name web.example;
    ssl_certificate $S/live/web.example/fullchain.pem;
    ssl_certificate_key $S/live/web.example/privkey.pem;
}
EOF
t_ok "the lab's nginx serves it" $LAB_NGINX -s reload
# nginx -s reload only signals the master: its old worker may take a connection for a moment.
is_live() { [ "$(served web.example)" = "$(live_serial web.example)" ]; }
for _ in $(seq 50); do is_live && is_live && break; sleep 0.1; done
t_check "nginx presents live/web.example" '[ "$(served web.example)" = "$(live_serial web.example)" ]'

t_ok "--force --reload: renewed, tested, switched, reloaded" rl -v issue -d web.example --force --reload
OUT=$T_OUTPUT
t_check "live/ is version 2" '[ "$(version web.example)" = 2 ]'
t_check "nginx presents the new certificate right after the run" \
    '[ "$(served web.example)" = "$(live_serial web.example)" ]'
t_check "it said it checked and reloaded" \
    'printf "%s" "$OUT" | grep -q "nginx serves the new certificate" && printf "%s" "$OUT" | grep -q "nginx reloaded"'

# Some other edit broke nginx before the run.
echo "this is not nginx configuration;" >"$LAB_DIR/nginx/sites/zz-broken.conf"
before=$(served web.example)
t_status "nginx already broken: exit 1" 1 rl issue -d web.example --force --reload
OUT=$T_OUTPUT
t_check "the cause line says nginx was broken before and nothing was switched" \
    'printf "%s\n" "$OUT" | grep -q "^nacme: nginx.s configuration is broken before any change; the new certificates stay staged, live/ is unchanged, nginx not reloaded: .*zz-broken.conf"'
t_check "nginx's output is shown" 'printf "%s" "$OUT" | grep -q "    | .*\[emerg\]"'
t_check "live/ still version 2, version 3 staged" \
    '[ "$(version web.example)" = 2 ] && [ -s "$S/archive/web.example/3/fullchain.pem" ]'
t_check "nginx serves what it served" '[ "$(served web.example)" = "$before" ]'
t_case "nginx: configuration broken before the run" \
    "a line nginx cannot parse in an included file, then issue --force --reload" \
    "exit 1: $(printf "%s\n" "$OUT" | grep "^nacme: " | tail -n 1); nginx's [emerg] output shown; live/ unchanged, new version staged, no reload"
rm -f "$LAB_DIR/nginx/sites/zz-broken.conf"

# nginx refuses the new certificate: a test wrapper that fails once live/ has moved.
cat >"$LAB_DIR/picky-test.sh" <<EOF
#!/bin/sh
$LAB_NGINX -t || exit 1
[ "\$(readlink "$S/live/web.example")" = "$(readlink "$S/live/web.example")" ] && exit 0
echo "nginx: [emerg] cannot load certificate \"$S/live/web.example/fullchain.pem\" (simulated)"
exit 1
EOF
chmod +x "$LAB_DIR/picky-test.sh"
write_conf "$LAB_DIR/picky-test.sh" "$LAB_NGINX -s reload"
t_status "nginx refuses the new certificate: exit 1" 1 rl issue -d web.example --force --reload
OUT=$T_OUTPUT
t_check "it says so and that live/ was switched back" \
    'printf "%s\n" "$OUT" | grep -q "^nacme: nginx refuses the new certificates; live/ switched back: .*cannot load certificate"'
t_check "live/ is back at version 2" '[ "$(version web.example)" = 2 ]'
t_check "lineage.json records version 2" 'grep -q "\"version\": *2" "$S/archive/web.example/lineage.json"'
t_ok "and nginx -t passes again" $LAB_NGINX -t
t_case "nginx: refuses the new certificate" \
    "nginx_test wrapper failing once live/ has moved, then issue --force --reload" \
    "exit 1: $(printf "%s\n" "$OUT" | grep "^nacme: " | tail -n 1); live/ back at the old version, nginx -t passes"

# A reload that does not take effect (here: a command that does nothing).
write_conf "$LAB_NGINX -t" "true"
t_status "a reload nginx did not apply: exit 1" 1 rl issue -d web.example --force --reload
OUT=$T_OUTPUT
t_check "it names the site and says nginx still serves the old certificate" \
    'printf "%s\n" "$OUT" | grep -q "^nacme: web.example: nginx still serves the old certificate 5 s after \"true\""'
t_check "and does not quote the error log's [emerg] from an earlier reload (zz-broken.conf)" \
    '! printf "%s\n" "$OUT" | grep -q "zz-broken"'
t_check "the new version is live (nginx -t passed) for the next reload" \
    '[ "$(version web.example)" != 2 ] && [ "$(served web.example)" != "$(live_serial web.example)" ]'
t_case "nginx: a reload that was not applied" \
    "nginx_reload = true (nothing reloads), then issue --force --reload" \
    "exit 1: $(printf "%s\n" "$OUT" | grep "^nacme: " | tail -n 1) (TLS handshake with SNI compared with live/); the new version live for the next reload"
write_conf "$LAB_NGINX -t" "$LAB_NGINX -s reload"

# nginx not running (its pid file names a process that is gone; the lab's nginx keeps answering
# http-01): the new certificate goes live for its next start; nothing is reloaded or started.
sh -c 'exit 0' &
dead=$!
wait "$dead"
echo "$dead" >"$LAB_DIR/stopped-nginx.pid"
printf '#!/bin/sh\ntouch %s\n' "$LAB_DIR/reload-ran" >"$LAB_DIR/reload.sh"
chmod +x "$LAB_DIR/reload.sh"
write_conf "$LAB_NGINX -t" "$LAB_DIR/reload.sh"
sed -i "s|^nginx_pid_file = .*|nginx_pid_file = \"$LAB_DIR/stopped-nginx.pid\"|" "$CONF"
v=$(version web.example)
t_ok "nginx not running: exit 0" rl issue -d web.example --force --reload
OUT=$T_OUTPUT
t_check "it says nginx is not running and that it does not start it" \
    'printf "%s" "$T_OUTPUT" | grep -q "nginx is not running (no live process in $LAB_DIR/stopped-nginx.pid).*not starting it"'
t_check "the new version is live" '[ "$(version web.example)" -gt "$v" ]'
t_check "no reload (or start) command ran" '[ ! -e "$LAB_DIR/reload-ran" ]'
t_case "nginx: not running" "nginx_pid_file naming a dead process, then issue --force --reload" \
    "exit 0: $(printf "%s\n" "$OUT" | grep "nginx is not running" | head -n 1); no reload or start command run"
t_done
