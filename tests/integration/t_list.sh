#!/usr/bin/env bash
# nacme list (alias status) and --metrics against certificates from the real Pebble: a lineage
# renew has cached, one it has not (facts from cert.pem), one failing after a renewal against a
# dead CA, one with a corrupt lineage.json. --json is checked field by field against values
# computed here from the certificates (openssl) and the files; the metrics file against the JSON,
# the exposition format, its mode and atomicity; list never needs the CA.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
CONF=$LAB_DIR/nacme.conf
M=$LAB_DIR/metrics/nacme.prom
mkdir -p "$LAB_DIR/metrics"
printf 'lock_wait = 0\n' >"$CONF"
rn() { proxy_nacme --config "$CONF" "$@"; }
# list with the CA's URL a dead port: whatever list needs, it is not the CA
refused_port
DEAD="https://127.0.0.1:$REFUSED_PORT/dir"
ls_() { "$NACME" --server "$DEAD" --state-dir "$S" --config "$CONF" "$@"; }
ver() { readlink "$S/live/$1" | sed 's|.*/||'; }
epoch() { date -u -d "$(openssl x509 -noout "-$1" -in "$S/live/$2/cert.pem" | cut -d= -f2)" +%s; }
rfc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
J=$LAB_DIR/list.json
jf() { jq -r --arg n "$1" ".[] | select(.name == \$n) | $2" "$J"; }

proxy_up pass
t_ok "three certificates through the proxy" \
    rn --agree-tos issue --separate -d a.example -d b.example -d c.example
t_ok "a two-name certificate" rn issue -d multi.example -d www.multi.example
t_ok "renew with nothing due caches the facts in each record" rn renew --no-reload
t_ok "one more issued after that: no record of renew's" rn issue -d fresh.example
t_check "fresh.example has no renewal record" \
    '! jq -e .renewal "$S/archive/fresh.example/lineage.json" >/dev/null'
t_check "a.example has one" 'jq -e .renewal.not_after "$S/archive/a.example/lineage.json" >/dev/null'

# b.example fails: due (the clock four years on), the CA gone.
proxy_down
DUE=$(($(date +%s) + 4 * 365 * 86400))
t_status "renew of b.example against a dead CA fails" 1 \
    env NACME_NOW=$DUE "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" \
    --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" --config "$CONF" renew --no-reload \
    --cert-name b.example
t_check "its failure is recorded" '[ "$(jq .renewal.failures "$S/archive/b.example/lineage.json")" = 1 ]'

# c.example's record is corrupt.
printf '{"name": "c.example", garbage' >"$S/archive/c.example/lineage.json"
# multi.example's renewal record is malformed (a string for a time): ignored, the facts come from
# cert.pem, the lineage itself is fine.
jq '.renewal.not_after = "garbage"' "$S/archive/multi.example/lineage.json" >"$LAB_DIR/m.json" &&
    cat "$LAB_DIR/m.json" >"$S/archive/multi.example/lineage.json"

# ---- the table ---------------------------------------------------------------------------------
t_status "list with a corrupt lineage: exit 1" 1 ls_ list
OUT=$T_OUTPUT
t_check "a header and one line per lineage" \
    '[ "$(printf "%s\n" "$OUT" | grep -c "^[a-z]*\.example ")" = 5 ] && printf "%s\n" "$OUT" | grep -q "^NAME .*NOT AFTER.*RENEWAL.*SOURCE.*STATUS"'
t_check "a.example: key type, lifetime rule, ok" \
    'printf "%s\n" "$OUT" | grep -qE "^a\.example +ec256 +[0-9-]+ [0-9:]+ +[0-9]+ +[0-9-]+ [0-9:]+ +lifetime +ok +a\.example$"'
t_check "the failing one is marked, with its error and next attempt" \
    'printf "%s\n" "$OUT" | grep -qE "^b\.example .* FAILING +b\.example -- 1 failure, next attempt .* UTC: .*127\.0\.0\.1"'
t_check "the unreadable one is listed with its file and reason" \
    'printf "%s\n" "$OUT" | grep -qF "ERROR    - -- $S/archive/c.example/lineage.json: lineage.json:1:"'
t_check "two names shown as the first and how many more" \
    'printf "%s\n" "$OUT" | grep -qE "^multi\.example .* multi\.example \+1$"'
t_check "the exit line names the unreadable lineage" \
    'printf "%s\n" "$OUT" | grep -q "^nacme: 1 of 5 lineages cannot be read; the first: $S/archive/c.example/lineage.json:1: "'
t_status "status is the same command" 1 ls_ status
t_check "with the same table" '[ "$T_OUTPUT" = "$OUT" ]'

# ---- --json ------------------------------------------------------------------------------------
NOW=$(date +%s)
ls_ --json list >"$J" 2>"$LAB_DIR/list.err"
st=$?
t_check "--json: exit 1 (the corrupt lineage), an array of 5" \
    '[ "$st" = 1 ] && [ "$(jq length "$J")" = 5 ]'
t_check "--json: sorted by name" \
    '[ "$(jq -r "[.[].name] | join(\" \")" "$J")" = "a.example b.example c.example fresh.example multi.example" ]'
for n in a.example b.example fresh.example multi.example; do
    na=$(epoch enddate $n)
    nb=$(epoch startdate $n)
    v=$(ver $n)
    mt=$(stat -c %Y "$S/archive/$n/$v/cert.pem")
    t_check "$n: not_after and not_before equal openssl's, as epoch and RFC 3339" \
        '[ "$(jf $n .not_after_epoch)" = "$na" ] && [ "$(jf $n .not_after)" = "$(rfc $na)" ] && [ "$(jf $n .not_before_epoch)" = "$nb" ] && [ "$(jf $n .not_before)" = "$(rfc $nb)" ]'
    t_check "$n: days_left from not_after" \
        '[ "$(jf $n .days_left)" = $(((na - NOW) / 86400)) ] || [ "$(jf $n .days_left)" = $(((na - NOW) / 86400 - 1)) ]'
    t_check "$n: next renewal by the lifetime rule (a third left), both spellings" \
        '[ "$(jf $n .next_renewal_epoch)" = $((na - (na - nb) / 3)) ] && [ "$(jf $n .next_renewal)" = "$(rfc $((na - (na - nb) / 3)))" ] && [ "$(jf $n .next_renewal_source)" = lifetime ]'
    t_check "$n: last success is when its cert.pem was written" \
        '[ "$(jf $n .last_success_epoch)" = "$mt" ] && [ "$(jf $n .last_success)" = "$(rfc $mt)" ]'
    t_check "$n: version, key type, server, webroot, domains as recorded" \
        '[ "$(jf $n .version)" = "$v" ] && [ "$(jf $n .key_type)" = ec256 ] && [ "$(jf $n .server)" = "$PROXY_URL" ] && [ "$(jf $n .webroot)" = "$LAB_WEBROOT" ] && [ "$(jf $n "(.domains | join(\" \"))")" = "$(jq -r ".domains | join(\" \")" "$S/archive/$n/lineage.json")" ]'
    t_check "$n: not expired, not due, no alarm" \
        '[ "$(jf $n "[.expired, .due, .alarm] | join(\" \")")" = "false false false" ]'
done
t_check "multi.example: both names" '[ "$(jf multi.example "(.domains | join(\" \"))")" = "multi.example www.multi.example" ]'
t_check "a.example: status ok, no failure fields" \
    '[ "$(jf a.example "[.status, .failures, .last_failure, .last_failure_epoch, .last_error, .next_attempt, .error, .file] | map(tostring) | join(\" \")")" = "ok 0 null null null null null null" ]'
t_check "fresh.example (no record): the same facts, from cert.pem" '[ "$(jf fresh.example .status)" = ok ]'
t_check "b.example: failing, with the failure time, error and next attempt of the record" \
    '[ "$(jf b.example .status)" = failing ] && [ "$(jf b.example .failures)" = 1 ] && [ "$(jf b.example .last_failure_epoch)" = "$DUE" ] && [ "$(jf b.example .last_failure)" = "$(rfc $DUE)" ] && [ "$(jf b.example .next_attempt_epoch)" = $((DUE + 60)) ] && [ "$(jf b.example .last_error)" = "$(jq -r .renewal.last_error "$S/archive/b.example/lineage.json")" ]'
t_check "c.example: status error, file and reason, every other field null" \
    '[ "$(jf c.example .status)" = error ] && [ "$(jf c.example .file)" = "$S/archive/c.example/lineage.json" ] && jf c.example .reason | grep -q "^lineage.json:1: " && [ "$(jf c.example "[.not_after, .not_after_epoch, .next_renewal, .domains, .days_left] | map(tostring) | join(\" \")")" = "null null null null null" ] && [ "$(jf c.example .alarm)" = true ]'
t_check "every object has the same fields" \
    '[ "$(jq -r "map(keys | join(\",\")) | unique | length" "$J")" = 1 ]'

t_ok "--cert-name shows one" ls_ --json list --cert-name a.example
t_check "only a.example" '[ "$(printf "%s" "$T_OUTPUT" | jq -r "map(.name) | join(\" \")")" = a.example ]'
t_status "--cert-name of no lineage: exit 1" 1 ls_ list --cert-name nope.example
t_check "naming it" 'printf "%s" "$T_OUTPUT" | grep -q "live/nope.example: no such certificate"'

# ---- monitoring: exit status when a certificate is close to expiry ------------------------------
NA=$(epoch enddate a.example)
t_ok "8 days before a.example's expiry: exit 0" env NACME_NOW=$((NA - 8 * 86400)) "$NACME" \
    --state-dir "$S" --server "$DEAD" --json list --cert-name a.example
t_check "due, no alarm" '[ "$(printf "%s" "$T_OUTPUT" | jq -r ".[0] | [.status, .alarm] | join(\" \")")" = "due false" ]'
t_status "6 days before: exit 1" 1 env NACME_NOW=$((NA - 6 * 86400)) "$NACME" --state-dir "$S" \
    --server "$DEAD" --json list --cert-name a.example
t_check "alarm, days_left 6, and the exit line says why" \
    'printf "%s\n" "$T_OUTPUT" | grep -q "^\[.*\"alarm\":true" && printf "%s\n" "$T_OUTPUT" | grep -q "\"days_left\":6," && printf "%s\n" "$T_OUTPUT" | grep -q "^nacme: 1 certificate expired or close to expiry; the first: a.example (due)"'
t_status "after expiry: exit 1, expired" 1 env NACME_NOW=$((NA + 1)) "$NACME" --state-dir "$S" \
    --server "$DEAD" --json list --cert-name a.example
t_check "status expired, days_left -1" \
    '[ "$(printf "%s\n" "$T_OUTPUT" | head -1 | jq -r ".[0] | [.status, .expired, .days_left] | map(tostring) | join(\" \")")" = "expired true -1" ]'

# ---- --metrics ---------------------------------------------------------------------------------
t_status "list --metrics: exit 1 (still the corrupt lineage)" 1 ls_ --metrics "$M" list
t_check "the metrics file is 0644" '[ "$(stat -c %a "$M")" = 644 ]'
t_check "no temp file left next to it" '[ "$(ls -A "$LAB_DIR/metrics")" = nacme.prom ]'
# A strict reader of the text format: HELP and TYPE before each family's samples, every sample
# of a declared family, label values unescaped, no timestamps, a final line feed.
cat >"$LAB_DIR/prom.py" <<'EOF'
import json, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
assert text.endswith("\n"), "no final line feed"
help_, type_, samples = {}, {}, []
lab = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
for line in text.split("\n")[:-1]:
    m = re.fullmatch(r"# HELP (nacme_[a-z_]+) (.+)", line)
    if m:
        assert m[1] not in help_; help_[m[1]] = m[2]; continue
    m = re.fullmatch(r"# TYPE (nacme_[a-z_]+) (gauge|counter)", line)
    if m:
        assert m[1] in help_ and m[1] not in type_; type_[m[1]] = m[2]; continue
    m = re.fullmatch(r"(nacme_[a-z_]+)\{(.*)\} (-?[0-9]+)", line)
    assert m, "bad line: %r" % line
    assert m[1] in type_, "sample before its TYPE: %r" % line
    labels, pos = {}, 0
    for lm in lab.finditer(m[2]):
        assert lm.start() == pos, line
        labels[lm[1]] = re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e[1], e[1]), lm[2])
        pos = lm.end() + 1
    assert pos == len(m[2]) + 1, line
    samples.append([m[1], labels, int(m[3])])
json.dump(samples, sys.stdout)
EOF
P=$LAB_DIR/metrics.json
t_ok "the metrics file parses as the exposition format" bash -c "python3 '$LAB_DIR/prom.py' '$M' >'$P'"
ls_ --json list >"$J" 2>/dev/null
mv_() { jq -r --arg m "$1" --arg n "$2" '.[] | select(.[0] == $m and .[1].name == $n) | .[2]' "$P"; }
for n in a.example b.example fresh.example multi.example; do
    t_check "$n: not_after, next renewal, last success, failures equal the JSON's" \
        '[ "$(mv_ nacme_certificate_not_after_timestamp_seconds $n)" = "$(jf $n .not_after_epoch)" ] && [ "$(mv_ nacme_certificate_next_renewal_timestamp_seconds $n)" = "$(jf $n .next_renewal_epoch)" ] && [ "$(mv_ nacme_certificate_last_success_timestamp_seconds $n)" = "$(jf $n .last_success_epoch)" ] && [ "$(mv_ nacme_certificate_consecutive_failures $n)" = "$(jf $n .failures)" ]'
done
t_check "b.example: the last failure's time" \
    '[ "$(mv_ nacme_certificate_last_failure_timestamp_seconds b.example)" = "$DUE" ] && [ "$(mv_ nacme_certificate_last_failure_timestamp_seconds a.example)" = 0 ]'
t_check "c.example: a read error naming the file, and no other series" \
    '[ "$(jq -r ".[] | select(.[1].name == \"c.example\") | \"\(.[0]) \(.[1].file) \(.[2])\"" "$P")" = "nacme_certificate_read_error $S/archive/c.example/lineage.json 1" ]'
t_check "the run: list, failed, at about now" \
    '[ "$(jq -r ".[] | select(.[0] == \"nacme_last_run_success\") | \"\(.[1].command) \(.[2])\"" "$P")" = "list 0" ] && [ $(( $(jq ".[] | select(.[0] == \"nacme_last_run_timestamp_seconds\") | .[2]" "$P") - NOW )) -lt 60 ]'

# Other commands' runs survive; renew and issue write it too.
proxy_up pass
t_ok "renew --metrics" rn --metrics "$M" renew --no-reload --cert-name a.example
t_ok "issue --metrics" rn --metrics "$M" issue -d a.example
python3 "$LAB_DIR/prom.py" "$M" >"$P"
t_check "runs of renew (ok), issue (ok) and list (failed) in one file" \
    '[ "$(jq -r "[.[] | select(.[0] == \"nacme_last_run_success\") | \"\(.[1].command)=\(.[2])\"] | sort | join(\" \")" "$P")" = "issue=1 list=0 renew=1" ]'
printf 'metrics_file = "%s"\nlock_wait = 0\n' "$LAB_DIR/metrics/conf.prom" >"$CONF"
t_status "metrics_file in the configuration" 1 ls_ list
t_check "is written" 'grep -q "^nacme_last_run_success{command=\"list\"} 0$" "$LAB_DIR/metrics/conf.prom"'
printf 'lock_wait = 0\n' >"$CONF"
t_status "a metrics file in a missing directory: exit 1" 1 ls_ --metrics "$LAB_DIR/nope/x.prom" list --cert-name a.example
t_check "naming it" 'printf "%s" "$T_OUTPUT" | grep -q "^nacme: cannot open the directory of the metrics file $LAB_DIR/nope/x.prom: No such file"'

# Label escaping: a state directory whose path holds a double quote, a backslash and a line feed
# (the read error's file label carries it).
Q="$LAB_DIR/q\"b\\s
l"
mkdir "$Q"
cp -a "$S" "$Q/state"
t_status "list in the odd state dir: exit 1" 1 "$NACME" --server "$DEAD" --state-dir "$Q/state" \
    --metrics "$M" list
t_check "the label is escaped as \\\\ \\\" \\n" \
    'grep -qF "nacme_certificate_read_error{name=\"c.example\",file=\"$LAB_DIR/q\\\"b\\\\s\\nl/state/archive/c.example/lineage.json\"} 1" "$M"'
t_check "and reads back as the path" \
    '[ "$(python3 "$LAB_DIR/prom.py" "$M" | jq -r ".[] | select(.[0] == \"nacme_certificate_read_error\") | .[1].file")" = "$Q/state/archive/c.example/lineage.json" ]'

t_ok "list of a state directory that does not exist: empty, exit 0" "$NACME" --state-dir "$LAB_DIR/none" --json list
t_check "an empty array, and the directory was not made" '[ "$T_OUTPUT" = "[]" ] && [ ! -e "$LAB_DIR/none" ]'

# list reads and never writes: the state directory is the same afterwards.
sums() { (cd "$S" && find . -printf '%p %s %T@\n' | sort); }
before=$(sums)
ls_ list >/dev/null 2>&1
ls_ --json list >/dev/null 2>&1
t_check "list wrote nothing in the state directory" '[ "$(sums)" = "$before" ]'
t_done
