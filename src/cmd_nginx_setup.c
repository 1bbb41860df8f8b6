/* cmd_nginx_setup.c - `nacme nginx-setup`: the http-01 and TLS snippets, and where to include them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "account.h"
#include "cli_cmd.h"
#include "jws.h"
#include "nginx_snippets.h"
#include "store.h"

struct setup_out {
    json_t *written;   /* files written */
    json_t *unchanged; /* files that already held the same text */
};

static enum nacme_err setup_write(struct cli_state *st, const struct nacme_config *cfg,
                                  const char *file, const char *text, struct setup_out *o)
{
    bool changed = false;
    enum nacme_err r;
    char *path;

    if ((r = nginx_snippet_write(st->ctx, cfg->nginx_snippets, file, text, &changed)) != NACME_OK)
        return r;
    if ((path = nacme_printf_new("%s/%s", cfg->nginx_snippets, file)) == NULL)
        return nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
    nacme_info(st->ctx, "%s: %s", path, changed ? "written" : "unchanged");
    json_array_append_new(changed ? o->written : o->unchanged, json_string(path));
    free(path);
    return NACME_OK;
}

/* The account key's thumbprint for --stateless; the key is made (and stored) if there is none:
 * the thumbprint needs no CA. */
static enum nacme_err setup_thumbprint(struct cli_state *st, const struct nacme_config *cfg,
                                       struct nacme_store *store, char **out)
{
    EVP_PKEY *key = NULL;
    char *url = NULL;
    bool is_new = false;
    enum nacme_err r;

    r = account_key_load_new(st->ctx, store, config_server_url(cfg->server), &key, &url, &is_new);
    if (r == NACME_OK)
        r = jwk_thumbprint_new(st->ctx, key, out);
    EVP_PKEY_free(key);
    free(url);
    return r;
}

static enum nacme_err setup_snippets(struct cli_state *st, const struct nacme_config *cfg,
                                     struct nacme_store *store, struct setup_out *o,
                                     char **lineages, size_t n)
{
    char *text = NULL, *thumbprint = NULL, *file = NULL;
    enum nacme_err r;
    size_t i;

    if ((st->stateless && (r = setup_thumbprint(st, cfg, store, &thumbprint)) != NACME_OK) ||
        (r = nginx_snippet_challenge_new(st->ctx, cfg->webroot, thumbprint, &text)) != NACME_OK ||
        (r = setup_write(st, cfg, NGINX_CHALLENGE_SNIPPET, text, o)) != NACME_OK)
        goto out;
    for (i = 0; i < n; i++) {
        free(text);
        free(file);
        text = NULL;
        if ((file = nginx_snippet_ssl_file_new(lineages[i])) == NULL) {
            r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
            goto out;
        }
        if ((r = nginx_snippet_ssl_new(st->ctx, cfg->state_dir, lineages[i], &text)) !=
                NACME_OK ||
            (r = setup_write(st, cfg, file, text, o)) != NACME_OK)
            goto out;
    }
out:
    free(text);
    free(file);
    free(thumbprint);
    return r;
}

static void setup_print_includes(const struct nacme_config *cfg, char **lineages, size_t n)
{
    size_t i;

    printf("In every server block that listens on port 80 for a name nacme certifies:\n"
           "    include %s/%s;\n",
           cfg->nginx_snippets, NGINX_CHALLENGE_SNIPPET);
    for (i = 0; i < n; i++)
        printf("In the server block that listens with ssl for %s:\n"
               "    include %s/nacme-ssl-%s.conf;\n",
               lineages[i], cfg->nginx_snippets, lineages[i]);
    printf("Then: nginx -t && nginx -s reload\n");
}

enum nacme_err cmd_nginx_setup(struct cli_state *st, struct nacme_config *cfg)
{
    struct setup_out o = {json_array(), json_array()};
    struct nacme_store *store = NULL;
    char **lineages = NULL;
    size_t n = 0;
    enum nacme_err r;

    if (o.written == NULL || o.unchanged == NULL) {
        r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    if ((r = store_open_new(st->ctx, cfg->state_dir, &store)) != NACME_OK ||
        (r = store_lineage_list_new(st->ctx, store, &lineages, &n)) != NACME_OK ||
        (r = setup_snippets(st, cfg, store, &o, lineages, n)) != NACME_OK)
        goto out;
    if (st->json)
        cli_json_print(json_pack("{s:s, s:b, s:O, s:O}", "snippet_dir", cfg->nginx_snippets,
                             "stateless", st->stateless, "written", o.written, "unchanged",
                             o.unchanged));
    else if (st->ctx->loglevel >= NACME_LOG_INFO)
        setup_print_includes(cfg, lineages, n);
out:
    json_decref(o.written);
    json_decref(o.unchanged);
    store_names_free(lineages, n);
    store_free(store);
    return r;
}
