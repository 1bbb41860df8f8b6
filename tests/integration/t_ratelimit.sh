#!/usr/bin/env bash
# The CA's rate limits hold the whole batch: a 503 rateLimited with a short Retry-After is waited
# out (no order sends anything before it ends) and the batch succeeds; a Retry-After longer than
# the orders' deadline fails them at once, naming the wait, without asking the CA again. (Orders
# already in flight when the first rate limit arrives cannot be recalled: at most --parallel.)
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
names() { local i; for i in $(seq 1 "$2"); do printf -- '-d %s%d.example ' "$1" "$i"; done; }
proxied() { grep -c " $1 " "$LAB_DIR/proxy.log"; }
faulted() { grep -c "fault=y" "$LAB_DIR/proxy.log"; }

proxy_up pass
t_ok "an account first" proxy_nacme --agree-tos issue -d first.example

RL=urn:ietf:params:acme:error:rateLimited
proxy_up problem --match '/order-plz' --count 1 --status 503 --problem-type "$RL" \
    --detail "too many new orders" --retry-after 2
: >"$LAB_DIR/proxy.log"
start=$(date +%s%N)
# shellcheck disable=SC2046
t_ok "a batch whose first newOrder gets 503 rateLimited, Retry-After: 2" \
    proxy_nacme issue --separate --parallel 4 $(names w 6)
ms=$((($(date +%s%N) - start) / 1000000))
OUT=$T_OUTPUT
t_check "all 6 issued" '[ "$(ls "$S/live" | grep -c "^w")" = 6 ]'
t_check "it waited the 2 s (took $ms ms) and said so" \
    '[ "$ms" -ge 1900 ] && printf "%s" "$OUT" | grep -q "the CA asked to wait"'
t_check "one fault was served" '[ "$(faulted)" = 1 ]'
t_check "the refused order was sent again once: 7 newOrders in all (1 refused + 6)" \
    '[ "$(grep -c "^POST /order-plz " "$LAB_DIR/proxy.log")" = 7 ]'
t_case "503 rateLimited with Retry-After: 2 (a batch of 6)" \
    "fault proxy: the first newOrder answered 503 rateLimited, Retry-After: 2" \
    "exit 0 after $ms ms: the whole batch held for the wait, the refused order sent again once, all 6 issued"

proxy_up problem --match '/order-plz' --status 429 --problem-type "$RL" \
    --detail "too many certificates for this domain" --retry-after 86400
: >"$LAB_DIR/proxy.log"
# shellcheck disable=SC2046
t_status "a day-long Retry-After: the batch of 8 fails, exit 1" 1 \
    proxy_nacme issue --separate --parallel 3 --timeout 60 $(names d 8)
OUT=$T_OUTPUT
sent=$(grep -c "^POST /order-plz " "$LAB_DIR/proxy.log")
t_check "at most the 3 orders in flight reached the CA ($sent), none twice" '[ "$sent" -le 3 ]'
t_check "those report the CA's problem and the wait" \
    '[ "$(printf "%s\n" "$OUT" | grep -cE "^d[0-9]\.example +failed .*HTTP 429 $RL: too many certificates for this domain.*wait 86400 s")" = "$sent" ]'
t_check "the others were not sent, naming the wait and the problem" \
    '[ "$(printf "%s\n" "$OUT" | grep -cE "^d[0-9]\.example +failed .*not sent: the CA asked to wait [0-9]+ s more: HTTP 429 $RL")" = $((8 - sent)) ]'
t_check "nothing was written for them" '[ -z "$(ls "$S/live" | grep "^d")" ]'
t_case "429 rateLimited with a day-long Retry-After (a batch of 8)" \
    "fault proxy: every newOrder answered 429 rateLimited, Retry-After: 86400; --timeout 60" \
    "exit 1: the orders in flight fail with the CA's problem and the wait, the rest are not sent (\"not sent: the CA asked to wait N s more\"); nothing written"

# Malformed Retry-After values are not waits: the request fails with the CA's problem, once.
for ra in -1 1.5 123456789012345678901234567890 'Wed, 21 Oct 2015 07:28:00 GMT'; do
    proxy_up problem --match '/order-plz' --count 1 --status 503 --problem-type "$RL" --retry-after "$ra"
    : >"$LAB_DIR/proxy.log"
    t_status "Retry-After: $ra is not a wait: exit 1" 1 proxy_nacme issue -d "ra$RANDOM.example"
    t_check "no wait, no second newOrder, the CA's problem shown" \
        '! printf "%s" "$T_OUTPUT" | grep -q "asked to wait" &&
         [ "$(grep -c "^POST /order-plz " "$LAB_DIR/proxy.log")" = 1 ] &&
         printf "%s" "$T_OUTPUT" | grep -q "HTTP 503 $RL"'
    t_case "malformed or past Retry-After: $ra" \
        "fault proxy: newOrder answered 503 rateLimited, Retry-After: $ra" \
        "exit 1, no wait, newOrder sent once: $(printf "%s\n" "$T_OUTPUT" | grep "^nacme: " | sed "s/ra[0-9]*\.example/NAME/g")"
done
t_done
