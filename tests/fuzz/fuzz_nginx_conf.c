/*
 * fuzz_nginx_conf.c - nginx's configuration as nacme reads it: the input is the main file
 * (/etc/nginx/nginx.conf) of an `nginx -T` dump, so that `include` resolves inside the input
 * (lines "# configuration file /PATH:" in it add files) and never on this machine's disk. What
 * parses is then used as nginx-setup uses it: the sites (nginx_sites_new), the listen directives,
 * and for the first server blocks of the main file both edits --install makes (the challenge
 * include, a new HTTPS server block). An edited file must parse again, with the include as one
 * more directive: --install must never turn a configuration nginx reads into one it refuses.
 */
#include "fuzz.h"

#include <stdbool.h>

#include "nginx_conf.h"
#include "nginx_edit.h"
#include "nginx_sites.h"

#define MAIN_PATH "/etc/nginx/nginx.conf"
#define HEAD "# configuration file " MAIN_PATH ":\n"
/* Files the edits include, added to the dump that is parsed again (empty, as a snippet may be). */
#define SNIPPET "/nacme-fuzz-snippets/acme.conf"
#define SSL_SNIPPET "/nacme-fuzz-snippets/ssl.conf"
#define SNIPPETS "\n# configuration file " SNIPPET ":\n\n# configuration file " SSL_SNIPPET ":\n"
#define MAX_EDITED_BLOCKS 4

/* HEAD, the main file's text (edited), the rest of the input, the snippet files. */
static char *dump_new(const char *main_text, size_t main_len, const char *rest, size_t rest_len,
                      bool snippets, size_t *len)
{
    size_t hl = sizeof(HEAD) - 1, sl = snippets ? sizeof(SNIPPETS) - 1 : 0;
    char *d = malloc(hl + main_len + rest_len + sl + 1);

    if (d == NULL)
        return NULL;
    memcpy(d, HEAD, hl);
    memcpy(d + hl, main_text, main_len);
    memcpy(d + hl + main_len, rest, rest_len);
    memcpy(d + hl + main_len + rest_len, SNIPPETS, sl);
    *len = hl + main_len + rest_len + sl;
    d[*len] = '\0';
    return d;
}

/* The edited main file must still parse, with at least more_dirs directives more (exactly one
 * more for an include: the snippet is empty). */
static void reparse(struct nacme_ctx *ctx, const struct nginx_conf *before, const char *text,
                    size_t len, const char *rest, size_t rest_len, const struct nginx_insert *ins,
                    size_t more_dirs, bool exact)
{
    struct nginx_conf *conf = NULL;
    char *edited, *dump;
    size_t elen, dlen;

    if ((edited = nginx_edit_apply_new(text, len, ins, 1, &elen)) == NULL)
        return;
    dump = dump_new(edited, elen, rest, rest_len, true, &dlen);
    if (dump != NULL && nginx_conf_parse_dump_new(ctx, dump, dlen, "fuzz", &conf) != NACME_OK) {
        fprintf(stderr, "the edited file does not parse: %s\n--- edited:\n%s\n---\n", ctx->errmsg,
                edited);
        abort();
    }
    if (conf != NULL && (nginx_conf_ndirs(conf) < nginx_conf_ndirs(before) + more_dirs ||
                         (exact && nginx_conf_ndirs(conf) != nginx_conf_ndirs(before) + more_dirs))) {
        fprintf(stderr, "the edit made %zu directives %zu\n--- edited:\n%s\n---\n",
                nginx_conf_ndirs(before), nginx_conf_ndirs(conf), edited);
        abort();
    }
    nginx_conf_free(conf);
    free(dump);
    free(edited);
}

static void edit_block(struct nacme_ctx *ctx, const struct nginx_conf *conf, const char *text,
                       size_t len, const char *rest, size_t rest_len,
                       const struct nginx_dir *block)
{
    const struct nginx_dir *d;
    struct nginx_listen l;
    struct nginx_insert ins;
    char *names[1] = {"fuzz.example"};
    bool named = false;
    uint32_t i;

    for (d = block->child; d != NULL; d = d->next) {
        if (d->kind == NGINX_DIR_SIMPLE && nginx_listen_parse(d, &l) && l.port > 65535)
            abort();
        if (d->kind == NGINX_DIR_SIMPLE && strcmp(d->args[0], "server_name") == 0)
            for (i = 1; i < d->nargs && !named; i++)
                if (nginx_name_skip_reason(d->args[i]) == NULL) {
                    names[0] = d->args[i];
                    named = true;
                }
    }
    (void)nginx_block_includes(block, "acme.conf");
    if (nginx_edit_include(ctx, text, len, block, "include " SNIPPET ";", &ins) == NACME_OK) {
        reparse(ctx, conf, text, len, rest, rest_len, &ins, 1, true);
        free(ins.text);
    }
    if (nginx_edit_https_server(ctx, text, len, block, 80, 443, names, 1,
                                "include " SSL_SNIPPET ";", MAIN_PATH ":1", "acme.conf",
                                &ins) == NACME_OK) {
        reparse(ctx, conf, text, len, rest, rest_len, &ins, 4, false);
        free(ins.text);
    }
}

/* Every server block directly under an http block of the main file (not through includes). */
static void edit_main_file(struct nacme_ctx *ctx, const struct nginx_conf *conf, const char *text,
                           size_t len, const char *rest, size_t rest_len)
{
    const struct nginx_dir *h, *s;
    unsigned n = 0;

    for (h = nginx_conf_root(conf)->child; h != NULL; h = h->next) {
        if (h->kind != NGINX_DIR_BLOCK || strcmp(h->args[0], "http") != 0)
            continue;
        for (s = h->child; s != NULL && n < MAX_EDITED_BLOCKS; s = s->next)
            if (s->kind == NGINX_DIR_BLOCK && s->file == 0 && strcmp(s->args[0], "server") == 0) {
                edit_block(ctx, conf, text, len, rest, rest_len, s);
                n++;
            }
    }
}

/* Walk every directive as nginx sees them, and find each one again by file and line. */
static void walk(const struct nginx_conf *conf, const struct nginx_dir *block, unsigned depth)
{
    const struct nginx_dir *d;

    for (d = nginx_dir_first(block); d != NULL; d = nginx_dir_next(d)) {
        if (d->nargs == 0 || d->kind == NGINX_DIR_INCLUDE ||
            nginx_conf_file_path(conf, d->file) == NULL ||
            nginx_conf_find(conf, nginx_conf_file_path(conf, d->file), d->line) == NULL)
            abort();
        if (d->kind == NGINX_DIR_BLOCK && depth < 8)
            walk(conf, d, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nacme_ctx ctx;
    struct nginx_conf *conf = NULL;
    struct nginx_sites *sites = NULL;
    const struct nginx_dir *root;
    char *dump = NULL, *main_text = NULL;
    size_t dlen, mlen, i;

    fuzz_ctx_init(&ctx);
    if ((dump = dump_new((const char *)data, size, "", 0, false, &dlen)) == NULL)
        goto out;
    if (nginx_conf_parse_dump_new(&ctx, dump, dlen, "fuzz", &conf) != NACME_OK)
        goto out;
    root = nginx_conf_root(conf);
    walk(conf, root, 0);
    if (nginx_sites_new(&ctx, conf, &sites) == NACME_OK) {
        for (i = 0; i < sites->nsites; i++)
            if (nginx_sites_find(sites, sites->sites[i].names[0]) == NULL)
                abort();
        nginx_sites_free(sites);
    }
    /* The main file is the input up to its end offset (the dump's split trims one newline). */
    mlen = root->end;
    if (mlen > size || (main_text = fuzz_strndup(data, mlen)) == NULL)
        goto out;
    /* the rest of the dump, up to a NUL, which ends a dump */
    edit_main_file(&ctx, conf, main_text, mlen, (const char *)data + mlen,
                   strnlen((const char *)data + mlen, size - mlen));
out:
    nginx_conf_free(conf);
    free(main_text);
    free(dump);
    return 0;
}
