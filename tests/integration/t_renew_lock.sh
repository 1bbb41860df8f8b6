#!/usr/bin/env bash
# One nacme at a time per state directory, and kill -9 at any moment of a renewal: a second run
# waits a bounded time and names the holder's pid (issue too); a run waiting long enough goes on
# once the first is done; a renewal killed with SIGKILL leaves live/ at the old version or the new,
# key and certificate always of one version, the lock free, and the next run completes.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
LOG=$LAB_DIR/proxy.log
conf() { # conf FILE LOCK_WAIT [PRE_HOOK]
    {
        echo "lock_wait = $2"
        [ -z "${3:-}" ] || echo "pre_hook = \"$3\""
    } >"$1"
}
conf "$LAB_DIR/slow.conf" 0 "sleep 3"
conf "$LAB_DIR/impatient.conf" 1
conf "$LAB_DIR/patient.conf" 30
rn() { proxy_nacme "$@"; }
# For background runs: exec, so that $! is nacme's own pid (what the lock file names, what kill -9
# must hit), not a subshell's.
rn_bg() { (exec "$NACME" --http-port "$LAB_HTTP_PORT" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" \
    --webroot "$LAB_WEBROOT" "$@") & }
ver() { readlink "$S/live/$1" | sed 's|.*/||'; }
# The key and the certificate nginx would load belong together.
consistent() {
    [ "$(openssl x509 -in "$S/live/$1/cert.pem" -noout -pubkey)" = \
        "$(openssl pkey -in "$S/live/$1/privkey.pem" -pubout)" ] &&
        [ "$(openssl x509 -in "$S/live/$1/cert.pem" -noout -pubkey)" = \
            "$(openssl x509 -in "$S/live/$1/fullchain.pem" -noout -pubkey)" ]
}

proxy_up pass
t_ok "a first certificate" rn --agree-tos issue -d a.example

# A run holding the lock (its pre_hook sleeps 3 s).
rn_bg --config "$LAB_DIR/slow.conf" renew --force --no-reload >"$LAB_DIR/holder.out" 2>&1
holder=$!
for _ in $(seq 100); do [ "$(cat "$S/lock" 2>/dev/null)" = "$holder" ] && break; sleep 0.05; done
t_check "the holder wrote its pid into STATE/lock" '[ "$(cat "$S/lock")" = "$holder" ]'
t_status "a second renew gives up after lock_wait (1 s): exit 1" 1 \
    rn --config "$LAB_DIR/impatient.conf" renew --no-reload
t_check "naming the holder's pid" \
    'printf "%s" "$T_OUTPUT" | grep -q "^nacme: $S/lock is held by another nacme (pid $holder); gave up after 1 s$"'
t_status "issue takes the same lock" 1 rn --config "$LAB_DIR/impatient.conf" issue -d b.example
t_check "and names the holder too" 'printf "%s" "$T_OUTPUT" | grep -q "(pid $holder)"'
t_ok "a run with a longer lock_wait waits for the holder and goes on" \
    rn --config "$LAB_DIR/patient.conf" renew --no-reload
t_check "it said it was waiting" 'printf "%s" "$T_OUTPUT" | grep -q "another nacme (pid $holder) holds $S/lock; waiting up to 30 s"'
wait "$holder"
t_check "the holder renewed (exit 0)" '[ $? = 0 ] && [ "$(ver a.example)" = 2 ]'

# SIGKILL in the middle of a renewal: while the CA holds the finalize request.
proxy_up delay --match '^/finalize-order' --delay 30
n=$(wc -l <"$LOG")
rn_bg renew --force --no-reload >/dev/null 2>&1
victim=$!
for _ in $(seq 200); do
    tail -n +$((n + 1)) "$LOG" | grep -q "^POST /chal" && break
    sleep 0.05
done
sleep 1
kill -9 "$victim"
wait "$victim" 2>/dev/null
t_check "killed while the CA was finalizing: live/ still version 2, consistent" \
    '[ "$(ver a.example)" = 2 ] && consistent a.example'
proxy_up pass
t_ok "the next run does not wait for the dead one's lock, and completes" rn renew --force --no-reload
t_check "version 3 (or later), consistent" '[ "$(ver a.example)" -ge 3 ] && consistent a.example'

# SIGKILL at moments spread over a whole renewal (staging, switching, recording included).
for delay in 0.1 0.3 0.5 0.7 0.9 1.1; do
    before=$(ver a.example)
    rn_bg renew --force --no-reload >/dev/null 2>&1
    victim=$!
    sleep "$delay"
    kill -9 "$victim" 2>/dev/null
    wait "$victim" 2>/dev/null
    now=$(ver a.example)
    t_check "killed after ${delay}s: live/ is the old version or a newer one, consistent" \
        '[ "$now" -ge "$before" ] && consistent a.example'
    t_ok "then a run completes" rn renew --force --no-reload
    t_check "a newer version, consistent, no temp files left behind in live/" \
        '[ "$(ver a.example)" -gt "$now" ] && consistent a.example && [ -z "$(find "$S/live" -name ".*")" ]'
done
t_done
