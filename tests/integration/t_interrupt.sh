#!/usr/bin/env bash
# A run interrupted by SIGINT or SIGTERM while it waits on the CA unwinds cleanly: exit 1 with one
# line saying so, the http-01 token removed from the webroot, no temp files, the previous
# certificate still live. The wait is made long by a fault proxy delaying the challenge request.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
via_proxy() { proxy_nacme --agree-tos "$@"; }
tokens() { ls -A "$LAB_WEBROOT/.well-known/acme-challenge" 2>/dev/null; }

proxy_up pass
t_ok "baseline certificate" via_proxy issue -d sig.example
before=$(find "$S" -path "$S/lock" -prune -o -printf '%p %s %T@\n' | sort)

# interrupt SIGNAL: start a forced renewal whose challenge request hangs, wait until its token is in
# the webroot, send SIGNAL, and collect exit status and output.
interrupt() {
    local sig=$1 out=$LAB_DIR/out.$1 pid start
    # A name never validated in this lab, besides sig.example: Pebble reuses a valid
    # authorization 1 time in 100 even with PEBBLE_AUTHZREUSE=0, and then asks for no challenge.
    proxy_up delay --match '/chalZ/' --delay 60
    # bash starts background jobs with SIGINT ignored; give nacme the default disposition back.
    python3 -c 'import os,signal,sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
        "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" \
        --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" --agree-tos issue \
        --cert-name sig.example -d sig.example -d "${sig,,}-$$.sig.example" --force >"$out" 2>&1 &
    pid=$!
    # Up to 20 s: under valgrind, with the rest of the suite running, start-up alone takes seconds.
    for _ in $(seq 1000); do [ -n "$(tokens)" ] && break; sleep 0.02; done
    TOKEN_SEEN=$(tokens)
    sleep 0.2
    start=$(date +%s%N)
    kill "-$sig" "$pid"
    wait "$pid"
    STATUS=$?
    ELAPSED_MS=$((($(date +%s%N) - start) / 1000000))
    OUT=$(cat "$out")
}
for sig in INT TERM; do
    interrupt $sig
    t_check "SIG$sig: the token was in the webroot before the signal" '[ -n "$TOKEN_SEEN" ]'
    t_check "SIG$sig: exit status 1 (got $STATUS)" '[ "$STATUS" = 1 ]'
    t_check "SIG$sig: stopped within 3 s (took $ELAPSED_MS ms)" '[ "$ELAPSED_MS" -lt 3000 ]'
    t_check "SIG$sig: one line saying it was interrupted" \
        '[ "$(printf "%s\n" "$OUT" | grep -c "^nacme: .*interrupted")" = 1 ]'
    t_check "SIG$sig: the token was removed" '[ -z "$(tokens)" ]'
    t_check "SIG$sig: the state dir is unchanged" '[ "$before" = "$(find "$S" -path "$S/lock" -prune -o -printf "%p %s %T@\n" | sort)" ]'
    t_case "SIG$sig while the CA validates" "kill -$sig once the token is in the webroot, the challenge request held by the fault proxy" \
        "exit 1 within 3 s: $(printf "%s\n" "$OUT" | grep "^nacme: "); token removed, state dir unchanged"
done
t_done
