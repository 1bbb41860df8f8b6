#!/bin/bash
# nacme benchmark: "issue one certificate for one fresh name", nacme against the ACME clients that
# Debian ships (certbot, lego, uacme), all in one run against one local lab (tests/lab/lab.sh).
#
#   tests/bench/bench.sh [--runs N] [--tools nacme,certbot,lego,uacme] [--nacme PATH]
#                        [--json FILE] [--authz-reuse PCT] [--timeout SEC] [--baseline TOOL]
#                        [--count-requests] [--batch N [--parallel P]] [--curve LIST]
#                        [--no-preflight] [--keep]
#   tests/bench/bench.sh --renew N [--runs R] [--nacme PATH] [--json FILE] [--keep]
#
# --batch N: "bring N sites to HTTPS". Run 1 stays a single name (it creates the account); every
# later run issues N fresh names: nacme in one process (issue --separate), the peers one process
# per certificate, one after the other, as their users run them; a run's figures are the sums
# (RSS: the largest process). --curve 1,10,50,...: afterwards, nacme alone issues a batch of each
# size, to show how the cost per certificate grows with the batch.
#
# --renew N: "the renewal timer fires and nothing is due". One certificate is issued, its lineage
# copied to N lineages with distinct names, one `nacme renew` fills their caches (and learns that
# the CA has no renewal information), then R timed runs of `nacme -q renew --no-reload` with nothing
# due: wall time (median, min, max) and the requests Pebble saw during them (must be 0).
#
# Every run is its own process with a unique name (bench-TOOL-RUN.example). Each tool starts from
# an empty state directory, so run 1 also creates the ACME account; later runs reuse it. Run 1
# is reported on its own, the table's medians are over runs 2..N (the steady state).
#
# Per run: wall time (µs clock), user+sys CPU of the whole process tree (the shell's children
# rusage, ms), peak RSS (GNU time %M: the largest single process of the tree), ACME requests
# (counted on the server: the lines Pebble logs during the run). A run counts as ok only when it
# exited 0 and left a certificate for its name that chains to the lab's Pebble root.
#
# Needs: the lab's packages (pebble, nginx, openssl, curl, python3) and time; the peers:
#   apt-get install time certbot lego uacme
# A tool that is missing, or whose first run fails, is skipped with the reason; the rest go on.
set -u -o pipefail

GNU_TIME=/usr/bin/time

# ---------------------------------------------------------------------------------------------
# The measuring harness. bench.sh runs itself as "bench.sh __measure TIMEOUT OUT LOG -- CMD..."
# so that whatever has to wrap a tool (env, unshare for uacme) stays outside the measured part.
# Measured: from just before the fork of GNU time to just after it is reaped. CPU comes from
# `times` (rusage of reaped children, ms resolution; GNU time prints only 10 ms), which covers
# GNU time itself (well under 1 ms) plus the tool and everything it waited for.
# OUT gets one line: "EXIT WALL_US USER_S SYS_S RSS_KB TIMEDOUT".
# ---------------------------------------------------------------------------------------------
measure() {
    local timeout=$1 out=$2 log=$3 t0 t1 rc wpid timedout=0
    shift 3
    [ "${1:-}" = -- ] && shift
    # The watchdog waits in the `read` builtin on a FIFO nobody writes to: no process of its own
    # runs while the tool does. On timeout it stops the tool: the children of our GNU time.
    rm -f "$out.fifo" "$out.timedout"
    mkfifo "$out.fifo" || return 1
    (
        if ! read -r -t "$timeout" _ <>"$out.fifo"; then
            : >"$out.timedout"
            gt=$(pgrep -P "$$" -x time) || exit 0
            tree() { local c; for c in $(pgrep -P "$1"); do echo "$c"; tree "$c"; done; }
            pkill -TERM -P "$gt"
            read -r -t 5 _ <>"$out.fifo"
            # shellcheck disable=SC2046
            kill -KILL $(tree "$gt") 2>/dev/null
        fi
    ) &
    wpid=$!
    # Forks before this point (mkfifo, the watchdog) are subtracted: `times` before and after.
    times >"$out.times0"
    t0=$EPOCHREALTIME
    "$GNU_TIME" -f '%M %x %e %U %S' -o "$out.gnu" "$@" >"$log" 2>&1 </dev/null
    rc=$?
    t1=$EPOCHREALTIME
    times >"$out.times" # a builtin with a redirection: runs in this shell, no fork
    if [ -e "$out.timedout" ]; then
        timedout=1
        rc=124
    fi
    kill "$wpid" 2>/dev/null
    wait "$wpid" 2>/dev/null
    rm -f "$out.fifo"
    local rss cpu_u cpu_s
    rss=$(awk 'NF >= 5 && $1 ~ /^[0-9]+$/ { r = $1 } END { print (r == "" ? 0 : r) }' "$out.gnu")
    # Second line of `times`: children's user and sys, as "0m1.234s 0m0.056s"; after minus before.
    read -r cpu_u cpu_s < <(awk 'FNR == 2 { for (i = 1; i <= 2; i++) { split($i, a, "m");
            sub("s", "", a[2]); v[i] += (FILENAME == ARGV[1] ? -1 : 1) * (a[1] * 60 + a[2]) } }
        END { printf "%.3f %.3f\n", v[1], v[2] }' "$out.times0" "$out.times")
    t0=${t0/./}
    t1=${t1/./}
    printf '%s %s %s %s %s %s\n' "$rc" "$((10#$t1 - 10#$t0))" "$cpu_u" "$cpu_s" "$rss" \
        "$timedout" >"$out"
}

if [ "${1:-}" = __measure ]; then
    shift
    measure "$@"
    exit 0
fi

SELF=$(readlink -f "${BASH_SOURCE[0]}")
BENCH_DIR=$(dirname "$SELF")
REPO=$(cd "$BENCH_DIR/../.." && pwd -P)
LAB_SH=$REPO/tests/lab/lab.sh
UACME_HOOK=$BENCH_DIR/uacme-hook.sh
EMAIL=bench@example.com
ALL_TOOLS="nacme certbot lego uacme"

# ---------------------------------------------------------------------------------------------
usage() {
    cat <<EOF
usage: tests/bench/bench.sh [options]
  --runs N           runs per tool (default 5); run 1 creates the account, 2..N reuse it
  --tools LIST       comma-separated, from: ${ALL_TOOLS// /,} (default: all)
  --nacme PATH       nacme binary (default: $REPO/build/nacme)
  --json FILE        also write the figures as JSON
  --authz-reuse PCT  Pebble's PEBBLE_AUTHZREUSE for the lab (default 0: every order needs a real
                     http-01 validation)
  --timeout SEC      give up on a run after SEC seconds (default 120)
  --baseline TOOL    the tool the ratios divide by (default nacme)
  --count-requests   after the timed runs, one more (untimed) nacme run with verbose logging, to
                     count the HTTP requests nacme itself reports and compare with Pebble's count
  --batch N          runs 2.. issue N names each: nacme in one process (--separate), the
                     peers one process per certificate (default 1)
  --parallel P       nacme's --parallel for batches (default: nacme's own default)
  --curve LIST       after the runs, nacme alone issues one batch of each size in LIST
                     (e.g. 1,10,50,200,500) and prints the cost per certificate
  --no-preflight     run nacme with --no-preflight (no local fetch of the token before the CA
                     is asked), to see what the check costs
  --keep             keep the work directory (lab, states, logs) and say where it is
  --renew N          instead of the above: time `nacme renew` over N lineages with nothing due
                     (--runs R timed runs, default 5); nacme only
EOF
}

RUNS=5
TOOLS=$ALL_TOOLS
NACME=$REPO/build/nacme
JSON=""
AUTHZ_REUSE=0
TIMEOUT=120
BASELINE=nacme
COUNT_REQUESTS=0
KEEP=0
NO_PREFLIGHT=0
BATCH=1
PARALLEL=""
CURVE=""
RENEW=""
# Verbose flags for --count-requests; nacme's HTTP layer logs one line per request at debug level
# ("METHOD URL -> STATUS (N bytes)", src/http.c).
NACME_VERBOSE_ARGS=${NACME_VERBOSE_ARGS:--v -v}

need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "bench: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case $1 in
    --runs) need_arg "$@"; RUNS=$2; shift 2 ;;
    --tools) need_arg "$@"; TOOLS=${2//,/ }; shift 2 ;;
    --nacme) need_arg "$@"; NACME=$2; shift 2 ;;
    --json) need_arg "$@"; JSON=$2; shift 2 ;;
    --authz-reuse) need_arg "$@"; AUTHZ_REUSE=$2; shift 2 ;;
    --timeout) need_arg "$@"; TIMEOUT=$2; shift 2 ;;
    --baseline) need_arg "$@"; BASELINE=$2; shift 2 ;;
    --count-requests) COUNT_REQUESTS=1; shift ;;
    --batch) need_arg "$@"; BATCH=$2; shift 2 ;;
    --parallel) need_arg "$@"; PARALLEL=$2; shift 2 ;;
    --curve) need_arg "$@"; CURVE=${2//,/ }; shift 2 ;;
    --no-preflight) NO_PREFLIGHT=1; shift ;;
    --keep) KEEP=1; shift ;;
    --renew) need_arg "$@"; RENEW=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "bench: --runs wants a positive integer" >&2; exit 2; }
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || { echo "bench: --timeout wants seconds" >&2; exit 2; }
[ -z "$RENEW" ] || [[ $RENEW =~ ^[1-9][0-9]*$ ]] ||
    { echo "bench: --renew wants a positive integer" >&2; exit 2; }
[[ $BATCH =~ ^[1-9][0-9]*$ ]] || { echo "bench: --batch wants a positive integer" >&2; exit 2; }
[ -z "$PARALLEL" ] || [[ $PARALLEL =~ ^[1-9][0-9]*$ ]] ||
    { echo "bench: --parallel wants a positive integer" >&2; exit 2; }
for c in $CURVE; do
    [[ $c =~ ^[1-9][0-9]*$ ]] || { echo "bench: --curve wants sizes like 1,10,50" >&2; exit 2; }
done
[[ $AUTHZ_REUSE =~ ^[0-9]+$ ]] && [ "$AUTHZ_REUSE" -le 100 ] ||
    { echo "bench: --authz-reuse wants 0..100" >&2; exit 2; }
for t in $TOOLS; do
    [[ " $ALL_TOOLS " == *" $t "* ]] || { echo "bench: unknown tool '$t'" >&2; exit 2; }
done
case $NACME in /*) ;; *) NACME=$PWD/$NACME ;; esac
if [ -n "$JSON" ]; then
    case $JSON in /*) ;; *) JSON=$PWD/$JSON ;; esac
fi
if [ ! -x "$GNU_TIME" ]; then
    echo "bench: $GNU_TIME missing: apt-get install time" >&2
    exit 1
fi
if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
    echo "bench: needs bash >= 5.1 (wait -n -p)" >&2
    exit 1
fi
for c in python3 openssl pkill; do
    command -v "$c" >/dev/null || { echo "bench: $c not found" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nacme-bench.XXXXXX") || exit 1
chmod 0755 "$WORK" # nginx's workers must reach the lab's webroot under it
LAB=$WORK/lab
mkdir -p "$LAB" "$WORK/runs" || exit 1
cleanup() {
    [ -f "$LAB/lab.env" ] && bash "$LAB_SH" stop "$LAB"
    if [ $KEEP = 1 ]; then
        echo "bench: work directory kept in $WORK" >&2
    else
        rm -rf -- "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! LAB_AUTHZREUSE=$AUTHZ_REUSE LAB_NONCEREJECT=0 bash "$LAB_SH" start "$LAB"; then
    echo "bench: the lab did not start" >&2
    exit 1
fi
# shellcheck disable=SC1091
. "$LAB/lab.env"
# What nacme needs to know of the lab: the port its nginx serves http-01 on, which nacme's
# preflight fetches each token from before asking Pebble (who validates on the same port).
NACME_LAB=(--http-port "$LAB_HTTP_PORT")
[ "$NO_PREFLIGHT" = 1 ] && NACME_LAB+=(--no-preflight)
PEBBLE_LOG=$LAB/log/pebble.log

# --- per-tool setup, command lines and certificate paths --------------------------------------
declare -A STATE SKIP VERSION
RESULTS=$WORK/results.tsv # tool run name ok exit wall_us user_s sys_s rss_kb requests note
: >"$RESULTS"

pkg_version() {
    dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "?"
}

setup_tool() {
    local t=$1
    STATE[$t]=$WORK/state-$t
    mkdir -p "${STATE[$t]}"
    case $t in
    nacme)
        if [ ! -x "$NACME" ]; then
            SKIP[$t]="$NACME not found or not executable (build it, or pass --nacme PATH)"
            return
        fi
        VERSION[$t]=$(timeout 5 "$NACME" --version 2>/dev/null </dev/null | head -n 1)
        VERSION[$t]=${VERSION[$t]:-"(--version gave nothing)"}
        ;;
    certbot | lego | uacme)
        if ! command -v "$t" >/dev/null; then
            SKIP[$t]="not installed (apt-get install $t)"
            return
        fi
        VERSION[$t]="$t $(pkg_version "$t") (Debian)"
        ;;
    esac
    if [ "$t" = uacme ]; then
        # uacme has no option for the CA to trust, and libcurl-gnutls reads only /etc/ssl/certs.
        # Each uacme run gets a private mount namespace where /etc/ssl/certs holds the lab CA.
        mkdir -p "$WORK/uacme-trust"
        cp "$LAB_CA_BUNDLE" "$WORK/uacme-trust/ca-certificates.crt"
        cp "$LAB_CA_BUNDLE" "$WORK/uacme-trust/nacme-lab-ca.pem"
        if ! unshare -m --propagation private sh -c \
            'mount --bind "$1" /etc/ssl/certs' sh "$WORK/uacme-trust" 2>"$WORK/unshare.err"; then
            SKIP[$t]="needs 'unshare -m' and 'mount --bind' (root) to show uacme the lab CA:"
            SKIP[$t]+=" $(head -c 200 "$WORK/unshare.err")"
        fi
    fi
}

# Prints the certificate file a tool writes for NAME.
cert_path() {
    local t=$1 name=$2 s=${STATE[$1]}
    case $t in
    nacme) echo "$s/live/$name/cert.pem" ;;
    certbot) echo "$s/config/live/$name/cert.pem" ;;
    lego) echo "$s/certificates/$name.crt" ;;
    uacme) echo "$s/$name/cert.pem" ;;
    esac
}

# One timed run of tool T for NAME; RUN=1 is the first (account creation included).
# Leaves the harness output in BASE.{res,log} (default $WORK/runs/T-RUN).
timed_run() {
    local t=$1 run=$2 name=$3 s=${STATE[$1]} base=${4:-$WORK/runs/$1-$2}
    local -a harness=(bash "$SELF" __measure "$TIMEOUT" "$base.res" "$base.log" --)
    case $t in
    nacme)
        "${harness[@]}" "$NACME" --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" \
            --state-dir "$s" --webroot "$LAB_WEBROOT" "${NACME_LAB[@]}" --agree-tos \
            --email "$EMAIL" issue -d "$name"
        ;;
    certbot)
        REQUESTS_CA_BUNDLE=$LAB_CA_BUNDLE "${harness[@]}" certbot certonly --webroot \
            -w "$LAB_WEBROOT" -d "$name" --server "$LAB_ACME_URL" \
            --config-dir "$s/config" --work-dir "$s/work" --logs-dir "$s/logs" \
            --non-interactive --agree-tos --email "$EMAIL" --no-eff-email \
            --key-type ecdsa --elliptic-curve secp256r1
        ;;
    lego)
        LEGO_CA_CERTIFICATES=$LAB_CA_BUNDLE "${harness[@]}" lego --server "$LAB_ACME_URL" \
            --email "$EMAIL" --accept-tos --key-type ec256 --http --http.webroot "$LAB_WEBROOT" \
            --path "$s" -d "$name" run
        ;;
    uacme)
        local -a u=(uacme -v -c "$s" -a "$LAB_ACME_URL" -t EC -b 256)
        local -a ns=(unshare -m --propagation private sh -c
            'mount --bind "$1" /etc/ssl/certs && shift && exec "$@"' sh "$WORK/uacme-trust")
        if [ "$run" = 1 ]; then
            # Account creation is its own command ("uacme new"): both go into run 1's figures.
            BENCH_WEBROOT=$LAB_WEBROOT BENCH_HOOK=$UACME_HOOK BENCH_NAME=$name \
                "${ns[@]}" "${harness[@]}" sh -c \
                '"$@" -y new "$0" && exec "$@" -h "$BENCH_HOOK" issue "$BENCH_NAME"' \
                "$EMAIL" "${u[@]}"
        else
            BENCH_WEBROOT=$LAB_WEBROOT "${ns[@]}" "${harness[@]}" \
                "${u[@]}" -h "$UACME_HOOK" issue "$name"
        fi
        ;;
    esac
}

# nacme issuing every name in one process (issue --separate); figures in BASE.{res,log}.
timed_batch_nacme() {
    local base=$1 n
    shift
    local -a args=()
    for n in "$@"; do args+=(-d "$n"); done
    bash "$SELF" __measure "$TIMEOUT" "$base.res" "$base.log" -- "$NACME" --server "$LAB_ACME_URL" \
        --ca-bundle "$LAB_CA_BUNDLE" --state-dir "${STATE[nacme]}" --webroot "$LAB_WEBROOT" \
        "${NACME_LAB[@]}" --agree-tos --email "$EMAIL" issue --separate ${PARALLEL:+--parallel "$PARALLEL"} "${args[@]}"
}

# A peer issuing the names one process after the other; BASE.res gets the sums: exit status of the
# first failure, wall and CPU added up, the largest RSS, timed out if any was.
timed_batch_peer() {
    local t=$1 run=$2 base=$3 i=0 n
    shift 3
    for n in "$@"; do
        i=$((i + 1))
        timed_run "$t" "$run" "$n" "$base-$i"
        cat "$base-$i.res" 2>/dev/null || echo "125 0 0 0 0 0"
        [ -s "$base-$i.log" ] && cat "$base-$i.log" >>"$base.log"
    done | awk '{ if (rc == 0 && $1 != 0) rc = $1; w += $2; u += $3; s += $4;
        if ($5 > r) r = $5; if ($6 == 1) to = 1 }
        END { printf "%d %d %.3f %.3f %d %d\n", rc, w, u, s, r, to }' >"$base.res"
}

# The names of run RUN of tool T: one in run 1 and without --batch, else BATCH of them.
run_names() {
    local t=$1 run=$2 i
    if [ "$run" = 1 ] || [ "$BATCH" = 1 ]; then
        echo "bench-$t-$run.example"
    else
        for ((i = 1; i <= BATCH; i++)); do echo "bench-$t-$run-$i.example"; done
    fi
}

# Checks the certificate of a run: exists, written during the run, for NAME, chains to Pebble.
check_cert() {
    local file=$1 name=$2 marker=$3
    [ -s "$file" ] || { echo "no certificate at $file"; return 1; }
    [ "$file" -nt "$marker" ] || { echo "$file is older than the run"; return 1; }
    openssl x509 -in "$file" -noout -checkhost "$name" 2>/dev/null | grep -q 'does match' ||
        { echo "$file is not for $name"; return 1; }
    openssl verify -CAfile "$LAB_PEBBLE_ROOT" -untrusted "$LAB_PEBBLE_INTERMEDIATE" "$file" \
        >/dev/null 2>&1 || { echo "$file does not chain to the lab's Pebble root"; return 1; }
}

# Runs tool T once, checks it, appends a line to $RESULTS. Returns 0 when the run was ok.
do_run() {
    local t=$1 run=$2 base=$WORK/runs/$1-$2 off0 off1 reqs name n
    local rc wall_us cpu_u cpu_s rss timedout ok=0 note="" count
    local -a names
    mapfile -t names < <(run_names "$t" "$run")
    name=${names[0]}
    count=${#names[@]}
    touch "$base.marker"
    sleep 0.01 # the marker's mtime must be older than anything the run writes
    off0=$(stat -c %s "$PEBBLE_LOG")
    if [ "$count" = 1 ]; then
        timed_run "$t" "$run" "$name" 2>"$base.wrap"
    elif [ "$t" = nacme ]; then
        timed_batch_nacme "$base" "${names[@]}" 2>"$base.wrap"
    else
        timed_batch_peer "$t" "$run" "$base" "${names[@]}" 2>"$base.wrap"
    fi
    off1=$(stat -c %s "$PEBBLE_LOG")
    reqs=$(tail -c +"$((off0 + 1))" "$PEBBLE_LOG" | head -c "$((off1 - off0))" |
        grep -c -- '-> calling handler()')
    if [ ! -s "$base.res" ]; then
        note="the harness gave no result: $(tr '\n' ' ' <"$base.wrap" 2>/dev/null | cut -c1-200)"
        rc=125 wall_us=0 cpu_u=0 cpu_s=0 rss=0 timedout=0
    else
        read -r rc wall_us cpu_u cpu_s rss timedout <"$base.res"
        if [ "$timedout" = 1 ]; then
            note="timed out after ${TIMEOUT}s"
        elif [ "$rc" != 0 ]; then
            note="exit status $rc: $(grep -v '^\s*$' "$base.log" | tail -n 2 | tr '\n' ' ' |
                cut -c1-200)"
        else
            ok=1
            for n in "${names[@]}"; do
                note=$(check_cert "$(cert_path "$t" "$n")" "$n" "$base.marker") || { ok=0; break; }
            done
        fi
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$run" "$name" "$ok" "$rc" \
        "$wall_us" "$cpu_u" "$cpu_s" "$rss" "$reqs" "${note//$'\t'/ }" "$count" >>"$RESULTS"
    if [ $ok = 1 ]; then
        printf '  %-8s run %-3s ok    %8.3f s wall %7.3f s cpu %7d KB %5d requests  %d cert(s)\n' \
            "$t" "$run" "$(awk -v w="$wall_us" 'BEGIN { print w / 1e6 }')" \
            "$(awk -v u="$cpu_u" -v s="$cpu_s" 'BEGIN { print u + s }')" "$rss" "$reqs" "$count"
        return 0
    fi
    printf '  %-8s run %-3s FAIL  %s\n' "$t" "$run" "$note"
    return 1
}

# The floor of the harness itself: GNU time running /bin/true, median of 5.
harness_floor() {
    local f=$WORK/floor
    for _ in 1 2 3 4 5; do
        bash "$SELF" __measure 10 "$f.res" "$f.log" -- /bin/true
        cat "$f.res"
    done | python3 -c '
import sys, statistics
rows = [l.split() for l in sys.stdin if l.strip()]
w = statistics.median(int(r[1]) for r in rows) / 1e3
c = statistics.median((float(r[2]) + float(r[3])) * 1e3 for r in rows)
print(f"{w:.1f} ms wall, {c:.1f} ms CPU")'
}

# --- --renew N: nothing due over many lineages ----------------------------------------------------
renew_bench() {
    local st=$WORK/renew-state i name src=bench-renew.example reqs0 reqs1 t0 t1
    local -a walls=()
    local nac=("$NACME" --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$st"
        --webroot "$LAB_WEBROOT")
    echo "nacme renew benchmark: $RENEW lineages, nothing due, $RUNS timed run(s)"
    "${nac[@]}" --agree-tos -q issue -d "$src" || { echo "bench: issue failed" >&2; exit 1; }
    # Copies of one lineage under distinct names: what renew reads is lineage.json and live/NAME.
    for ((i = 1; i <= RENEW; i++)); do
        name=$(printf 'r%05d.example' "$i")
        cp -a "$st/archive/$src" "$st/archive/$name"
        sed -i "s/\"$src\"/\"$name\"/g" "$st/archive/$name/lineage.json"
        ln -s "../archive/$name/1" "$st/live/$name"
    done
    "${nac[@]}" -q renew --no-reload || { echo "bench: the first renew failed" >&2; exit 1; }
    reqs0=$(wc -l <"$LAB/log/pebble.log")
    for ((i = 1; i <= RUNS; i++)); do
        t0=$EPOCHREALTIME
        "${nac[@]}" -q renew --no-reload || { echo "bench: renew run $i failed" >&2; exit 1; }
        t1=$EPOCHREALTIME
        walls+=($(((${t1/./} - ${t0/./}))))
    done
    reqs1=$(wc -l <"$LAB/log/pebble.log")
    printf '%s\n' "${walls[@]}" | python3 -c '
import json, statistics, sys
n, runs, lines, json_file = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
w = [int(x) / 1000 for x in sys.stdin.read().split()]
print(f"renew over {n} lineages, nothing due: median {statistics.median(w):.1f} ms, "
      f"min {min(w):.1f} ms, max {max(w):.1f} ms over {runs} runs; Pebble log lines during "
      f"the timed runs: {lines}")
if json_file:
    with open(json_file, "w") as f:
        json.dump({"renew": {"lineages": n, "runs": runs, "wall_ms": w,
                             "median_wall_ms": statistics.median(w), "pebble_log_lines": lines}},
                  f, indent=2)
        f.write("\n")' "$RENEW" "$RUNS" "$((reqs1 - reqs0))" "$JSON"
}
if [ -n "$RENEW" ]; then
    renew_bench
    exit 0
fi

# --- the run ------------------------------------------------------------------------------------
echo "nacme benchmark: $RUNS run(s) per tool, one fresh name per run"
echo "lab: Pebble $(pkg_version pebble) at $LAB_ACME_URL, PEBBLE_VA_NOSLEEP=1," \
    "authorization reuse $AUTHZ_REUSE%$([ "$AUTHZ_REUSE" = 0 ] &&
        echo ' (every order needs a real http-01 validation)')"
echo "machine: $(nproc) cpu, $(uname -r), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' \
    /proc/meminfo)"

ACTIVE=()
for t in $TOOLS; do
    setup_tool "$t"
    if [ -n "${SKIP[$t]:-}" ]; then
        echo "SKIP $t: ${SKIP[$t]}"
    else
        echo "tool $t: ${VERSION[$t]}"
        ACTIVE+=("$t")
    fi
done

# Round-robin over the tools, so that drift over time (Pebble's growing in-memory state, other
# load on the machine) does not favour one tool.
for ((run = 1; run <= RUNS; run++)); do
    NEXT=()
    for t in "${ACTIVE[@]}"; do
        if do_run "$t" "$run"; then
            NEXT+=("$t")
        elif [ "$run" = 1 ]; then
            SKIP[$t]="first run failed (see above); no further runs"
            echo "SKIP $t: ${SKIP[$t]}"
            if [ -s "$WORK/runs/$t-1.log" ]; then
                sed 's/^/      | /' "$WORK/runs/$t-1.log" | tail -n 8
            fi
        else
            NEXT+=("$t")
        fi
    done
    ACTIVE=("${NEXT[@]}")
done

# --- --count-requests: nacme's own view of its HTTP traffic -------------------------------------
COUNT_NOTE=""
if [ $COUNT_REQUESTS = 1 ]; then
    if [[ " ${ACTIVE[*]} " != *" nacme "* ]]; then
        COUNT_NOTE="skipped: nacme did not run"
        echo "--count-requests: $COUNT_NOTE"
    else
        name=bench-nacme-count.example
        off0=$(stat -c %s "$PEBBLE_LOG")
        # shellcheck disable=SC2086
        "$NACME" $NACME_VERBOSE_ARGS --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" \
            --state-dir "${STATE[nacme]}" --webroot "$LAB_WEBROOT" "${NACME_LAB[@]}" --agree-tos \
            --email "$EMAIL" issue -d "$name" >"$WORK/count.log" 2>&1 </dev/null
        crc=$?
        off1=$(stat -c %s "$PEBBLE_LOG")
        server=$(tail -c +"$((off0 + 1))" "$PEBBLE_LOG" | head -c "$((off1 - off0))" |
            grep -c -- '-> calling handler()')
        # TODO(nacme -v): this matches the debug line of src/http.c, "METHOD URL -> STATUS (N
        # bytes)". If nacme's verbose format changes, change this pattern (and NACME_VERBOSE_ARGS).
        pat='(GET|HEAD|POST) https?://[^ ]+ -> [0-9]+'
        client=$(grep -cE "$pat" "$WORK/count.log")
        COUNT_NOTE="exit $crc; nacme logged $client request(s), Pebble saw $server"
        echo "--count-requests (one extra untimed run, nacme $NACME_VERBOSE_ARGS): $COUNT_NOTE"
        # Per method and first path segment (mawk: no {n,} intervals in regexes).
        grep -oE "$pat" "$WORK/count.log" | awk '{ u = $2; sub(/^https?:\/\/[^\/]+/, "", u);
            if (match(u, /^\/[^\/?]*/)) u = substr(u, RSTART, RLENGTH); print $1 " " u }' |
            sort | uniq -c | sed 's/^/   /'
        [ "$client" = 0 ] && echo "    (no request lines found: the TODO above applies)"
    fi
fi

# --- --curve: nacme alone, one batch per size ----------------------------------------------------
CURVE_FILE=$WORK/curve.tsv # size ok wall_us user_s sys_s rss_kb requests note
: >"$CURVE_FILE"
if [ -n "$CURVE" ] && [[ " ${ACTIVE[*]} " == *" nacme "* ]]; then
    echo "curve: nacme, one process per batch${PARALLEL:+, --parallel $PARALLEL}"
    for size in $CURVE; do
        base=$WORK/runs/curve-$size
        mapfile -t names < <(for ((i = 1; i <= size; i++)); do echo "bench-curve-$size-$i.example"; done)
        touch "$base.marker"
        sleep 0.01
        off0=$(stat -c %s "$PEBBLE_LOG")
        timed_batch_nacme "$base" "${names[@]}" 2>"$base.wrap"
        off1=$(stat -c %s "$PEBBLE_LOG")
        reqs=$(tail -c +"$((off0 + 1))" "$PEBBLE_LOG" | head -c "$((off1 - off0))" |
            grep -c -- '-> calling handler()')
        read -r rc wall_us cpu_u cpu_s rss timedout <"$base.res"
        ok=1 note=""
        if [ "$rc" != 0 ]; then
            ok=0 note="exit status $rc: $(tail -n 1 "$base.log" | cut -c1-200)"
        else
            for n in "${names[@]}"; do
                note=$(check_cert "$(cert_path nacme "$n")" "$n" "$base.marker") || { ok=0; break; }
            done
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$ok" "$wall_us" "$cpu_u" "$cpu_s" \
            "$rss" "$reqs" "$note" >>"$CURVE_FILE"
        printf '  %4d names: %s %8.3f s wall %7.3f s cpu (user %s, sys %s) %6d KB %5d requests\n' \
            "$size" "$([ $ok = 1 ] && echo "ok  " || echo "FAIL")" \
            "$(awk -v w="$wall_us" 'BEGIN { print w / 1e6 }')" \
            "$(awk -v u="$cpu_u" -v s="$cpu_s" 'BEGIN { print u + s }')" "$cpu_u" "$cpu_s" "$rss" "$reqs"
        [ $ok = 1 ] || echo "    $note"
    done
fi

# --- the report ---------------------------------------------------------------------------------
FLOOR=$(harness_floor)
echo "measuring harness floor (GNU time running /bin/true, after the runs): $FLOOR"
{
    for t in $TOOLS; do
        printf '%s\t%s\t%s\n' "$t" "${VERSION[$t]:-}" "${SKIP[$t]:-}"
    done
} >"$WORK/tools.tsv"

python3 - "$RESULTS" "$WORK/tools.tsv" "$BASELINE" "$JSON" "$RUNS" "$AUTHZ_REUSE" \
    "$LAB_ACME_URL" "$FLOOR" "$COUNT_NOTE" "$CURVE_FILE" <<'EOF'
import json, statistics, sys
(res_file, tools_file, baseline, json_file, runs, reuse, url, floor, count_note,
 curve_file) = sys.argv[1:]
tools, info = [], {}
for line in open(tools_file):
    t, version, skip = (line.rstrip("\n").split("\t") + ["", ""])[:3]
    tools.append(t)
    info[t] = {"version": version or None, "skipped": skip or None}
rows = {t: [] for t in tools}
for line in open(res_file):
    f = line.rstrip("\n").split("\t")
    t, run, name, ok, rc, wall, cu, cs, rss, reqs, note, count = f
    rows[t].append({
        "run": int(run), "name": name, "certificates": int(count), "ok": ok == "1", "exit": int(rc),
        "wall_s": int(wall) / 1e6, "user_s": float(cu), "sys_s": float(cs),
        "cpu_s": round(float(cu) + float(cs), 3), "peak_rss_kb": int(rss),
        "acme_requests": int(reqs), "note": note or None})

def med(xs):
    return statistics.median(xs) if xs else None

summary = {}
for t in tools:
    r = rows[t]
    first = next((x for x in r if x["run"] == 1 and x["ok"]), None)
    steady = [x for x in r if x["run"] > 1 and x["ok"]]
    summary[t] = {
        "version": info[t]["version"], "skipped": info[t]["skipped"],
        "runs": len(r), "runs_ok": sum(x["ok"] for x in r),
        "first": None if not first else {k: first[k] for k in
                                          ("wall_s", "cpu_s", "peak_rss_kb", "acme_requests")},
        "steady": {"n": len(steady),
                   "median_wall_s": med([x["wall_s"] for x in steady]),
                   "min_wall_s": min([x["wall_s"] for x in steady], default=None),
                   "max_wall_s": max([x["wall_s"] for x in steady], default=None),
                   "median_cpu_s": med([x["cpu_s"] for x in steady]),
                   "median_peak_rss_kb": med([x["peak_rss_kb"] for x in steady]),
                   "median_acme_requests": med([x["acme_requests"] for x in steady])},
        "per_run": r}

def fmt_s(v):
    return "-" if v is None else (f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s")

print()
print("Steady state = runs 2..N (account reused); first = run 1 (creates the account).")
hdr = ("tool", "runs ok", "first wall", "median wall", "wall range", "median CPU", "median RSS",
       "requests")
print("%-8s %8s %11s %12s %17s %11s %11s %9s" % hdr)
for t in tools:
    s = summary[t]
    if s["skipped"] and not s["runs"]:
        print("%-8s %8s  skipped: %s" % (t, "-", s["skipped"]))
        continue
    st, fi = s["steady"], s["first"]
    rss = st["median_peak_rss_kb"]
    req = st["median_acme_requests"]
    walls = [x["wall_s"] for x in s["per_run"] if x["run"] > 1 and x["ok"]]
    rng = f"{fmt_s(min(walls))}..{fmt_s(max(walls))}" if walls else "-"
    print("%-8s %8s %11s %12s %17s %11s %11s %9s" % (
        t, f'{s["runs_ok"]}/{s["runs"]}', fmt_s(fi["wall_s"] if fi else None),
        fmt_s(st["median_wall_s"]), rng, fmt_s(st["median_cpu_s"]),
        "-" if rss is None else f"{rss / 1024:.1f} MB",
        "-" if req is None else (f"{req:g}" + (f' ({fi["acme_requests"]})' if fi else ""))))
print("requests: ACME requests Pebble logged per steady-state run (run 1's in brackets)."
      " RSS: largest single process.")
print(f"harness floor, included in every figure: {floor}")
batch = max([x["certificates"] for t in tools for x in rows[t]], default=1)
if batch > 1:
    print(f"\nruns 2..N issue {batch} certificates each (nacme: one process; the others: one "
          "process per certificate). Per certificate (steady medians / " + str(batch) + "):")
    for t in tools:
        st = summary[t]["steady"]
        if st["median_wall_s"] is None:
            continue
        st["per_certificate"] = {"wall_s": st["median_wall_s"] / batch,
                                 "cpu_s": st["median_cpu_s"] / batch,
                                 "acme_requests": st["median_acme_requests"] / batch}
        pc = st["per_certificate"]
        print(f"  {t:8} {pc['wall_s'] * 1000:9.1f} ms wall {pc['cpu_s'] * 1000:9.1f} ms CPU "
              f"{pc['acme_requests']:6.2f} requests")

# Ratios against the baseline: steady-state medians, falling back to run 1 when N = 1.
def figure(t, key):
    s = summary.get(t)
    if not s:
        return None
    v = s["steady"]["median_" + key]
    if v is None and s["first"]:
        v = s["first"][key]
    return v

ratios = {}
bw, bc = figure(baseline, "wall_s"), figure(baseline, "cpu_s")
print()
if bw is None:
    print(f"ratios: none, {baseline} has no successful run"
          f"{' (' + summary[baseline]['skipped'] + ')' if baseline in summary and summary[baseline]['skipped'] else ''}")
else:
    for t in tools:
        if t == baseline:
            continue
        w, c = figure(t, "wall_s"), figure(t, "cpu_s")
        if w is None:
            continue
        ratios[t] = {"wall": float(f"{w / bw:.3g}") if bw else None,
                     "cpu": float(f"{c / bc:.3g}") if bc else None}
        rw = "n/a" if ratios[t]["wall"] is None else f'x{ratios[t]["wall"]:.3g}'
        rc = "n/a" if ratios[t]["cpu"] is None else f'x{ratios[t]["cpu"]:.3g}'
        print(f"{t}/{baseline} wall {rw}, CPU {rc}")
    if not ratios:
        print(f"ratios: no other tool has a successful run to compare with {baseline}")

curve = []
for line in open(curve_file):
    size, ok, wall, cu, cs, rss, reqs, note = (line.rstrip("\n").split("\t") + [""])[:8]
    size, wall, cu, cs = int(size), int(wall) / 1e6, float(cu), float(cs)
    curve.append({"certificates": size, "ok": ok == "1", "wall_s": wall, "user_s": cu,
                  "sys_s": cs, "cpu_s": round(cu + cs, 3), "peak_rss_kb": int(rss),
                  "acme_requests": int(reqs), "note": note or None})
if curve:
    print("\ncurve (nacme, one process per batch, account already made):")
    print("%6s %10s %10s %14s %14s %14s %14s %10s" % ("names", "wall", "CPU", "wall/cert",
          "CPU/cert", "user/cert", "sys/cert", "req/cert"))
    for c in curve:
        n = c["certificates"]
        print("%6d %10s %10s %11.1f ms %11.1f ms %11.1f ms %11.1f ms %10.2f%s" % (
            n, fmt_s(c["wall_s"]), fmt_s(c["cpu_s"]), c["wall_s"] * 1000 / n,
            c["cpu_s"] * 1000 / n, c["user_s"] * 1000 / n, c["sys_s"] * 1000 / n,
            c["acme_requests"] / n, "" if c["ok"] else "  FAILED: " + (c["note"] or "")))

if json_file:
    doc = {"runs_per_tool": int(runs), "batch": batch, "curve": curve, "lab": {"acme_url": url, "authz_reuse_percent": int(reuse),
           "pebble_va_nosleep": True}, "harness_floor": floor, "baseline": baseline,
           "count_requests": count_note or None, "tools": summary, "ratios": ratios}
    with open(json_file, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"\nJSON written to {json_file}")
EOF
