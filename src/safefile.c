/* safefile.c - writing, reading and making directories without trusting what is already there. */
#include "safefile.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* O_EXCL makes a collision an EEXIST, never a write into someone else's file; a few fresh names
 * are enough unless somebody is racing us on purpose. */
#define SAFEFILE_TEMP_TRIES 8
#define SAFEFILE_SUFFIX_LEN 6

/* Fill suffix (SAFEFILE_SUFFIX_LEN + 1 bytes) with random [A-Za-z0-9]. 0 or -1 with errno. */
static int random_suffix(char *suffix)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char bytes[SAFEFILE_SUFFIX_LEN];
    ssize_t n;
    size_t i;

    do {
        n = getrandom(bytes, sizeof(bytes), 0);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(bytes)) {
        if (n >= 0)
            errno = EIO;
        return -1;
    }
    /* The small modulo bias does not matter: the name only has to be unlikely to exist. */
    for (i = 0; i < sizeof(bytes); i++)
        suffix[i] = alphabet[bytes[i] % (sizeof(alphabet) - 1)];
    suffix[SAFEFILE_SUFFIX_LEN] = '\0';
    return 0;
}

bool safefile_is_temp_name(const char *name)
{
    size_t len = strlen(name), i;

    /* ".", at least one character of NAME, ".", and the suffix */
    if (len < 3 + SAFEFILE_SUFFIX_LEN || name[0] != '.' || name[len - SAFEFILE_SUFFIX_LEN - 1] != '.')
        return false;
    for (i = len - SAFEFILE_SUFFIX_LEN; i < len; i++)
        if (!isalnum((unsigned char)name[i]))
            return false;
    return true;
}

size_t safefile_sweep_temps(int dirfd)
{
    struct dirent *e;
    struct stat sb;
    size_t removed = 0;
    DIR *d;
    int fd = dup(dirfd);

    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    rewinddir(d); /* a dup shares its offset with dirfd, which may have been read before */
    while ((e = readdir(d)) != NULL)
        if (safefile_is_temp_name(e->d_name) &&
            fstatat(dirfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            (S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode)) && unlinkat(dirfd, e->d_name, 0) == 0)
            removed++;
    closedir(d);
    return removed;
}

/* A fresh ".NAME.XXXXXX" for a temp file next to name, or NULL with errno set. */
static char *temp_name_new(const char *name)
{
    char suffix[SAFEFILE_SUFFIX_LEN + 1];
    char *tmpname = NULL;

    if (random_suffix(suffix) != 0)
        goto out;
    if ((tmpname = nacme_printf_new(".%s.%s", name, suffix)) == NULL)
        errno = ENOMEM;
out:
    return tmpname;
}

/* Create the temp file; *tmpname is its heap name, *fd the open file. 0 or -1 with errno. */
static int temp_create(int dirfd, const char *name, mode_t mode, char **tmpname, int *fd)
{
    char *path = NULL;
    int i, tfd = -1, ret = -1;

    *tmpname = NULL;
    *fd = -1;
    for (i = 0; i < SAFEFILE_TEMP_TRIES; i++) {
        free(path);
        if ((path = temp_name_new(name)) == NULL)
            goto out;
        tfd = openat(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (tfd >= 0 || errno != EEXIST)
            break;
    }
    if (tfd < 0)
        goto out;
    *tmpname = path;
    path = NULL;
    *fd = tfd;
    ret = 0;
out:
    free(path);
    return ret;
}

/* Create the temp symlink; *tmpname is its heap name. 0 or -1 with errno. */
static int temp_symlink(int dirfd, const char *target, const char *name, char **tmpname)
{
    char *path = NULL;
    int i, rc = -1;

    *tmpname = NULL;
    for (i = 0; i < SAFEFILE_TEMP_TRIES; i++) {
        free(path);
        if ((path = temp_name_new(name)) == NULL)
            goto out;
        if ((rc = symlinkat(target, dirfd, path)) == 0 || errno != EEXIST)
            break;
    }
    if (rc != 0)
        goto out;
    *tmpname = path;
    path = NULL;
out:
    free(path);
    return rc;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    ssize_t n;

    while (len > 0) {
        n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

enum nacme_err safefile_write(struct nacme_ctx *ctx, int dirfd, const char *name, const void *data,
                              size_t len, mode_t mode, const char *what)
{
    return safefile_write_owned(ctx, dirfd, name, data, len, mode, (uid_t)-1, (gid_t)-1, what);
}

enum nacme_err safefile_write_owned(struct nacme_ctx *ctx, int dirfd, const char *name,
                                    const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid,
                                    const char *what)
{
    char *tmpname = NULL;
    int fd = -1, rc;
    bool renamed = false;
    enum nacme_err r = NACME_OK;

    if (temp_create(dirfd, name, mode, &tmpname, &fd) != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot write %s", what);
        goto out;
    }
    /* The owner first: chown may clear set-id bits that fchmod then sets. The mode given to openat
     * is filtered through the umask; the caller asked for exactly mode. */
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot write %s", what);
        goto out;
    }
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot write %s", what);
        goto out;
    }
    /* close can report a deferred write error (NFS); the descriptor is gone either way. */
    rc = close(fd);
    fd = -1;
    if (rc != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot write %s", what);
        goto out;
    }
    /* rename replaces a symlink at name itself, so nothing is ever written through one. */
    if (renameat(dirfd, tmpname, dirfd, name) != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot write %s", what);
        goto out;
    }
    renamed = true;
    r = safefile_fsync_dir(ctx, dirfd, what);
out:
    if (fd >= 0)
        close(fd);
    if (tmpname != NULL && !renamed)
        unlinkat(dirfd, tmpname, 0);
    free(tmpname);
    return r;
}

enum nacme_err safefile_symlink(struct nacme_ctx *ctx, int dirfd, const char *target,
                                const char *name, const char *what)
{
    char *tmpname = NULL;
    bool renamed = false;
    enum nacme_err r = NACME_OK;

    if (temp_symlink(dirfd, target, name, &tmpname) != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot point %s at %s", what, target);
        goto out;
    }
    /* rename(2) replaces the old link in one step: there is no moment without name. */
    if (renameat(dirfd, tmpname, dirfd, name) != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot point %s at %s", what, target);
        goto out;
    }
    renamed = true;
    r = safefile_fsync_dir(ctx, dirfd, what);
out:
    if (tmpname != NULL && !renamed)
        unlinkat(dirfd, tmpname, 0);
    free(tmpname);
    return r;
}

static enum nacme_err read_fail(struct nacme_ctx *ctx, const char *what)
{
    if (errno == ENOENT)
        return nacme_fail_errno(ctx, NACME_E_NOTFOUND, "cannot read %s", what);
    if (errno == ELOOP)
        return nacme_fail(ctx, NACME_E_INVALID, "%s is a symbolic link; refusing to follow it",
                          what);
    if (errno == EXDEV)
        return nacme_fail(ctx, NACME_E_INVALID, "%s: a path component is empty, \".\" or \"..\"", what);
    return nacme_fail_errno(ctx, NACME_E_IO, "cannot read %s", what);
}

static bool is_symlink(int dirfd, const char *name)
{
    struct stat sb;

    return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode);
}

/* Whether every component of path is a plain name: not empty, ".", ".." or over NAME_MAX. */
static bool path_plain(const char *path)
{
    const char *p = path;
    size_t n;

    for (;;) {
        n = strcspn(p, "/");
        if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (p[n] == '\0')
            return true;
        p += n + 1;
    }
}

/* openat(dirfd, path, flags) for a path of several plain components, none of which may be a
 * symbolic link: one directory at a time. (openat2(2) with RESOLVE_NO_SYMLINKS would do it in one
 * call, but valgrind 3.19, which the test suite runs under, does not know it.) */
static int open_beneath(int dirfd, const char *path, int flags)
{
    const char *p = path;
    char part[NAME_MAX + 1];
    int fd, next, saved;
    size_t n;

    if (!path_plain(path)) {
        errno = EXDEV;
        return -1;
    }
    fd = dirfd;
    while (p[n = strcspn(p, "/")] == '/') {
        memcpy(part, p, n);
        part[n] = '\0';
        next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        saved = errno;
        /* O_DIRECTORY|O_NOFOLLOW on a link says ENOTDIR: say what it is */
        if (next < 0 && saved == ENOTDIR && is_symlink(fd, part))
            saved = ELOOP;
        if (fd != dirfd)
            close(fd);
        errno = saved;
        if (next < 0)
            return -1;
        fd = next;
        p += n + 1;
    }
    next = openat(fd, p, flags);
    saved = errno;
    if (fd != dirfd)
        close(fd);
    errno = saved;
    return next;
}

/* Open a regular file of at most max bytes for reading, never through a symlink; fstat's answer
 * in *sb. */
static enum nacme_err open_regular(struct nacme_ctx *ctx, int dirfd, const char *name,
                                   bool beneath, size_t max, int *out, struct stat *sb,
                                   const char *what)
{
    enum nacme_err r = NACME_OK;
    int fd;

    *out = -1;
    /* O_NONBLOCK so that a FIFO planted under our name cannot hang us before fstat refuses it. */
    fd = beneath ? open_beneath(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
                 : openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return read_fail(ctx, what);
    if (fstat(fd, sb) != 0)
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot read %s", what);
    else if (!S_ISREG(sb->st_mode))
        r = nacme_fail(ctx, NACME_E_INVALID, "%s is not a regular file", what);
    else if (sb->st_size < 0 || (unsigned long long)sb->st_size > max)
        r = nacme_fail(ctx, NACME_E_INVALID, "%s is larger than %zu bytes", what, max);
    if (r != NACME_OK) {
        close(fd);
        return r;
    }
    *out = fd;
    return NACME_OK;
}

enum nacme_err safefile_open_read(struct nacme_ctx *ctx, int dirfd, const char *name, size_t max,
                                  int *fd, const char *what)
{
    struct stat sb;

    return open_regular(ctx, dirfd, name, false, max, fd, &sb, what);
}

static enum nacme_err read_new(struct nacme_ctx *ctx, int dirfd, const char *name, bool beneath,
                               size_t max, char **data, size_t *len, const char *what)
{
    struct stat sb;
    char *buf = NULL;
    size_t cap = 0, got = 0;
    ssize_t n;
    int fd;
    enum nacme_err r = NACME_OK;

    *data = NULL;
    if (len != NULL)
        *len = 0;
    if ((r = open_regular(ctx, dirfd, name, beneath, max, &fd, &sb, what)) != NACME_OK)
        goto out;
    /* One byte beyond the size fstat saw tells a file that grew meanwhile; one more for the NUL. */
    cap = (size_t)sb.st_size + 2;
    if ((buf = malloc(cap)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory reading %s", what);
        goto out;
    }
    while (got < cap - 1) {
        n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = nacme_fail_errno(ctx, NACME_E_IO, "cannot read %s", what);
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        /* A regular file reads short only at its end: no second read(2) to hear it say 0 (a
         * renew run with nothing due reads a thousand of these). */
        if (got == (size_t)sb.st_size && (size_t)n < cap - 1 - (got - (size_t)n))
            break;
    }
    if (got > (size_t)sb.st_size) {
        r = nacme_fail(ctx, NACME_E_IO, "%s changed while it was being read", what);
        goto out;
    }
    buf[got] = '\0';
    *data = buf;
    buf = NULL;
    if (len != NULL)
        *len = got;
out:
    if (fd >= 0)
        close(fd);
    /* The file may have been a private key. */
    nacme_secret_free(buf, cap);
    return r;
}

enum nacme_err safefile_read_new(struct nacme_ctx *ctx, int dirfd, const char *name, size_t max,
                                 char **data, size_t *len, const char *what)
{
    return read_new(ctx, dirfd, name, false, max, data, len, what);
}

enum nacme_err safefile_read_beneath_new(struct nacme_ctx *ctx, int dirfd, const char *path,
                                         size_t max, char **data, size_t *len, const char *what)
{
    return read_new(ctx, dirfd, path, true, max, data, len, what);
}

/* O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR, not ELOOP; tell the two apart. */

enum nacme_err safefile_mkdir_open(struct nacme_ctx *ctx, int dirfd, const char *name, mode_t mode,
                                   int *fd, const char *what)
{
    struct stat sb;
    int dfd = -1, saved;
    enum nacme_err r = NACME_OK;

    *fd = -1;
    if (mkdirat(dirfd, name, mode) != 0 && errno != EEXIST) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot create directory %s", what);
        goto out;
    }
    dfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        saved = errno;
        if (saved == ELOOP || (saved == ENOTDIR && is_symlink(dirfd, name)))
            r = nacme_fail(ctx, NACME_E_INVALID, "%s is a symbolic link; refusing to follow it",
                           what);
        else if (saved == ENOTDIR)
            r = nacme_fail(ctx, NACME_E_IO, "%s exists and is not a directory", what);
        else
            r = nacme_fail_errno(ctx, NACME_E_IO, "cannot open directory %s", what);
        goto out;
    }
    /* mkdirat's mode went through the umask, and an existing directory may have any mode. Only
     * when it differs: a read-only state dir can still be listed. */
    if (fstat(dfd, &sb) != 0 || ((sb.st_mode & 07777) != mode && fchmod(dfd, mode) != 0)) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot set the mode of %s", what);
        goto out;
    }
    *fd = dfd;
    dfd = -1;
out:
    if (dfd >= 0)
        close(dfd);
    return r;
}

enum nacme_err safefile_fsync_dir(struct nacme_ctx *ctx, int dirfd, const char *what)
{
    /* EINVAL: a file system that cannot sync directories; there is nothing more we can do. */
    if (fsync(dirfd) != 0 && errno != EINVAL)
        return nacme_fail_errno(ctx, NACME_E_IO, "cannot sync directory of %s", what);
    return NACME_OK;
}
