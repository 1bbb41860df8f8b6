#!/usr/bin/env bash
# The account key lives only in the signer process (src/signer.c): while an issuance waits on the
# CA, the main process's memory does not hold the key (the signer's does: the scan can find it),
# the signer has no descriptor but its socket and runs with no_new_privs and a seccomp filter, and
# the main process has no descriptor of account.key. A signer that dies is reported in one line
# naming the key file and the signal; an account key that is not a key is reported by the signer
# with the file's path.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state

proxy_up pass
t_ok "an account and a first certificate" proxy_nacme --agree-tos issue -d first.example
KEY=$(ls "$S"/accounts/*/account.key)
t_check "one account key" '[ -f "$KEY" ]'

# held_issue NAME SECONDS: an issuance whose finalize request the proxy holds for SECONDS, in the
# background; sets PID (nacme, or valgrind running it) and SIGNER once the signer process is there.
held_issue() {
    proxy_up delay --match '^/finalize-order/' --delay "$2"
    "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" \
        --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" issue -d "$1" >"$LAB_DIR/$1.out" 2>&1 &
    PID=$!
    SIGNER=""
    for _ in $(seq 500); do
        SIGNER=$(pgrep -P "$PID" -f -- '--signer' | head -1)
        [ -n "$SIGNER" ] && break
        sleep 0.02
    done
    # The requests before finalize take milliseconds (seconds under valgrind); the proxy then
    # holds finalize.
    sleep 1.5
}

held_issue held.example 10
t_check "the signer is a child of nacme" '[ -n "$SIGNER" ]'
t_check "the signer runs with no_new_privs and a seccomp filter" \
    'grep -q "^NoNewPrivs:[[:space:]]*1$" /proc/$SIGNER/status && grep -q "^Seccomp:[[:space:]]*2$" /proc/$SIGNER/status'
t_check "its only descriptors: standard in, out, error and its socket" \
    '[ "$(ls /proc/$SIGNER/fd | sort -n | tr "\n" " ")" = "0 1 2 4 " ] &&
     readlink /proc/$SIGNER/fd/4 | grep -q "^socket:"'
t_check "the main process has no descriptor of account.key" \
    '! ls -l /proc/$PID/fd 2>/dev/null | grep -q "account.key"'
t_check "the signer's memory holds the account key (the scan finds a key where there is one)" \
    '[ "$(python3 "$NACME_SRC/tests/lab/memscan.py" "$SIGNER" "$KEY")" = found ]'
t_check "the main process's memory does not" \
    '[ "$(python3 "$NACME_SRC/tests/lab/memscan.py" "$PID" "$KEY")" = absent ]'
t_case "a flaw in the network or JSON code reads process memory" \
    "the memory of both processes scanned for the account key while an issuance waits on the CA" \
    "found only in the signer process (no_new_privs, seccomp, Landlock, only its socket open); absent from the main process"
wait "$PID"
STATUS=$?
t_check "signing went on after the held request: issued (exit $STATUS)" \
    '[ "$STATUS" = 0 ] && [ -L "$S/live/held.example" ]'
t_check "and the signer ended with nacme" '! kill -0 "$SIGNER" 2>/dev/null'

held_issue killed.example 4
kill -KILL "$SIGNER"
wait "$PID"
STATUS=$?
OUT=$(cat "$LAB_DIR/killed.example.out")
t_check "a killed signer fails the run (exit $STATUS)" '[ "$STATUS" = 1 ]'
t_check "in one line naming the key file and the signal" \
    '[ "$(printf "%s\n" "$OUT" | wc -l)" = 1 ] &&
     printf "%s" "$OUT" | grep -q "^nacme: .*$KEY: the account key.s signer process was killed by KILL"'
t_check "nothing half-written: no lineage for it, no temp files" \
    '[ ! -e "$S/live/killed.example" ] && [ -z "$(find "$S" -name "*.tmp*")" ]'
t_case "the signer process dies" "kill -KILL of the signer while finalize is held by the fault proxy" "exit 1: $OUT"

# An account key that is not a key: the signer says so, naming the file.
cp -a "$S" "$LAB_DIR/state2"
KEY2=$(ls "$LAB_DIR"/state2/accounts/*/account.key)
printf 'not a key\n' >"$KEY2"
t_status "an account key file that is not a key: exit 1" 1 \
    "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$LAB_DIR/state2" \
    --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" issue -d bad.example
NOTAKEY=$T_OUTPUT
t_check "one line naming it" \
    '[ "$(printf "%s\n" "$T_OUTPUT" | wc -l)" = 1 ] &&
     printf "%s" "$T_OUTPUT" | grep -q "^nacme: .*$KEY2: not a PEM private key"'
t_case "an account key file that is not a key" "account.key overwritten with text" "exit 1: $NOTAKEY"

t_done
