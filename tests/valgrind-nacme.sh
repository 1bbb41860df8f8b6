#!/bin/bash
# Runs the nacme under test ($NACME_REAL) under valgrind: a memory error or a leak makes it exit 126,
# which every integration test's exit-status check then reports.
#
# valgrind 3.19 does not know Landlock's system calls (444-446): it fails them with ENOSYS, which
# nacme takes as a kernel without Landlock, and prints "--PID-- WARNING: unhandled amd64-linux
# syscall" lines on stderr, which would break every one-line-error check. valgrind's own notes
# ("--PID-- ") are dropped here; its error reports ("==PID== ") go to stderr as they are. exec
# keeps nacme the process the tests signal.
exec 3> >(grep --line-buffered -v '^--[0-9]*-- ' >&2)
exec valgrind --quiet --log-fd=3 --error-exitcode=126 --leak-check=full \
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    "$NACME_REAL" "$@"
