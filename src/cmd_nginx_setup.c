/* cmd_nginx_setup.c - `nacme nginx-setup`: the http-01 and TLS snippets, and where to include them;
 * --list: the sites of nginx's configuration. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "cli_cmd.h"
#include "jws.h"
#include "nginx_conf.h"
#include "nginx_sites.h"
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

/* ---- --list ----------------------------------------------------------------------------- */

/* A JSON string of text from nginx's files, which need not be UTF-8: such text is shown with
 * every control or non-ASCII byte as '?'. */
static json_t *text_json(const char *s)
{
    json_t *j = json_string(s);
    char shown[1024];

    if (j == NULL) {
        nacme_sanitize(shown, sizeof(shown), s, sizeof(shown) - 1);
        j = json_string(shown);
    }
    return j;
}

static json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, text_json(v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* One array: an object per site, then one per skipped name. Each element is built and printed by
 * jansson on its own, so that ten thousand sites never hold ten thousand JSON objects in memory;
 * the output is what json_dumps(array, JSON_COMPACT) would print. One object of each shape is
 * reused, its values replaced (json_object_set_new keeps the keys' order). */
static enum nacme_err list_json(struct cli_state *st, const struct nginx_sites *s)
{
    json_t *site_o = json_object(), *skip_o = json_object(), *o;
    size_t i, n = s->nsites + s->nskipped, len;
    enum nacme_err r = NACME_OK;
    char buf[16384];
    int bad = 0;

    fputc('[', stdout);
    for (i = 0; i < n && site_o != NULL && skip_o != NULL; i++) {
        if (i < s->nsites) {
            const struct nginx_site *site = &s->sites[i];
            o = site_o;
            bad = json_object_set_new(o, "names", strv_json(site->names, site->nnames)) |
                  json_object_set_new(o, "files", strv_json(site->files, site->nfiles)) |
                  json_object_set_new(o, "listen", strv_json(site->listen, site->nlisten));
        } else {
            const struct nginx_skipped *k = &s->skipped[i - s->nsites];
            o = skip_o;
            bad = json_object_set_new(o, "skipped", text_json(k->name)) |
                  json_object_set_new(o, "reason", json_string(k->reason)) |
                  json_object_set_new(o, "file", text_json(k->file));
        }
        if (bad)
            break;
        if (i > 0)
            fputc(',', stdout);
        /* one write per element: json_dumpf writes token by token */
        if ((len = json_dumpb(o, buf, sizeof(buf), JSON_COMPACT)) <= sizeof(buf))
            fwrite(buf, 1, len, stdout);
        else
            json_dumpf(o, stdout, JSON_COMPACT);
    }
    fputs("]\n", stdout);
    if (site_o == NULL || skip_o == NULL || bad)
        r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
    json_decref(site_o);
    json_decref(skip_o);
    return r;
}

/* Control characters (a server_name may hold "\t" or "\n" escapes) shown as '?' on a terminal. */
static char *no_controls(char *s)
{
    char *p;

    for (p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return s;
}

/* v joined by sep into buf (truncated with "..." when it does not fit). */
static const char *joined(char *buf, size_t bufsz, char *const *v, size_t n, const char *sep)
{
    size_t i, len = 0;

    buf[0] = '\0';
    for (i = 0; i < n && len < bufsz; i++)
        len += (size_t)snprintf(buf + len, bufsz - len, "%s%s", i ? sep : "", v[i]);
    if (len >= bufsz && bufsz > 4)
        memcpy(buf + bufsz - 4, "...", 4);
    return no_controls(buf);
}

static void list_text(const struct nginx_sites *s)
{
    char names[4096], listen[1024], files[4096];
    int wn = 5, wl = 6, w;
    size_t i;

    for (i = 0; i < s->nsites; i++) {
        w = (int)strlen(joined(names, sizeof(names), s->sites[i].names, s->sites[i].nnames, " "));
        wn = w > wn ? w : wn;
        w = (int)strlen(
            joined(listen, sizeof(listen), s->sites[i].listen, s->sites[i].nlisten, ", "));
        wl = w > wl ? w : wl;
    }
    wn = wn > 60 ? 60 : wn;
    wl = wl > 40 ? 40 : wl;
    if (s->nsites == 0)
        printf("No server block has a name nacme can certify.\n");
    else
        printf("%-*s  %-*s  %s\n", wn, "NAMES", wl, "LISTEN", "FILE:LINE");
    for (i = 0; i < s->nsites; i++) {
        const struct nginx_site *site = &s->sites[i];
        printf("%-*s  %-*s  %s\n", wn, joined(names, sizeof(names), site->names, site->nnames, " "),
               wl, joined(listen, sizeof(listen), site->listen, site->nlisten, ", "),
               joined(files, sizeof(files), site->files, site->nfiles, ", "));
    }
    if (s->nskipped == 0)
        return;
    wn = 4;
    wl = 6;
    for (i = 0; i < s->nskipped; i++) {
        w = (int)strlen(s->skipped[i].name) + 2;
        wn = w > wn ? w : wn;
        w = (int)strlen(s->skipped[i].reason);
        wl = w > wl ? w : wl;
    }
    wn = wn > 40 ? 40 : wn;
    printf("\nSkipped (not certifiable over http-01):\n%-*s  %-*s  %s\n", wn, "NAME", wl, "REASON",
           "FILE:LINE");
    for (i = 0; i < s->nskipped; i++) {
        char quoted[300];
        char file[1024];
        snprintf(quoted, sizeof(quoted), "\"%s\"", s->skipped[i].name);
        snprintf(file, sizeof(file), "%s", s->skipped[i].file);
        printf("%-*s  %-*s  %s\n", wn, no_controls(quoted), wl, s->skipped[i].reason,
               no_controls(file));
    }
}

static enum nacme_err setup_list(struct cli_state *st, const struct nacme_config *cfg)
{
    struct nginx_conf *conf = NULL;
    struct nginx_sites *sites = NULL;
    enum nacme_err r;

    if (st->nginx_dump != NULL)
        r = nginx_conf_read_dump_new(st->ctx, st->nginx_dump, &conf);
    else
        r = nginx_conf_read_new(st->ctx, cfg->nginx_conf, &conf);
    if (r != NACME_OK || (r = nginx_sites_new(st->ctx, conf, &sites)) != NACME_OK)
        goto out;
    nacme_verbose(st->ctx, "%s: %zu directives in %u files, %zu sites, %zu names skipped",
                  st->nginx_dump ? st->nginx_dump : cfg->nginx_conf, nginx_conf_ndirs(conf),
                  nginx_conf_nfiles(conf), sites->nsites, sites->nskipped);
    if (st->json)
        r = list_json(st, sites);
    else
        list_text(sites);
out:
    nginx_sites_free(sites);
    nginx_conf_free(conf);
    return r;
}

/* ---- the command ------------------------------------------------------------------------- */

enum nacme_err cmd_nginx_setup(struct cli_state *st, struct nacme_config *cfg)
{
    struct setup_out o = {json_array(), json_array()};
    struct nacme_store *store = NULL;
    char **lineages = NULL;
    size_t n = 0;
    enum nacme_err r;

    if (st->list && st->stateless) {
        r = nacme_fail(st->ctx, NACME_E_USAGE, "nginx-setup: --list writes nothing; it does not "
                                               "go with --stateless");
        goto out;
    }
    if (st->nginx_dump != NULL && !st->list) {
        r = nacme_fail(st->ctx, NACME_E_USAGE, "nginx-setup: --nginx-dump goes with --list");
        goto out;
    }
    if (st->list) {
        r = setup_list(st, cfg);
        goto out;
    }
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
