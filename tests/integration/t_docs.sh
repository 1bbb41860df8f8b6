#!/usr/bin/env bash
# --help and the man pages must not drift: every option in `nacme --help` and `nacme CMD --help`
# is documented in nacme(1) and vice versa; every configuration key nacme accepts is in nacme.conf(5).
set -u
. "$NACME_SRC/tests/lab/lib.sh"

commands() { "$NACME" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && /^  [a-z]/ {print $1}'; }
help_opts() {
    { "$NACME" --help; for c in $(commands); do "$NACME" "$c" --help; done; } |
        grep -oE -- '--[a-z][a-z-]*' | sort -u
}
man_opts() { grep -oE '^\.(It|Op) Fl (-[a-z][a-z-]*|[a-z] , Fl -[a-z][a-z-]*)' "$NACME_SRC/man/nacme.1" |
    grep -oE -- '-[a-z][a-z-]*$' | sed 's/^/-/' | sort -u; }
conf_keys() { grep -oE 'CFG_(STR|BOOL|INT)\("[a-z_]+"' "$NACME_SRC/src/config.c" | grep -oE '"[a-z_]+"' | tr -d '"' | sort -u; }
man_keys() { grep -oE '^\.It Ic [a-z_]+' "$NACME_SRC/man/nacme.conf.5" | awk '{print $3}' | sort -u; }

t_ok "nacme --help exits 0" "$NACME" --help
t_check "--help lists the issue command" '"$NACME" --help | grep -q "^  issue "'
t_ok "nacme --version prints a version" bash -c '"$NACME" --version | grep -qE "^nacme [0-9]+\.[0-9]+\.[0-9]+$"'
t_check "help has options" '[ "$(help_opts | wc -l)" -gt 10 ]'
t_check "every --help option is in nacme(1) and every nacme(1) option in --help" \
    'diff <(help_opts) <(man_opts)'
t_check "every configuration key is in nacme.conf(5) and vice versa" 'diff <(conf_keys) <(man_keys)'
t_status "no command: usage error, exit 2" 2 "$NACME"
t_status "unknown command: exit 2" 2 "$NACME" frobnicate
t_check "unknown command error names it on one line" \
    '[ "$("$NACME" frobnicate 2>&1 >/dev/null)" = "nacme: unknown command \"frobnicate\" (see nacme --help)" ]'
t_status "unknown option: exit 2" 2 "$NACME" issue --frob
t_status "missing -d: exit 2" 2 "$NACME" --state-dir /nonexistent issue
t_status "bad name: exit 2" 2 "$NACME" --state-dir /nonexistent issue -d 'bad_name!'
t_status "bad key type: exit 2" 2 "$NACME" --state-dir /nonexistent issue -d a.example --key-type dsa
t_status "--separate with --cert-name: exit 2" 2 "$NACME" --state-dir /nonexistent issue --separate \
    --cert-name x -d a.example -d b.example
t_status "--parallel without --separate: exit 2" 2 "$NACME" --state-dir /nonexistent issue \
    --parallel 4 -d a.example
t_status "--parallel 0: exit 2" 2 "$NACME" --state-dir /nonexistent issue --separate --parallel 0 \
    -d a.example
t_check "--parallel 0 is named with the range" \
    '"$NACME" --state-dir /nonexistent issue --separate --parallel 0 -d a.example 2>&1 | grep -q "^nacme: --parallel 0: give a whole number from 1 to 100$"'
t_check "nacme --help lists at least one command" '[ -n "$(commands)" ]' 
t_done
