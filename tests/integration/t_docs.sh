#!/usr/bin/env bash
# --help and the man pages must not drift. Per command: the option lines of `nacme CMD --help`
# (short and long names, and whether the option takes an argument) are the .It Fl entries of that
# command's section of nacme(1) (`.Ss CMD`, or `.Ss A | B` for a command with an alias), and the
# global options of `nacme --help` are those of `.Ss Global options`; the options of each
# command's usage line are the ones its SYNOPSIS lines give; the commands of `nacme --help` are
# the command sections of nacme(1) and the commands of its SYNOPSIS. Every configuration key nacme
# accepts is in nacme.conf(5). NACME_MAN (default man/nacme.1) lets the check be shown failing on
# an edited copy.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
MAN=${NACME_MAN:-$NACME_SRC/man/nacme.1}

# ---- --help -----------------------------------------------------------------------------------
# The commands of `nacme --help`, one a line ("account show"): the left column of its Commands.
help_commands() {
    "$NACME" --help | sed -n '/^Commands:/,/^$/p' |
        awk 'NR > 1 && /^  [a-z]/ { s = substr($0, 3, 28); sub(/ +$/, "", s); print s }' | sort
}
# The rows of one options block ("Options of CMD:" or "Global options:") of a --help text on
# stdin, normalised to "-v --verbose" or "--server ARG". A row's left column is 28 characters
# wide (cli.c help_row); a continuation line starts with 31 blanks, so it never matches.
help_block() {
    sed -n "/^$1\$/,/^\$/p" | awk '
        /^  -[A-Za-z], --[a-z]/ || /^      --[a-z]/ {
            left = substr($0, 3, 28); n = split(left, w, " "); out = ""
            for (i = 1; i <= n; i++) {
                t = w[i]; sub(/,$/, "", t)
                out = out (out == "" ? "" : " ") (t ~ /^-/ ? t : "ARG")
            }
            print out
        }' | sort
}
help_of() { if [ -n "$1" ]; then "$NACME" $1 --help; else "$NACME" --help; fi; }
help_opts() { help_of "$1" | help_block "Options of $1:"; }
help_globals() { help_of "${1:-}" | help_block "Global options:"; }
# The options named on the usage line of `nacme CMD --help`.
help_usage() {
    help_of "$1" | sed -n '1s/^Usage: nacme \[OPTIONS\] //p' | grep -oE -- '(^|[ [|])--?[a-z][a-z-]*' |
        sed 's/^[ [|]//' | sort -u
}

# ---- nacme(1) ---------------------------------------------------------------------------------
# The .It Fl entries of the top-level lists (not of lists nested in an entry) of the section
# titled $1 under DESCRIPTION, normalised as help_block does: ".It Fl d , Fl -domain Ar name" is
# "-d --domain ARG".
man_opts() {
    awk -v want="$1" '
        /^\.Sh / { sh = substr($0, 5); ss = ""; depth = 0; next }
        /^\.Ss / { ss = substr($0, 5); depth = 0; next }
        sh != "DESCRIPTION" || ss != want { next }
        /^\.Bl/ { depth++; next }
        /^\.El/ { depth--; next }
        depth == 1 && /^\.It Fl / {
            out = ""; arg = 0
            for (i = 3; i <= NF; i++) {
                if ($i == "Ar") arg = 1
                if ($(i - 1) == "Fl" && !arg) out = out (out == "" ? "" : " ") "-" $i
            }
            print out (arg ? " ARG" : "")
        }' "$MAN" | sort
}
# The titles of the command sections under DESCRIPTION; man_sections lists their commands, one a
# line (".Ss list | status" is two), and man_section_of CMD the title of the one documenting CMD.
man_sections_raw() {
    awk '/^\.Sh / { sh = substr($0, 5); next }
         sh == "DESCRIPTION" && /^\.Ss / && $0 != ".Ss Global options" { print substr($0, 5) }' "$MAN"
}
man_sections() { man_sections_raw | sed 's/ | /\n/g' | sort; }
# The titles (or synopsis lines) on stdin whose " | "-separated names include $1.
naming() { awk -F'\t' -v c="$1" '{ n = split($1, a, " [|] "); for (i = 1; i <= n; i++) if (a[i] == c) print }'; }
man_section_of() { man_sections_raw | naming "$1"; }
# Each SYNOPSIS form of a command: ".Cm X" right after ".Op Ar global options" names it, and its
# lines run to the next ".Nm". man_synopsis_commands lists the commands, man_synopsis_opts CMD
# the options of all the forms of CMD ("Fl -cert-name" is --cert-name, "Fl d" is -d).
man_synopsis() {
    awk '/^\.Sh SYNOPSIS/ { on = 1; next } /^\.Sh / { on = 0 }
         on && /^\.Nm/ { cmd = ""; prev = ""; next }
         on && prev == ".Op Ar global options" && /^\.Cm / { cmd = substr($0, 5) }
         on { if (cmd != "") print cmd "\t" $0; prev = $0 }' "$MAN"
}
man_synopsis_commands() { man_synopsis | cut -f1 | sort -u | sed 's/ | /\n/g' | sort -u; }
man_synopsis_opts() {
    man_synopsis | naming "$1" | cut -f2 | grep -oE 'Fl -?[a-z][a-z-]*' | sed 's/^Fl /-/' | sort -u
}
conf_keys() { grep -oE 'CFG_(STR|BOOL|INT)\("[a-z_]+"' "$NACME_SRC/src/config.c" | grep -oE '"[a-z_]+"' | tr -d '"' | sort -u; }
man_keys() { grep -oE '^\.It Ic [a-z_]+' "$NACME_SRC/man/nacme.conf.5" | awk '{print $3}' | sort -u; }

# ---- the checks -------------------------------------------------------------------------------
t_ok "nacme --help exits 0" "$NACME" --help
t_check "--help lists the issue command" '"$NACME" --help | grep -q "^  issue "'
t_ok "nacme --version prints a version" bash -c '"$NACME" --version | grep -qE "^nacme [0-9]+\.[0-9]+\.[0-9]+$"'
t_check "nacme --help lists at least five commands" '[ "$(help_commands | wc -l)" -ge 5 ]'
t_check "the commands of nacme --help are the command sections of nacme(1)" \
    'diff <(help_commands) <(man_sections)'
t_check "and the commands of its SYNOPSIS" 'diff <(help_commands) <(man_synopsis_commands)'
t_check "--help has global options, -v and -q among them" \
    '[ "$(help_globals | wc -l)" -gt 10 ] && help_globals | grep -qx -- "-v --verbose" && help_globals | grep -qx -- "-q --quiet"'
t_check "the global options of nacme --help are those of nacme(1)'s Global options" \
    'diff <(help_globals) <(man_opts "Global options")'
while IFS= read -r cmd; do
    t_check "$cmd: the option lines of its --help are the .It Fl entries of its section in nacme(1)" \
        'sec=$(man_section_of "$cmd") && [ -n "$sec" ] && diff <(help_opts "$cmd") <(man_opts "$sec")'
    t_check "$cmd: the options of its usage line are those of its SYNOPSIS" \
        'diff <(help_usage "$cmd") <(man_synopsis_opts "$cmd")'
    t_check "$cmd: its --help lists the same global options as nacme --help" \
        'diff <(help_globals "$cmd") <(help_globals)'
done < <(help_commands)
t_check "issue's options include -d, --domain with an argument" 'help_opts issue | grep -qx -- "-d --domain ARG"'
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
t_done
