#!/usr/bin/env bash
# A CA that accepts connections and then answers nothing (the fault proxy stopped with SIGSTOP: the
# kernel still accepts, nobody reads). A single request ends after http_timeout with one line naming
# the URL. In a batch, only the requests already in flight wait out their timeout: once one ran out
# of time with nothing else answered meanwhile, the rest of the batch fails at once with that reason
# instead of every order waiting 30 s in turn. Certificates finished before the stall stay whole, and
# the next run, with the CA answering again, completes the rest.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
CONF=$LAB_DIR/nacme.conf
printf 'http_timeout = 2\n' >"$CONF"
names() { local i; for i in $(seq 1 "$1"); do printf -- '-d s%d.example ' "$i"; done; }
live_names() { ls "$S/live" 2>/dev/null; }
tokens() { ls -A "$LAB_WEBROOT/.well-known/acme-challenge" 2>/dev/null; }
stalled_proxy() { kill -STOP "$PROXY_PID"; }
resume_proxy() { kill -CONT "$PROXY_PID" 2>/dev/null; }

proxy_up pass
t_ok "account and a first certificate through the proxy" \
    proxy_nacme --config "$CONF" --agree-tos issue -d first.example

stalled_proxy
start=$(date +%s%N)
t_status "one request to a CA that never answers: exit 1" 1 \
    proxy_nacme --config "$CONF" issue -d single.example
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
SINGLE=$T_OUTPUT
resume_proxy
t_check "one line naming the URL and the timeout" \
    '[ "$(printf "%s\n" "$T_OUTPUT" | wc -l)" = 1 ] &&
     printf "%s" "$T_OUTPUT" | grep -Eq "^nacme: .*https://127.0.0.1:$PROXY_PORT/.*no answer in time: .* timed out after 2[0-9]{3} milliseconds"'
t_check "within http_timeout, well inside --timeout's 300 s (took ${elapsed_ms} ms)" \
    '[ "$elapsed_ms" -lt 15000 ]'
t_case "a CA that accepts and never answers" "fault proxy stopped with SIGSTOP, http_timeout = 2, issue -d NAME" \
    "exit 1 after http_timeout: $SINGLE"

# A batch of 40 with 4 in flight; the CA stops answering once a few certificates are done.
out=$LAB_DIR/batch.out
# shellcheck disable=SC2046
"$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" --config "$CONF" \
    --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" issue --separate --parallel 4 \
    $(names 40) >"$out" 2>&1 &
pid=$!
for _ in $(seq 600); do [ "$(live_names | wc -l)" -ge 5 ] && break; sleep 0.02; done
stalled_proxy
wait "$pid"
STATUS=$?
resume_proxy
OUT=$(cat "$out")
done_before=$(($(live_names | wc -l) - 1))
progress=$(printf '%s\n' "$OUT" | grep -E '^\[[0-9]+/40\] ')
waited=$(printf '%s\n' "$progress" | grep -c "no answer in time")
not_sent=$(printf '%s\n' "$progress" | grep -c "not sent: the server has stopped answering")
t_check "the batch fails (exit $STATUS)" '[ "$STATUS" = 1 ]'
t_check "some certificates were done before the stall ($done_before)" '[ "$done_before" -ge 4 ]'
# Waiting out a timeout: the orders in flight when the CA stopped, and those that took their place
# before the first timeout with nothing answered meanwhile — at most two rounds of --parallel.
t_check "at most 8 orders waited out a timeout ($waited)" '[ "$waited" -ge 1 ] && [ "$waited" -le 8 ]'
t_check "every other name failed at once, saying why ($not_sent)" \
    '[ "$not_sent" -ge $((40 - done_before - 8)) ] && [ $((waited + not_sent + done_before)) -eq 40 ]'
t_check "the summary counts them" \
    'printf "%s" "$OUT" | grep -q "40 certificates in .*: $done_before issued, 0 unchanged, $((40 - done_before)) failed"'
t_check "no token files are left" '[ -z "$(tokens)" ]'
t_check "no temp files are left in the state dir" '[ -z "$(find "$S" -name "*.tmp*")" ]'
t_case "the CA stops answering in the middle of a batch" \
    "fault proxy stopped with SIGSTOP once 5 of 40 certificates (--parallel 4) are done" \
    "exit 1; the orders in flight wait out http_timeout, every other name fails at once: \"not sent: the server has stopped answering\"; finished lineages whole; the next run completes the rest"

# shellcheck disable=SC2046
t_ok "with the CA answering again, the same batch completes" \
    proxy_nacme --config "$CONF" issue --separate --parallel 4 $(names 40)
t_check "every name issued, the earlier ones unchanged" \
    '[ "$(live_names | wc -l)" = 41 ] &&
     printf "%s" "$T_OUTPUT" | grep -q "40 certificates in .*: $((40 - done_before)) issued, $done_before unchanged, 0 failed"'

t_done
