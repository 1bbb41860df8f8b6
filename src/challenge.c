/* challenge.c - http-01 token files in the webroot, always cleaned up. */
#include "challenge.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acme.h"
#include "b64url.h"
#include "safefile.h"

struct challenge_webroot {
    char *path;   /* WEBROOT/.well-known/acme-challenge, for messages */
    int dirfd;    /* that directory */
    char **tokens; /* files we put, to remove at the end */
    size_t ntokens;
};

/* mkdir + open without following a symlink; the mode is forced only on a directory we create, so
 * that an admin's existing .well-known keeps whatever the admin gave it. */
static enum nacme_err open_subdir(struct nacme_ctx *ctx, int parent, const char *name,
                                  const char *what, int *fd)
{
    struct stat sb;
    bool created = false;

    *fd = -1;
    if (mkdirat(parent, name, 0755) == 0)
        created = true;
    else if (errno != EEXIST)
        return nacme_fail_errno(ctx, NACME_E_IO, "cannot create %s", what);
    if ((*fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        /* O_DIRECTORY|O_NOFOLLOW says ENOTDIR for a link: a planted link to elsewhere is the
         * likelier story, and the one to tell. */
        if ((errno == ENOTDIR || errno == ELOOP) &&
            fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
            return nacme_fail(ctx, NACME_E_INVALID, "%s is a symbolic link; refusing to follow it",
                              what);
        return nacme_fail_errno(ctx, NACME_E_IO, "cannot open %s", what);
    }
    if (created && fchmod(*fd, 0755) != 0) {
        close(*fd);
        *fd = -1;
        return nacme_fail_errno(ctx, NACME_E_IO, "cannot set the mode of %s", what);
    }
    return NACME_OK;
}

enum nacme_err challenge_webroot_new(struct nacme_ctx *ctx, const char *webroot,
                                     struct challenge_webroot **out)
{
    struct challenge_webroot *w = NULL;
    char *wk = NULL;
    int rootfd = -1, wkfd = -1;
    enum nacme_err r;

    *out = NULL;
    /* The webroot itself may follow a symlink (the admin's choice); only the last level is made
     * for the admin, so that a typo in a deep path is reported rather than created. */
    if (mkdir(webroot, 0755) == 0 && chmod(webroot, 0755) != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot set the mode of the webroot %s", webroot);
        goto out;
    }
    if ((rootfd = open(webroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot open the webroot %s", webroot);
        goto out;
    }
    r = NACME_E_NOMEM;
    if ((w = calloc(1, sizeof(*w))) == NULL) {
        nacme_fail(ctx, r, "out of memory");
        goto out;
    }
    w->dirfd = -1;
    if ((wk = nacme_printf_new("%s/.well-known", webroot)) == NULL ||
        (w->path = nacme_printf_new("%s/acme-challenge", wk)) == NULL) {
        nacme_fail(ctx, r, "out of memory");
        goto out;
    }
    if ((r = open_subdir(ctx, rootfd, ".well-known", wk, &wkfd)) != NACME_OK ||
        (r = open_subdir(ctx, wkfd, "acme-challenge", w->path, &w->dirfd)) != NACME_OK)
        goto out;
    *out = w;
    w = NULL;
out:
    if (rootfd >= 0)
        close(rootfd);
    if (wkfd >= 0)
        close(wkfd);
    free(wk);
    challenge_webroot_free(ctx, w);
    return r;
}

enum nacme_err challenge_webroot_put(struct nacme_ctx *ctx, struct challenge_webroot *w,
                                     const char *token, const char *keyauth)
{
    char **tokens, *what = NULL, *copy = NULL;
    enum nacme_err r;

    if (!b64url_is_token(token, ACME_TOKEN_MAX))
        return nacme_fail(ctx, NACME_E_INVALID,
                          "challenge token is not base64url; refusing to use it as a file name");
    if ((copy = nacme_strdup_new(token)) == NULL ||
        (what = nacme_printf_new("%s/%s", w->path, token)) == NULL ||
        (tokens = realloc(w->tokens, (w->ntokens + 1) * sizeof(*tokens))) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    w->tokens = tokens;
    /* Remember before writing: a file half-created by a failed write is removed too. */
    w->tokens[w->ntokens++] = copy;
    copy = NULL;
    r = safefile_write(ctx, w->dirfd, token, keyauth, strlen(keyauth), 0644, what);
out:
    free(copy);
    free(what);
    return r;
}

/* Whether dirfd/name is a regular file (not through a link) of at most max bytes holding exactly
 * want, or (prefix) a beginning of it. */
static bool holds(int dirfd, const char *name, const char *want, bool prefix)
{
    char buf[ACME_TOKEN_MAX + 128];
    struct stat sb;
    ssize_t n;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    bool ok = false;

    if (fd < 0)
        return false;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (size_t)sb.st_size < sizeof(buf) &&
        (n = read(fd, buf, sizeof(buf) - 1)) >= 0 && n == sb.st_size) {
        buf[n] = '\0';
        ok = prefix ? strncmp(want, buf, (size_t)n) == 0 : strcmp(want, buf) == 0;
    }
    close(fd);
    return ok;
}

/* The token file (or the temp file of one) that a run of this account left: its name a token T,
 * its content T.THUMBPRINT (a temp file: a beginning of it). */
static bool left_by_us(int dirfd, const char *name, const char *thumbprint)
{
    char token[ACME_TOKEN_MAX + 1], *keyauth;
    size_t len = strlen(name);
    bool ours;

    if (safefile_is_temp_name(name)) {
        len -= 2 + 6; /* the leading "." and ".XXXXXX" */
        if (len == 0 || len > ACME_TOKEN_MAX)
            return false;
        memcpy(token, name + 1, len);
        token[len] = '\0';
    } else if (len <= ACME_TOKEN_MAX) {
        memcpy(token, name, len + 1);
    } else {
        return false;
    }
    if (!b64url_is_token(token, ACME_TOKEN_MAX) ||
        (keyauth = nacme_printf_new("%s.%s", token, thumbprint)) == NULL)
        return false;
    ours = holds(dirfd, name, keyauth, name[0] == '.');
    free(keyauth);
    return ours;
}

size_t challenge_webroot_sweep(struct nacme_ctx *ctx, const char *webroot, const char *thumbprint)
{
    struct dirent *e;
    size_t removed = 0;
    DIR *d = NULL;
    int root, wk = -1, ch = -1, fd;

    if ((root = open(webroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return 0;
    if ((wk = openat(root, ".well-known", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
        ch = openat(wk, "acme-challenge", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ch >= 0 && (fd = dup(ch)) >= 0 && (d = fdopendir(fd)) == NULL)
        close(fd);
    if (d != NULL)
        rewinddir(d);
    while (d != NULL && (e = readdir(d)) != NULL)
        if (left_by_us(ch, e->d_name, thumbprint) && unlinkat(ch, e->d_name, 0) == 0)
            removed++;
    if (d != NULL)
        closedir(d);
    if (removed > 0)
        nacme_verbose(ctx, "%s/.well-known/acme-challenge: %zu token file%s of an unfinished run "
                           "removed", webroot, removed, removed == 1 ? "" : "s");
    if (ch >= 0)
        close(ch);
    if (wk >= 0)
        close(wk);
    close(root);
    return removed;
}

void challenge_webroot_free(struct nacme_ctx *ctx, struct challenge_webroot *w)
{
    struct stat sb;
    size_t i;
    int saved;

    if (w == NULL)
        return;
    for (i = 0; i < w->ntokens; i++) {
        /* A read-only webroot says EROFS even for a token that was never written: only a file
         * that is there is worth a warning. */
        if (unlinkat(w->dirfd, w->tokens[i], 0) != 0 && errno != ENOENT &&
            (saved = errno, fstatat(w->dirfd, w->tokens[i], &sb, AT_SYMLINK_NOFOLLOW) == 0))
            nacme_info(ctx, "warning: cannot remove %s/%s: %s", w->path, w->tokens[i],
                       strerror(saved));
        free(w->tokens[i]);
    }
    free(w->tokens);
    if (w->dirfd >= 0)
        close(w->dirfd);
    free(w->path);
    free(w);
}
