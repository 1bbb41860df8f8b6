/* nginx_install.c - the include lines and HTTPS server blocks nginx-setup adds, and adding them
 * with backups, nginx's test and a full restore when the test fails. */
#include "nginx_install.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nginx_ctl.h"
#include "nginx_edit.h"
#include "nginx_snippets.h"
#include "safefile.h"

#define FILE_MAX (16 * 1024 * 1024)

/* One file on disk with something to add. */
struct plan_file {
    char *path;  /* resolved */
    char *dir;   /* its directory */
    char *base;  /* its name in dir */
    char *text;  /* as read */
    size_t len;
    struct stat st;
    struct nginx_insert *ins;
    size_t nins;
    char *backup; /* name in dir, once written */
    bool written; /* the edited text replaced it */
};

/* A server block under http. */
struct block_ref {
    const struct nginx_dir *d;
};

struct planner {
    struct nacme_ctx *ctx;
    const struct nginx_conf *conf;
    const struct nginx_install_opts *opt;
    struct nginx_plan *plan;
    struct block_ref *blocks;
    size_t nblocks, capblocks;
    char *root; /* resolved directory of the main file, ending in '/' */
};

/* ---- finding the server blocks ---------------------------------------------------------- */

static enum nacme_err collect(struct planner *p, const struct nginx_dir *d, bool in_http)
{
    enum nacme_err r;

    for (; d != NULL; d = d->next) {
        if (d->kind == NGINX_DIR_INCLUDE) {
            if ((r = collect(p, d->child, in_http)) != NACME_OK)
                return r;
        } else if (d->kind == NGINX_DIR_BLOCK && !in_http && strcmp(d->args[0], "http") == 0) {
            if ((r = collect(p, d->child, true)) != NACME_OK)
                return r;
        } else if (d->kind == NGINX_DIR_BLOCK && in_http && strcmp(d->args[0], "server") == 0) {
            if (p->nblocks == p->capblocks) {
                size_t cap = p->capblocks ? p->capblocks * 2 : 64;
                struct block_ref *b = realloc(p->blocks, cap * sizeof(*b));
                if (b == NULL)
                    return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
                p->blocks = b;
                p->capblocks = cap;
            }
            p->blocks[p->nblocks++] = (struct block_ref){d};
        }
    }
    return NACME_OK;
}

static int block_cmp(const void *x, const void *y)
{
    uintptr_t a = (uintptr_t)((const struct block_ref *)x)->d;
    uintptr_t b = (uintptr_t)((const struct block_ref *)y)->d;

    return (a > b) - (a < b);
}

/* d when it is a server block under http, else NULL. By the block itself, not its "path:line":
 * two server blocks can share a line. */
static const struct nginx_dir *block_at(const struct planner *p, const struct nginx_dir *d)
{
    struct block_ref key = {d}, *hit;

    hit = bsearch(&key, p->blocks, p->nblocks, sizeof(key), block_cmp);
    return hit ? hit->d : NULL;
}

/* ---- the files ------------------------------------------------------------------------------ */

static void plan_file_clear(struct plan_file *f)
{
    size_t i;

    free(f->path);
    free(f->dir);
    free(f->base);
    free(f->text);
    for (i = 0; i < f->nins; i++)
        free(f->ins[i].text);
    free(f->ins);
    free(f->backup);
}

/* The file of d, read once per run; NULL with *note set when it is not one nacme edits. */
static enum nacme_err file_of(struct planner *p, const struct nginx_dir *d, struct plan_file **out,
                              const char **note)
{
    const char *shown = nginx_conf_file_path(p->conf, d->file);
    struct plan_file *f = NULL, *t;
    char real[PATH_MAX], *slash;
    enum nacme_err r = NACME_OK;
    int dirfd = -1;
    size_t i;

    *out = NULL;
    *note = NULL;
    if (realpath(shown, real) == NULL) {
        *note = "not a file on disk";
        return NACME_OK;
    }
    if (strncmp(real, p->root, strlen(p->root)) != 0) {
        *note = "outside nginx's configuration directory: not edited";
        return NACME_OK;
    }
    for (i = 0; i < p->plan->nfiles; i++)
        if (strcmp(p->plan->files[i].path, real) == 0) {
            *out = &p->plan->files[i];
            return NACME_OK;
        }
    if ((t = realloc(p->plan->files, (p->plan->nfiles + 1) * sizeof(*t))) == NULL)
        return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
    p->plan->files = t;
    f = &t[p->plan->nfiles];
    memset(f, 0, sizeof(*f));
    slash = strrchr(real, '/');
    f->path = nacme_strdup_new(real);
    f->base = nacme_strdup_new(slash + 1);
    f->dir = nacme_printf_new("%.*s", (int)(slash - real), real);
    if (f->path == NULL || f->base == NULL || f->dir == NULL) {
        plan_file_clear(f);
        return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
    }
    if ((dirfd = open(f->dir[0] ? f->dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        r = nacme_fail_errno(p->ctx, NACME_E_IO, "cannot open %s", f->dir);
        goto out;
    }
    if (fstatat(dirfd, f->base, &f->st, AT_SYMLINK_NOFOLLOW) != 0) {
        r = nacme_fail_errno(p->ctx, NACME_E_IO, "cannot stat %s", f->path);
        goto out;
    }
    if ((r = safefile_read_new(p->ctx, dirfd, f->base, FILE_MAX, &f->text, &f->len, f->path)) !=
        NACME_OK)
        goto out;
    p->plan->nfiles++;
    *out = f;
    f = NULL;
out:
    if (f != NULL)
        plan_file_clear(f);
    if (dirfd >= 0)
        close(dirfd);
    return r;
}

/* ---- the items ------------------------------------------------------------------------------ */

static enum nacme_err add_item(struct planner *p, enum nginx_item_kind kind, const char *block,
                               const char *file, const char *site, char *add, bool present,
                               const char *note)
{
    struct nginx_plan *pl = p->plan;
    struct nginx_item *t, *it;

    if (add == NULL || (t = realloc(pl->items, (pl->nitems + 1) * sizeof(*t))) == NULL) {
        free(add);
        return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
    }
    pl->items = t;
    it = &t[pl->nitems];
    *it = (struct nginx_item){kind, nacme_strdup_new(block), nacme_strdup_new(file ? file : ""),
                              nacme_strdup_new(site), add, present, note};
    pl->nitems++;
    if (it->block == NULL || it->file == NULL || it->site == NULL)
        return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
    return NACME_OK;
}

/* Queue ins in f unless the same text is queued at the same offset (a file nginx reads twice). */
static enum nacme_err queue(struct planner *p, struct plan_file *f, struct nginx_insert *ins)
{
    struct nginx_insert *t;
    size_t i;

    for (i = 0; i < f->nins; i++)
        if (f->ins[i].at == ins->at && strcmp(f->ins[i].text, ins->text) == 0) {
            free(ins->text);
            return NACME_OK;
        }
    if ((t = realloc(f->ins, (f->nins + 1) * sizeof(*t))) == NULL) {
        free(ins->text);
        return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
    }
    f->ins = t;
    f->ins[f->nins++] = *ins;
    return NACME_OK;
}

struct block_info {
    bool http;     /* listens on the HTTP port without ssl */
    bool ssl;      /* listens with ssl */
    bool own_cert; /* has an ssl_certificate that is not nacme's */
};

static void block_info(const struct nginx_conf *conf, const struct nginx_dir *b, long http_port,
                       struct block_info *bi)
{
    const struct nginx_dir *d;
    struct nginx_listen l;
    bool any_listen = false;
    const char *file, *slash;

    memset(bi, 0, sizeof(*bi));
    for (d = b->child; d != NULL; d = d->next)
        if (d->kind == NGINX_DIR_SIMPLE && nginx_listen_parse(d, &l)) {
            any_listen = true;
            bi->ssl |= l.ssl;
            bi->http |= !l.ssl && l.port == http_port;
        }
    if (!any_listen) /* nginx's default: *:80 */
        bi->http = http_port == 80;
    for (d = nginx_dir_first(b); d != NULL; d = nginx_dir_next(d)) {
        if (strcmp(d->args[0], "ssl_certificate") != 0)
            continue;
        file = nginx_conf_file_path(conf, d->file);
        slash = strrchr(file, '/');
        if (strncmp(slash ? slash + 1 : file, "nacme-ssl-", 10) != 0)
            bi->own_cert = true;
    }
}

static bool has_lineage(const struct nginx_install_opts *opt, const char *name)
{
    size_t i;

    for (i = 0; i < opt->nlineages; i++)
        if (strcmp(opt->lineages[i], name) == 0)
            return true;
    return false;
}

/* The include item of kind for block b of site (file_name: the snippet's name in the block). */
static enum nacme_err plan_include(struct planner *p, enum nginx_item_kind kind, const char *where,
                                   const struct nginx_dir *b, const char *site,
                                   const char *file_name, const char *note_if_any)
{
    char *directive = NULL;
    struct plan_file *f = NULL;
    struct nginx_insert ins = {0};
    const char *note = note_if_any;
    enum nacme_err r;
    bool present = nginx_block_includes(b, file_name);

    if ((directive = nacme_printf_new("include %s/%s;", p->opt->snippet_dir, file_name)) == NULL)
        return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
    if (!present && note == NULL) {
        if ((r = file_of(p, b, &f, &note)) != NACME_OK)
            goto out;
        if (f != NULL) {
            if ((r = nginx_edit_include(p->ctx, f->text, f->len, b, directive, &ins)) != NACME_OK)
                goto out;
            if ((r = queue(p, f, &ins)) != NACME_OK)
                goto out;
        }
    }
    r = add_item(p, kind, where, f ? f->path : NULL, site, directive, present, note);
    directive = NULL;
out:
    free(directive);
    return r;
}

static enum nacme_err plan_server(struct planner *p, const char *where, const struct nginx_dir *b,
                                  const struct nginx_site *site)
{
    char *directive = NULL, *ssl_file = NULL;
    struct plan_file *f = NULL;
    struct nginx_insert ins = {0};
    const char *note = NULL;
    enum nacme_err r = NACME_OK;

    if ((ssl_file = nginx_snippet_ssl_file_new(site->names[0])) == NULL ||
        (directive = nacme_printf_new("include %s/%s;", p->opt->snippet_dir, ssl_file)) == NULL) {
        r = nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    if ((r = file_of(p, b, &f, &note)) != NACME_OK)
        goto out;
    if (f == NULL) {
        r = add_item(p, NGINX_ITEM_SERVER, where, NULL, site->names[0], directive, false, note);
        directive = NULL;
        goto out;
    }
    if ((r = nginx_edit_https_server(p->ctx, f->text, f->len, b, p->opt->http_port,
                                     p->opt->https_port, site->names, site->nnames, directive,
                                     where, NGINX_CHALLENGE_SNIPPET, &ins)) != NACME_OK)
        goto out;
    r = add_item(p, NGINX_ITEM_SERVER, where, f->path, site->names[0],
                 nacme_strdup_new(ins.text), false, NULL);
    if (r == NACME_OK)
        r = queue(p, f, &ins);
    else
        free(ins.text);
out:
    free(directive);
    free(ssl_file);
    return r;
}

static enum nacme_err plan_site(struct planner *p, const struct nginx_site *site)
{
    const struct nginx_dir *b, *http_block = NULL;
    const char *http_where = NULL;
    struct block_info bi;
    char *ssl_file = NULL;
    bool cert = has_lineage(p->opt, site->names[0]), any_ssl = false;
    enum nacme_err r = NACME_OK;
    size_t i;

    if ((ssl_file = nginx_snippet_ssl_file_new(site->names[0])) == NULL)
        return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
    for (i = 0; i < site->nfiles && r == NACME_OK; i++) {
        if ((b = block_at(p, site->blocks[i])) == NULL)
            continue;
        block_info(p->conf, b, p->opt->http_port, &bi);
        any_ssl |= bi.ssl;
        if (bi.http && http_block == NULL) {
            http_block = b;
            http_where = site->files[i];
        }
        if (bi.http)
            r = plan_include(p, NGINX_ITEM_CHALLENGE, site->files[i], b, site->names[0],
                             NGINX_CHALLENGE_SNIPPET, NULL);
        if (r == NACME_OK && bi.ssl && cert)
            r = plan_include(p, NGINX_ITEM_TLS, site->files[i], b, site->names[0], ssl_file,
                             bi.own_cert && !nginx_block_includes(b, ssl_file)
                                 ? "has its own ssl_certificate: replace it with this include "
                                   "by hand"
                                 : NULL);
    }
    if (r == NACME_OK && cert && !any_ssl && http_block != NULL)
        r = plan_server(p, http_where, http_block, site);
    free(ssl_file);
    return r;
}

/* A path nginx reads unquoted in an include line. */
static bool plain_path(const char *s)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789_./@+=,:~-";

    return s[0] == '/' && s[strspn(s, ok)] == '\0';
}

enum nacme_err nginx_plan_new(struct nacme_ctx *ctx, const struct nginx_conf *conf,
                              const struct nginx_sites *sites,
                              const struct nginx_install_opts *opt, struct nginx_plan **out)
{
    struct planner p = {.ctx = ctx, .conf = conf, .opt = opt};
    char real[PATH_MAX], *copy = NULL, *slash;
    enum nacme_err r = NACME_OK;
    size_t i;

    *out = NULL;
    if (!plain_path(opt->snippet_dir))
        return nacme_fail(ctx, NACME_E_CONFIG,
                          "snippet directory %s: nginx-setup writes it unquoted into include "
                          "lines; give an absolute path of letters, digits and _./@+=,:~-",
                          opt->snippet_dir);
    if ((p.plan = calloc(1, sizeof(*p.plan))) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    if ((copy = nacme_strdup_new(opt->conf_path)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    slash = strrchr(copy, '/');
    if (slash != NULL)
        *slash = '\0';
    if (realpath(slash == copy ? "/" : slash ? copy : ".", real) == NULL) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot resolve the directory of %s",
                             opt->conf_path);
        goto out;
    }
    if ((p.root = nacme_printf_new("%s%s", real, strcmp(real, "/") == 0 ? "" : "/")) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    if ((r = collect(&p, nginx_conf_root(conf)->child, false)) != NACME_OK)
        goto out;
    if (p.nblocks > 0)
        qsort(p.blocks, p.nblocks, sizeof(*p.blocks), block_cmp);
    for (i = 0; i < sites->nsites && r == NACME_OK; i++)
        r = plan_site(&p, &sites->sites[i]);
    if (r == NACME_OK) {
        *out = p.plan;
        p.plan = NULL;
    }
out:
    nginx_plan_free(p.plan);
    free(p.blocks);
    free(p.root);
    free(copy);
    return r;
}

/* ---- installing ----------------------------------------------------------------------------- */

static enum nacme_err write_file(struct nacme_ctx *ctx, const struct plan_file *f,
                                 const char *name, const char *text, size_t len, const char *what)
{
    enum nacme_err r;
    int dirfd;

    if ((dirfd = open(f->dir[0] ? f->dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return nacme_fail_errno(ctx, NACME_E_IO, "cannot open %s", f->dir);
    /* chown only what differs from what a new file gets: a non-root admin editing their own
     * files could not chown at all */
    r = safefile_write_owned(ctx, dirfd, name, text, len, f->st.st_mode & 07777,
                             f->st.st_uid == geteuid() ? (uid_t)-1 : f->st.st_uid,
                             f->st.st_gid == getegid() ? (gid_t)-1 : f->st.st_gid, what);
    close(dirfd);
    return r;
}

/* A backup name in f's directory that is not taken: .BASE.nacme-bak.YYYYMMDDTHHMMSSZ[.N] */
static char *backup_name_new(const struct plan_file *f, time_t now)
{
    char stamp[32], *name = NULL, *path = NULL;
    struct tm tm;
    int i;

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    for (i = 0; i < 100; i++) {
        free(name);
        free(path);
        name = i == 0 ? nacme_printf_new(".%s.nacme-bak.%s", f->base, stamp)
                      : nacme_printf_new(".%s.nacme-bak.%s.%d", f->base, stamp, i);
        path = nacme_printf_new("%s/%s", f->dir, name ? name : "");
        if (name == NULL || path == NULL)
            break;
        if (access(path, F_OK) != 0 && errno == ENOENT) {
            free(path);
            return name;
        }
    }
    free(name);
    free(path);
    return NULL;
}

/* Put every written file back and remove its backup; failures are logged (the first error stays
 * the cause). */
static void restore_all(struct nacme_ctx *ctx, struct nginx_plan *plan)
{
    struct nacme_ctx c;
    char *bpath;
    size_t i;

    for (i = 0; i < plan->nfiles; i++) {
        struct plan_file *f = &plan->files[i];
        nacme_ctx_init(&c);
        if (f->written &&
            write_file(&c, f, f->base, f->text, f->len, f->path) != NACME_OK) {
            nacme_log(ctx, NACME_LOG_ERROR, "cannot put %s back: %s; its backup is %s/%s",
                      f->path, c.errmsg, f->dir, f->backup);
            continue;
        }
        f->written = false;
        if (f->backup != NULL && (bpath = nacme_printf_new("%s/%s", f->dir, f->backup)) != NULL) {
            unlink(bpath);
            free(bpath);
        }
        free(f->backup);
        f->backup = NULL;
    }
}

/* The file is still the one the plan read: same inode, size and modification time. An editor or
 * another tool that saved it meanwhile would otherwise lose its change to our rewrite, and our
 * offsets would no longer fit its text. */
static enum nacme_err unchanged_since_read(struct nacme_ctx *ctx, const struct plan_file *f)
{
    struct stat now;

    if (fstatat(AT_FDCWD, f->path, &now, AT_SYMLINK_NOFOLLOW) != 0)
        return nacme_fail_errno(ctx, NACME_E_IO, "cannot stat %s", f->path);
    if (now.st_dev != f->st.st_dev || now.st_ino != f->st.st_ino ||
        now.st_size != f->st.st_size || now.st_mtim.tv_sec != f->st.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != f->st.st_mtim.tv_nsec)
        return nacme_fail(ctx, NACME_E_INVALID,
                          "%s changed while nacme was planning its edit; nothing was edited: run "
                          "nginx-setup --install again", f->path);
    return NACME_OK;
}

enum nacme_err nginx_plan_install(struct nacme_ctx *ctx, struct nginx_plan *plan,
                                  const char *test_cmd, time_t now, char **output)
{
    char *text = NULL, *bpath = NULL;
    enum nacme_err r = NACME_OK;
    size_t i, len;

    if (output != NULL)
        *output = NULL;
    /* Every file first, so that a changed one stops the install before anything is written. */
    for (i = 0; i < plan->nfiles; i++)
        if (plan->files[i].nins > 0 && (r = unchanged_since_read(ctx, &plan->files[i])) != NACME_OK)
            return r;
    for (i = 0; i < plan->nfiles; i++) {
        struct plan_file *f = &plan->files[i];
        if (f->nins == 0)
            continue;
        free(text);
        free(bpath);
        bpath = NULL;
        if ((text = nginx_edit_apply_new(f->text, f->len, f->ins, f->nins, &len)) == NULL ||
            (f->backup = backup_name_new(f, now)) == NULL ||
            (bpath = nacme_printf_new("%s/%s", f->dir, f->backup)) == NULL) {
            r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory (or no free backup name for %s)",
                           f->path);
            goto out;
        }
        if ((r = write_file(ctx, f, f->backup, f->text, f->len, bpath)) != NACME_OK)
            goto out;
        if ((r = write_file(ctx, f, f->base, text, len, f->path)) != NACME_OK)
            goto out;
        f->written = true;
        nacme_verbose(ctx, "%s: edited (backup %s)", f->path, bpath);
    }
    if ((r = nginx_test(ctx, test_cmd, output)) != NACME_OK)
        nacme_fail_prefix(ctx, "nginx's test fails after the edit; every file is put back as it "
                               "was");
out:
    if (r != NACME_OK)
        restore_all(ctx, plan);
    free(text);
    free(bpath);
    return r;
}

const char *nginx_plan_file(const struct nginx_plan *plan, size_t i, const char **backup)
{
    if (backup != NULL)
        *backup = NULL;
    if (i >= plan->nfiles)
        return NULL;
    if (backup != NULL)
        *backup = plan->files[i].backup;
    return plan->files[i].path;
}

void nginx_plan_free(struct nginx_plan *plan)
{
    size_t i;

    if (plan == NULL)
        return;
    for (i = 0; i < plan->nitems; i++) {
        free(plan->items[i].block);
        free(plan->items[i].file);
        free(plan->items[i].site);
        free(plan->items[i].add);
    }
    free(plan->items);
    for (i = 0; i < plan->nfiles; i++)
        plan_file_clear(&plan->files[i]);
    free(plan->files);
    free(plan);
}
