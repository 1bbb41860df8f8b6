#!/usr/bin/env bash
# nacme renew by the lifetime rule (the system's Pebble has no renewal information), with the clock
# moved by NACME_NOW: not due (and then no network at all), due, --force, --dry-run leaving live/
# byte-identical, --json, one nginx reload, the CA down (old certificate stays live, backoff
# recorded and honoured), the alarm close to expiry, hooks, and a failing deploy hook.
# Every lineage is issued through the fault proxy, so its log counts what reached the CA.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
CONF=$LAB_DIR/nacme.conf
LOG=$LAB_DIR/proxy.log
cat >"$CONF" <<EOF
nginx_test = "$LAB_NGINX -t"
nginx_reload = "$LAB_NGINX -s reload"
nginx_pid_file = "$LAB_DIR/nginx/nginx.pid"
nginx_error_log = "$LAB_DIR/nginx/error.log"
nginx_https_port = $LAB_HTTPS_PORT
lock_wait = 0
EOF
rn() { proxy_nacme --config "$CONF" "$@"; }
ver() { readlink "$S/live/$1" | sed 's|.*/||'; }
field() { # field NAME KEY: lineage.json's renewal.KEY
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("renewal", {}).get(sys.argv[2], ""))' \
        "$S/archive/$1/lineage.json" "$2"
}
reqs() { [ -f "$LOG" ] && wc -l <"$LOG" || echo 0; }
live_sums() { (cd "$S/live" && for d in *; do readlink "$d"; sha256sum "$d"/*; done); }
NOW=$(date +%s)
DUE=$((NOW + 4 * 365 * 86400)) # Pebble's certificates last 5 years: a third left after 3.3

proxy_up pass
t_ok "two lineages through the proxy" rn --agree-tos issue --separate -d a.example -d b.example
t_ok "renew right after issuing: nothing due, exit 0" rn renew --no-reload
t_check "a line per lineage saying not due, by the lifetime rule" \
    'printf "%s\n" "$T_OUTPUT" | grep -c "^[ab].example: not due, renewing at .* (lifetime rule)" | grep -qx 2'
t_check "the certificate facts are cached in lineage.json" \
    '[ "$(field a.example cert_version)" = 1 ] && [ -n "$(field a.example not_after)" ] && [ -n "$(field a.example certid)" ]'
t_check "the next renewal and its source are recorded" \
    '[ "$(field a.example next_source)" = lifetime ] && [ "$(field a.example next_renewal)" -gt "$NOW" ]'
t_check "no renewal information here: asked again in a day" \
    '[ "$(field a.example ari_next_poll)" -ge $((NOW + 86000)) ]'
n=$(reqs)
t_ok "a second run: still nothing due" rn renew --no-reload
t_check "and it sent nothing to the CA" '[ "$(reqs)" = "$n" ]'
proxy_down
t_ok "with the CA unreachable, a run with nothing due still succeeds" rn renew --no-reload

proxy_up pass
t_ok "--json: an array" rn --json renew --no-reload
t_check "--json has both lineages, not due, with their moment" \
    'printf "%s" "$T_OUTPUT" | python3 -c "import json,sys; a=json.load(sys.stdin); assert [o[\"name\"] for o in a]==[\"a.example\",\"b.example\"]; assert all(o[\"result\"]==\"not_due\" and o[\"renew_at\"]>0 and o[\"source\"]==\"lifetime\" for o in a)"'

# --dry-run: the whole protocol, nothing installed.
before=$(live_sums)
arch=$(find "$S/archive" -printf '%p %s %T@\n' | sort)
n=$(reqs)
t_ok "--dry-run renews both with the CA" rn renew --dry-run
t_check "it says dry run for both" \
    'printf "%s\n" "$T_OUTPUT" | grep -c "^[ab].example: dry run: the CA issued a certificate" | grep -qx 2'
t_check "the CA saw two orders finalized" \
    '[ "$(tail -n +$((n + 1)) "$LOG" | grep -c "^POST /finalize-order/.* 200")" = 2 ]'
t_check "live/ is byte-identical" '[ "$(live_sums)" = "$before" ]'
t_check "archive/ (and lineage.json) untouched" \
    '[ "$(find "$S/archive" -printf "%p %s %T@\n" | sort)" = "$arch" ]'

# Due by the lifetime rule (the clock moved four years on).
OLDID=$(field a.example certid)
t_ok "due by lifetime: renewed" env NACME_NOW=$DUE "$NACME" --http-port "$LAB_HTTP_PORT" --server "$PROXY_URL" \
    --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" --webroot "$LAB_WEBROOT" --config "$CONF" \
    renew --no-reload --cert-name a.example
t_check "it says renewed" 'printf "%s" "$T_OUTPUT" | grep -q "^a.example: renewed, valid until"'
t_check "live/a.example is version 2, b.example untouched" \
    '[ "$(ver a.example)" = 2 ] && [ "$(ver b.example)" = 1 ]'
t_check "the order carried replaces with the old CertID" \
    'grep -q "^POST /order-plz 201 fault=n replaces=$OLDID$" "$LOG"'
t_check "the cache now describes version 2" '[ "$(field a.example cert_version)" = 2 ]'
at() { NACME_NOW=$1 "$NACME" --http-port "$LAB_HTTP_PORT" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" \
    --webroot "$LAB_WEBROOT" --config "$CONF" "${@:2}"; }

t_ok "--force renews a certificate that is not due" rn renew --no-reload --force --cert-name b.example
t_check "b.example is version 2" '[ "$(ver b.example)" = 2 ]'
t_fails "--cert-name of no lineage fails" rn renew --cert-name nope.example
t_check "naming it" 'printf "%s" "$T_OUTPUT" | grep -q "live/nope.example: no such certificate"'

# One reload for the run (the default).
t_ok "renew --force reloads nginx once by default" rn -v renew --force
t_check "nginx tested and reloaded, once" \
    '[ "$(printf "%s\n" "$T_OUTPUT" | grep -c "nginx reloaded")" = 1 ]'
t_check "both renewed" '[ "$(ver a.example)" = 3 ] && [ "$(ver b.example)" = 3 ]'

# The CA down: the old certificate stays, the failure and the backoff are recorded.
proxy_down
old=$(live_sums)
t_status "CA down, due: exit 1" 1 at "$DUE" renew --no-reload --cert-name a.example
t_check "the failure line names the cause" \
    'printf "%s\n" "$T_OUTPUT" | grep -q "^a.example: failed: .*127.0.0.1:$PROXY_PORT.*(next attempt after"'
t_check "live/ unchanged" '[ "$(live_sums)" = "$old" ]'
t_check "failure, its time and the next attempt (1 minute) are recorded" \
    '[ "$(field a.example failures)" = 1 ] && [ "$(field a.example last_failure)" = "$DUE" ] && [ "$(field a.example next_attempt)" = $((DUE + 60)) ] && [ -n "$(field a.example last_error)" ]'
proxy_up pass
n=$(reqs)
t_ok "the next run before that time: backing off, exit 0" at $((DUE + 59)) renew --no-reload --cert-name a.example
t_check "it says so" 'printf "%s" "$T_OUTPUT" | grep -q "^a.example: due since .*, but backing off until .* after 1 failure: "'
t_check "and asked the CA nothing" '[ "$(reqs)" = "$n" ]'
proxy_down
t_status "a failure while the CA is down" 1 at $((DUE + 61)) renew --no-reload --force --cert-name a.example
t_check "failures counted, backoff 10 minutes" \
    '[ "$(field a.example failures)" = 2 ] && [ "$(field a.example next_attempt)" = $((DUE + 61 + 600)) ]'
proxy_up pass
t_ok "after the backoff the CA is asked again and renews" at $((DUE + 61 + 600)) renew --no-reload --cert-name a.example
t_check "version 4, failure state gone" '[ "$(ver a.example)" = 4 ] && [ -z "$(field a.example failures)" ]'

# Close to expiry and failing: loud on every run.
NA=$(field b.example not_after)
proxy_down
t_status "3 days before expiry, CA down: exit 1" 1 at $((NA - 3 * 86400)) renew --no-reload --cert-name b.example
t_check "a WARNING on stderr" \
    'printf "%s" "$T_OUTPUT" | grep -q "^nacme: WARNING: b.example expires at .* (in 3.0 days) and renewing it keeps failing"'
t_status "the next run, backing off: still exit 1" 1 at $((NA - 3 * 86400 + 10)) renew --no-reload --cert-name b.example
t_check "and still the WARNING" 'printf "%s" "$T_OUTPUT" | grep -q "^nacme: WARNING: b.example expires"'
proxy_up pass
t_ok "renewed once the CA is back (--force past the backoff)" at $((NA - 3 * 86400 + 20)) renew --no-reload --force --cert-name b.example

# Hooks: pre and post around a run that renews, deploy once per lineage with its environment.
H=$LAB_DIR/hooks.log
cat >>"$CONF" <<EOF
pre_hook = "sh -c 'echo pre >> $H'"
post_hook = "sh -c 'echo post >> $H'"
deploy_hook = "sh -c 'echo \"deploy \$NACME_CERT_NAME \$NACME_LIVE_DIR \$NACME_DOMAINS\" >> $H'"
EOF
t_ok "hooks: nothing due, no hook runs" rn renew --no-reload
t_check "no hook ran" '[ ! -e "$H" ]'
t_ok "hooks: a run that renews both" rn renew --no-reload --force
t_check "pre, a deploy per lineage with its environment, post" \
    '[ "$(cat "$H")" = "$(printf "pre\ndeploy a.example $S/live/a.example a.example\ndeploy b.example $S/live/b.example b.example\npost")" ]'
sed -i 's|^deploy_hook = .*|deploy_hook = "false"|' "$CONF"
va=$(ver a.example)
t_status "a failing deploy hook: exit 1" 1 rn renew --no-reload --force --cert-name a.example
t_check "it is reported with its status" \
    'printf "%s" "$T_OUTPUT" | grep -q "^nacme: deploy_hook \"false\" exited with status 1"'
t_check "and nothing is lost: the renewal is live and recorded" \
    '[ "$(ver a.example)" = $((va + 1)) ] && [ "$(field a.example cert_version)" = $((va + 1)) ]'
sed -i '/^deploy_hook = /d; /^pre_hook = /d; /^post_hook = /d' "$CONF"

# nginx broken by something else: the renewal is staged, never made live, and counts as a failure.
echo "this is not nginx configuration;" >"$LAB_DIR/nginx/sites/zz-broken.conf"
va=$(ver a.example)
t_status "renew with nginx already broken: exit 1" 1 rn renew --force --cert-name a.example
t_check "the line says failed, naming nginx's broken configuration" \
    'printf "%s\n" "$T_OUTPUT" | grep -q "^a.example: failed: nginx.s configuration is broken before any change"'
t_check "live/ unchanged, the failure recorded" \
    '[ "$(ver a.example)" = "$va" ] && [ "$(field a.example failures)" = 1 ]'
rm -f "$LAB_DIR/nginx/sites/zz-broken.conf"

# The CA's Retry-After is recorded and outranks the schedule (a rate limit of two hours).
proxy_up problem --match '^/order-plz' --status 429 --retry-after 7200 \
    --problem-type urn:ietf:params:acme:error:rateLimited --detail "too many certificates"
t_status "rate limited with Retry-After 7200: exit 1" 1 rn renew --no-reload --force --cert-name b.example
t_check "the line carries the CA's problem" \
    'printf "%s\n" "$T_OUTPUT" | grep -q "^b.example: failed: .*rateLimited.*too many certificates"'
t_check "Retry-After recorded; the next attempt two hours after the failure, not one minute" \
    '[ "$(field b.example retry_after)" = 7200 ] && [ "$(field b.example next_attempt)" = $(($(field b.example last_failure) + 7200)) ]'

# A day-long Retry-After while the lineage is due: recorded, and the runs before it ends do not
# ask the CA at all; the first run after it renews.
proxy_up problem --match '^/order-plz' --status 429 --retry-after 86400 \
    --problem-type urn:ietf:params:acme:error:rateLimited --detail "too many certificates"
t_status "due, and rate limited for a day (Retry-After: 86400): exit 1" 1 \
    at "$DUE" renew --no-reload --cert-name b.example
DAYLONG=$(printf "%s\n" "$T_OUTPUT" | grep "^b.example: failed: ")
t_check "the next attempt a day after the failure" \
    '[ "$(field b.example retry_after)" = 86400 ] && [ "$(field b.example next_attempt)" = $((DUE + 86400)) ]'
proxy_up pass
: >"$LOG"
t_ok "an hour later, still due: exit 0" at $((DUE + 3600)) renew --no-reload --cert-name b.example
HELD=$(printf "%s\n" "$T_OUTPUT" | grep "^b.example: ")
t_check "it says when it will try again, and asks the CA nothing" \
    'printf "%s" "$HELD" | grep -q "backing off until .* after 2 failures" && [ "$(reqs)" = 0 ]'
vb=$(ver b.example)
t_ok "a day and a minute later: renewed" at $((DUE + 86460)) renew --no-reload --cert-name b.example
t_check "b.example is a new version (was $vb, now $(ver b.example)), the failures cleared" \
    '[ "$(ver b.example)" = $((vb + 1)) ] && [ -z "$(field b.example failures)" ]'
t_case "429 rateLimited with a day-long Retry-After (renew)" \
    "fault proxy: newOrder answered 429 rateLimited, Retry-After: 86400; renew again an hour later, then a day later" \
    "exit 1: $DAYLONG; recorded (retry_after 86400, next attempt a day later); an hour later: $HELD, no request to the CA; a day later: renewed"
proxy_up pass
t_done
