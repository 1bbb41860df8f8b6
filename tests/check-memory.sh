#!/usr/bin/env bash
# The whole suite twice more: built with ASan+UBSan (gcc), and under valgrind (clang, DWARF 4 so that
# valgrind 3.19 can read it). Run before calling an issue resolved; CI runs the plain suite.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DNACME_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j2
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build-asan --output-on-failure -j2
CC=clang CFLAGS=-gdwarf-4 cmake -S . -B build-valgrind -DNACME_VALGRIND=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-valgrind -j2
ctest --test-dir build-valgrind --output-on-failure -j2
