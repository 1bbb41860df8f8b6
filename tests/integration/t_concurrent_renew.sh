#!/usr/bin/env bash
# Ten `renew --force` started at once on three lineages (issue 7): one takes the lock and renews,
# the others wait for it (lock_wait) and then leave alone what it renewed after they were started,
# or, with lock_wait = 0, give up at once naming the holder. Either way every run exits cleanly,
# there is exactly one order per lineage (counted in the fault proxy's log), each lineage is at
# version 2 with key and certificate of one version, and the lock is free afterwards.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
LOG=$LAB_DIR/proxy.log
mark() { MARK=$(wc -l <"$LOG"); }
since() { tail -n +"$((MARK + 1))" "$LOG" | grep -cE "$1"; }
ver() { readlink "$S/live/$1" | sed 's|.*/||'; }
whole() {
    [ "$(openssl x509 -in "$S/live/$1/cert.pem" -noout -pubkey)" = \
        "$(openssl pkey -in "$S/live/$1/privkey.pem" -pubout)" ]
}
NAMES="c1.example c2.example c3.example"
printf 'lock_wait = 120\n' >"$LAB_DIR/patient.conf"
printf 'lock_wait = 0\n' >"$LAB_DIR/impatient.conf"

proxy_up pass
t_ok "three certificates" proxy_nacme --agree-tos issue --separate -d c1.example -d c2.example \
    -d c3.example

# together CONF: ten renew --force at once; STATUS[i] and OUT_i for each
together() {
    local i pids=()
    for i in $(seq 10); do
        "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" \
            --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" --config "$1" \
            renew --force --no-reload >"$LAB_DIR/out.$i" 2>&1 &
        pids+=($!)
    done
    for i in $(seq 10); do
        wait "${pids[$((i - 1))]}"
        STATUS[i]=$?
    done
}
count() { local n=0 i; for i in $(seq 10); do [ "${STATUS[i]}" = "$1" ] && n=$((n + 1)); done; echo $n; }

declare -a STATUS
mark
start=$(date +%s)
together "$LAB_DIR/patient.conf"
took=$(($(date +%s) - start))
t_check "lock_wait 120: all ten exit 0 (statuses ${STATUS[*]})" '[ "$(count 0)" = 10 ]'
t_check "exactly one order per lineage: 3 newOrder in all" '[ "$(since "^POST /order-plz")" = 3 ]'
t_check "one run renewed the three" \
    '[ "$(grep -l "c1.example: renewed, valid until" "$LAB_DIR"/out.* | wc -l)" = 1 ]'
t_check "the nine others waited and said they leave the three alone" \
    '[ "$(grep -l "c1.example: renewed by another nacme while this one waited for the lock; not renewing it again" "$LAB_DIR"/out.* | wc -l)" = 9 ]'
for n in $NAMES; do
    t_check "$n at version 2, key and certificate of one version" '[ "$(ver $n)" = 2 ] && whole $n'
done
t_case "10 concurrent renew --force, lock_wait 120" \
    "10 × nacme renew --force started at once on 3 lineages" \
    "$(count 0) of 10 exit 0; $(since "^POST /order-plz") newOrder for 3 lineages; 9 waited and left the renewed lineages alone; ${took} s"

mark
together "$LAB_DIR/impatient.conf"
t_check "lock_wait 0: every run exits 0 or 1, none crashes (statuses ${STATUS[*]})" \
    '[ $(($(count 0) + $(count 1))) = 10 ]'
t_check "at least one worked" '[ "$(count 0)" -ge 1 ]'
t_check "each run that failed names the lock's holder in one line" \
    'for i in $(seq 10); do [ "${STATUS[i]}" = 0 ] || { [ "$(grep -c . "$LAB_DIR/out.$i")" = 1 ] && grep -q "^nacme: $S/lock is held by another nacme (pid [0-9]*); gave up after 0 s$" "$LAB_DIR/out.$i"; } || exit 1; done'
t_check "one order per lineage per run that got the lock" \
    '[ "$(since "^POST /order-plz")" = $((3 * $(count 0))) ]'
for n in $NAMES; do
    t_check "$n whole" 'whole $n'
done
t_check "the lock is free: a run gets it at once" \
    '"$NACME" --state-dir "$S" --config "$LAB_DIR/impatient.conf" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" renew --no-reload >/dev/null 2>&1'
t_case "10 concurrent renew --force, lock_wait 0" \
    "10 × nacme renew --force at once, lock_wait = 0" \
    "$(count 0) exit 0 (3 orders each), $(count 1) exit 1 naming the holder's pid; $(since "^POST /order-plz") newOrder"
t_done
