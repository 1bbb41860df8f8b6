/*
 * store.c - the state directory: accounts, archived versions of each certificate and the live
 * symlinks nginx reads. Layout and modes are described in store.h.
 *
 * Every name is resolved from the state directory's fd with O_NOFOLLOW, so a symlink planted inside
 * the state directory is refused instead of followed. The one symlink that matters, live/NAME, is
 * ours: it is read with readlinkat and checked to be "../archive/NAME/N", never followed blindly.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>

#include "safefile.h"

#define STORE_FILE_MAX (1024 * 1024) /* every file we read back is far smaller */
#define STORE_NAME_MAX 200
#define STORE_VERSION_MAX 1000000 /* a renewal a day for a few thousand years */

#define STORE_MODE_PRIVATE_DIR 0700
#define STORE_MODE_PUBLIC_DIR 0755
#define STORE_MODE_SECRET 0600
#define STORE_MODE_PUBLIC 0644

static const char *const store_private_files[] = {"privkey.pem"};
static const char *const store_public_files[] = {"cert.pem", "chain.pem", "fullchain.pem"};

/* ---- helpers ------------------------------------------------------------------------------ */

/* "STATE/..." for messages. */
__attribute__((format(printf, 2, 3))) static char *store_path_new(const struct nacme_store *st,
                                                                  const char *fmt, ...)
{
    char *tail = NULL, *path = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&tail, fmt, ap);
    va_end(ap);
    if (n < 0)
        goto out;
    path = nacme_printf_new("%s/%s", st->path, tail);
out:
    if (n >= 0)
        free(tail);
    return path;
}

static enum nacme_err oom(struct nacme_ctx *ctx)
{
    return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
}

/* O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR, not ELOOP; tell the two apart. */
static bool is_symlink(int dirfd, const char *name)
{
    struct stat sb;

    return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode);
}

/* Open an existing directory without following a symlink; NACME_E_NOTFOUND when missing. */
static enum nacme_err dir_open(struct nacme_ctx *ctx, int dirfd, const char *name, int *fd,
                               const char *what)
{
    enum nacme_err r = NACME_OK;
    int saved;

    *fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*fd >= 0)
        goto out;
    saved = errno;
    if (saved == ENOENT)
        r = nacme_fail(ctx, NACME_E_NOTFOUND, "%s does not exist", what);
    else if (saved == ELOOP || (saved == ENOTDIR && is_symlink(dirfd, name)))
        r = nacme_fail(ctx, NACME_E_INVALID, "%s is a symbolic link; refusing to follow it", what);
    else if (saved == ENOTDIR)
        r = nacme_fail(ctx, NACME_E_INVALID, "%s is not a directory", what);
    else
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot open directory %s", what);
out:
    return r;
}

/* Open STATE/sub (accounts, archive or live), which store_open_new made. */
static enum nacme_err subdir_open(struct nacme_ctx *ctx, const struct nacme_store *st,
                                  const char *sub, int *fd)
{
    char *what = NULL;
    enum nacme_err r;

    *fd = -1;
    if ((what = store_path_new(st, "%s", sub)) == NULL) {
        r = oom(ctx);
        goto out;
    }
    r = dir_open(ctx, st->dirfd, sub, fd, what);
    /* Missing after store_open_new made it: somebody removed it, which is not "no such record". */
    if (r == NACME_E_NOTFOUND)
        r = ctx->err = NACME_E_IO;
out:
    free(what);
    return r;
}

static void fd_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

static bool is_ascii_alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ---- opening ------------------------------------------------------------------------------ */

/*
 * Another user who owns the state directory (or archive/, accounts/, live/), or may write into it,
 * could have planted or replaced anything below it: a key nacme would sign with, a lineage.json
 * pointing renewals elsewhere. Such a directory is refused, not silently chmod'ed, since whatever
 * was planted would stay. Below these, every directory is made 0700 by nacme itself, so nobody but
 * its owner (and root) can put anything there. A directory that does not exist yet passes: it is
 * made by us with our mode. Other modes (0755 on the state dir) are only put right.
 */
static enum nacme_err dir_trust_check(struct nacme_ctx *ctx, int parentfd, const char *name,
                                      const char *what, struct stat *seen)
{
    struct stat sb;

    seen->st_ino = 0;
    if (fstatat(parentfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(sb.st_mode))
        return NACME_OK; /* missing, or refused as a link or non-directory by the open */
    if (sb.st_uid != geteuid())
        return nacme_fail(ctx, NACME_E_INVALID,
                          "%s is owned by uid %ld, not by uid %ld that runs nacme; refusing to "
                          "use it",
                          what, (long)sb.st_uid, (long)geteuid());
    if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return nacme_fail(ctx, NACME_E_INVALID,
                          "%s is writable by %s (mode %04o); refusing to use it: another user "
                          "may have put files in it",
                          what, (sb.st_mode & S_IWOTH) ? "everyone" : "its group",
                          (unsigned)(sb.st_mode & 07777));
    *seen = sb;
    return NACME_OK;
}

/* safefile_mkdir_open of a directory dir_trust_check passed: the one opened must be the one
 * checked, not one swapped in between. */
static enum nacme_err trusted_dir_open(struct nacme_ctx *ctx, int parentfd, const char *name,
                                       mode_t mode, int *fd, const char *what)
{
    struct stat seen, sb;
    enum nacme_err r;

    *fd = -1;
    if ((r = dir_trust_check(ctx, parentfd, name, what, &seen)) != NACME_OK ||
        (r = safefile_mkdir_open(ctx, parentfd, name, mode, fd, what)) != NACME_OK)
        return r;
    if (fstat(*fd, &sb) != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot stat %s", what);
    } else if (sb.st_uid != geteuid() || (seen.st_ino != 0 && (sb.st_ino != seen.st_ino ||
                                                                sb.st_dev != seen.st_dev))) {
        r = nacme_fail(ctx, NACME_E_INVALID, "%s changed while it was opened; refusing to use it",
                       what);
    }
    if (r != NACME_OK) {
        close(*fd);
        *fd = -1;
    }
    return r;
}

/*
 * mkdir -p of everything before the last component of path, each step relative to the previous
 * directory's fd. Symlinks among the parents are followed (/var/lib may well be one); the state
 * directory itself is not. *parentfd is AT_FDCWD for a relative path of one component.
 */
static enum nacme_err parents_make(struct nacme_ctx *ctx, const char *path, int *parentfd,
                                   const char **base)
{
    const char *slash = strrchr(path, '/'), *p, *end;
    char *comp = NULL, *prefix = NULL;
    int fd = -1, nfd;
    bool made;
    enum nacme_err r = NACME_OK;

    *parentfd = -1;
    *base = NULL;
    if (slash == NULL) {
        *parentfd = AT_FDCWD;
        *base = path;
        goto out;
    }
    fd = open(path[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot open the directory above %s", path);
        goto out;
    }
    for (p = path; p < slash; p = end) {
        while (p < slash && *p == '/')
            p++;
        if (p == slash)
            break;
        /* Never NULL: there is a '/' at slash, after p. */
        end = strchr(p, '/');
        free(comp);
        free(prefix);
        prefix = NULL;
        if ((comp = nacme_strndup_new(p, (size_t)(end - p))) == NULL ||
            (prefix = nacme_strndup_new(path, (size_t)(end - path))) == NULL) {
            r = oom(ctx);
            goto out;
        }
        made = mkdirat(fd, comp, STORE_MODE_PUBLIC_DIR) == 0;
        if (!made && errno != EEXIST) {
            r = nacme_fail_errno(ctx, NACME_E_IO, "cannot create directory %s", prefix);
            goto out;
        }
        if ((nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            r = nacme_fail_errno(ctx, NACME_E_IO, "cannot open directory %s", prefix);
            goto out;
        }
        close(fd);
        fd = nfd;
        /* Only what we made ourselves: an existing parent's mode is the administrator's. */
        if (made && fchmod(fd, STORE_MODE_PUBLIC_DIR) != 0) {
            r = nacme_fail_errno(ctx, NACME_E_IO, "cannot set the mode of %s", prefix);
            goto out;
        }
    }
    *parentfd = fd;
    fd = -1;
    *base = slash + 1;
out:
    fd_close(fd);
    free(comp);
    free(prefix);
    return r;
}

enum nacme_err store_open_new(struct nacme_ctx *ctx, const char *path, struct nacme_store **out)
{
    static const struct {
        const char *name;
        mode_t mode;
    } subdirs[] = {
        {"accounts", STORE_MODE_PRIVATE_DIR},
        {"archive", STORE_MODE_PRIVATE_DIR},
        {"live", STORE_MODE_PUBLIC_DIR},
    };
    struct nacme_store *st = NULL;
    const char *base = NULL;
    char *what = NULL;
    size_t i, n;
    int parentfd = -1, fd = -1;
    enum nacme_err r;

    *out = NULL;
    if (path == NULL || path[0] == '\0') {
        r = nacme_fail(ctx, NACME_E_CONFIG, "the state directory path is empty");
        goto out;
    }
    if ((st = calloc(1, sizeof(*st))) == NULL || (st->path = nacme_strdup_new(path)) == NULL) {
        r = oom(ctx);
        goto out;
    }
    st->dirfd = -1;
    st->lockfd = -1;
    st->archfd = -1;
    st->livefd = -1;
    /* "state/" would make O_NOFOLLOW follow a symlink at "state". */
    for (n = strlen(st->path); n > 1 && st->path[n - 1] == '/'; n--)
        st->path[n - 1] = '\0';
    /* "/" or "STATE/.." would put mode 0700 on a directory that is not ours. */
    base = strrchr(st->path, '/') ? strrchr(st->path, '/') + 1 : st->path;
    if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        r = nacme_fail(ctx, NACME_E_CONFIG, "the state directory %s must end in a name", path);
        goto out;
    }
    if ((r = parents_make(ctx, st->path, &parentfd, &base)) != NACME_OK ||
        (r = trusted_dir_open(ctx, parentfd, base, STORE_MODE_PRIVATE_DIR, &st->dirfd,
                              st->path)) != NACME_OK)
        goto out;
    for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        free(what);
        if ((what = store_path_new(st, "%s", subdirs[i].name)) == NULL) {
            r = oom(ctx);
            goto out;
        }
        if ((r = trusted_dir_open(ctx, st->dirfd, subdirs[i].name, subdirs[i].mode, &fd,
                                  what)) != NACME_OK)
            goto out;
        if (strcmp(subdirs[i].name, "archive") == 0)
            st->archfd = fd;
        else if (strcmp(subdirs[i].name, "live") == 0)
            st->livefd = fd;
        else
            close(fd);
        fd = -1;
    }
    *out = st;
    st = NULL;
out:
    if (parentfd != AT_FDCWD)
        fd_close(parentfd);
    free(what);
    store_free(st);
    return r;
}

void store_free(struct nacme_store *st)
{
    if (st == NULL)
        return;
    /* A finished run, whatever its outcome, leaves the lock empty (see sweep_after). */
    if (st->lockfd >= 0 && ftruncate(st->lockfd, 0) != 0) {
        /* the next run sweeps for nothing: harmless */
    }
    fd_close(st->lockfd);
    fd_close(st->archfd);
    fd_close(st->livefd);
    fd_close(st->dirfd);
    free(st->path);
    free(st);
}

/* ---- names -------------------------------------------------------------------------------- */

char *store_ca_id_new(const char *directory_url)
{
    const char *p;
    char *id = NULL;
    size_t i;

    if (directory_url == NULL)
        goto out;
    /* Drop "scheme://" only at the start, where RFC 3986 allows a scheme. */
    p = directory_url;
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
        while (is_ascii_alnum(*p) || *p == '+' || *p == '-' || *p == '.')
            p++;
        directory_url = strncmp(p, "://", 3) == 0 ? p + 3 : directory_url;
    }
    if ((id = nacme_strdup_new(directory_url[0] != '\0' ? directory_url : "_")) == NULL)
        goto out;
    for (i = 0; id[i] != '\0'; i++)
        if (!is_ascii_alnum(id[i]) && id[i] != '.' && id[i] != '-')
            id[i] = '_';
    /* The id becomes a directory name: never ".", "..", nor hidden like our temp files. */
    if (id[0] == '.')
        id[0] = '_';
out:
    return id;
}

bool store_name_valid(const char *name)
{
    size_t i;
    bool ok = name != NULL && name[0] != '\0' && name[0] != '.' && name[0] != '-';

    for (i = 0; ok && name[i] != '\0'; i++)
        ok = i < STORE_NAME_MAX &&
             (is_ascii_alnum(name[i]) || name[i] == '.' || name[i] == '_' || name[i] == '-');
    return ok;
}

static enum nacme_err name_check(struct nacme_ctx *ctx, const char *name)
{
    char shown[80];

    if (store_name_valid(name))
        return NACME_OK;
    nacme_sanitize(shown, sizeof(shown), name ? name : "", sizeof(shown));
    return nacme_fail(ctx, NACME_E_INVALID,
                      "certificate name \"%s\" must be 1-%d of [A-Za-z0-9._-], not starting with "
                      "'.' or '-'",
                      shown, STORE_NAME_MAX);
}

/* ---- JSON files --------------------------------------------------------------------------- */

static enum nacme_err json_file_load(struct nacme_ctx *ctx, int dirfd, const char *name,
                                     const char *what, json_t **out)
{
    json_error_t jerr;
    json_t *root = NULL;
    char *text = NULL;
    size_t len = 0;
    enum nacme_err r;

    *out = NULL;
    if ((r = safefile_read_beneath_new(ctx, dirfd, name, STORE_FILE_MAX, &text, &len, what)) !=
        NACME_OK)
        goto out;
    if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
        r = nacme_fail(ctx, NACME_E_INVALID, "%s:%d: %s", what, jerr.line, jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        r = nacme_fail(ctx, NACME_E_INVALID, "%s: not a JSON object", what);
        goto out;
    }
    *out = root;
    root = NULL;
out:
    json_decref(root);
    free(text);
    return r;
}

static enum nacme_err json_file_save(struct nacme_ctx *ctx, int dirfd, const char *name,
                                     const json_t *root, const char *what)
{
    char *text = NULL;
    enum nacme_err r;

    if ((text = json_dumps(root, JSON_INDENT(2))) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "cannot encode %s", what);
        goto out;
    }
    r = safefile_write(ctx, dirfd, name, text, strlen(text), STORE_MODE_SECRET, what);
out:
    free(text);
    return r;
}

static enum nacme_err json_string_get(struct nacme_ctx *ctx, json_t *root, const char *field,
                                      const char **val, const char *what)
{
    enum nacme_err r = NACME_OK;

    *val = NULL;
    if (json_unpack(root, "{s:s}", field, val) != 0)
        r = nacme_fail(ctx, NACME_E_INVALID, "%s: field %s missing or not a string", what, field);
    return r;
}

/* ---- accounts ----------------------------------------------------------------------------- */

/* accounts/CA_ID, made when create is set; *what is its path for messages. */
static enum nacme_err account_dir_open(struct nacme_ctx *ctx, const struct nacme_store *st,
                                       const char *directory_url, bool create, int *fd,
                                       char **what)
{
    char *id = NULL, *path = NULL;
    int accfd = -1;
    enum nacme_err r;

    *fd = -1;
    *what = NULL;
    if ((id = store_ca_id_new(directory_url)) == NULL ||
        (path = store_path_new(st, "accounts/%s", id)) == NULL) {
        r = oom(ctx);
        goto out;
    }
    if ((r = subdir_open(ctx, st, "accounts", &accfd)) != NACME_OK)
        goto out;
    if (create)
        r = safefile_mkdir_open(ctx, accfd, id, STORE_MODE_PRIVATE_DIR, fd, path);
    else
        r = dir_open(ctx, accfd, id, fd, path);
    if (r != NACME_OK)
        goto out;
    *what = path;
    path = NULL;
out:
    fd_close(accfd);
    free(id);
    free(path);
    return r;
}

/* The account of a CA: its key read into *key_pem, or (key_pem NULL) opened as *key_fd with its
 * path in *key_path. */
static enum nacme_err account_load(struct nacme_ctx *ctx, struct nacme_store *st,
                                   const char *directory_url, char **key_pem, size_t *key_len,
                                   int *key_fd, char **key_path, char **url)
{
    char *dirpath = NULL, *keypath = NULL, *recpath = NULL, *key = NULL, *u = NULL;
    const char *rec_dir = NULL, *rec_url = NULL;
    json_t *rec = NULL;
    size_t klen = 0;
    int fd = -1, kfd = -1;
    enum nacme_err r;

    if (key_pem != NULL) {
        *key_pem = NULL;
        *key_len = 0;
    } else {
        *key_fd = -1;
        *key_path = NULL;
    }
    *url = NULL;
    if ((r = account_dir_open(ctx, st, directory_url, false, &fd, &dirpath)) != NACME_OK)
        goto out;
    if ((keypath = nacme_printf_new("%s/account.key", dirpath)) == NULL ||
        (recpath = nacme_printf_new("%s/account.json", dirpath)) == NULL) {
        r = oom(ctx);
        goto out;
    }
    r = key_pem != NULL
            ? safefile_read_new(ctx, fd, "account.key", STORE_FILE_MAX, &key, &klen, keypath)
            : safefile_open_read(ctx, fd, "account.key", STORE_FILE_MAX, &kfd, keypath);
    if (r != NACME_OK)
        goto out;
    r = json_file_load(ctx, fd, "account.json", recpath, &rec);
    if (r == NACME_E_NOTFOUND) {
        /* A key saved before the CA answered: the account is not registered yet. */
        r = NACME_OK;
    } else if (r == NACME_OK) {
        if ((r = json_string_get(ctx, rec, "directory", &rec_dir, recpath)) != NACME_OK)
            goto out;
        /* Two URLs can map to one CA_ID ("a/b" and "a_b"); never hand one CA's key to another. */
        if (strcmp(rec_dir, directory_url) != 0) {
            r = nacme_fail(ctx, NACME_E_INVALID, "%s belongs to %s, not to %s", recpath, rec_dir,
                           directory_url);
            goto out;
        }
        if (json_unpack(rec, "{s?:s}", "url", &rec_url) != 0) {
            r = nacme_fail(ctx, NACME_E_INVALID, "%s: field url not a string", recpath);
            goto out;
        }
        if (rec_url != NULL && (u = nacme_strdup_new(rec_url)) == NULL) {
            r = oom(ctx);
            goto out;
        }
    } else {
        goto out;
    }
    if (key_pem != NULL) {
        *key_pem = key;
        key = NULL;
        *key_len = klen;
    } else {
        *key_fd = kfd;
        kfd = -1;
        *key_path = keypath;
        keypath = NULL;
    }
    *url = u;
    u = NULL;
out:
    fd_close(fd);
    fd_close(kfd);
    nacme_secret_free(key, klen);
    json_decref(rec);
    free(u);
    free(dirpath);
    free(keypath);
    free(recpath);
    return r;
}

enum nacme_err store_account_load_new(struct nacme_ctx *ctx, struct nacme_store *st,
                                      const char *directory_url, char **key_pem, size_t *key_len,
                                      char **url)
{
    return account_load(ctx, st, directory_url, key_pem, key_len, NULL, NULL, url);
}

enum nacme_err store_account_key_open(struct nacme_ctx *ctx, struct nacme_store *st,
                                      const char *directory_url, int *key_fd, char **key_path,
                                      char **url)
{
    return account_load(ctx, st, directory_url, NULL, NULL, key_fd, key_path, url);
}

enum nacme_err store_account_save(struct nacme_ctx *ctx, struct nacme_store *st,
                                  const char *directory_url, const char *key_pem, size_t key_len,
                                  const char *url)
{
    char *dirpath = NULL, *keypath = NULL, *recpath = NULL;
    json_t *rec = NULL;
    int fd = -1;
    enum nacme_err r;

    if ((r = account_dir_open(ctx, st, directory_url, true, &fd, &dirpath)) != NACME_OK)
        goto out;
    if ((keypath = nacme_printf_new("%s/account.key", dirpath)) == NULL ||
        (recpath = nacme_printf_new("%s/account.json", dirpath)) == NULL) {
        r = oom(ctx);
        goto out;
    }
    /* The key first: a record must never name an account whose key is not on disk. */
    if (key_pem != NULL && (r = safefile_write(ctx, fd, "account.key", key_pem, key_len,
                                               STORE_MODE_SECRET, keypath)) != NACME_OK)
        goto out;
    if ((rec = json_pack("{s:s, s:s*}", "directory", directory_url, "url", url)) == NULL) {
        r = nacme_fail(ctx, NACME_E_INVALID, "cannot encode %s", recpath);
        goto out;
    }
    r = json_file_save(ctx, fd, "account.json", rec, recpath);
out:
    fd_close(fd);
    json_decref(rec);
    free(dirpath);
    free(keypath);
    free(recpath);
    return r;
}

/* Rollover: the new key waits as account.key.new until the CA has taken it (store.h). */
#define STORE_ACCOUNT_KEY "account.key"
#define STORE_ACCOUNT_KEY_NEW "account.key.new"

/* The CA's account directory (opened) and the path of its account.key.new, for messages. */
static enum nacme_err pending_dir_open(struct nacme_ctx *ctx, struct nacme_store *st,
                                       const char *directory_url, int *fd, char **dirpath,
                                       char **path)
{
    enum nacme_err r;

    if ((r = account_dir_open(ctx, st, directory_url, false, fd, dirpath)) != NACME_OK)
        return r;
    if ((*path = nacme_printf_new("%s/" STORE_ACCOUNT_KEY_NEW, *dirpath)) == NULL)
        return oom(ctx);
    return NACME_OK;
}

enum nacme_err store_account_key_pending_save(struct nacme_ctx *ctx, struct nacme_store *st,
                                              const char *directory_url, const char *key_pem,
                                              size_t key_len)
{
    char *dirpath = NULL, *path = NULL;
    int fd = -1;
    enum nacme_err r;

    if ((r = pending_dir_open(ctx, st, directory_url, &fd, &dirpath, &path)) != NACME_OK)
        goto out;
    r = safefile_write(ctx, fd, STORE_ACCOUNT_KEY_NEW, key_pem, key_len, STORE_MODE_SECRET, path);
out:
    fd_close(fd);
    free(dirpath);
    free(path);
    return r;
}

enum nacme_err store_account_key_pending_load_new(struct nacme_ctx *ctx, struct nacme_store *st,
                                                  const char *directory_url, char **key_pem,
                                                  size_t *key_len)
{
    char *dirpath = NULL, *path = NULL;
    int fd = -1;
    enum nacme_err r;

    *key_pem = NULL;
    *key_len = 0;
    if ((r = pending_dir_open(ctx, st, directory_url, &fd, &dirpath, &path)) != NACME_OK)
        goto out;
    r = safefile_read_new(ctx, fd, STORE_ACCOUNT_KEY_NEW, STORE_FILE_MAX, key_pem, key_len, path);
out:
    fd_close(fd);
    free(dirpath);
    free(path);
    return r;
}

enum nacme_err store_account_key_pending_settle(struct nacme_ctx *ctx, struct nacme_store *st,
                                                const char *directory_url, bool take_new)
{
    char *dirpath = NULL, *path = NULL;
    int fd = -1, rc;
    enum nacme_err r;

    if ((r = pending_dir_open(ctx, st, directory_url, &fd, &dirpath, &path)) != NACME_OK)
        goto out;
    /* One rename: account.key is the old key or the new one, never neither. */
    if (take_new)
        rc = renameat(fd, STORE_ACCOUNT_KEY_NEW, fd, STORE_ACCOUNT_KEY);
    else
        rc = unlinkat(fd, STORE_ACCOUNT_KEY_NEW, 0);
    if (rc != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot %s %s", take_new ? "rename" : "remove",
                             path);
        goto out;
    }
    r = safefile_fsync_dir(ctx, fd, dirpath);
out:
    fd_close(fd);
    free(dirpath);
    free(path);
    return r;
}

/* ---- lineages ----------------------------------------------------------------------------- */

static const struct {
    const char *field;
    size_t offset;
} lineage_strings[] = {
    {"name", offsetof(struct store_lineage, name)},
    {"key_type", offsetof(struct store_lineage, key_type)},
    {"server", offsetof(struct store_lineage, server)},
    {"challenge", offsetof(struct store_lineage, challenge)},
    {"webroot", offsetof(struct store_lineage, webroot)},
};

static char **lineage_string(struct store_lineage *lin, size_t i)
{
    return (char **)(void *)((char *)lin + lineage_strings[i].offset);
}

/* Optional strings: absent from records written before they existed, and when unset. */
static const struct {
    const char *field;
    size_t offset;
} lineage_optional[] = {
    {"preferred_chain", offsetof(struct store_lineage, preferred_chain)},
    {"dns_hook", offsetof(struct store_lineage, dns_hook)},
    {"dns_resolver", offsetof(struct store_lineage, dns_resolver)},
    {"profile", offsetof(struct store_lineage, profile)},
};

static char **lineage_optional_string(struct store_lineage *lin, size_t i)
{
    return (char **)(void *)((char *)lin + lineage_optional[i].offset);
}

static const char *lineage_optional_get(const struct store_lineage *lin, size_t i)
{
    return *(char *const *)(const void *)((const char *)lin + lineage_optional[i].offset);
}

void store_lineage_free(struct store_lineage *lin)
{
    size_t i;

    if (lin == NULL)
        return;
    for (i = 0; i < sizeof(lineage_strings) / sizeof(lineage_strings[0]); i++)
        free(*lineage_string(lin, i));
    for (i = 0; i < lin->ndomains; i++)
        free(lin->domains[i]);
    free(lin->domains);
    free(lin->preferred_chain);
    free(lin->profile);
    free(lin->dns_hook);
    free(lin->dns_resolver);
    store_renewal_clear(&lin->renewal);
    free(lin);
}

/* "1".."STORE_VERSION_MAX" without sign, spaces or leading zeros; 0 if s is anything else. */
static int version_parse(const char *s)
{
    int v = 0;

    if (*s < '1' || *s > '9')
        return 0;
    for (; *s >= '0' && *s <= '9'; s++)
        if ((v = v * 10 + (*s - '0')) > STORE_VERSION_MAX)
            return 0;
    return *s == '\0' ? v : 0;
}

/*
 * The version live/NAME points at, 0 when there is no such link. Anything but a link of the exact
 * form "../archive/NAME/N" is refused: it is not ours and we will not read keys through it.
 */
static enum nacme_err live_version(struct nacme_ctx *ctx, const struct nacme_store *st,
                                   const char *name, int *version)
{
    char target[512];
    char *what = NULL, *prefix = NULL;
    size_t plen;
    ssize_t n;
    enum nacme_err r = NACME_OK;

    *version = 0;
    if ((what = store_path_new(st, "live/%s", name)) == NULL ||
        (prefix = nacme_printf_new("../archive/%s/", name)) == NULL) {
        r = oom(ctx);
        goto out;
    }
    if ((n = readlinkat(st->livefd, name, target, sizeof(target) - 1)) < 0) {
        if (errno == EINVAL)
            r = nacme_fail(ctx, NACME_E_INVALID, "%s is not a symbolic link", what);
        else if (errno != ENOENT)
            r = nacme_fail_errno(ctx, NACME_E_IO, "cannot read the link %s", what);
        goto out;
    }
    target[n] = '\0';
    plen = strlen(prefix);
    if ((size_t)n == sizeof(target) - 1 || strncmp(target, prefix, plen) != 0 ||
        (*version = version_parse(target + plen)) == 0) {
        nacme_sanitize(target, sizeof(target), target, sizeof(target));
        r = nacme_fail(ctx, NACME_E_INVALID, "%s points at %s, not at %sN", what, target, prefix);
        goto out;
    }
out:
    free(what);
    free(prefix);
    return r;
}

/* ---- renewal state ------------------------------------------------------------------------ */

void store_renewal_clear(struct store_renewal *rn)
{
    free(rn->certid);
    free(rn->ari_explanation);
    free(rn->next_source);
    free(rn->last_error);
    memset(rn, 0, sizeof(*rn));
}

/* The time fields of "renewal", in one table for decoding and encoding. */
static const struct {
    const char *field;
    size_t offset;
} renewal_times[] = {
    {"not_before", offsetof(struct store_renewal, not_before)},
    {"not_after", offsetof(struct store_renewal, not_after)},
    {"ari_start", offsetof(struct store_renewal, ari_start)},
    {"ari_end", offsetof(struct store_renewal, ari_end)},
    {"ari_moment", offsetof(struct store_renewal, ari_moment)},
    {"ari_next_poll", offsetof(struct store_renewal, ari_next_poll)},
    {"next_renewal", offsetof(struct store_renewal, next_renewal)},
    {"last_failure", offsetof(struct store_renewal, last_failure)},
    {"next_attempt", offsetof(struct store_renewal, next_attempt)},
};
static const struct {
    const char *field;
    size_t offset;
} renewal_strings[] = {
    {"certid", offsetof(struct store_renewal, certid)},
    {"ari_explanation", offsetof(struct store_renewal, ari_explanation)},
    {"next_source", offsetof(struct store_renewal, next_source)},
    {"last_error", offsetof(struct store_renewal, last_error)},
};

static time_t *renewal_time(struct store_renewal *rn, size_t i)
{
    return (time_t *)(void *)((char *)rn + renewal_times[i].offset);
}

static char **renewal_string(struct store_renewal *rn, size_t i)
{
    return (char **)(void *)((char *)rn + renewal_strings[i].offset);
}

/* The optional "renewal" object. It is renew's cache and schedule, not the lineage itself: a
 * malformed one is dropped (the next run recomputes it) rather than making the lineage unusable. */
static enum nacme_err renewal_decode(struct nacme_ctx *ctx, json_t *root,
                                     struct store_renewal *rn, const char *what)
{
    json_t *o = json_object_get(root, "renewal"), *v;
    json_int_t n;
    size_t i;

    if (o == NULL)
        return NACME_OK;
    if (!json_is_object(o))
        goto bad;
    for (i = 0; i < sizeof(renewal_times) / sizeof(renewal_times[0]); i++) {
        if ((v = json_object_get(o, renewal_times[i].field)) == NULL)
            continue;
        if (!json_is_integer(v) || (n = json_integer_value(v)) < 0)
            goto bad;
        *renewal_time(rn, i) = (time_t)n;
    }
    for (i = 0; i < sizeof(renewal_strings) / sizeof(renewal_strings[0]); i++) {
        if ((v = json_object_get(o, renewal_strings[i].field)) == NULL)
            continue;
        if (!json_is_string(v))
            goto bad;
        if ((*renewal_string(rn, i) = nacme_strdup_new(json_string_value(v))) == NULL) {
            store_renewal_clear(rn);
            return oom(ctx);
        }
    }
    if ((v = json_object_get(o, "cert_version")) != NULL) {
        if (!json_is_integer(v) || (n = json_integer_value(v)) < 0 || n > STORE_VERSION_MAX)
            goto bad;
        rn->cert_version = (int)n;
    }
    if ((v = json_object_get(o, "failures")) != NULL) {
        if (!json_is_integer(v) || (n = json_integer_value(v)) < 0 || n > 1000000)
            goto bad;
        rn->failures = (int)n;
    }
    if ((v = json_object_get(o, "retry_after")) != NULL) {
        if (!json_is_integer(v) || (n = json_integer_value(v)) < 0 || n > 100L * 86400)
            goto bad;
        rn->retry_after = (long)n;
    }
    return NACME_OK;
bad:
    nacme_verbose(ctx, "%s: field renewal is malformed; recomputing it", what);
    store_renewal_clear(rn);
    return NACME_OK;
}

/* "renewal" with only the fields that are set, or NULL when none is. */
static json_t *renewal_encode_new(const struct store_renewal *rn_const)
{
    struct store_renewal *rn = (struct store_renewal *)rn_const; /* read only */
    json_t *o = json_object();
    size_t i;
    int bad = 0;

    if (o == NULL)
        return NULL;
    for (i = 0; i < sizeof(renewal_times) / sizeof(renewal_times[0]); i++)
        if (*renewal_time(rn, i) > 0)
            bad |= json_object_set_new(o, renewal_times[i].field,
                                       json_integer((json_int_t)*renewal_time(rn, i)));
    for (i = 0; i < sizeof(renewal_strings) / sizeof(renewal_strings[0]); i++)
        if (*renewal_string(rn, i) != NULL)
            bad |= json_object_set_new(o, renewal_strings[i].field,
                                       json_string(*renewal_string(rn, i)));
    if (rn->cert_version > 0)
        bad |= json_object_set_new(o, "cert_version", json_integer(rn->cert_version));
    if (rn->failures > 0)
        bad |= json_object_set_new(o, "failures", json_integer(rn->failures));
    if (rn->retry_after > 0)
        bad |= json_object_set_new(o, "retry_after", json_integer(rn->retry_after));
    if (bad || json_object_size(o) == 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The fields of lineage.json into lin; every type checked, the name against the directory's. */
static enum nacme_err lineage_decode(struct nacme_ctx *ctx, json_t *root, const char *name,
                                     struct store_lineage *lin, const char *what)
{
    json_t *domains = NULL, *reuse = NULL, *pref = NULL;
    json_int_t version = 0;
    const char *s = NULL;
    size_t i;
    enum nacme_err r = NACME_OK;

    for (i = 0; i < sizeof(lineage_strings) / sizeof(lineage_strings[0]); i++) {
        if ((r = json_string_get(ctx, root, lineage_strings[i].field, &s, what)) != NACME_OK)
            goto out;
        if ((*lineage_string(lin, i) = nacme_strdup_new(s)) == NULL) {
            r = oom(ctx);
            goto out;
        }
    }
    if (!store_name_valid(lin->name) || strcmp(lin->name, name) != 0) {
        r = nacme_fail(ctx, NACME_E_INVALID, "%s: field name is not \"%s\"", what, name);
        goto out;
    }
    if (json_unpack(root, "{s:o}", "domains", &domains) != 0 || !json_is_array(domains) ||
        json_array_size(domains) == 0) {
        r = nacme_fail(ctx, NACME_E_INVALID, "%s: field domains missing or not a non-empty array",
                       what);
        goto out;
    }
    if ((lin->domains = calloc(json_array_size(domains), sizeof(*lin->domains))) == NULL) {
        r = oom(ctx);
        goto out;
    }
    for (i = 0; i < json_array_size(domains); i++) {
        if (json_unpack(json_array_get(domains, i), "s", &s) != 0) {
            r = nacme_fail(ctx, NACME_E_INVALID, "%s: domains[%zu] is not a string", what, i);
            goto out;
        }
        if ((lin->domains[i] = nacme_strdup_new(s)) == NULL) {
            r = oom(ctx);
            goto out;
        }
        lin->ndomains++;
    }
    if (json_unpack(root, "{s:I}", "version", &version) != 0) {
        r = nacme_fail(ctx, NACME_E_INVALID, "%s: field version missing or not an integer", what);
        goto out;
    }
    if (version < 0 || version > STORE_VERSION_MAX) {
        r = nacme_fail(ctx, NACME_E_INVALID, "%s: version %lld is out of range", what,
                       (long long)version);
        goto out;
    }
    lin->version = (int)version;
    /* Optional: records older than --reuse-key have none, which means a fresh key. */
    if ((reuse = json_object_get(root, "reuse_key")) != NULL && !json_is_boolean(reuse)) {
        r = nacme_fail(ctx, NACME_E_INVALID, "%s: field reuse_key is not true or false", what);
        goto out;
    }
    lin->reuse_key = json_is_true(reuse);
    for (i = 0; i < sizeof(lineage_optional) / sizeof(lineage_optional[0]); i++) {
        if ((pref = json_object_get(root, lineage_optional[i].field)) == NULL)
            continue;
        if (!json_is_string(pref)) {
            r = nacme_fail(ctx, NACME_E_INVALID, "%s: field %s is not a string", what,
                           lineage_optional[i].field);
            goto out;
        }
        if ((*lineage_optional_string(lin, i) = nacme_strdup_new(json_string_value(pref))) ==
            NULL) {
            r = oom(ctx);
            goto out;
        }
    }
    r = renewal_decode(ctx, root, &lin->renewal, what);
out:
    return r;
}

enum nacme_err store_lineage_load_new(struct nacme_ctx *ctx, struct nacme_store *st,
                                      const char *name, struct store_lineage **out)
{
    struct store_lineage *lin = NULL;
    char *rel = NULL, *what = NULL;
    json_t *root = NULL;
    int live = 0;
    enum nacme_err r;

    *out = NULL;
    if ((r = name_check(ctx, name)) != NACME_OK)
        goto out;
    if ((rel = nacme_printf_new("%s/lineage.json", name)) == NULL ||
        (what = store_path_new(st, "archive/%s", rel)) == NULL ||
        (lin = calloc(1, sizeof(*lin))) == NULL) {
        r = oom(ctx);
        goto out;
    }
    /* NAME/lineage.json, neither part followed if a link */
    if ((r = json_file_load(ctx, st->archfd, rel, what, &root)) != NACME_OK ||
        (r = lineage_decode(ctx, root, name, lin, what)) != NACME_OK ||
        (r = live_version(ctx, st, name, &live)) != NACME_OK)
        goto out;
    /*
     * lineage.json is written after live/NAME is switched, so a crash in between leaves it one
     * version behind. The link is what nginx serves, hence the truth.
     */
    if (live != 0 && live != lin->version) {
        nacme_verbose(ctx, "%s says version %d, live/%s points at %d; using %d", what,
                      lin->version, name, live, live);
        lin->version = live;
    }
    *out = lin;
    lin = NULL;
out:
    json_decref(root);
    store_lineage_free(lin);
    free(rel);
    free(what);
    return r;
}

/* lineage.json's content for lin at version; validated before anything is installed. */
static enum nacme_err lineage_encode(struct nacme_ctx *ctx, const struct store_lineage *lin,
                                     int version, json_t **out, const char *what)
{
    json_t *domains = NULL, *root = NULL, *renewal = NULL;
    size_t i;
    enum nacme_err r = NACME_OK;

    *out = NULL;
    if (lin->ndomains == 0 || (domains = json_array()) == NULL) {
        r = nacme_fail(ctx, NACME_E_INVALID, "cannot encode %s: no domains", what);
        goto out;
    }
    for (i = 0; i < lin->ndomains; i++) {
        /* json_string refuses NULL and invalid UTF-8. */
        if (json_array_append_new(domains, json_string(lin->domains[i])) != 0) {
            r = nacme_fail(ctx, NACME_E_INVALID, "cannot encode %s: domain %zu", what, i);
            goto out;
        }
    }
    root = json_pack("{s:s, s:O, s:s, s:s, s:s, s:s, s:I}", "name", lin->name, "domains", domains,
                     "key_type", lin->key_type, "server", lin->server, "challenge",
                     lin->challenge, "webroot", lin->webroot, "version", (json_int_t)version);
    if (root == NULL) {
        r = nacme_fail(ctx, NACME_E_INVALID, "cannot encode %s: a field is missing", what);
        goto out;
    }
    if (lin->reuse_key && json_object_set_new(root, "reuse_key", json_true()) != 0) {
        r = nacme_fail(ctx, NACME_E_INVALID, "cannot encode %s: field reuse_key", what);
        goto out;
    }
    for (i = 0; i < sizeof(lineage_optional) / sizeof(lineage_optional[0]); i++) {
        const char *v = lineage_optional_get(lin, i);
        if (v != NULL &&
            json_object_set_new(root, lineage_optional[i].field, json_string(v)) != 0) {
            r = nacme_fail(ctx, NACME_E_INVALID, "cannot encode %s: field %s", what,
                           lineage_optional[i].field);
            goto out;
        }
    }
    if ((renewal = renewal_encode_new(&lin->renewal)) != NULL &&
        json_object_set_new(root, "renewal", renewal) != 0) {
        r = nacme_fail(ctx, NACME_E_INVALID, "cannot encode %s: field renewal", what);
        goto out;
    }
    *out = root;
    root = NULL;
out:
    json_decref(domains);
    json_decref(root);
    return r;
}

/*
 * Make archive/NAME/N for the first free N >= first. A directory left by a crash is never reused:
 * it may hold half of a key, and nothing here can tell which half.
 */
static enum nacme_err version_dir_make(struct nacme_ctx *ctx, const struct nacme_store *st,
                                       int namefd, const char *name, int first, int *version,
                                       int *fd)
{
    char num[16];
    char *what = NULL;
    bool made = false;
    int v, saved = 0;
    enum nacme_err r = NACME_OK;

    *version = 0;
    *fd = -1;
    for (v = first; v <= STORE_VERSION_MAX; v++) {
        snprintf(num, sizeof(num), "%d", v);
        if ((made = mkdirat(namefd, num, STORE_MODE_PRIVATE_DIR) == 0) || errno != EEXIST)
            break;
    }
    saved = errno;
    if ((what = store_path_new(st, "archive/%s/%d", name, v)) == NULL) {
        r = oom(ctx);
        goto out;
    }
    if (v > STORE_VERSION_MAX) {
        r = nacme_fail(ctx, NACME_E_IO, "%s: no version number left", what);
        goto out;
    }
    if (!made) {
        errno = saved;
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot create directory %s", what);
        goto out;
    }
    if ((r = safefile_mkdir_open(ctx, namefd, num, STORE_MODE_PRIVATE_DIR, fd, what)) != NACME_OK)
        goto out;
    *version = v;
out:
    free(what);
    return r;
}

/* Undo a version that never went live; what cannot be removed is skipped by the next install. */
static void version_dir_remove(int namefd, int version, int fd)
{
    char num[16];
    size_t i;

    for (i = 0; i < sizeof(store_private_files) / sizeof(store_private_files[0]); i++)
        unlinkat(fd, store_private_files[i], 0);
    for (i = 0; i < sizeof(store_public_files) / sizeof(store_public_files[0]); i++)
        unlinkat(fd, store_public_files[i], 0);
    snprintf(num, sizeof(num), "%d", version);
    unlinkat(namefd, num, AT_REMOVEDIR);
}

/* The four files of one version, the private key first so a certificate is never there alone. */
static enum nacme_err version_files_write(struct nacme_ctx *ctx, const struct nacme_store *st,
                                          int fd, const char *name, int version,
                                          const char *const pub[], const char *key_pem,
                                          size_t key_len)
{
    char *what = NULL;
    size_t i;
    enum nacme_err r = NACME_OK;

    if ((what = store_path_new(st, "archive/%s/%d/%s", name, version,
                               store_private_files[0])) == NULL) {
        r = oom(ctx);
        goto out;
    }
    if ((r = safefile_write(ctx, fd, store_private_files[0], key_pem, key_len, STORE_MODE_SECRET,
                            what)) != NACME_OK)
        goto out;
    for (i = 0; i < sizeof(store_public_files) / sizeof(store_public_files[0]); i++) {
        free(what);
        if ((what = store_path_new(st, "archive/%s/%d/%s", name, version,
                                   store_public_files[i])) == NULL) {
            r = oom(ctx);
            goto out;
        }
        if ((r = safefile_write(ctx, fd, store_public_files[i], pub[i], strlen(pub[i]),
                                STORE_MODE_PUBLIC, what)) != NACME_OK)
            goto out;
    }
out:
    free(what);
    return r;
}

enum nacme_err store_lineage_stage(struct nacme_ctx *ctx, struct nacme_store *st,
                                   const struct store_lineage *lin, const char *cert_pem,
                                   const char *chain_pem, const char *fullchain_pem,
                                   const char *key_pem, size_t key_len, int *staged)
{
    const char *pub[] = {cert_pem, chain_pem, fullchain_pem};
    char *namepath = NULL, *jsonpath = NULL;
    json_t *root = NULL;
    int archfd = -1, namefd = -1, vfd = -1, version = 0;
    bool done = false;
    enum nacme_err r;

    *staged = 0;
    if ((r = name_check(ctx, lin->name)) != NACME_OK)
        goto out;
    if (lin->version < 0 || lin->version >= STORE_VERSION_MAX || cert_pem == NULL ||
        chain_pem == NULL || fullchain_pem == NULL || key_pem == NULL) {
        r = nacme_fail(ctx, NACME_E_INVALID, "%s: nothing to install or version %d out of range",
                       lin->name, lin->version);
        goto out;
    }
    if ((namepath = store_path_new(st, "archive/%s", lin->name)) == NULL ||
        (jsonpath = store_path_new(st, "archive/%s/lineage.json", lin->name)) == NULL) {
        r = oom(ctx);
        goto out;
    }
    if ((r = subdir_open(ctx, st, "archive", &archfd)) != NACME_OK ||
        (r = safefile_mkdir_open(ctx, archfd, lin->name, STORE_MODE_PRIVATE_DIR, &namefd,
                                 namepath)) != NACME_OK ||
        (r = version_dir_make(ctx, st, namefd, lin->name, lin->version + 1, &version, &vfd)) !=
            NACME_OK)
        goto out;
    /* Encode first so that a lineage we could not record is never staged. */
    if ((r = lineage_encode(ctx, lin, version, &root, jsonpath)) != NACME_OK ||
        (r = version_files_write(ctx, st, vfd, lin->name, version, pub, key_pem, key_len)) !=
            NACME_OK ||
        (r = safefile_fsync_dir(ctx, namefd, namepath)) != NACME_OK)
        goto out;
    done = true;
    *staged = version;
out:
    if (vfd >= 0 && !done)
        version_dir_remove(namefd, version, vfd);
    fd_close(vfd);
    fd_close(namefd);
    fd_close(archfd);
    json_decref(root);
    free(namepath);
    free(jsonpath);
    return r;
}

/* Whether dirfd/name is a symbolic link to exactly target. */
static bool link_points_at(int dirfd, const char *name, const char *target)
{
    char buf[PATH_MAX];
    ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);

    if (n < 0)
        return false;
    buf[n] = '\0';
    return strcmp(buf, target) == 0;
}

enum nacme_err store_lineage_switch(struct nacme_ctx *ctx, struct nacme_store *st,
                                    struct store_lineage *lin, int version)
{
    char *namepath = NULL, *jsonpath = NULL, *livepath = NULL, *target = NULL;
    json_t *root = NULL;
    int archfd = -1, namefd = -1, livefd = -1;
    enum nacme_err r;

    if ((r = name_check(ctx, lin->name)) != NACME_OK)
        goto out;
    if ((namepath = store_path_new(st, "archive/%s", lin->name)) == NULL ||
        (jsonpath = store_path_new(st, "archive/%s/lineage.json", lin->name)) == NULL ||
        (livepath = store_path_new(st, "live/%s", lin->name)) == NULL ||
        (target = nacme_printf_new("../archive/%s/%d", lin->name, version)) == NULL) {
        r = oom(ctx);
        goto out;
    }
    if ((r = lineage_encode(ctx, lin, version, &root, jsonpath)) != NACME_OK ||
        (r = subdir_open(ctx, st, "archive", &archfd)) != NACME_OK ||
        (r = subdir_open(ctx, st, "live", &livefd)) != NACME_OK ||
        (r = dir_open(ctx, archfd, lin->name, &namefd, namepath)) != NACME_OK)
        goto out;
    if ((r = safefile_symlink(ctx, livefd, target, lin->name, livepath)) != NACME_OK) {
        /*
         * Failing after the rename (the directory's fsync said EIO) must not be reported as no
         * switch: the caller would remove the version that live/NAME now points at. The link is
         * in place; a crash could still bring back the old one, which is whole too.
         */
        if (!link_points_at(livefd, lin->name, target))
            goto out;
        nacme_info(ctx, "warning: %s (live/%s points at version %d all the same)", ctx->errmsg,
                   lin->name, version);
        ctx->err = r = NACME_OK;
        ctx->errmsg[0] = '\0';
    }
    lin->version = version;
    /*
     * The new version is live and nginx may already serve it, so failing now would report a
     * switch that happened. Loading trusts live/NAME over a stale lineage.json, and a missing
     * one only means the next run issues again.
     */
    if (json_file_save(ctx, namefd, "lineage.json", root, jsonpath) != NACME_OK) {
        nacme_info(ctx, "warning: %s (version %d is live all the same)", ctx->errmsg, version);
        ctx->err = NACME_OK;
        ctx->errmsg[0] = '\0';
    }
out:
    fd_close(namefd);
    fd_close(archfd);
    fd_close(livefd);
    json_decref(root);
    free(namepath);
    free(jsonpath);
    free(livepath);
    free(target);
    return r;
}

enum nacme_err store_lineage_save(struct nacme_ctx *ctx, struct nacme_store *st,
                                  const struct store_lineage *lin)
{
    char *namepath = NULL, *jsonpath = NULL;
    json_t *root = NULL;
    int archfd = -1, namefd = -1;
    enum nacme_err r;

    if ((r = name_check(ctx, lin->name)) != NACME_OK)
        goto out;
    if ((namepath = store_path_new(st, "archive/%s", lin->name)) == NULL ||
        (jsonpath = store_path_new(st, "archive/%s/lineage.json", lin->name)) == NULL) {
        r = oom(ctx);
        goto out;
    }
    if ((r = lineage_encode(ctx, lin, lin->version, &root, jsonpath)) != NACME_OK ||
        (r = subdir_open(ctx, st, "archive", &archfd)) != NACME_OK ||
        (r = dir_open(ctx, archfd, lin->name, &namefd, namepath)) != NACME_OK)
        goto out;
    r = json_file_save(ctx, namefd, "lineage.json", root, jsonpath);
out:
    fd_close(namefd);
    fd_close(archfd);
    json_decref(root);
    free(namepath);
    free(jsonpath);
    return r;
}

/* ---- the lock ----------------------------------------------------------------------------- */

#define STORE_LOCK_POLL_MS 100

/* The pid the holder wrote into the lock file, or 0 when it cannot be read. */
static long lock_holder(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    char *end;
    long pid;

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    pid = strtol(buf, &end, 10);
    return end != buf && pid > 0 ? pid : 0;
}

/* Remove temp files in dirfd and, depth levels down, in its subdirectories (never following a
 * link). */
static size_t sweep_tree(int dirfd, int depth)
{
    struct dirent *e;
    size_t removed = safefile_sweep_temps(dirfd);
    DIR *d;
    int fd, sub;

    if (depth == 0 || (fd = dup(dirfd)) < 0)
        return removed;
    if ((d = fdopendir(fd)) == NULL) {
        close(fd);
        return removed;
    }
    rewinddir(d); /* the dup shares dirfd's offset, which safefile_sweep_temps moved */
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' ||
            (sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
            continue;
        removed += sweep_tree(sub, depth - 1);
        close(sub);
    }
    closedir(d);
    return removed;
}

/* The lock file still named a process: that nacme ended without releasing the state dir as a
 * finished run does (killed, or the machine went down), and may have left temp files behind. Only
 * nacme writes below the state dir and the lock is ours now, so they can go. */
static void sweep_after(struct nacme_ctx *ctx, struct nacme_store *st, long pid)
{
    size_t n = sweep_tree(st->dirfd, 0) + sweep_tree(st->livefd, 0) +
               sweep_tree(st->archfd, 2); /* archive/NAME/N */
    int acc = openat(st->dirfd, "accounts", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (acc >= 0) {
        n += sweep_tree(acc, 1);
        close(acc);
    }
    st->previous_died = true;
    nacme_verbose(ctx, "the previous nacme (pid %ld) did not finish: %zu temp file%s removed from %s",
                  pid, n, n == 1 ? "" : "s", st->path);
}

enum nacme_err store_lock(struct nacme_ctx *ctx, struct nacme_store *st, int wait_s)
{
    long previous;
    struct stat sb;
    char pid[32];
    char *what = NULL;
    long waited_ms = 0;
    int fd = -1, sig, n;
    enum nacme_err r = NACME_OK;

    if (st->lockfd >= 0)
        return NACME_OK;
    if ((what = store_path_new(st, "lock")) == NULL)
        return oom(ctx);
    /* O_NONBLOCK: a FIFO planted as the lock must not hang the open. */
    fd = openat(st->dirfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                STORE_MODE_SECRET);
    if (fd < 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot open %s", what);
        goto out;
    }
    /* The pid is written into it: never into a FIFO or device, nor through a hard link into a
     * file elsewhere. */
    if (fstat(fd, &sb) != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot stat %s", what);
        goto out;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
        r = nacme_fail(ctx, NACME_E_INVALID, "%s is %s; refusing to use it", what,
                       S_ISREG(sb.st_mode) ? "hard-linked elsewhere" : "not a regular file");
        goto out;
    }
    /* Polled rather than a blocking flock: the wait stays bounded and a signal ends it. */
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            r = nacme_fail_errno(ctx, NACME_E_IO, "cannot lock %s", what);
            goto out;
        }
        if (waited_ms == 0 && wait_s > 0)
            nacme_info(ctx, "another nacme (pid %ld) holds %s; waiting up to %d s", lock_holder(fd),
                       what, wait_s);
        if (waited_ms >= (long)wait_s * 1000) {
            r = nacme_fail(ctx, NACME_E_TIMEOUT,
                           "%s is held by another nacme (pid %ld); gave up after %d s", what,
                           lock_holder(fd), wait_s);
            goto out;
        }
        if ((sig = nacme_sleep_ms(STORE_LOCK_POLL_MS)) != 0) {
            r = nacme_fail(ctx, NACME_E_INTERRUPTED, "interrupted by %s waiting for %s",
                           strsignal(sig), what);
            goto out;
        }
        waited_ms += STORE_LOCK_POLL_MS;
        st->lock_waited = true;
    }
    if ((previous = lock_holder(fd)) > 0)
        sweep_after(ctx, st, previous);
    /* A message for the next waiter, and (cleared by store_free) the mark of a run that has not
     * finished. */
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        nacme_verbose(ctx, "cannot write the pid into %s", what);
    st->lockfd = fd;
    fd = -1;
out:
    fd_close(fd);
    free(what);
    return r;
}

void store_unlock(struct nacme_store *st)
{
    if (st == NULL || st->lockfd < 0)
        return;
    /* Closing the only descriptor of the open file releases the flock. */
    close(st->lockfd);
    st->lockfd = -1;
}

void store_lineage_unstage(struct nacme_store *st, const char *name, int version)
{
    char num[16];
    int archfd = -1, namefd = -1, vfd = -1;

    snprintf(num, sizeof(num), "%d", version);
    if ((archfd = openat(st->dirfd, "archive", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >=
            0 &&
        (namefd = openat(archfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >=
            0 &&
        (vfd = openat(namefd, num, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
        version_dir_remove(namefd, version, vfd);
    fd_close(vfd);
    fd_close(namefd);
    fd_close(archfd);
}

enum nacme_err store_lineage_install(struct nacme_ctx *ctx, struct nacme_store *st,
                                     struct store_lineage *lin, const char *cert_pem,
                                     const char *chain_pem, const char *fullchain_pem,
                                     const char *key_pem, size_t key_len)
{
    int version = 0;
    enum nacme_err r;

    if ((r = store_lineage_stage(ctx, st, lin, cert_pem, chain_pem, fullchain_pem, key_pem,
                                 key_len, &version)) != NACME_OK)
        return r;
    if ((r = store_lineage_switch(ctx, st, lin, version)) != NACME_OK)
        store_lineage_unstage(st, lin->name, version); /* it never went live */
    return r;
}

/* FILE of the version live/NAME points at, read through archive/ (see below). */
static enum nacme_err live_file_new(struct nacme_ctx *ctx, struct nacme_store *st, const char *name,
                                    const char *file, char **data, size_t *len)
{
    char num[16];
    char *what = NULL;
    int archfd = -1, namefd = -1, vfd = -1, version = 0;
    enum nacme_err r;

    *data = NULL;
    if ((r = name_check(ctx, name)) != NACME_OK ||
        (r = live_version(ctx, st, name, &version)) != NACME_OK)
        goto out;
    if ((what = store_path_new(st, "live/%s/%s", name, file)) == NULL) {
        r = oom(ctx);
        goto out;
    }
    if (version == 0) {
        r = nacme_fail(ctx, NACME_E_NOTFOUND, "%s does not exist", what);
        goto out;
    }
    /* The link's target, resolved here one O_NOFOLLOW step at a time instead of by the kernel. */
    snprintf(num, sizeof(num), "%d", version);
    if ((r = subdir_open(ctx, st, "archive", &archfd)) != NACME_OK ||
        (r = dir_open(ctx, archfd, name, &namefd, what)) != NACME_OK ||
        (r = dir_open(ctx, namefd, num, &vfd, what)) != NACME_OK)
        goto out;
    r = safefile_read_new(ctx, vfd, file, STORE_FILE_MAX, data, len, what);
out:
    fd_close(vfd);
    fd_close(namefd);
    fd_close(archfd);
    free(what);
    return r;
}

enum nacme_err store_live_cert_new(struct nacme_ctx *ctx, struct nacme_store *st, const char *name,
                                   char **cert_pem)
{
    return live_file_new(ctx, st, name, "cert.pem", cert_pem, NULL);
}

enum nacme_err store_live_key_new(struct nacme_ctx *ctx, struct nacme_store *st, const char *name,
                                  char **key_pem, size_t *key_len)
{
    return live_file_new(ctx, st, name, "privkey.pem", key_pem, key_len);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void store_names_free(char **names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

enum nacme_err store_lineage_list_new(struct nacme_ctx *ctx, struct nacme_store *st,
                                      char ***names, size_t *n)
{
    char **list = NULL, **grown;
    size_t count = 0;
    struct dirent *e;
    DIR *d = NULL;
    int fd = -1;
    enum nacme_err r;

    *names = NULL;
    *n = 0;
    if ((r = subdir_open(ctx, st, "live", &fd)) != NACME_OK)
        return r;
    if ((d = fdopendir(fd)) == NULL) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "%s/live", st->path);
        close(fd);
        return r;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat sb;
        /* Only what nacme makes there: links with valid names (no temp files, no strays). */
        if (!store_name_valid(e->d_name))
            continue;
        if (e->d_type == DT_UNKNOWN &&
            fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
            e->d_type = DT_LNK;
        if (e->d_type != DT_LNK)
            continue;
        if ((grown = realloc(list, (count + 1) * sizeof(*list))) == NULL ||
            (grown[count] = nacme_strdup_new(e->d_name)) == NULL) {
            list = grown ? grown : list;
            r = oom(ctx);
            goto out;
        }
        list = grown;
        count++;
    }
    if (count > 1)
        qsort(list, count, sizeof(*list), name_cmp);
    *names = list;
    *n = count;
    list = NULL;
    count = 0;
out:
    closedir(d);
    store_names_free(list, count);
    return r;
}

enum nacme_err store_live_remove(struct nacme_ctx *ctx, struct nacme_store *st, const char *name)
{
    char *what = NULL;
    int livefd = -1;
    enum nacme_err r;

    if ((r = name_check(ctx, name)) != NACME_OK)
        return r;
    if ((what = store_path_new(st, "live/%s", name)) == NULL)
        return oom(ctx);
    if ((r = subdir_open(ctx, st, "live", &livefd)) == NACME_OK) {
        if (unlinkat(livefd, name, 0) != 0 && errno != ENOENT)
            r = nacme_fail_errno(ctx, NACME_E_IO, "cannot remove %s", what);
        else
            r = safefile_fsync_dir(ctx, livefd, what);
    }
    fd_close(livefd);
    free(what);
    return r;
}

enum nacme_err store_version_mtime(struct nacme_ctx *ctx, struct nacme_store *st,
                                   const char *name, int version, time_t *mtime)
{
    char *rel = NULL;
    struct stat sb;
    enum nacme_err r = NACME_OK;

    *mtime = 0;
    if ((r = name_check(ctx, name)) != NACME_OK)
        return r;
    if ((rel = nacme_printf_new("%s/%d/cert.pem", name, version)) == NULL)
        return oom(ctx);
    /* archive/ is ours (0700, opened O_NOFOLLOW); the last component is not followed either. */
    if (fstatat(st->archfd, rel, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        r = nacme_fail_errno(ctx, errno == ENOENT ? NACME_E_NOTFOUND : NACME_E_IO,
                             "%s/archive/%s", st->path, rel);
    else
        *mtime = sb.st_mtime;
    free(rel);
    return r;
}

/* Remove dirfd/name and everything below it without following any symbolic link: a link inside is
 * removed as a link. depth bounds the recursion (archive/NAME/N/file is 2 deep). */
static enum nacme_err tree_remove(struct nacme_ctx *ctx, int dirfd, const char *name,
                                  const char *what, int depth)
{
    struct dirent *de;
    struct stat sb;
    DIR *d = NULL;
    int fd;
    enum nacme_err r = NACME_OK;

    if (depth > 4)
        return nacme_fail(ctx, NACME_E_INVALID, "%s: unexpectedly deep; not removed", what);
    if ((r = dir_open(ctx, dirfd, name, &fd, what)) != NACME_OK)
        return r;
    if ((d = fdopendir(fd)) == NULL) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot read directory %s", what);
        close(fd);
        return r;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            r = nacme_fail_errno(ctx, NACME_E_IO, "%s/%s", what, de->d_name);
            goto out;
        }
        if (S_ISDIR(sb.st_mode)) {
            char *sub = nacme_printf_new("%s/%s", what, de->d_name);
            if (sub == NULL) {
                r = oom(ctx);
                goto out;
            }
            r = tree_remove(ctx, fd, de->d_name, sub, depth + 1);
            free(sub);
            if (r != NACME_OK)
                goto out;
        } else if (unlinkat(fd, de->d_name, 0) != 0) {
            r = nacme_fail_errno(ctx, NACME_E_IO, "cannot remove %s/%s", what, de->d_name);
            goto out;
        }
    }
out:
    closedir(d);
    if (r == NACME_OK && unlinkat(dirfd, name, AT_REMOVEDIR) != 0)
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot remove %s", what);
    return r;
}

enum nacme_err store_lineage_remove(struct nacme_ctx *ctx, struct nacme_store *st,
                                    const char *name)
{
    char *what = NULL;
    int livefd = -1, archfd = -1;
    struct stat sb;
    bool found = false;
    enum nacme_err r;

    if ((r = name_check(ctx, name)) != NACME_OK)
        return r;
    if ((what = store_path_new(st, "archive/%s", name)) == NULL)
        return oom(ctx);
    /* live/NAME first: nginx's path disappears before the files it points at. A directory there
     * is not ours (the live entries are links): refuse rather than remove it. */
    if ((r = subdir_open(ctx, st, "live", &livefd)) != NACME_OK)
        goto out;
    if (fstatat(livefd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        found = true;
        if (!S_ISLNK(sb.st_mode)) {
            r = nacme_fail(ctx, NACME_E_INVALID, "%s/live/%s is not a symbolic link; not removed",
                           st->path, name);
            goto out;
        }
        if ((r = store_live_remove(ctx, st, name)) != NACME_OK)
            goto out;
    }
    if ((r = subdir_open(ctx, st, "archive", &archfd)) != NACME_OK)
        goto out;
    if (fstatat(archfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        found = true;
        if (S_ISLNK(sb.st_mode)) /* a planted link: remove the link, never what it points at */
            r = unlinkat(archfd, name, 0) == 0
                    ? NACME_OK
                    : nacme_fail_errno(ctx, NACME_E_IO, "cannot remove %s", what);
        else
            r = tree_remove(ctx, archfd, name, what, 0);
        if (r == NACME_OK)
            r = safefile_fsync_dir(ctx, archfd, what);
        if (r != NACME_OK)
            goto out;
    }
    if (!found)
        r = nacme_fail(ctx, NACME_E_NOTFOUND, "no certificate named %s in %s", name, st->path);
out:
    fd_close(livefd);
    fd_close(archfd);
    free(what);
    return r;
}

enum nacme_err store_space_check(struct nacme_ctx *ctx, const struct nacme_store *st)
{
    struct statvfs sv;
    unsigned long long bytes, files;
    bool root = geteuid() == 0;

    /* Cannot tell: the writes themselves will say, one line naming the file. */
    if (fstatvfs(st->dirfd, &sv) != 0)
        return NACME_OK;
    /* root may also use the blocks and inodes reserved for it */
    bytes = (unsigned long long)(root ? sv.f_bfree : sv.f_bavail) * sv.f_frsize;
    files = root ? sv.f_ffree : sv.f_favail;
    /* f_files 0: a file system without an inode count (btrfs) */
    if (bytes >= STORE_SPACE_MIN && (sv.f_files == 0 || files >= STORE_INODES_MIN))
        return NACME_OK;
    return nacme_fail(ctx, NACME_E_IO,
                      "%s: %s (%llu KiB and %llu inodes free, %d KiB and %d inodes needed to "
                      "store a certificate); not ordering one that could not be stored",
                      st->path, strerror(ENOSPC), bytes / 1024, files, STORE_SPACE_MIN / 1024,
                      STORE_INODES_MIN);
}
