#!/bin/bash
# The local ACME lab: a throwaway CA, Pebble (the ACME server), pebble-challtestsrv (mock DNS that
# answers 127.0.0.1 for every name) and a private nginx, all on free loopback ports, all under DIR.
#
#   lab.sh start DIR                   start everything, write DIR/lab.env
#   lab.sh stop DIR                    stop what `start` started (idempotent)
#   lab.sh deadlock DIR                a Pebble that stopped answering: make it dump its goroutines
#                                      (SIGQUIT, which also ends it) and say whether they show its
#                                      known lock-order deadlock (exit 0, one line) or not (exit 1)
#   lab.sh serve DIR NAME LIVEDIR [CA] add an HTTPS site NAME using LIVEDIR/{fullchain,privkey}.pem,
#                                      reload nginx and wait until curl trusts it (CA: file to
#                                      verify with, default the Pebble root); an IPv4 NAME (no SNI)
#                                      gets a port of its own, printed and in sites/NAME.port
#
# Environment for `start`: LAB_EAB=1 (require external account binding), LAB_NONCEREJECT (percent of
# good nonces Pebble rejects, default 0), LAB_AUTHZREUSE (percent of authorizations reused,
# default 50; 0 still reuses 1 in 100, as Pebble reuses unless rand.Intn(100) > percent: a test
# that needs a validation orders a name the lab has not validated before), LAB_CERT_VALIDITY
# (seconds certificates are valid; default Pebble's 5 years),
# LAB_PEBBLE=newer (Debian 13's Pebble 2.6, with ACME Renewal Information, fetched beforehand by
# tests/lab/pebble-newer.sh; the system's Pebble otherwise), LAB_ALTERNATE_ROOTS (N: Pebble offers N
# alternate chains, each to its own root, as Link rel="alternate"; default 0; every root is at
# $LAB_MGMT_URL/roots/I, I = 0..N).
set -u -o pipefail

readonly EAB_KID="kid-1"
readonly EAB_HMAC="zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
readonly WAIT_STEPS=200     # 200 x 50 ms = 10 s for every "wait until it answers"
readonly STOP_STEPS=100     # 100 x 50 ms = 5 s between TERM and KILL

usage() {
    echo "usage: lab.sh start DIR | stop DIR | deadlock DIR | serve DIR NAME LIVEDIR [CAFILE]" >&2
    exit 2
}

# The lab's paths end up unquoted in nginx.conf and in $LAB_NGINX, so refuse anything that could
# be misread there rather than quoting everywhere.
absdir() {
    local d
    d=$(cd "$1" 2>/dev/null && pwd -P) || { echo "lab: $1: not a directory" >&2; return 1; }
    if [[ ! $d =~ ^[A-Za-z0-9_./@+=,:-]+$ ]]; then
        echo "lab: $d: path has characters nginx.conf would misread" >&2
        return 1
    fi
    printf '%s\n' "$d"
}

# Last lines of a log, folded onto one line so a failure stays a one-line reason.
log_tail() {
    [ -f "$1" ] || { echo "(no $1)"; return; }
    tail -n 3 "$1" | tr '\n' ' ' | cut -c1-400
}

# Field 22 of /proc/PID/stat: start time in clock ticks since boot. With the pid it names one
# process for good, so a recycled pid is never mistaken for ours.
proc_starttime() {
    local stat fields
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    # The name in parentheses (field 2) may hold spaces; fields[0] is field 3.
    read -ra fields <<<"${stat##*) }"
    [ -n "${fields[19]:-}" ] || return 1
    printf '%s\n' "${fields[19]}"
}

# pid file format for processes we spawn: "PID STARTTIME".
write_pidfile() {
    local st
    st=$(proc_starttime "$1") || return 1
    printf '%s %s\n' "$1" "$st" >"$2"
}

# Prints the pid from a pid file if that process is still the one we started.
live_pid() {
    local file=$1 pid st cur
    [ -s "$file" ] || return 1
    read -r pid st <"$file" || [ -n "${pid:-}" ] || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [ -d "/proc/$pid" ] || return 1
    if [ -n "${st:-}" ]; then
        cur=$(proc_starttime "$pid") || return 1
        [ "$cur" = "$st" ] || return 1
    else
        # nginx writes its own pid file; the master's title keeps our -c argument.
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $DIR/nginx/nginx.conf" ||
            return 1
    fi
    printf '%s\n' "$pid"
}

# A zombie has exited already; its parent just has not reaped it yet.
pid_running() {
    local state
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "${state%% *}" != Z ]
}

# TERM, wait (bounded), then KILL. Only ever the pids given.
terminate() {
    local pids=("$@") i alive p
    [ ${#pids[@]} -gt 0 ] || return 0
    kill -TERM "${pids[@]}" 2>/dev/null
    for ((i = 0; i < STOP_STEPS; i++)); do
        alive=()
        for p in "${pids[@]}"; do
            pid_running "$p" && alive+=("$p")
        done
        [ ${#alive[@]} -eq 0 ] && return 0
        sleep 0.05
    done
    kill -KILL "${alive[@]}" 2>/dev/null
    return 0
}

stop_nginx() {
    local master workers
    master=$(live_pid "$DIR/nginx/nginx.pid") || return 0
    # Collect the workers first: if the master has to be killed, they would be orphaned.
    workers=$(pgrep -P "$master" 2>/dev/null | tr '\n' ' ')
    # shellcheck disable=SC2086
    terminate "$master" $workers
    rm -f "$DIR/nginx/nginx.pid"
}

stop_spawned() {
    local pid
    pid=$(live_pid "$1") && terminate "$pid"
    rm -f "$1"
}

cmd_stop() {
    stop_nginx
    stop_spawned "$DIR/run/pebble.pid"
    stop_spawned "$DIR/run/challtestsrv.pid"
    return 0
}

# Pebble 2.4 and 2.6 take their locks in two orders: the authorization handler holds the
# authorization's lock while it looks the account up in the store (wfe.go Authz ->
# validPOSTAsGET -> GetAccountByKey), and newOrder's FindValidAuthorization holds the store's read
# lock while it read-locks every authorization. Once a store writer (newOrder adding its objects)
# queues between the two, all three wait for ever and so does every later request: a batch's
# concurrent newOrders and authorization fetches hit that now and then. The dump tells it from a
# stall of nacme's own.
cmd_deadlock() {
    local pid i log=$DIR/log/pebble.log
    pid=$(live_pid "$DIR/run/pebble.pid") || { echo "lab: pebble is not running" >&2; return 1; }
    kill -QUIT "$pid" 2>/dev/null
    for ((i = 0; i < STOP_STEPS; i++)); do
        pid_running "$pid" || break
        sleep 0.05
    done
    terminate "$pid"
    rm -f "$DIR/run/pebble.pid"
    python3 - "$log" <<'EOF'
import re, sys
dump = open(sys.argv[1], errors="replace").read()
blocks = re.split(r"\n(?=goroutine \d+ \[)", dump)
# go1.19 (Pebble 2.4) says "semacquire", newer Go "sync.RWMutex.RLock", "sync.Mutex.Lock"...
stuck = [b for b in blocks if re.match(r"goroutine \d+ \[(semacquire|sync\.(RW)?Mutex\.R?Lock)", b)]
holder = [b for b in stuck
          if "WebFrontEndImpl).Authz(" in b and "MemoryStore).GetAccountByKey(" in b]
finder = [b for b in stuck if "MemoryStore).FindValidAuthorization(" in b]
if holder and finder:
    print("pebble deadlocked on its own locks (%d goroutines waiting): an authorization request "
          "holds an authorization's lock waiting for the store, FindValidAuthorization holds the "
          "store waiting for an authorization" % len(stuck))
    sys.exit(0)
print("no known pebble deadlock in its goroutines (%d waiting on a lock)" % len(stuck))
sys.exit(1)
EOF
}

# Any failure during start: one line on stderr, undo, exit 1.
die() {
    echo "lab: start failed: $*" >&2
    cmd_stop
    exit 1
}

# Ask the kernel for COUNT distinct free loopback ports. The first one is free for both TCP and
# UDP (the mock DNS serves both). All sockets stay bound until every port is chosen.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
count = int(sys.argv[1])
held, ports = [], []
while len(ports) < count:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    if not ports:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            t.close()
            continue
        held.append(u)
    held.append(t)
    ports.append(port)
print(" ".join(map(str, ports)))
EOF
}

# wait_for DESCRIPTION LOGFILE PID COMMAND...: poll COMMAND every 50 ms until it succeeds; give up
# after WAIT_STEPS or as soon as PID (when given) has died.
wait_for() {
    local what=$1 log=$2 pid=$3 i
    shift 3
    for ((i = 0; i < WAIT_STEPS; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        if [ -n "$pid" ] && [ ! -d "/proc/$pid" ]; then
            die "$what exited: $(log_tail "$log")"
        fi
        sleep 0.05
    done
    die "$what did not answer within 10 s: $(log_tail "$log")"
}

make_ca() {
    local ca=$DIR/ca log=$DIR/ca/openssl.log
    mkdir -p "$ca" || die "cannot create $ca"
    (
        set -e
        cd "$ca"
        openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
            -keyout ca.key -out ca.pem -subj "/CN=nacme lab CA $$" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -addext "subjectKeyIdentifier=hash"
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout pebble.key -out pebble.csr -subj "/CN=localhost"
        cat >pebble.ext <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
        openssl x509 -req -in pebble.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
            -extfile pebble.ext -out pebble.pem
        chmod 0600 ca.key pebble.key
    ) >"$log" 2>&1 || die "openssl could not make the lab CA: $(log_tail "$log")"
}

start_challtestsrv() {
    local log=$DIR/log/challtestsrv.log pid
    (
        cd "$DIR" &&
            exec pebble-challtestsrv -dns01 "127.0.0.1:$DNS_PORT" \
                -management "127.0.0.1:$CHALLTEST_MGMT_PORT" \
                -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv4 127.0.0.1 -defaultIPv6 ""
    ) </dev/null >"$log" 2>&1 &
    pid=$!
    write_pidfile "$pid" "$DIR/run/challtestsrv.pid" ||
        die "pebble-challtestsrv exited at once: $(log_tail "$log")"
    wait_for "pebble-challtestsrv" "$log" "$pid" \
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$CHALLTEST_MGMT_PORT/"
}

write_pebble_config() {
    local eab=false keys=""
    if [ "${LAB_EAB:-0}" = 1 ]; then
        eab=true
        keys=$(printf ',\n    "externalAccountMACKeys": { "%s": "%s" }' "$EAB_KID" "$EAB_HMAC")
    fi
    if [ -n "${LAB_CERT_VALIDITY:-}" ]; then
        keys+=$(printf ',\n    "certificateValidityPeriod": %s' "$LAB_CERT_VALIDITY")
    fi
    cat >"$DIR/pebble.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PEBBLE_PORT",
    "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT_PORT",
    "certificate": "$DIR/ca/pebble.pem",
    "privateKey": "$DIR/ca/pebble.key",
    "httpPort": $HTTP_PORT,
    "tlsPort": $TLS_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": $eab$keys
  }
}
EOF
}

start_pebble() {
    local log=$DIR/log/pebble.log pid
    write_pebble_config || die "cannot write $DIR/pebble.json"
    (
        cd "$DIR" &&
            exec env PEBBLE_VA_NOSLEEP=1 \
                PEBBLE_WFE_NONCEREJECT="${LAB_NONCEREJECT:-0}" \
                PEBBLE_AUTHZREUSE="${LAB_AUTHZREUSE:-50}" \
                PEBBLE_ALTERNATE_ROOTS="${LAB_ALTERNATE_ROOTS:-0}" \
                "$PEBBLE_BIN" -config "$DIR/pebble.json" -dnsserver "127.0.0.1:$DNS_PORT"
    ) </dev/null >"$log" 2>&1 &
    pid=$!
    write_pidfile "$pid" "$DIR/run/pebble.pid" || die "pebble exited at once: $(log_tail "$log")"
    wait_for "pebble" "$log" "$pid" \
        curl -sf -o /dev/null --max-time 1 --cacert "$DIR/ca/ca.pem" \
        "https://127.0.0.1:$PEBBLE_PORT/dir"
    # Pebble makes a new root and intermediate on every start.
    curl -sf --max-time 5 --cacert "$DIR/ca/ca.pem" -o "$DIR/pebble-root.pem" \
        "https://127.0.0.1:$PEBBLE_MGMT_PORT/roots/0" ||
        die "cannot fetch Pebble's root from https://127.0.0.1:$PEBBLE_MGMT_PORT/roots/0"
    curl -sf --max-time 5 --cacert "$DIR/ca/ca.pem" -o "$DIR/pebble-intermediate.pem" \
        "https://127.0.0.1:$PEBBLE_MGMT_PORT/intermediates/0" ||
        die "cannot fetch Pebble's intermediate from" \
            "https://127.0.0.1:$PEBBLE_MGMT_PORT/intermediates/0"
}

write_nginx_config() {
    local n=$DIR/nginx
    mkdir -p "$n/sites" "$n/tmp" "$n/logs" || return 1
    cat >"$n/nginx.conf" <<EOF
# Private nginx of the nacme lab in $DIR. Started as: $NGINX_CMD
worker_processes 1;
pid $n/nginx.pid;
error_log $n/error.log notice;
events { worker_connections 256; }
http {
    access_log $n/access.log;
    client_body_temp_path $n/tmp/client_body;
    proxy_temp_path $n/tmp/proxy;
    fastcgi_temp_path $n/tmp/fastcgi;
    uwsgi_temp_path $n/tmp/uwsgi;
    scgi_temp_path $n/tmp/scgi;
    default_type application/octet-stream;

    # http-01: Pebble asks here for every name (the mock DNS resolves them all to 127.0.0.1).
    server {
        listen 127.0.0.1:$HTTP_PORT default_server;
        server_name _;
        location ^~ /.well-known/acme-challenge/ {
            root $DIR/webroot;
            default_type text/plain;
        }
        location / { return 404; }
    }

    # Names nginx does not serve: validation of any *.unserved.test must fail.
    server {
        listen 127.0.0.1:$HTTP_PORT;
        server_name .unserved.test;
        return 404;
    }

    # Holds the HTTPS port from the start; sites added by "lab.sh serve" answer by SNI.
    server {
        listen 127.0.0.1:$HTTPS_PORT ssl default_server;
        server_name _;
        ssl_reject_handshake on;
    }

    include $n/sites/*.conf;
}
EOF
}

start_nginx() {
    local log=$DIR/log/nginx.log
    mkdir -p "$DIR/webroot" || die "cannot create $DIR/webroot"
    chmod 0755 "$DIR/webroot"
    write_nginx_config || die "cannot write $DIR/nginx/nginx.conf"
    # shellcheck disable=SC2086
    $NGINX_CMD </dev/null >"$log" 2>&1 ||
        die "nginx did not start: $(log_tail "$log") $(log_tail "$DIR/nginx/error.log")"
    wait_for "nginx" "$DIR/nginx/error.log" "" \
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$HTTP_PORT/"
    live_pid "$DIR/nginx/nginx.pid" >/dev/null ||
        die "nginx answers but $DIR/nginx/nginx.pid names no nginx of ours"
}

write_env() {
    local f=$DIR/lab.env
    {
        echo "# nacme lab in $DIR; source me"
        echo "export LAB_DIR=$DIR"
        echo "export LAB_ACME_URL=https://127.0.0.1:$PEBBLE_PORT/dir"
        echo "export LAB_CA_BUNDLE=$DIR/ca/ca.pem"
        echo "export LAB_PEBBLE_ROOT=$DIR/pebble-root.pem"
        echo "export LAB_PEBBLE_INTERMEDIATE=$DIR/pebble-intermediate.pem"
        echo "export LAB_MGMT_URL=https://127.0.0.1:$PEBBLE_MGMT_PORT"
        echo "export LAB_WEBROOT=$DIR/webroot"
        echo "export LAB_HTTP_PORT=$HTTP_PORT"
        echo "export LAB_HTTPS_PORT=$HTTPS_PORT"
        echo "export LAB_TLS_PORT=$TLS_PORT"
        echo "export LAB_DNS_PORT=$DNS_PORT"
        echo "export LAB_CHALLTEST_MGMT_URL=http://127.0.0.1:$CHALLTEST_MGMT_PORT"
        echo "export LAB_NGINX='$NGINX_CMD'"
        echo "export LAB_NONCEREJECT=${LAB_NONCEREJECT:-0}"
        echo "export LAB_AUTHZREUSE=${LAB_AUTHZREUSE:-50}"
        echo "export LAB_ALTERNATE_ROOTS=${LAB_ALTERNATE_ROOTS:-0}"
        echo "export LAB_CERT_VALIDITY=${LAB_CERT_VALIDITY:-}"
        echo "export LAB_PEBBLE=${LAB_PEBBLE:-system}"
        if [ "${LAB_EAB:-0}" = 1 ]; then
            echo "export LAB_EAB=1"
            echo "export LAB_EAB_KID=$EAB_KID"
            echo "export LAB_EAB_HMAC=$EAB_HMAC"
        else
            echo "export LAB_EAB=0"
        fi
    } >"$f.tmp" && mv "$f.tmp" "$f"
}

check_percent() {
    if [[ ! $2 =~ ^[0-9]+$ ]] || [ "$2" -gt 100 ]; then
        echo "lab: $1=$2: want 0..100" >&2
        exit 1
    fi
}

cmd_start() {
    local ports
    check_percent LAB_NONCEREJECT "${LAB_NONCEREJECT:-0}"
    check_percent LAB_AUTHZREUSE "${LAB_AUTHZREUSE:-50}"
    if [ -n "${LAB_CERT_VALIDITY:-}" ] && [[ ! $LAB_CERT_VALIDITY =~ ^[1-9][0-9]{0,9}$ ]]; then
        echo "lab: LAB_CERT_VALIDITY=$LAB_CERT_VALIDITY: want seconds" >&2
        exit 1
    fi
    case ${LAB_PEBBLE:-system} in
    system) PEBBLE_BIN=pebble ;;
    newer)
        PEBBLE_BIN=$(bash "$(dirname "${BASH_SOURCE[0]}")/pebble-newer.sh" path) || {
            echo "lab: LAB_PEBBLE=newer: no newer Pebble; run tests/lab/pebble-newer.sh first" >&2
            exit 1
        }
        ;;
    *) echo "lab: LAB_PEBBLE=$LAB_PEBBLE: want system or newer" >&2; exit 1 ;;
    esac
    chmod 0755 "$DIR" || die "cannot chmod 0755 $DIR"
    mkdir -p "$DIR/run" "$DIR/log" || die "cannot create $DIR/run and $DIR/log"

    # Every port is chosen before anything starts, so nothing holds one while we ask.
    ports=$(free_ports 8) || die "python3 could not find free ports"
    read -r DNS_PORT CHALLTEST_MGMT_PORT PEBBLE_PORT PEBBLE_MGMT_PORT TLS_PORT HTTP_PORT \
        HTTPS_PORT _spare <<<"$ports"
    NGINX_CMD="nginx -p $DIR/nginx/ -c $DIR/nginx/nginx.conf -e $DIR/nginx/error.log"

    make_ca
    start_challtestsrv
    start_nginx
    start_pebble
    write_env || die "cannot write $DIR/lab.env"
}

# Hostname alphabet only: NAME becomes a file name and goes into nginx.conf.
cmd_serve() {
    local name=$1 live=$2 cacert=${3:-} conf out i master old_workers w gone port listen
    [[ $name =~ ^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] ||
        { echo "lab: serve: bad name '$name'" >&2; exit 1; }
    [ -f "$DIR/lab.env" ] || { echo "lab: serve: no lab in $DIR" >&2; exit 1; }
    # shellcheck disable=SC1091
    . "$DIR/lab.env"
    live=$(absdir "$live") || exit 1
    cacert=${cacert:-$LAB_PEBBLE_ROOT}
    conf=$DIR/nginx/sites/$name.conf
    port=$LAB_HTTPS_PORT listen=127.0.0.1:$LAB_HTTPS_PORT
    # An address sends no SNI, so on the shared port the rejecting default server would answer:
    # an address gets a port of its own (written to sites/NAME.port and printed).
    if [[ $name =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
        port=$(free_ports 1) || { echo "lab: serve: no free port for $name" >&2; exit 1; }
        listen=$name:$port
        echo "$port" >"$DIR/nginx/sites/$name.port"
    fi
    cat >"$conf" <<EOF
server {
    listen $listen ssl;
    server_name $name;
    ssl_certificate $live/fullchain.pem;
    ssl_certificate_key $live/privkey.pem;
    location / { default_type text/plain; return 200 "hello from $name\n"; }
}
EOF
    # shellcheck disable=SC2086
    if ! out=$($LAB_NGINX -t 2>&1); then
        rm -f "$conf"
        echo "lab: serve: nginx -t rejects $name: $(echo "$out" | grep -v 'test failed' |
            tail -n 1)" >&2
        exit 1
    fi
    master=$(live_pid "$DIR/nginx/nginx.pid") ||
        { echo "lab: serve: nginx of $DIR is not running" >&2; exit 1; }
    old_workers=$(pgrep -P "$master" | tr '\n' ' ')
    # shellcheck disable=SC2086
    out=$($LAB_NGINX -s reload 2>&1) || { echo "lab: serve: reload failed: $out" >&2; exit 1; }
    # The reload is asynchronous, and until the old workers have gone they still accept
    # connections with the old configuration: wait for them, then for NAME to answer.
    for ((i = 0; i < WAIT_STEPS; i++)); do
        gone=1
        for w in $old_workers; do
            pid_running "$w" && gone=0
        done
        [ $gone = 1 ] && break
        sleep 0.05
    done
    if [ $gone = 0 ]; then
        echo "lab: serve: nginx kept its old workers after reload:" \
            "$(log_tail "$DIR/nginx/error.log")" >&2
        exit 1
    fi
    for ((i = 0; i < WAIT_STEPS; i++)); do
        if curl -sf -o /dev/null --max-time 1 --resolve "$name:$port:127.0.0.1" \
            --cacert "$cacert" "https://$name:$port/"; then
            [ "$port" = "$LAB_HTTPS_PORT" ] || echo "$port"
            return 0
        fi
        sleep 0.05
    done
    out=$(curl -sS -o /dev/null --max-time 2 --resolve "$name:$port:127.0.0.1" \
        --cacert "$cacert" "https://$name:$port/" 2>&1)
    echo "lab: serve: https://$name:$port/ not reachable within 10 s: $out" >&2
    exit 1
}

# What cmd_start creates in DIR, so that a failed attempt can be wiped before the next.
readonly LAB_FILES="ca run log nginx webroot pebble.json pebble-root.pem pebble-intermediate.pem
lab.env lab.env.tmp"

# The ports are free when chosen but nothing holds them until each server binds, so another lab
# or an outgoing connection can take one meanwhile: then start again on new ports (3 attempts).
start_with_retries() {
    local attempt err rc f
    if [ -n "$(ls -A "$DIR")" ]; then
        echo "lab: $DIR is not empty (a lab there already?); start wants an empty directory" >&2
        exit 1
    fi
    err=$(mktemp "${TMPDIR:-/tmp}/lab-start.XXXXXX") || exit 1
    for attempt in 1 2 3; do
        (cmd_start) 2>"$err"
        rc=$?
        if [ $rc -eq 0 ] || ! grep -qi 'address already in use' "$err" || [ $attempt -eq 3 ]; then
            break
        fi
        echo "lab: a port was taken meanwhile, starting again ($(head -c 300 "$err"))" >&2
        for f in $LAB_FILES; do rm -rf -- "${DIR:?}/$f"; done
    done
    cat "$err" >&2
    rm -f -- "$err"
    exit $rc
}

[ $# -ge 2 ] || usage
cmd=$1
DIR=$(absdir "$2") || exit 1
case $cmd in
start) [ $# -eq 2 ] || usage; start_with_retries ;;
stop) [ $# -eq 2 ] || usage; cmd_stop ;;
deadlock) [ $# -eq 2 ] || usage; cmd_deadlock ;;
serve) [ $# -eq 4 ] || [ $# -eq 5 ] || usage; cmd_serve "$3" "$4" "${5:-}" ;;
*) usage ;;
esac
