#!/usr/bin/env bash
# Symbolic links and FIFOs planted in the state dir and the webroot (issue 7), against the real
# Pebble and nginx: live/NAME, lineage.json, a version's cert.pem and privkey.pem, the account key,
# the lock, the next version's directory; .well-known and .well-known/acme-challenge as links to
# elsewhere, and a link, a FIFO and a directory at the very name of the http-01 token (the fault
# proxy's bad-token mode makes the token one we know in advance). Each is refused, or replaced as a
# name without being followed; a file outside stays byte-identical, nothing is created outside, and
# no run hangs on a FIFO (every run is under a 60 s timeout: exit 124 would fail the check).
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
LOG=$LAB_DIR/proxy.log
OUT=$LAB_DIR/outside
mkdir -p "$OUT"
echo "keep me" >"$OUT/victim"
rn() { timeout 60 "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" \
    --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" --agree-tos "$@"; }
ver() { readlink "$S/live/$1" | sed 's|.*/||'; }
mark() { MARK=$(wc -l <"$LOG"); }
since() { tail -n +"$((MARK + 1))" "$LOG" | grep -cE "$1"; }
keep() { K_ALL=$T_OUTPUT; K_OUT=$(printf "%s\n" "$T_OUTPUT" | grep -v '^ ' | tail -n 1); K_ST=$T_STATUS; }
said() { echo "exit $K_ST: $K_OUT"; }
# Everything outside, with content and mode: compared before and after each case.
outside() { find "$OUT" -printf '%p %y %m %s\n' | sort; md5sum "$OUT"/* 2>/dev/null; }
BEFORE=$(outside)
untouched() { [ "$(outside)" = "$BEFORE" ]; }
no_temps() { [ -z "$(find "$S" "$LAB_WEBROOT" -name '.*' ! -name .well-known)" ]; }

proxy_up pass
t_ok "a first certificate" rn issue -d p.example
t_ok "and a second one, the batch's bystander" rn issue -d q.example
P=$S/archive/p.example

# planted WHAT HOW PATH EXPECT ARGS...: PATH replaced by what HOW makes ("link:TARGET", "fifo"),
# nacme run with ARGS must fail naming EXPECT, within the timeout; then PATH is put back.
planted() {
    local what=$1 how=$2 path=$3 expect=$4
    shift 4
    mv "$path" "$LAB_DIR/saved"
    case $how in
    link:*) ln -s "${how#link:}" "$path" ;;
    fifo) mkfifo "$path" ;;
    esac
    mark
    t_fails "$what: refused" rn "$@"
    keep
    t_check "exit status $K_ST is nacme's own (not the timeout's 124), naming: $expect" \
        '[ "$K_ST" != 124 ] && printf "%s" "$T_OUTPUT" | grep -qF -- "$expect"'
    t_check "nothing outside written" untouched
    rm -f "$path"
    mv "$LAB_DIR/saved" "$path"
    t_check "put back: p.example still at its version, q.example whole" \
        '[ "$(ver p.example)" = "$v" ] && [ -f "$S/live/q.example/cert.pem" ]'
    t_case "$what" "$how planted at ${path#"$LAB_DIR/"}, then nacme $*" "$(said)"
}

v=$(ver p.example)
planted "state: live/NAME a link out of the state dir" "link:$OUT" "$S/live/p.example" \
    "$S/live/p.example points at $OUT, not at ../archive/p.example/N" issue --force -d p.example
planted "state: live/NAME a link out, renew" "link:$OUT" "$S/live/p.example" \
    "$S/live/p.example points at $OUT, not at ../archive/p.example/N" renew --force --no-reload
t_check "renew went on with the other lineage: q.example renewed" '[ "$(ver q.example)" = 2 ]'
planted "state: lineage.json a link" "link:$OUT/victim" "$P/lineage.json" \
    "$P/lineage.json is a symbolic link; refusing to follow it" renew --force --no-reload \
    --cert-name p.example
planted "state: lineage.json a FIFO" fifo "$P/lineage.json" \
    "$P/lineage.json is not a regular file" renew --force --no-reload --cert-name p.example
planted "state: lineage.json a FIFO (list)" fifo "$P/lineage.json" \
    "$P/lineage.json is not a regular file" list
planted "state: cert.pem of the live version a link" "link:$OUT/victim" "$P/$v/cert.pem" \
    "$S/live/p.example/cert.pem is a symbolic link; refusing to follow it" \
    issue --force -d p.example
planted "state: privkey.pem a FIFO, --reuse-key" fifo "$P/$v/privkey.pem" \
    "$S/live/p.example/privkey.pem is not a regular file" issue --force --reuse-key -d p.example
CA=$(ls "$S/accounts")
planted "state: account.key a link" "link:$OUT/victim" "$S/accounts/$CA/account.key" \
    "$S/accounts/$CA/account.key is a symbolic link; refusing to follow it" \
    issue --force -d p.example
planted "state: account.key a FIFO" fifo "$S/accounts/$CA/account.key" \
    "$S/accounts/$CA/account.key is not a regular file" issue --force -d p.example
planted "state: lock a FIFO" fifo "$S/lock" "$S/lock is not a regular file; refusing to use it" \
    issue --force -d p.example
planted "state: lock a link" "link:$OUT/victim" "$S/lock" "cannot open $S/lock" \
    issue --force -d p.example
# A hard link: the pid would be written into the file elsewhere (same file system).
mv "$S/lock" "$LAB_DIR/saved"
ln "$OUT/victim" "$S/lock"
t_fails "state: lock hard-linked to a file outside: refused" rn issue --force -d p.example
keep
t_check "naming the lock and why" 'printf "%s" "$T_OUTPUT" | grep -qF "$S/lock is hard-linked elsewhere; refusing to use it"'
t_check "the file outside keeps its content" '[ "$(cat "$OUT/victim")" = "keep me" ]'
t_case "state: lock hard-linked elsewhere" "ln OUTSIDE/victim STATE/lock, then nacme issue --force" "$(said)"
rm -f "$S/lock"
mv "$LAB_DIR/saved" "$S/lock"

# The next version's directory planted as a link (or a FIFO): never written into; nacme takes the
# version after it.
ln -s "$OUT" "$P/$((v + 1))"
mkfifo "$P/$((v + 2))"
t_ok "state: the next two version names planted (link out, FIFO): issue --force" \
    rn issue --force -d p.example
keep
t_check "skipped: version $((v + 3)) is live" '[ "$(ver p.example)" = $((v + 3)) ]'
t_check "nothing outside written" untouched
t_check "the planted names are left as they were" '[ -L "$P/$((v + 1))" ] && [ -p "$P/$((v + 2))" ]'
t_case "state: next version dirs planted" "archive/NAME/N+1 a link out, N+2 a FIFO; issue --force" \
    "$(said); written as version N+3, nothing followed"
rm -f "$P/$((v + 1))" "$P/$((v + 2))"
v=$(ver p.example)

# ---- the webroot ----------------------------------------------------------------------------------
WK=$LAB_WEBROOT/.well-known
rm -rf "$WK"
mkdir -p "$WK"
ln -s "$OUT" "$WK/acme-challenge"
mark
t_fails "webroot: .well-known/acme-challenge a link out: refused" rn issue -d w1.example
keep
t_check "naming it" 'printf "%s" "$T_OUTPUT" | grep -qF "$WK/acme-challenge is a symbolic link; refusing to follow it"'
t_check "nothing outside written, no challenge POST" 'untouched && [ "$(since "^POST /chalZ/")" = 0 ]'
t_case "webroot: acme-challenge dir a link" "ln -s OUTSIDE WEBROOT/.well-known/acme-challenge; issue" "$(said)"
rm -rf "$WK"
ln -s "$OUT" "$WK"
mark
t_fails "webroot: .well-known a link out: refused" rn issue -d w1.example
keep
t_check "naming it" 'printf "%s" "$T_OUTPUT" | grep -qF "$WK is a symbolic link; refusing to follow it"'
t_check "nothing outside written, no challenge POST" 'untouched && [ "$(since "^POST /chalZ/")" = 0 ]'
t_case "webroot: .well-known a link" "ln -s OUTSIDE WEBROOT/.well-known; issue" "$(said)"
rm -f "$WK"

# Something planted at the token's own name. bad-token makes every token TOK; Pebble then finds
# nothing at its own token and the order fails, which does not matter here: what nacme did to
# the planted name does.
TOK=plantedTokenplantedTokenplantedTokenAAAAAAA
proxy_up bad-token --token "$TOK"
CH=$WK/acme-challenge
for how in "link:$OUT/victim" fifo dir; do
    rm -rf "$WK"
    mkdir -p "$CH"
    case $how in
    link:*) ln -s "${how#link:}" "$CH/$TOK" ;;
    fifo) mkfifo "$CH/$TOK" ;;
    dir) mkdir "$CH/$TOK" && echo x >"$CH/$TOK/inside" ;;
    esac
    mark
    t_fails "webroot: the token's name planted ($how): the run fails" rn issue -d "w-${how%%:*}.example"
    keep
    t_check "within the timeout" '[ "$K_ST" != 124 ]'
    t_check "nothing outside written" untouched
    if [ "$how" = dir ]; then
        t_check "a directory there: one line naming the token file, before any challenge POST" \
            'printf "%s" "$K_ALL" | grep -qF "cannot write $CH/$TOK: Is a directory" && [ "$(since "^POST /chalZ/")" = 0 ]'
        t_check "the directory and its content left alone" '[ -f "$CH/$TOK/inside" ]'
        result="$(said)"
    else
        t_check "the planted $how was replaced as a name (never opened), then removed" \
            '[ ! -e "$CH/$TOK" ] && [ ! -L "$CH/$TOK" ]'
        result="$(said); the planted name replaced by rename, never opened, removed at the end"
    fi
    t_check "no temp files" no_temps
    t_case "webroot: a ${how%%:*} at the token's name" "$how at WEBROOT/.well-known/acme-challenge/TOKEN (token fixed by the fault proxy)" "$result"
done
rm -rf "$WK"
t_check "p.example unchanged through the webroot cases" '[ "$(ver p.example)" = "$v" ]'

t_done
