#!/usr/bin/env bash
# Source rules that a compiler does not enforce: no unbounded or shell-spawning calls in src/ (use
# snprintf, strtol, run.c's argv execution, safefile's O_EXCL temp files instead).
set -u
. "$NACME_SRC/tests/lab/lib.sh"

banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|system|popen|tmpnam|mktemp)[[:space:]]*\('
# Comments and string literals may name them; strip both before looking.
scan() {
    local f
    for f in "$NACME_SRC"/src/*.c "$NACME_SRC"/include/*.h; do
        sed -E 's#//.*$##; s#/\*.*\*/##g; s#"([^"\\]|\\.)*"#""#g' "$f" |
            grep -nE "$banned" | sed "s#^#${f#"$NACME_SRC"/}:#"
    done
}
t_check "the scan finds a planted call" \
    '[ -n "$(printf "int f(void){ char b[8]; sprintf(b, \"x\"); }\n" | grep -E "$banned")" ]'
t_check "the scan keeps snprintf and strtol" \
    '[ -z "$(printf "snprintf(b, 1, \"x\"); strtol(s, 0, 10);\n" | grep -E "$banned")" ]'
hits=$(scan)
t_check "no banned calls in src/ or include/" '[ -z "$hits" ]'
[ -z "$hits" ] || t_note "$hits"
t_done
