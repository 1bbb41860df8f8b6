#!/bin/bash
# Build nacme's libFuzzer targets with clang (build-fuzz/, -DNACME_FUZZ=ON: ASan + UBSan) and run
# each one for SECONDS (default 20) from its seed corpus (tests/fuzz/corpus/NAME, copied to a
# temporary directory: the repository is never written), with its dictionary NAME.dict if any.
#
#   tests/fuzz/run.sh [SECONDS] [NAME ...]      (NAME: nginx_conf, acme_json, ...; default all)
#
# Fails when any target finds anything: a crash, a sanitizer report, a leak, a timeout (10 s on one
# input) or an out-of-memory (2 GiB). The input that did it is kept in build-fuzz/findings/ and
# named in the output; replay it with `build-fuzz/tests/fuzz/fuzz_NAME FILE`. Prints, per target,
# the executions per second and in all. FUZZ_JOBS (default 2) is the build's parallelism.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
root=$(cd "$here/../.." && pwd -P)
build=$root/build-fuzz
secs=${1:-20}
shift $(($# > 0 ? 1 : 0))

case $secs in
'' | *[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS] [NAME ...]" >&2; exit 2 ;;
esac
command -v clang >/dev/null || { echo "fuzz: clang is not installed (libFuzzer is part of it)" >&2; exit 1; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$here"/fuzz_*.c; do
        n=${f##*/fuzz_}
        targets+=("${n%.c}")
    done
fi

echo "fuzz: building ${targets[*]} in $build"
mkdir -p "$build" || exit 1
CC=clang cmake -S "$root" -B "$build" -DNACME_FUZZ=ON -DNACME_TESTS=OFF >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log" >&2; echo "fuzz: cmake configure failed" >&2; exit 1; }
for t in "${targets[@]}"; do
    cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target "fuzz_$t" >"$build/build-$t.log" 2>&1 ||
        { cat "$build/build-$t.log" >&2; echo "fuzz: building fuzz_$t failed" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/nacme-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
findings=$build/findings
mkdir -p "$findings"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
printf '%-12s %8s %12s %10s  %s\n' target seconds execs execs/s result >"$work/summary"
for t in "${targets[@]}"; do
    corpus=$work/corpus-$t
    mkdir -p "$corpus"
    [ -d "$here/corpus/$t" ] && cp -R "$here/corpus/$t/." "$corpus/"
    args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$findings/$t-")
    [ -f "$here/$t.dict" ] && args+=(-dict="$here/$t.dict")
    # nginx refuses a token longer than its 4096-byte buffer: inputs must be able to hold one
    [ "$t" = nginx_conf ] && args+=(-max_len=16384)
    echo "fuzz: fuzz_$t for $secs s ($(ls "$corpus" | wc -l) seeds)"
    before=$(ls "$findings" | grep -c "^$t-" || true)
    "$build/tests/fuzz/fuzz_$t" "${args[@]}" "$corpus" >"$work/$t.log" 2>&1
    rc=$?
    after=$(ls "$findings" | grep -c "^$t-" || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -n 1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/$t.log" | tail -n 1)
    rate=-
    [ -n "$execs" ] && [ -n "$took" ] && [ "$took" -gt 0 ] && rate=$((execs / took))
    if [ $rc -ne 0 ] || [ "$after" -ne "$before" ]; then
        failed+=("$t")
        result="FINDING (exit $rc)"
        cp "$work/$t.log" "$findings/$t.log"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|artifact_prefix|Test unit written)' \
            "$work/$t.log" | head -n 20 >&2
        echo "fuzz: fuzz_$t found something; its log is $findings/$t.log" >&2
    else
        result=ok
    fi
    printf '%-12s %8s %12s %10s  %s\n' "$t" "${took:-?}" "${execs:-?}" "$rate" "$result" \
        >>"$work/summary"
done
cat "$work/summary"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: findings in ${failed[*]} (inputs in $findings)" >&2
    exit 1
fi
echo "fuzz: no finding"
