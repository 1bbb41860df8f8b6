/*
 * confine.h - Landlock (Linux 5.13+) for the parts of nacme that need little of the file system.
 * A Landlock domain binds the calling thread and every thread or process it starts afterwards, and
 * cannot be lifted: the network thread takes one when it starts, the signer process before it
 * signs anything.
 */
#ifndef NACME_CONFINE_H
#define NACME_CONFINE_H

#include <stddef.h>

/* What happened, for a verbose line and for tests. */
enum confine_result {
    CONFINE_APPLIED,
    CONFINE_UNSUPPORTED, /* the kernel has no Landlock, or it is disabled */
    CONFINE_FAILED,      /* it has, and refused: errno says why */
};

/* From now on the calling thread (and what it starts) may read files and list directories below
 * the n paths in read_only (paths that do not exist are skipped) and nothing else: no writing,
 * creating, removing, renaming or executing anywhere. n == 0: no file system access at all. Sets
 * no_new_privs for the thread, as Landlock requires of an unprivileged caller. */
enum confine_result confine_files(const char *const *read_only, size_t n);

#endif
