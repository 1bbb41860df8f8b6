#!/bin/bash
# How long `nacme --json nginx-setup --list` takes on a large nginx configuration: BLOCKS server
# blocks (default 10,000; a fifth of them the port 443 twin of another, so 8,000 sites) spread
# over included files of 100 blocks each (tests/lab/nginx_gen.py), as an admin's sites-enabled/
# would be. Prints each run's wall time, CPU, peak RSS, then the median; fails when the median is
# over the target (default 100 ms) or the output does not hold every site.
#
#   tests/bench/nginx_read.sh [--nacme PATH] [--blocks N] [--runs N] [--target-ms MS] [--nginx]
#
# --nginx also times `nginx -t` on the same files, for scale. Needs python3, jq, GNU time.
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd -P)
NACME=$ROOT/build/nacme
BLOCKS=10000
RUNS=11
TARGET=100
WITH_NGINX=0
while [ $# -gt 0 ]; do
    case $1 in
    --nacme) NACME=$2; shift 2 ;;
    --blocks) BLOCKS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --target-ms) TARGET=$2; shift 2 ;;
    --nginx) WITH_NGINX=1; shift ;;
    *) echo "usage: $0 [--nacme PATH] [--blocks N] [--runs N] [--target-ms MS] [--nginx]" >&2
       exit 2 ;;
    esac
done
W=$(mktemp -d "${TMPDIR:-/tmp}/nacme-ngxbench.XXXXXX") || exit 1
trap 'rm -rf -- "$W"' EXIT
TWINS=$((BLOCKS / 5))
python3 "$ROOT/tests/lab/nginx_gen.py" "$W/conf" "$BLOCKS" "$TWINS" || exit 1
: >"$W/nacme.conf"
echo "# $BLOCKS server blocks in $(ls "$W/conf/sites" | wc -l) files," \
    "$(du -sk "$W/conf" | cut -f1) KB; $RUNS runs"

# one run: "WALL_MS CPU_MS RSS_KB"
run_once() {
    local t0 t1
    t0=$(date +%s%N)
    /usr/bin/time -f "%U %S %M" -o "$W/time" "$@" >"$W/out.json" 2>"$W/err" || {
        cat "$W/err" >&2
        return 1
    }
    t1=$(date +%s%N)
    read -r u s m <"$W/time"
    echo "$(( (t1 - t0) / 1000000 )) $(python3 -c "print(round(($u + $s) * 1000))") $m"
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

walls=()
for i in $(seq "$RUNS"); do
    r=$(run_once "$NACME" --config "$W/nacme.conf" --json --nginx-conf "$W/conf/nginx.conf" \
        nginx-setup --list) || { echo "nacme failed" >&2; exit 1; }
    set -- $r
    echo "nacme run $i: wall $1 ms, cpu $2 ms, rss $3 KB"
    walls+=("$1")
done
sites=$(jq '[.[] | select(.names)] | length' "$W/out.json")
med=$(printf '%s\n' "${walls[@]}" | median)
echo "nacme --json nginx-setup --list: median wall $med ms over $RUNS runs; $sites sites listed" \
    "(target < $TARGET ms)"
if [ "$WITH_NGINX" = 1 ]; then
    mkdir -p "$W/prefix/logs"
    nwalls=()
    for i in $(seq 3); do
        r=$(run_once nginx -t -q -p "$W/prefix/" -c "$W/conf/nginx.conf" -e stderr \
            -g "pid $W/prefix/nginx.pid;") || { echo "nginx -t failed" >&2; exit 1; }
        set -- $r
        nwalls+=("$1")
    done
    echo "nginx -t on the same files: median wall $(printf '%s\n' "${nwalls[@]}" | median) ms"
fi
[ "$sites" = $((BLOCKS - TWINS)) ] || { echo "FAIL: want $((BLOCKS - TWINS)) sites" >&2; exit 1; }
[ "$med" -lt "$TARGET" ] || { echo "FAIL: median over $TARGET ms" >&2; exit 1; }
