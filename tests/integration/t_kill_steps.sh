#!/usr/bin/env bash
# SIGKILL at every step of an issuance and of a renewal: strace delivers SIGKILL at the n-th
# system call that commits something (fsync, fdatasync, rename, symlink, unlink, mkdir, link), for
# every n of a calibration run. After each kill, live/NAME is the old version or the new one, its
# key and certificate of one version, never mixed; the next run cleans the temp and token files
# the dead one left, and completes.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
if ! command -v strace >/dev/null; then
    echo "1..0 # SKIP strace is not installed"
    exit 0
fi
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
STEPS=fsync,fdatasync,rename,renameat,renameat2,symlinkat,unlinkat,mkdirat,linkat
# strace's LeakSanitizer cannot stop the world of a traced process: no leak check under strace.
traced() { ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq "$@"; }
nacme_() { "$NACME" --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" \
    --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" "$@"; }
ver() { readlink "$S/live/$1" | sed 's|.*/||'; }
# The key and the certificates nginx would load belong together, and to the name.
consistent() {
    local d=$S/live/$1 pub
    pub=$(openssl x509 -in "$d/cert.pem" -noout -pubkey) &&
        [ "$pub" = "$(openssl pkey -in "$d/privkey.pem" -pubout)" ] &&
        [ "$pub" = "$(openssl x509 -in "$d/fullchain.pem" -noout -pubkey)" ] &&
        openssl x509 -in "$d/cert.pem" -noout -checkhost "$1" | grep -q "does match"
}
leftovers() { # temp files in the state dir, token files in the webroot
    find "$S" -mindepth 1 -name '.*' 2>/dev/null
    ls -A "$LAB_WEBROOT/.well-known/acme-challenge" 2>/dev/null
}

t_ok "a first certificate" nacme_ --agree-tos issue -d k.example

# kill_every_step WHAT ARGS...: calibrate, then one killed run per step, each followed by a run
# that must complete. Records failures in BAD (one line each).
# Pebble reuses a valid authorization 1 time in 100 even with PEBBLE_AUTHZREUSE=0: such a run
# writes no token and so has fewer steps; nacme -v says so ("no challenge needed"). A calibration
# that met it is made again; a killed run that met it may end before its step (REUSED).
REUSE_SAID="authorization still valid; no challenge needed"
kill_every_step() {
    local what=$1 n i sc before now try
    shift
    for try in 1 2 3; do
        traced -e trace="$STEPS" -o "$LAB_DIR/calibration" "$NACME" -v --server "$LAB_ACME_URL" \
            --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" --webroot "$LAB_WEBROOT" \
            --http-port "$LAB_HTTP_PORT" "$@" >"$LAB_DIR/calibration.out" 2>&1
        grep -q "$REUSE_SAID" "$LAB_DIR/calibration.out" || break
    done
    STEPS_SEEN=0
    BAD=""
    KILLED=0
    REUSED=0
    # strace counts each system call of the set on its own: step i of fsync, then of rename...
    for sc in ${STEPS//,/ }; do
        n=$(grep -cE "^[0-9]+ +$sc\(" "$LAB_DIR/calibration")
        STEPS_SEEN=$((STEPS_SEEN + n))
        for i in $(seq 1 "$n"); do
            before=$(ver k.example)
            traced -o /dev/null -e trace="$sc" -e inject="$sc:signal=KILL:when=$i" \
                "$NACME" -v --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" \
                --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" "$@" >"$LAB_DIR/killed.out" 2>&1
            if [ $? = 137 ]; then
                KILLED=$((KILLED + 1))
            elif grep -q "$REUSE_SAID" "$LAB_DIR/killed.out"; then
                REUSED=$((REUSED + 1))
            fi
            now=$(ver k.example)
            if [ -z "$now" ] || [ "$now" -lt "$before" ] || ! consistent k.example; then
                BAD="$BAD
$what, killed at $sc #$i: live/ at version '$now' (was $before), consistent: no"
                continue
            fi
            if ! nacme_ "$@" >"$LAB_DIR/next.out" 2>&1; then
                BAD="$BAD
$what, killed at $sc #$i: the next run failed: $(cat "$LAB_DIR/next.out")"
                continue
            fi
            if [ "$(ver k.example)" -le "$now" ] || ! consistent k.example || [ -n "$(leftovers)" ]; then
                BAD="$BAD
$what, killed at $sc #$i: after the next run: version $(ver k.example) (was $now), leftovers: $(leftovers | tr '\n' ' ')"
            fi
        done
    done
}

kill_every_step "issue --force" issue --force -d k.example
t_check "issuance: the calibration saw the commit steps ($STEPS_SEEN)" '[ "$STEPS_SEEN" -ge 8 ]'
t_check "issuance: every one of the $STEPS_SEEN killed runs died by SIGKILL ($KILLED; $REUSED ended first, Pebble reusing an authorization)" \
    '[ $((KILLED + REUSED)) = "$STEPS_SEEN" ] && [ "$REUSED" -le 3 ]'
t_check "issuance: after each kill live/ was whole, and the next run completed and cleaned up" \
    '[ -z "$BAD" ] || { printf "%s\n" "$BAD" | head -5; false; }'
t_case "SIGKILL at every step of an issuance" \
    "strace -e inject=...:signal=KILL:when=N for every commit system call of issue --force (N = 1..$STEPS_SEEN)" \
    "live/ always the old or the new version, whole; the next run cleaned temp and token files and completed"

kill_every_step "renew --force" renew --force --no-reload --cert-name k.example
t_check "renewal: the calibration saw the commit steps ($STEPS_SEEN)" '[ "$STEPS_SEEN" -ge 8 ]'
t_check "renewal: every one of the $STEPS_SEEN killed runs died by SIGKILL ($KILLED; $REUSED ended first, Pebble reusing an authorization)" \
    '[ $((KILLED + REUSED)) = "$STEPS_SEEN" ] && [ "$REUSED" -le 3 ]'
t_check "renewal: after each kill live/ was whole, and the next run completed and cleaned up" \
    '[ -z "$BAD" ] || { printf "%s\n" "$BAD" | head -5; false; }'
t_case "SIGKILL at every step of a renewal" \
    "strace -e inject=...:signal=KILL:when=N for every commit system call of renew --force (N = 1..$STEPS_SEEN)" \
    "live/ always the old or the new version, whole; the next run cleaned temp and token files and completed"

t_done
