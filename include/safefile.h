/*
 * safefile.h - the one way nacme writes a file: a temp file in the destination directory opened
 * O_CREAT|O_EXCL|O_NOFOLLOW with an explicit mode, a write loop, fsync, a checked close, rename over
 * the destination, fsync of the directory; the temp file is unlinked on every failure path.
 * All paths are relative to an open directory fd so that no component is re-resolved later.
 */
#ifndef NACME_SAFEFILE_H
#define NACME_SAFEFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "nacme.h"

/* Atomically replace dirfd/name with len bytes of data; the file ends up with exactly `mode`
 * whatever the umask. `what` names the file in error messages (e.g. the full path). */
enum nacme_err safefile_write(struct nacme_ctx *ctx, int dirfd, const char *name, const void *data,
                              size_t len, mode_t mode, const char *what);
/* The same, the file owned by uid:gid ((uid_t)-1 and (gid_t)-1: the caller's), for replacing a
 * file that someone else owns (nginx's configuration) while keeping its owner. */
enum nacme_err safefile_write_owned(struct nacme_ctx *ctx, int dirfd, const char *name,
                                    const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid,
                                    const char *what);
/* Read a regular file (never through a symlink) of at most max bytes into a NUL-terminated heap
 * buffer. NACME_E_NOTFOUND when it does not exist. Free with free(), or nacme_secret_free().
 * Only name's last component is not followed (a user's path may lead through links). */
enum nacme_err safefile_read_new(struct nacme_ctx *ctx, int dirfd, const char *name, size_t max,
                                 char **data, size_t *len, const char *what);
/* Whether name is one of safefile's temp names (".NAME.XXXXXX"). */
bool safefile_is_temp_name(const char *name);
/* Remove the temp files (and temp symlinks) a killed writer left in dirfd; never a directory, never
 * through a link. Returns how many went. Only for directories no other process writes to. */
size_t safefile_sweep_temps(int dirfd);

/* The checks of safefile_read_new without the reading: *fd is open for reading (O_CLOEXEC), for
 * a process that is to read the file instead of this one (the account key's signer). */
enum nacme_err safefile_open_read(struct nacme_ctx *ctx, int dirfd, const char *name, size_t max,
                                  int *fd, const char *what);
/* The same for a path of several components below dirfd ("NAME/lineage.json"), none of which may
 * be a symlink, empty, "." or "..". */
enum nacme_err safefile_read_beneath_new(struct nacme_ctx *ctx, int dirfd, const char *path,
                                         size_t max, char **data, size_t *len, const char *what);
/* Make (if needed) and open directory dirfd/name, not following a symlink, and set its mode to
 * exactly `mode`. Returns the new directory's fd in *fd (caller closes). */
enum nacme_err safefile_mkdir_open(struct nacme_ctx *ctx, int dirfd, const char *name, mode_t mode,
                                   int *fd, const char *what);
/* Atomically make dirfd/name a symlink to target: a temp link in the same directory renamed
 * over name, so that a reader sees the old link or the new one, never none; then an fsync of the
 * directory. */
enum nacme_err safefile_symlink(struct nacme_ctx *ctx, int dirfd, const char *target,
                                const char *name, const char *what);
/* fsync a directory so that a rename or unlink in it is durable. */
enum nacme_err safefile_fsync_dir(struct nacme_ctx *ctx, int dirfd, const char *what);

#endif
