#!/usr/bin/env bash
# Local faults against the real Pebble and nginx (issue 7): a full disk (a small tmpfs as the state
# dir; the free space is checked before ordering), ENOSPC and EIO on fsync and EROFS on rename
# (strace fault injection at the n-th call, n found by tracing the same run without a fault), a read-only state dir or webroot (found before the CA is
# asked to validate: the fault proxy's log has no challenge POST), a state dir owned by another
# user or writable by group or others (refused with the reason), umask 000 and 077 (the same modes
# either way). Each fails with one line naming the path and the error; the previous certificate
# stays live; no temp or token file is left. Every case appends its line to $NACME_CASES_FILE.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
LOG=$LAB_DIR/proxy.log
FS=$LAB_DIR/fs # a small tmpfs, when mount(2) is permitted
MOUNTS=()
lf_cleanup() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[$i]}" 2>/dev/null; done
    MOUNTS=()
    _lab_cleanup
}
trap lf_cleanup EXIT
# ro_mount DIR / ro_umount DIR: DIR read-only (a read-only bind mount of itself): as root, a mode
# of 0500 would not stop a write.
ro_mount() { mount --bind "$1" "$1" && MOUNTS+=("$1") && mount -o remount,bind,ro "$1"; }
ro_umount() { umount "$1"; }
rn() { proxy_nacme --agree-tos "$@"; }
ver() { readlink "$1/live/$2" | sed 's|.*/||'; }
mark() { MARK=$(wc -l <"$LOG"); }
since() { tail -n +"$((MARK + 1))" "$LOG" | grep -cE "$1"; }
one_line() { [ "$(printf "%s\n" "$T_OUTPUT" | grep -c .)" = 1 ]; }
# keep: nacme's output and status, for the case line after the checks have replaced T_OUTPUT;
# without the line a run with a fresh name says (fresh_name below), which is the test's doing
keep() {
    T_OUTPUT=$(printf "%s\n" "$T_OUTPUT" | grep -v ": the names changed; issuing a new certificate$")
    K_OUT=$(printf "%s\n" "$T_OUTPUT" | head -n 1)
    K_ST=$T_STATUS
}
said() { echo "exit $K_ST: $K_OUT"; }
no_temps() { [ -z "$(find "$1" "$LAB_WEBROOT" -name '.*' ! -name .well-known)" ]; }
no_tokens() { [ -z "$(ls -A "$LAB_WEBROOT/.well-known/acme-challenge" 2>/dev/null)" ]; }
# fresh_name: a name this lab has never validated. Pebble reuses a valid authorization 1 time in
# 100 even with PEBBLE_AUTHZREUSE=0 (it reuses unless rand.Intn(100) > percent), and then no token
# is written: the runs that count system calls, or need a token written, order a fresh name for
# their lineage (FRESH_NAME; set in this shell, not in a command substitution).
FRESH=0
fresh_name() { FRESH=$((FRESH + 1)) && FRESH_NAME=n$FRESH-$$.full.example; }
# strace's own LeakSanitizer cannot stop the world of a traced process: no leak check there.
traced() { ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq "$@"; }

proxy_up pass

# ---- disk full -----------------------------------------------------------------------------------
mkdir -p "$FS"
if ! mount -t tmpfs -o size=512k,nr_inodes=1000,mode=0755 tmpfs "$FS" 2>/dev/null; then
    t_note "SKIP disk full and strace cases: cannot mount a tmpfs here (not root, or no mount(2))"
    HAVE_FS=0
else
    MOUNTS+=("$FS")
    HAVE_FS=1
fi
# fill N: the tmpfs full but for N pages of 4 KiB
fill() {
    rm -f "$FS/filler"
    dd if=/dev/zero of="$FS/filler" bs=4k 2>/dev/null
    [ "$1" = 0 ] || truncate -s "-$(($1 * 4096))" "$FS/filler"
}
F=$FS/state
# nacme looks at the free space before ordering (64 KiB and 16 inodes): a certificate the CA issued
# and that could not be stored would be lost, and count against the CA's rate limits.
FULL="No space left on device ([0-9]* KiB and [0-9]* inodes free, 64 KiB and 16 inodes needed to store a certificate); not ordering one that could not be stored"
if [ "$HAVE_FS" = 1 ]; then
    fill 0
    mark
    t_fails "a fresh state dir on a full disk: issue fails" rn --state-dir "$F" issue -d full.example
    keep
    t_check "one line naming the state dir and ENOSPC" \
        'one_line && printf "%s" "$T_OUTPUT" | grep -q "^nacme: full.example: $F: $FULL$"'
    t_check "before any request to the CA (no account made)" '[ "$(since .)" = 0 ]'
    t_check "no account key, no temp files" '[ -z "$(ls -A "$F/accounts")" ] && no_temps "$F"'
    t_case "disk full, first issue" "state dir on a full 512 KiB tmpfs, first issue" \
        "$(said); no request to the CA"

    rm -f "$FS/filler"
    t_ok "a first certificate on the tmpfs" rn --state-dir "$F" issue -d full.example
    cert1=$(cat "$F/live/full.example/cert.pem")
    fill 0
    mark
    t_fails "disk full: issue --force fails" rn --state-dir "$F" issue --force -d full.example
    keep
    t_check "one line naming the state dir and ENOSPC" \
        'one_line && printf "%s" "$T_OUTPUT" | grep -q "^nacme: full.example: $F: $FULL$"'
    t_check "no order: the CA was not asked" '[ "$(since "^POST /order-plz")" = 0 ]'
    t_check "version 1 still live, the certificate unchanged" \
        '[ "$(ver "$F" full.example)" = 1 ] && [ "$(cat "$F/live/full.example/cert.pem")" = "$cert1" ]'
    t_check "no temp files, no token files" 'no_temps "$F" && no_tokens'
    t_case "disk full, issue --force" "tmpfs filled, then issue --force" \
        "$(said); no order; version 1 live"
    mark
    t_fails "disk full: renew --force fails" rn --state-dir "$F" renew --force --no-reload
    keep
    RENEW_OUT=$T_OUTPUT
    t_check "the lineage's line names the state dir and ENOSPC" \
        'printf "%s" "$T_OUTPUT" | grep -q "^full.example: failed: full.example: $F: $FULL"'
    t_check "no order, version 1 live" \
        '[ "$(since "^POST /order-plz")" = 0 ] && [ "$(ver "$F" full.example)" = 1 ]'
    t_case "disk full, renew --force" "tmpfs filled, then renew --force" \
        "exit $K_ST: $(printf "%s\n" "$RENEW_OUT" | grep "^full.example: failed:"); no order"

    # fill N leaves N pages free; the run's pid in the lock file then takes one (a finished run
    # leaves the lock empty), so nacme sees N - 1.
    fill 16
    t_fails "60 KiB free: still refused" rn --state-dir "$F" issue --force -d full.example
    t_check "with the same line" 'printf "%s" "$T_OUTPUT" | grep -q "$F: No space left on device (60 KiB"'
    fill 17
    t_ok "64 KiB free: enough, issued" rn --state-dir "$F" issue --force -d full.example
    t_check "version 2 live and whole" \
        '[ "$(ver "$F" full.example)" = 2 ] && [ "$(openssl x509 -noout -pubkey -in "$F/live/full.example/cert.pem")" = "$(openssl pkey -pubout -in "$F/live/full.example/privkey.pem")" ]'
    rm -f "$FS/filler"
fi

# ---- EIO on fsync, EROFS on rename (strace) -------------------------------------------------------
if ! command -v strace >/dev/null; then
    t_note "SKIP strace cases: strace is not installed"
elif [ "$HAVE_FS" = 1 ]; then
    # The same run without a fault, traced: which fsync and which rename is the n-th.
    TR=$LAB_DIR/trace
    fresh_name
    t_ok "a traced --force run (the calibration)" \
        traced -y -e trace=fsync,renameat,renameat2,rename -o "$TR" \
        "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$F" \
        --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" issue --force \
        --cert-name full.example -d "$FRESH_NAME"
    keep
    nth() { grep -E " $1\(" "$TR" | grep -n -- "$2" | head -n 1 | cut -d: -f1; }
    n_cert=$(nth fsync '/\.cert\.pem\.')
    n_key=$(nth fsync '/\.privkey\.pem\.')
    n_record=$(nth fsync '/\.lineage\.json\.')
    n_livedir=$(nth fsync '/state/live>)')
    n_switch=$(nth renameat '/state/live>, "\.')
    n_token=$(nth renameat '/acme-challenge>, "\.')
    t_check "the trace shows each step (fsync $n_key, $n_cert, $n_livedir, $n_record; rename $n_switch, $n_token)" \
        '[ -n "$n_key" ] && [ -n "$n_cert" ] && [ -n "$n_livedir" ] && [ -n "$n_record" ] && [ -n "$n_switch" ] && [ -n "$n_token" ]'
    inject() { # inject SYSCALL ERRNO N: nacme issue --force under strace
        local sc=$1 e=$2 n=$3
        shift 3
        fresh_name
        traced -o /dev/null -e trace="$sc" -e inject="$sc:error=$e:when=$n" \
            "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$F" \
            --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" issue --force \
            --cert-name full.example -d "$FRESH_NAME"
    }
    v=$(ver "$F" full.example)
    cert=$(cat "$F/live/full.example/cert.pem")
    # A full disk that only fsync finds out about (delayed allocation, thin provisioning, NFS).
    t_fails "ENOSPC on fsync of the new privkey.pem: fails" inject fsync ENOSPC "$n_key"
    keep
    t_check "one line naming archive/full.example/$((v + 1))/privkey.pem and ENOSPC" \
        'one_line && printf "%s" "$T_OUTPUT" | grep -q "cannot write $F/archive/full.example/$((v + 1))/privkey.pem: No space left on device"'
    t_check "version $v still live and unchanged, nothing of version $((v + 1)) left" \
        '[ "$(ver "$F" full.example)" = "$v" ] && [ "$(cat "$F/live/full.example/cert.pem")" = "$cert" ] && [ ! -e "$F/archive/full.example/$((v + 1))" ]'
    t_check "no temp files, no token files" 'no_temps "$F" && no_tokens'
    t_case "disk full at install (ENOSPC from fsync)" \
        "strace -e inject=fsync:error=ENOSPC:when=$n_key" \
        "$(said); previous version live, new version removed"

    t_fails "EIO on fsync of the new cert.pem: fails" inject fsync EIO "$n_cert"
    keep
    t_check "one line naming archive/full.example/$((v + 1))/cert.pem and EIO" \
        'one_line && printf "%s" "$T_OUTPUT" | grep -q "cannot write $F/archive/full.example/$((v + 1))/cert.pem: Input/output error"'
    t_check "version $v still live and unchanged, nothing of version $((v + 1)) left" \
        '[ "$(ver "$F" full.example)" = "$v" ] && [ "$(cat "$F/live/full.example/cert.pem")" = "$cert" ] && [ ! -e "$F/archive/full.example/$((v + 1))" ]'
    t_check "no temp files, no token files" 'no_temps "$F" && no_tokens'
    t_case "EIO on fsync of a certificate file" "strace -e inject=fsync:error=EIO:when=$n_cert" \
        "$(said); previous version live, new version removed"

    t_fails "EROFS on the rename that switches live/: fails" inject renameat EROFS "$n_switch"
    keep
    t_check "one line naming live/full.example and EROFS" \
        'one_line && printf "%s" "$T_OUTPUT" | grep -q "cannot point $F/live/full.example at ../archive/full.example/$((v + 1)): Read-only file system"'
    t_check "version $v still live, the staged version removed" \
        '[ "$(ver "$F" full.example)" = "$v" ] && [ "$(cat "$F/live/full.example/cert.pem")" = "$cert" ] && [ ! -e "$F/archive/full.example/$((v + 1))" ]'
    t_check "no temp links, no token files" 'no_temps "$F" && no_tokens'
    t_case "EROFS on rename of live/NAME" "strace -e inject=renameat:error=EROFS:when=$n_switch" \
        "$(said); previous version live, staged version removed"

    t_fails "EROFS on the rename of the token file: fails" inject renameat EROFS "$n_token"
    keep
    t_check "one line naming the token file in the webroot and EROFS" \
        'one_line && printf "%s" "$T_OUTPUT" | grep -q "cannot write $LAB_WEBROOT/.well-known/acme-challenge/[A-Za-z0-9_-]*: Read-only file system"'
    t_check "version $v still live" '[ "$(ver "$F" full.example)" = "$v" ]'
    t_check "no temp files, no token files" 'no_temps "$F" && no_tokens'
    t_case "EROFS on rename of a token file" "strace -e inject=renameat:error=EROFS:when=$n_token" \
        "$(said)"

    # After the rename, the directory's fsync fails: live/ already points at the new version,
    # which must therefore stay (it used to be removed, leaving live/ dangling).
    t_ok "EIO on fsync of live/ after the switch: the switch stands" inject fsync EIO "$n_livedir"
    keep
    t_check "it warns naming live/full.example and EIO" \
        'printf "%s" "$T_OUTPUT" | grep -q "warning: cannot sync directory of $F/live/full.example: Input/output error (live/full.example points at version $((v + 1)) all the same)"'
    t_check "live/ points at version $((v + 1)), which exists and is whole" \
        '[ "$(ver "$F" full.example)" = $((v + 1)) ] && [ "$(openssl x509 -noout -pubkey -in "$F/live/full.example/cert.pem")" = "$(openssl pkey -pubout -in "$F/live/full.example/privkey.pem")" ]'
    t_case "EIO on fsync of live/ after the switch" \
        "strace -e inject=fsync:error=EIO:when=$n_livedir" \
        "$(said); the new version live and kept (not removed under the link)"

    v=$(ver "$F" full.example)
    t_ok "ENOSPC on fsync of lineage.json after the switch: the switch stands" \
        inject fsync ENOSPC "$n_record"
    keep
    t_check "it warns naming lineage.json and ENOSPC" \
        'printf "%s" "$T_OUTPUT" | grep -q "warning: cannot write $F/archive/full.example/lineage.json: No space left on device (version $((v + 1)) is live all the same)"'
    t_check "version $((v + 1)) live and whole, no temp files" \
        '[ "$(ver "$F" full.example)" = $((v + 1)) ] && [ "$(openssl x509 -noout -pubkey -in "$F/live/full.example/cert.pem")" = "$(openssl pkey -pubout -in "$F/live/full.example/privkey.pem")" ] && no_temps "$F"'
    t_ok "list reads it (live/ is the truth over the stale record)" "$NACME" --state-dir "$F" --json list
    t_check "status ok" '[ "$(printf "%s" "$T_OUTPUT" | jq -r ".[0].status")" = ok ]'
    t_case "disk full at lineage.json (ENOSPC from fsync)" \
        "strace -e inject=fsync:error=ENOSPC:when=$n_record" \
        "$(said); the new version live; the stale record follows live/"
fi

# ---- read-only state dir and webroot ---------------------------------------------------------------
t_ok "a certificate in the lab's state dir" rn issue -d ro.example
keep
cert=$(cat "$S/live/ro.example/cert.pem")
if ro_mount "$S"; then
    mark
    t_fails "read-only state dir: issue --force fails" rn issue --force -d ro.example
    keep
    t_check "one line naming STATE/lock and EROFS" \
        'one_line && printf "%s" "$T_OUTPUT" | grep -q "^nacme: cannot open $S/lock: Read-only file system$"'
    t_check "the CA was not asked anything" '[ "$(since .)" = 0 ]'
    t_case "read-only state dir (issue)" "state dir bind-mounted read-only, issue --force" \
        "$(said); no request to the CA"
    t_fails "read-only state dir: renew --force fails" rn renew --force --no-reload
    keep
    t_check "the same line, and still no request" \
        'one_line && printf "%s" "$T_OUTPUT" | grep -q "cannot open $S/lock: Read-only file system" && [ "$(since .)" = 0 ]'
    t_case "read-only state dir (renew)" "state dir bind-mounted read-only, renew --force" \
        "$(said); no request to the CA"
    t_ok "list still works on a read-only state dir" "$NACME" --state-dir "$S" list
    keep
    t_case "read-only state dir (list)" "state dir bind-mounted read-only, list" \
        "exit 0: the table, nothing written"
    ro_umount "$S"
    t_check "the certificate is unchanged" '[ "$(cat "$S/live/ro.example/cert.pem")" = "$cert" ]'

    rm -rf "$LAB_WEBROOT/.well-known"
    mkdir -p "$LAB_WEBROOT/.well-known/acme-challenge"
    ro_mount "$LAB_WEBROOT"
    mark
    fresh_name
    t_fails "read-only webroot: issue --force fails" rn issue --force --cert-name ro.example \
        -d ro.example -d "$FRESH_NAME"
    keep
    t_check "one line naming the token file in the webroot and EROFS" \
        'one_line && printf "%s" "$T_OUTPUT" | grep -q "cannot write $LAB_WEBROOT/.well-known/acme-challenge/[A-Za-z0-9_-]*: Read-only file system"'
    t_check "found before the CA was asked to validate: no challenge POST" \
        '[ "$(since "^POST /chalZ/")" = 0 ] && [ "$(since "^POST /order-plz")" = 1 ]'
    t_case "read-only webroot" "webroot bind-mounted read-only, issue --force" \
        "$(said); no challenge POST"
    ro_umount "$LAB_WEBROOT"
    t_check "ro.example still at version 1" '[ "$(ver "$S" ro.example)" = 1 ]'
    t_check "no temp files, no token files" 'no_temps "$S" && no_tokens'
else
    t_note "SKIP read-only cases: cannot bind-mount here"
fi

# ---- a state dir that is not ours alone -------------------------------------------------------------
U=$LAB_DIR/other
rn --state-dir "$U" issue -d own.example >/dev/null 2>&1
t_check "a state dir for the ownership cases" '[ -f "$U/live/own.example/cert.pem" ]'
U_OWNED="is owned by uid $(id -u nobody), not by uid $(id -u) that runs nacme"
for c in "state dir owned by nobody|chown nobody U|$U" \
    "archive/ owned by nobody|chown nobody U/archive|$U/archive" \
    "group-writable state dir|chmod g+w U|$U" \
    "world-writable state dir|chmod o+w U|$U" \
    "group-writable accounts/|chmod g+w U/accounts|$U/accounts" \
    "world-writable live/|chmod o+w U/live|$U/live"; do
    IFS='|' read -r what how dir <<<"$c"
    chmod 0700 "$U" "$U/accounts" "$U/archive"
    chmod 0755 "$U/live"
    case $how in
    chown*) chown nobody "$dir" ;;
    *g+w*) chmod g+w "$dir" ;;
    *o+w*) chmod o+w "$dir" ;;
    esac
    mode=$(stat -c %a "$dir")
    case $how in
    chown*) msg=$U_OWNED ;;
    *g+w*) msg="is writable by its group (mode 0$mode)" ;;
    *o+w*) msg="is writable by everyone (mode 0$mode)" ;;
    esac
    mark
    t_fails "$what: issue --force refused" rn --state-dir "$U" issue --force -d own.example
    keep
    t_check "one line with the reason: $dir $msg" \
        'one_line && printf "%s" "$T_OUTPUT" | grep -qF "nacme: $dir $msg; refusing to use it"'
    t_check "no request to the CA, nothing changed (mode $mode, version 1)" \
        '[ "$(since .)" = 0 ] && [ "$(stat -c %a "$dir")" = "$mode" ] && [ "$(ver "$U" own.example)" = 1 ]'
    t_fails "$what: renew refused too" rn --state-dir "$U" renew --force --no-reload
    t_check "with the same reason" 'printf "%s" "$T_OUTPUT" | grep -qF "$dir $msg"'
    t_case "$what" "$how" "$(said); no request to the CA, nothing changed"
    chown "$(id -u):$(id -g)" "$dir"
done
chmod 0700 "$U/accounts" "$U/archive"
chmod 0755 "$U/live"
chmod 0755 "$U"
t_ok "a state dir merely readable by others (0755) is used, and put right" \
    rn --state-dir "$U" issue --force -d own.example
keep
t_check "state dir now 0700, version 2 live" \
    '[ "$(stat -c %a "$U")" = 700 ] && [ "$(ver "$U" own.example)" = 2 ]'

# ---- umask -------------------------------------------------------------------------------------------
# The token file is removed at the end of the run: look at it while the CA holds the challenge POST.
proxy_up delay --match "^/chalZ/" --delay 3
for m in 000 077; do
    W=$LAB_DIR/umask$m
    rm -rf "$LAB_WEBROOT/.well-known"
    (
        umask $m
        exec "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$W" \
            --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" --agree-tos issue -d "u$m.example"
    ) >"$LAB_DIR/umask.out" 2>&1 &
    pid=$!
    tok=""
    for _ in $(seq 600); do # 30 s: under valgrind nacme takes a while to get there
        tok=$(find "$LAB_WEBROOT/.well-known/acme-challenge" -type f ! -name '.*' 2>/dev/null | head -n 1)
        [ -n "$tok" ] && break
        sleep 0.05
    done
    tokmode=$(stat -c %a "$tok" 2>/dev/null)
    wkmode=$(stat -c %a "$LAB_WEBROOT/.well-known" "$LAB_WEBROOT/.well-known/acme-challenge" 2>/dev/null | tr '\n' ' ')
    wait "$pid"
    rc=$?
    T_OUTPUT=$(cat "$LAB_DIR/umask.out")
    t_check "umask $m: issued" '[ "$rc" = 0 ]'
    t_check "umask $m: token file 0644 (nginx reads it), .well-known dirs 0755" \
        '[ "$tokmode" = 644 ] && [ "$wkmode" = "755 755 " ]'
    got=""
    for f in "$W" "$W/accounts" "$W/accounts/"* "$W/accounts/"*/account.key "$W/archive" \
        "$W/archive/u$m.example" "$W/archive/u$m.example/1" "$W/archive/u$m.example/1/privkey.pem" \
        "$W/archive/u$m.example/lineage.json" "$W/archive/u$m.example/1/cert.pem" \
        "$W/archive/u$m.example/1/chain.pem" "$W/archive/u$m.example/1/fullchain.pem" "$W/live" \
        "$W/lock"; do
        got="$got$(stat -c %a "$f") "
    done
    t_check "umask $m: dirs 0700, keys and records 0600, certificates 0644, live/ 0755" \
        '[ "$got" = "700 700 700 600 700 700 700 600 600 644 644 644 755 600 " ]'
    t_case "umask $m" "(umask $m; nacme issue)" \
        "token file $tokmode; state, accounts, CA, account.key, archive, NAME, version, privkey, lineage.json, cert, chain, fullchain, live, lock: $got"
done

t_done
