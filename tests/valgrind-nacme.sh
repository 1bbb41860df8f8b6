#!/bin/sh
# Runs the nacme under test ($NACME_REAL) under valgrind: a memory error or a leak makes it exit 99,
# which every integration test's exit-status check then reports.
exec valgrind --quiet --error-exitcode=126 --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect "$NACME_REAL" "$@"
