/*
 * nginx_install.h - what `nginx-setup` adds to nginx's files for each site, and (--install)
 * adding it: every eligible server block on the HTTP port includes the challenge snippet; once
 * live/NAME exists (NAME the site's first name), the block that listens with ssl includes
 * nacme-ssl-NAME.conf, or, when the site has none, a new HTTPS server block follows its HTTP one.
 *
 * Installing edits only files under the main configuration file's directory (symlinks resolved:
 * the file nginx reads is the one edited), keeps a backup of each as .FILE.nacme-bak.TIMESTAMP in
 * its directory (hidden, so that an `include DIR/STAR` never reads it), writes atomically with
 * the file's mode and owner, runs nginx's configuration test and puts every file back when it
 * fails.
 */
#ifndef NACME_NGINX_INSTALL_H
#define NACME_NGINX_INSTALL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "nacme.h"
#include "nginx_conf.h"
#include "nginx_sites.h"

enum nginx_item_kind {
    NGINX_ITEM_CHALLENGE, /* include of the challenge snippet in a block on the HTTP port */
    NGINX_ITEM_TLS,       /* include of nacme-ssl-NAME.conf in a block that listens with ssl */
    NGINX_ITEM_SERVER,    /* a new HTTPS server block after the site's HTTP block */
};

struct nginx_item {
    enum nginx_item_kind kind;
    char *block;      /* "path:line" of the server block, as nginx names the file */
    char *file;       /* the file that is (or would be) edited: symlinks resolved */
    char *site;       /* the site's first name (its certificate's name) */
    char *add;        /* the include directive, or the whole new server block */
    bool present;     /* already there: nothing to do */
    const char *note; /* static: why it is not added (e.g. the block has its own certificate),
                         or NULL */
};

struct nginx_install_opts {
    const char *conf_path;   /* the main configuration file: its directory bounds the edits */
    const char *snippet_dir; /* where the snippets are (as the include lines name them) */
    long http_port;          /* the port the CA's port 80 reaches */
    long https_port;         /* for new HTTPS server blocks */
    char *const *lineages;   /* names with a certificate in live/ */
    size_t nlineages;
};

struct nginx_plan {
    struct nginx_item *items;
    size_t nitems;
    struct plan_file *files; /* files with something to add */
    size_t nfiles;
};

/* What is present and what to add for every site of conf. Files are read again from disk (the
 * offsets of conf must fit them). */
enum nacme_err nginx_plan_new(struct nacme_ctx *ctx, const struct nginx_conf *conf,
                              const struct nginx_sites *sites,
                              const struct nginx_install_opts *opt, struct nginx_plan **out);

/* Add what the plan adds (nothing when nothing is missing), then run test_cmd. On its failure,
 * every file is put back as it was, the backups removed, and NACME_E_INVALID names nginx's line;
 * *output (may be NULL) gets nginx's output in both cases. The file and backup of each edit are
 * in nginx_plan_edited(). now names the backups. */
enum nacme_err nginx_plan_install(struct nacme_ctx *ctx, struct nginx_plan *plan,
                                  const char *test_cmd, time_t now, char **output);

/* The i-th edited file (i < plan->nfiles) and its backup (NULL before nginx_plan_install). */
const char *nginx_plan_file(const struct nginx_plan *plan, size_t i, const char **backup);

void nginx_plan_free(struct nginx_plan *plan);

#endif
