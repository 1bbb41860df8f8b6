# Sourced by the integration tests (bash, set -u). Starts a lab and prints TAP-like results.
#
#   lab_up [VAR=VALUE ...]   start a lab in a new temp dir with those settings (LAB_EAB=1,
#                            LAB_NONCEREJECT=N, LAB_AUTHZREUSE=N, LAB_CERT_VALIDITY=SECONDS,
#                            LAB_PEBBLE=newer) and source its lab.env; it is
#                            stopped and removed on exit (kept, and named, when NACME_KEEP=1).
#                            Calling it again replaces the running lab.
#   lab_down                 stop and remove the lab now (also done on EXIT, INT, TERM)
#   lab_serve NAME LIVEDIR [CAFILE]   lab.sh serve in the current lab (an IPv4 NAME gets its own
#                                     HTTPS port: $LAB_DIR/nginx/sites/NAME.port)
#   lab_nacme ARGS...        "$NACME" with --server, --ca-bundle, --state-dir $LAB_DIR/state,
#                            --webroot and --http-port of the lab (the port its nginx serves
#                            http-01 on, which Pebble validates and nacme's preflight fetches),
#                            then ARGS
#
#   t_ok "what" CMD ARGS...       passes when CMD exits 0
#   t_batch_ok "what" "LAB_X=V ..." ARGS...   lab_up with those settings, then t_ok of lab_nacme
#                                 ARGS; a run that failed because Pebble deadlocked on its own
#                                 locks (lab.sh deadlock) is noted and made once more on a fresh lab
#   t_fails "what" CMD ARGS...    passes when CMD exits 1..125 (a crash, 126+, is a failure)
#   t_status "what" N CMD ARGS... passes when CMD exits exactly N
#   t_check "what" CMD ARGS...    as t_ok, for test expressions: t_check "x" [ "$a" = b ];
#                                 with one word after "what", that word is eval'd:
#                                 t_check "x" '[ -f "$f" ]'
#   t_note TEXT...                a "# TEXT" line
#   t_case NAME HOW RESULT        appends "case: NAME | provoked by: HOW | result: RESULT" to
#                                 $NACME_CASES_FILE (ctest sets it to build/tests/cases/TEST.txt;
#                                 unset: nowhere), the raw material of the report's table; RESULT
#                                 gets " [FAILED CHECKS]" when a check failed since the last t_case
#   t_done                        prints "N passed, M failed"; exit 1 when M > 0 or nothing ran
# After each t_* command, $T_OUTPUT holds its stdout+stderr and $T_STATUS its exit status.
# A failing check shows the output indented under its "not ok" line.
#
# Environment: NACME (binary under test), NACME_SRC (source root), NACME_KEEP=1.

: "${NACME:=}"
: "${NACME_SRC:=}"

LAB_SH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/lab.sh"
T_PASSED=0
T_FAILED=0
T_OUTPUT=""
T_STATUS=0
_LAB_TMP=""
_T_CASE_FAILED=0
# Each run of a test writes its cases afresh (a test without any leaves no file).
if [ -n "${NACME_CASES_FILE:-}" ] && [ "$NACME_CASES_FILE" != /dev/null ]; then
    mkdir -p "$(dirname "$NACME_CASES_FILE")" && rm -f "$NACME_CASES_FILE"
fi

_lab_cleanup() {
    proxy_down
    refused_port_down
    [ -n "$_LAB_TMP" ] || return 0
    bash "$LAB_SH" stop "$_LAB_TMP"
    if [ "${NACME_KEEP:-0}" = 1 ]; then
        echo "# NACME_KEEP=1: lab directory kept in $_LAB_TMP" >&2
    else
        rm -rf -- "$_LAB_TMP"
    fi
    _LAB_TMP=""
}

lab_down() {
    _lab_cleanup
}

lab_up() {
    local setting settings=()
    for setting in "$@"; do
        if [[ ! $setting =~ ^LAB_[A-Z0-9_]+= ]]; then
            echo "Bail out! lab_up: '$setting' is not LAB_VAR=VALUE"
            exit 1
        fi
        settings+=("$setting")
    done
    _lab_cleanup
    # A previous lab's settings must not leak into this one.
    unset LAB_EAB LAB_NONCEREJECT LAB_AUTHZREUSE LAB_EAB_KID LAB_EAB_HMAC LAB_CERT_VALIDITY \
        LAB_PEBBLE LAB_ALTERNATE_ROOTS
    _LAB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/nacme-lab.XXXXXX") || {
        echo "Bail out! lab_up: mktemp failed"
        exit 1
    }
    trap _lab_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if ! env "${settings[@]}" bash "$LAB_SH" start "$_LAB_TMP"; then
        echo "Bail out! lab did not start in $_LAB_TMP"
        exit 1
    fi
    # shellcheck disable=SC1091
    . "$_LAB_TMP/lab.env"
}

lab_serve() {
    bash "$LAB_SH" serve "$LAB_DIR" "$@"
}

lab_nacme() {
    "$NACME" --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" \
        --state-dir "$LAB_DIR/state" --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" "$@"
}

# A fault proxy (tests/lab/faultproxy.py) in front of the lab's Pebble. Every proxy of one test
# listens on the same port, so the CA's URL, and with it nacme's account, stays the same across
# proxy_up calls. proxy_up MODE [faultproxy options]; PROXY_URL is the directory through it; the
# lab's cleanup stops it.
PROXY_PID=""
PROXY_PORT=""
PROXY_URL=""
# nginx_head DIR: the opening of a private nginx's configuration with every path under DIR (pid,
# error log, temp files); the caller appends its server blocks and closes the http block.
nginx_head() {
    cat <<EOF
pid $1/nginx.pid;
error_log $1/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $1/tmp; proxy_temp_path $1/tmp; fastcgi_temp_path $1/tmp;
    uwsgi_temp_path $1/tmp; scgi_temp_path $1/tmp;
EOF
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# refused_port: a loopback port where connections are refused for as long as the test runs (or
# until refused_port_down): a socket is bound to it and never listens, so no other process can
# take the port meanwhile, as one could take a port free_port merely found free. Sets REFUSED_PORT.
REFUSED_PID=""
REFUSED_PORT=""
refused_port() {
    local ready
    refused_port_down
    ready=$(mktemp "${TMPDIR:-/tmp}/nacme-refused.XXXXXX")
    python3 -c 'import os, signal, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
signal.pause()' "$ready" &
    REFUSED_PID=$!
    for _ in $(seq 100); do [ -s "$ready" ] && break; sleep 0.02; done
    REFUSED_PORT=$(cat "$ready" 2>/dev/null)
    rm -f "$ready"
    [ -n "$REFUSED_PORT" ] || { echo "Bail out! refused_port: no port"; exit 1; }
}
refused_port_down() {
    [ -n "$REFUSED_PID" ] || return 0
    kill "$REFUSED_PID" 2>/dev/null
    wait "$REFUSED_PID" 2>/dev/null
    REFUSED_PID=""
}
proxy_up() {
    local mode=$1 ready=$LAB_DIR/proxy.port
    shift
    proxy_down
    [ -n "$PROXY_PORT" ] || PROXY_PORT=$(free_port)
    PROXY_URL="https://127.0.0.1:$PROXY_PORT/dir"
    rm -f "$ready"
    python3 "$NACME_SRC/tests/lab/faultproxy.py" --listen "127.0.0.1:$PROXY_PORT" \
        --cert "$LAB_DIR/ca/pebble.pem" --key "$LAB_DIR/ca/pebble.key" \
        --upstream "${LAB_ACME_URL%/dir}" --upstream-ca "$LAB_CA_BUNDLE" \
        --mode "$mode" --ready-file "$ready" --log "$LAB_DIR/proxy.log" "$@" &
    PROXY_PID=$!
    for _ in $(seq 100); do [ -s "$ready" ] && return 0; sleep 0.05; done
    echo "Bail out! the fault proxy did not start (mode $mode)"
    exit 1
}
proxy_down() {
    [ -n "$PROXY_PID" ] || return 0
    kill "$PROXY_PID" 2>/dev/null
    wait "$PROXY_PID" 2>/dev/null
    PROXY_PID=""
}
# nacme through the fault proxy, with the lab's trust, state dir, webroot and HTTP port.
proxy_nacme() {
    "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$LAB_DIR/state" \
        --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" "$@"
}

# Runs "$@" with its output captured into T_OUTPUT and its status into T_STATUS.
# Locals here and in t_check are prefixed: an eval'd expression must see the caller's variables.
_t_run() {
    local _t_out
    _t_out=$(mktemp "${TMPDIR:-/tmp}/nacme-t.XXXXXX") || { T_STATUS=125; T_OUTPUT=""; return; }
    "$@" >"$_t_out" 2>&1 </dev/null
    T_STATUS=$?
    T_OUTPUT=$(cat "$_t_out")
    rm -f -- "$_t_out"
}

_t_report() {
    local verdict=$1 what=$2 why=$3
    local n=$((T_PASSED + T_FAILED + 1))
    if [ "$verdict" = pass ]; then
        T_PASSED=$((T_PASSED + 1))
        echo "ok $n - $what"
        return 0
    fi
    T_FAILED=$((T_FAILED + 1))
    echo "not ok $n - $what"
    echo "    # $why"
    if [ -n "$T_OUTPUT" ]; then
        printf '%s\n' "$T_OUTPUT" | sed 's/^/    | /'
    fi
    return 1
}

t_ok() {
    local what=$1
    shift
    _t_run "$@"
    if [ "$T_STATUS" -eq 0 ]; then
        _t_report pass "$what" ""
    else
        _t_report fail "$what" "exit status $T_STATUS, want 0: $*"
    fi
}

# Pebble deadlocks on its own now and then under a batch's concurrent requests (lab.sh,
# cmd_deadlock, says how). When a run failed because the CA stopped answering and Pebble's
# goroutines show exactly that deadlock, the run says nothing about nacme: it is noted and made
# once more on a fresh lab. Any other failure fails, and so does a second deadlock.
t_batch_ok() {
    local what=$1 settings=$2 try why
    shift 2
    for try in 1 2; do
        # shellcheck disable=SC2086
        lab_up $settings
        S=$LAB_DIR/state
        _t_run lab_nacme "$@"
        [ "$T_STATUS" -ne 0 ] && [ "$try" = 1 ] || break
        printf '%s' "$T_OUTPUT" | grep -qE "no answer in time|has stopped answering" || break
        why=$(bash "$LAB_SH" deadlock "$LAB_DIR" 2>&1) ||
            { t_note "$what: $why (Pebble was stopped to read them)"; break; }
        t_note "$what: $why; once more on a fresh lab"
    done
    if [ "$T_STATUS" -eq 0 ]; then
        _t_report pass "$what" ""
    else
        _t_report fail "$what" "exit status $T_STATUS, want 0: lab_nacme $*"
    fi
}

t_fails() {
    local what=$1
    shift
    _t_run "$@"
    if [ "$T_STATUS" -ge 1 ] && [ "$T_STATUS" -le 125 ]; then
        _t_report pass "$what" ""
    elif [ "$T_STATUS" -eq 0 ]; then
        _t_report fail "$what" "exit status 0, want a failure: $*"
    else
        _t_report fail "$what" "exit status $T_STATUS (crash or not run), want 1..125: $*"
    fi
}

t_status() {
    local what=$1 want=$2
    shift 2
    _t_run "$@"
    if [ "$T_STATUS" -eq "$want" ]; then
        _t_report pass "$what" ""
    else
        _t_report fail "$what" "exit status $T_STATUS, want $want: $*"
    fi
}

t_check() {
    local _t_what=$1
    shift
    if [ $# -eq 1 ]; then
        _t_run eval "$1"
    else
        _t_run "$@"
    fi
    if [ "$T_STATUS" -eq 0 ]; then
        _t_report pass "$_t_what" ""
    else
        _t_report fail "$_t_what" "false: $*"
    fi
}

t_note() {
    echo "# $*"
}

t_case() {
    local result=$3
    [ "$T_FAILED" -eq "$_T_CASE_FAILED" ] || result="$result [FAILED CHECKS]"
    _T_CASE_FAILED=$T_FAILED
    printf 'case: %s | provoked by: %s | result: %s\n' "$(_t_case_text "$1")" \
        "$(_t_case_text "$2")" "$(_t_case_text "$result")" >>"${NACME_CASES_FILE:-/dev/null}"
}

# One line, whatever the text held; the lab's temp path and http-01 tokens (random each run) as
# placeholders, so that a table made from these lines is stable.
_t_case_text() {
    printf '%s' "$1" | tr '\n' ' ' |
        sed -E "${LAB_DIR:+s|$LAB_DIR|LAB|g;}s|/[A-Za-z0-9_-]{43}([^A-Za-z0-9_-]\|$)|/TOKEN\1|g"
}

t_done() {
    echo "$T_PASSED passed, $T_FAILED failed"
    if [ "$T_FAILED" -gt 0 ] || [ $((T_PASSED + T_FAILED)) -eq 0 ]; then
        exit 1
    fi
    exit 0
}
