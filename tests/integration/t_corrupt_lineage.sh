#!/usr/bin/env bash
# Corrupt lineage records (issue 7): a truncated lineage.json, an empty one, wrong types (domains a
# string, version a string), and a live version whose cert.pem is gone. renew (with and without
# --force) and list skip each of those with its file and the reason, renew the others (the fault
# proxy's log counts one order per good lineage and none for a bad one), and exit 1.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
LOG=$LAB_DIR/proxy.log
rn() { proxy_nacme --agree-tos "$@"; }
ver() { readlink "$S/live/$1" | sed 's|.*/||'; }
mark() { MARK=$(wc -l <"$LOG"); }
since() { tail -n +"$((MARK + 1))" "$LOG" | grep -cE "$1"; }
A=$S/archive

proxy_up pass
t_ok "six certificates" rn issue --separate -d good1.example -d good2.example -d trunc.example \
    -d empty.example -d types.example -d nocert.example

head -c 40 "$A/trunc.example/lineage.json" >"$LAB_DIR/t" && cat "$LAB_DIR/t" >"$A/trunc.example/lineage.json"
: >"$A/empty.example/lineage.json"
jq '.domains = "types.example"' "$A/types.example/lineage.json" >"$LAB_DIR/t" &&
    cat "$LAB_DIR/t" >"$A/types.example/lineage.json"
rm "$A/nocert.example/1/cert.pem"
# reason[NAME]: what each skipped lineage's line must say (fixed strings)
declare -A reason=(
    [trunc.example]="$A/trunc.example/lineage.json:3: ':' expected near end of file"
    [empty.example]="$A/empty.example/lineage.json:1: '[' or '{' expected near end of file"
    [types.example]="$A/types.example/lineage.json: field domains missing or not a non-empty array"
    [nocert.example]="$S/live/nocert.example/cert.pem"
)
declare -A how=(
    [trunc.example]="lineage.json cut after 40 bytes"
    [empty.example]="lineage.json emptied"
    [types.example]="lineage.json \"domains\" a string"
    [nocert.example]="archive/NAME/1/cert.pem removed"
)

for args in "renew --force --no-reload" "renew --no-reload"; do
    mark
    # shellcheck disable=SC2086 # args are words
    t_status "$args with four bad lineages: exit 1" 1 rn $args
    OUT=$T_OUTPUT
    for n in "${!reason[@]}"; do
        t_check "$args: $n skipped with its file and reason" \
            'printf "%s\n" "$OUT" | grep -F "$n: failed: " | grep -qF "${reason[$n]}"'
        t_case "$n ($args)" "${how[$n]}" \
            "exit 1; $(printf "%s\n" "$OUT" | grep -F "$n: failed: " | head -n 1)"
    done
    t_check "$args: the final line counts the failures" \
        'printf "%s\n" "$OUT" | grep -q "^nacme: 4 of 6 certificates failed to renew; the first: "'
    if [ "$args" = "renew --force --no-reload" ]; then
        t_check "the two good lineages were renewed" \
            '[ "$(ver good1.example)" = 2 ] && [ "$(ver good2.example)" = 2 ]'
        t_check "two orders in all: none for a bad lineage" '[ "$(since "^POST /order-plz")" = 2 ]'
    else
        t_check "nothing due: nothing asked of the CA" '[ "$(since "^POST")" = 0 ]'
    fi
done
t_check "the bad lineages were not touched: still version 1" \
    '[ "$(ver trunc.example)" = 1 ] && [ "$(ver types.example)" = 1 ] && [ "$(ver nocert.example)" = 1 ]'

t_status "list: exit 1" 1 "$NACME" --state-dir "$S" list
OUT=$T_OUTPUT
for n in "${!reason[@]}"; do
    t_check "list: $n listed as an error with its file and reason" \
        'printf "%s\n" "$OUT" | grep -E "^$n +.*ERROR" | grep -F "${reason[$n]%%lineage.json*}" | grep -qF "${reason[$n]##*lineage.json}"'
done
t_check "list: the good ones are ok" \
    'printf "%s\n" "$OUT" | grep -qE "^good1\.example .* ok " && printf "%s\n" "$OUT" | grep -qE "^good2\.example .* ok "'
t_check "list: one line at the end counting them" \
    'printf "%s\n" "$OUT" | grep -q "^nacme: 4 of 6 lineages cannot be read; the first: "'
t_case "corrupt lineages (list)" "the four above at once, then nacme list" \
    "exit 1; $(printf "%s\n" "$OUT" | tail -n 1)"
t_done
