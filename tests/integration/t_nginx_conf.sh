#!/usr/bin/env bash
# nacme reads nginx's configuration as nginx does: for the edge-case corpus and for generated
# files around nginx's 4096-byte token limit, the distro nginx (`nginx -t` with a private prefix)
# and `nacme nginx-setup --list` accept and refuse the same files, with the same message and line;
# the names nginx actually answers for (a private nginx on a free loopback port, curl with Host
# headers) are the names nacme lists; `nginx -T` output gives the same sites as the files; and
# 10,000 server blocks over 100 included files are all listed. A seeded random differential test
# (tests/lab/nginx_syntax_fuzz.py) compares the verdicts on 300 files of nginx's special characters.
# No ACME lab: only nginx. The system nginx and port 80 are never touched.
set -u
. "$NACME_SRC/tests/lab/lib.sh"

W=$(mktemp -d "${TMPDIR:-/tmp}/nacme-ngxconf.XXXXXX") || exit 1
P=$W/prefix
DATA=$NACME_SRC/tests/data/nginx
mkdir -p "$P/logs" "$W/edge"
: >"$W/nacme.conf"
SERVING=""
stop_serving() {
    [ -n "$SERVING" ] && nginx -p "$P/" -c "$SERVING" -e stderr -g "pid $P/nginx.pid;" -s stop \
        2>/dev/null
    for _ in $(seq 50); do [ -f "$P/nginx.pid" ] || break; sleep 0.1; done
    SERVING=""
}
cleanup() {
    stop_serving
    if [ "${NACME_KEEP:-0}" = 1 ]; then echo "# kept $W" >&2; else rm -rf -- "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

nacme() { "$NACME" --config "$W/nacme.conf" "$@"; }
list_json() { nacme --json --nginx-conf "$1" nginx-setup --list; }
# What nginx says about a file: "accepted" or its [emerg] as "FILE:LINE: message".
nginx_verdict() {
    local out
    out=$(nginx -t -p "$P/" -c "$1" -e stderr -g "pid $P/nginx.pid;" 2>&1)
    if printf '%s\n' "$out" | grep -q 'syntax is ok'; then
        echo accepted
    else
        printf '%s\n' "$out" | grep -m1 '\[emerg\]' |
            sed -E 's/^.*\[emerg\] [0-9]+#[0-9]+: (.*) in (.*):([0-9]+)$/\2:\3: \1/'
    fi
}
# The same from nacme: "accepted" (exit 0) or its one-line error.
nacme_verdict() {
    local err
    if err=$(nacme --nginx-conf "$1" nginx-setup --list 2>&1 >/dev/null); then
        echo accepted
    else
        printf '%s\n' "$err" | sed 's/^nacme: //'
    fi
}

# ---- 1. the edge-case corpus: the same verdict, message and line as nginx -t ------------------
PORT=$(free_port)
for f in "$DATA"/edge/*.conf; do
    b=$(basename "$f")
    sed "s/@PORT@/$PORT/g" "$f" >"$W/edge/$b"
    want=$(nginx_verdict "$W/edge/$b")
    got=$(nacme_verdict "$W/edge/$b")
    t_check "$b: nginx says \"${want##*: }\", so does nacme" [ "$got" = "$want" ]
    case $b in
    ok-*) t_check "$b is accepted" [ "$want" = accepted ] ;;
    bad-*) t_check "$b is refused" [ "$want" != accepted ] ;;
    esac
done
t_status "a refused file: exit 2" 2 nacme --nginx-conf "$W/edge/bad-close.conf" nginx-setup --list
t_check "with one line naming file:line" \
    '[ "$T_OUTPUT" = "nacme: $W/edge/bad-close.conf:7: unexpected \"}\"" ]'

# ---- 2. nginx's 4096-byte buffer: tokens around the limit, at several positions --------------
x() { head -c "$1" /dev/zero | tr '\0' x; }
same=0
differ=""
for pad in 10 3000; do
    for spaces in 0 1500 5000; do
        for n in 4093 4094 4095 4096; do
            for kind in plain quoted comment; do
                f=$W/limit-$pad-$spaces-$n-$kind.conf
                {
                    printf '# %s\n' "$(x "$pad")"
                    head -c "$spaces" /dev/zero | tr '\0' ' '
                    printf 'events {}\nhttp { server { '
                    case $kind in
                    plain) printf 'return 200 %s; } }\n' "$(x "$n")" ;;
                    quoted) printf 'return 200 "%s"; } }\n' "$(x "$n")" ;;
                    comment) printf '\n# %s\n} }\n' "$(x "$n")" ;;
                    esac
                } >"$f"
                want=$(nginx_verdict "$f")
                got=$(nacme_verdict "$f")
                if [ "$got" = "$want" ]; then
                    same=$((same + 1))
                else
                    differ="$differ $(basename "$f"): nginx [$want] nacme [$got];"
                fi
                rm -f "$f"
            done
        done
    done
done
t_check "72 files around the 4096-byte limit: nacme accepts and refuses as nginx does" \
    '[ "$same" = 72 ] || { echo "$differ"; false; }'

# ---- 2b. random bytes around a server_name: nginx and nacme agree on every syntax verdict ------
# Under valgrind (NACME_REAL set by the valgrind build) each run costs half a second: fewer files.
FUZZ=300
[ -n "${NACME_REAL:-}" ] && FUZZ=60
t_ok "$FUZZ random files: every syntax verdict the same as nginx's (seeded)" python3 \
    "$NACME_SRC/tests/lab/nginx_syntax_fuzz.py" "$NACME" "$W/nacme.conf" "$P" 20261123 "$FUZZ"
t_note "${T_OUTPUT##*$'\n'}"

# ---- 3. the names nginx answers for are the names nacme lists -------------------------------
# Each ok-*.conf has a default_server answering "default"; any other body means nginx picked a
# server block for that Host. Candidates: everything in the file that looks like a name.
for f in "$W"/edge/ok-*.conf; do
    b=$(basename "$f")
    stop_serving
    rm -f "$P/nginx.pid"
    if ! nginx -p "$P/" -c "$f" -e stderr -g "pid $P/nginx.pid;" 2>"$W/start.err"; then
        T_OUTPUT=$(cat "$W/start.err")
        _t_report fail "$b: nginx starts" "nginx did not start"
        continue
    fi
    SERVING=$f
    listed=$(list_json "$f" | jq -r '.[] | select(.names) | .names[]' | sort -u)
    skipped=$(list_json "$f" | jq -r '.[] | select(.skipped) | .skipped' | sort -u)
    mismatch=""
    checked=0
    for h in $(grep -oiE '[a-z0-9_-]+(\.[a-z0-9_-]+)*\.example' "$f" | tr 'A-Z' 'a-z' | sort -u); do
        body=$(curl -s --max-time 5 -H "Host: $h" "http://127.0.0.1:$PORT/")
        checked=$((checked + 1))
        if [ "$body" != default ]; then served=yes; else served=no; fi
        if printf '%s\n' "$listed" | grep -qxF "$h"; then
            said=listed
        elif printf '%s\n' "$skipped" | grep -qxF "$h"; then
            said=skipped
        else
            said=absent
        fi
        # served: listed, or skipped with a reason (bad_name.example: nginx takes it, no CA
        # does); not served: never listed
        case $served-$said in
        yes-listed | yes-skipped | no-skipped | no-absent) ;;
        *) mismatch="$mismatch $h(nginx serves: $served, nacme: $said)" ;;
        esac
    done
    t_check "$b: of $checked names, nacme lists exactly those nginx serves a site for" \
        '[ "$checked" -ge 2 ] && [ -z "$mismatch" ] || { echo "mismatch:$mismatch"; false; }'
done
stop_serving
t_check "ok-names.conf: each skip reason is reported" 'list_json "$W/edge/ok-names.conf" | jq -e "
    [.[] | select(.skipped) | .reason] | unique | length >= 7"'
t_check "ok-names.conf: .dot.example gives dot.example, and *.dot.example skipped" \
    'list_json "$W/edge/ok-names.conf" | jq -e "
    (map(select(.names) | .names[]) | index(\"dot.example\")) != null and
    (map(select(.skipped == \"*.dot.example\")) | length) == 1"'
t_check "ok-names.conf: N1.Example (port 127.0.0.1) and n1.example (two listens) are one site" \
    'list_json "$W/edge/ok-names.conf" | jq -e "
    map(select(.names and (.names | index(\"n1.example\")))) | length == 1 and
    (.[0].files | length) == 2 and (.[0].listen | length) == 2"'

# ---- 4. nginx -T output gives what the files give -------------------------------------------
cp -a "$DATA/layout" "$W/layout"
t_ok "nginx -T reads the layout" bash -c \
    "nginx -T -p '$P/' -c '$W/layout/nginx.conf' -e stderr -g 'pid $P/nginx.pid;' >'$W/dump' 2>/dev/null"
t_check "its first line is the header nacme splits on" \
    '[ "$(head -1 "$W/dump")" = "# configuration file $W/layout/nginx.conf:" ]'
t_check "from the dump (stdin) the same JSON as from the files" \
    '[ "$(nacme --json nginx-setup --list --nginx-dump - <"$W/dump")" = "$(list_json "$W/layout/nginx.conf")" ]'
t_check "the same from the dump as a file" \
    '[ "$(nacme --json nginx-setup --list --nginx-dump "$W/dump")" = "$(list_json "$W/layout/nginx.conf")" ]'
t_check "nacme reads as many files as nginx -T shows" \
    'n=$(grep -c "^# configuration file " "$W/dump");
     nacme -v --nginx-conf "$W/layout/nginx.conf" nginx-setup --list 2>&1 >/dev/null | grep -q " in $n files,"'
t_check "the layout: three sites, with their files and listens" \
    '[ "$(list_json "$W/layout/nginx.conf" | jq -c "map(select(.names) | [.names, .files, .listen])")" = \
       "[[[\"a.example\",\"www.a.example\"],[\"$W/layout/conf.d/10-a.conf:1\",\"$W/layout/sites-enabled/a-ssl:1\"],[\"80\",\"443\"]],[[\"b.example\"],[\"$W/layout/conf.d/2-b.conf:1\"],[\"80\"]],[[\"c.example\"],[\"$W/layout/sites-enabled/c:1\"],[\"8080\"]]]" ]'
t_check "the table lists them, and the skipped names with reasons" \
    'out=$(nacme --nginx-conf "$W/edge/ok-names.conf" nginx-setup --list) &&
     printf "%s\n" "$out" | head -1 | grep -q "^NAMES *LISTEN *FILE:LINE$" &&
     printf "%s\n" "$out" | grep -q "^dot.example 127.0.0.1 ::1 n1.example n2.example " &&
     printf "%s\n" "$out" | grep -q "^\"\\*.wild.example\" *wildcard"'
printf 'nginx_conf = "%s"\n' "$W/layout/nginx.conf" >"$W/nacme-layout.conf"
t_check "nginx_conf in nacme.conf names the file to read" \
    '[ "$("$NACME" --config "$W/nacme-layout.conf" --json nginx-setup --list)" = "$(list_json "$W/layout/nginx.conf")" ]'
t_check "--nginx-conf wins over it" \
    '[ "$("$NACME" --config "$W/nacme-layout.conf" --json --nginx-conf "$W/edge/ok-names.conf" nginx-setup --list)" = \
       "$(list_json "$W/edge/ok-names.conf")" ]'
printf 'http { server { server_name "a\\tb" x.example; } }\n' >"$W/ctl.conf"
t_check "a name with a control character: '?' in the table, the real text in JSON" \
    'nacme --nginx-conf "$W/ctl.conf" nginx-setup --list | grep -q "^\"a?b\"  *not a valid host name" &&
     [ "$(list_json "$W/ctl.conf" | jq -r ".[1].skipped")" = "$(printf "a\tb")" ]'
printf 'events {}\n' >"$W/notdump"
t_status "--nginx-dump of something else: exit 2" 2 nacme nginx-setup --list --nginx-dump "$W/notdump"
t_status "--nginx-dump without --list: exit 2" 2 nacme nginx-setup --nginx-dump "$W/dump"
t_status "a missing --nginx-conf: exit 2" 2 nacme --nginx-conf "$W/none.conf" nginx-setup --list

# ---- 5. 10,000 server blocks in 100 included files -------------------------------------------
python3 "$NACME_SRC/tests/lab/nginx_gen.py" "$W/big" 10000 2000
t_ok "nginx -t accepts the 10,000 blocks" nginx -t -p "$P/" -c "$W/big/nginx.conf" -e stderr \
    -g "pid $P/nginx.pid;"
t_ok "nacme lists them" bash -c "'$NACME' --config '$W/nacme.conf' --json --nginx-conf \
    '$W/big/nginx.conf' nginx-setup --list >'$W/big.json'"
t_check "8,000 sites (2,000 of them on 80 and 443), 10,000 blocks, 10,000 skipped wildcards" \
    'jq -e "(map(select(.names)) | length) == 8000 and
            (map(select(.names) | .files | length) | add) == 10000 and
            (map(select(.names) | .names | length) | add) == 16000 and
            (map(select(.skipped)) | length) == 10000" "$W/big.json"'
t_check "a merged site: s1.example on 80 (file 000000.conf) and 443 (file 008000.conf)" \
    '[ "$(jq -c "map(select(.names[0]? == \"s1.example\"))[0]" "$W/big.json")" = \
       "{\"names\":[\"s1.example\",\"www.s1.example\"],\"types\":[\"dns\",\"dns\"],\"files\":[\"$W/big/sites/000000.conf:8\",\"$W/big/sites/008000.conf:8\"],\"listen\":[\"80\",\"443\"]}" ]'
t_check "the same sites from nginx -T of it" \
    'nginx -T -p "$P/" -c "$W/big/nginx.conf" -e stderr -g "pid $P/nginx.pid;" 2>/dev/null |
     "$NACME" --config "$W/nacme.conf" --json nginx-setup --list --nginx-dump - | cmp -s - "$W/big.json"'
t_done
