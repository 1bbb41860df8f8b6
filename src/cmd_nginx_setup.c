/* cmd_nginx_setup.c - `nacme nginx-setup`: the http-01 and TLS snippets, and where to include them;
 * --list: the sites of nginx's configuration. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "account.h"
#include "b64url.h"
#include "challenge.h"
#include "cli_cmd.h"
#include "jws.h"
#include "nginx_conf.h"
#include "nginx_ctl.h"
#include "nginx_install.h"
#include "names.h"
#include "nginx_sites.h"
#include "nginx_snippets.h"
#include "preflight.h"
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
    char *url = NULL, *pending = NULL;
    size_t pending_len = 0;
    bool is_new = false;
    enum nacme_err r;

    /* a rollover a crash left half done: which key the CA knows is not settled yet */
    r = store_account_key_pending_load_new(st->ctx, store, config_server_url(cfg->server),
                                           &pending, &pending_len);
    nacme_secret_free(pending, pending_len);
    if (r == NACME_OK)
        return nacme_fail(st->ctx, NACME_E_INVALID,
                          "an account key rollover is pending (account.key.new): run nacme "
                          "account show to settle it, then nginx-setup --stateless");
    if (r != NACME_E_NOTFOUND)
        return r;
    st->ctx->err = NACME_OK;
    st->ctx->errmsg[0] = '\0';
    r = account_key_load_new(st->ctx, store, config_server_url(cfg->server), &key, &url, &is_new);
    if (r == NACME_OK)
        r = jwk_thumbprint_new(st->ctx, key, out);
    EVP_PKEY_free(key);
    free(url);
    return r;
}

static enum nacme_err setup_snippets(struct cli_state *st, const struct nacme_config *cfg,
                                     const char *thumbprint, struct setup_out *o,
                                     char **lineages, size_t n)
{
    char *text = NULL, *file = NULL;
    enum nacme_err r;
    size_t i;

    if ((r = nginx_snippet_challenge_new(st->ctx, cfg->webroot, thumbprint, &text)) != NACME_OK ||
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

/* The ACME identifier type of each name: "dns", or "ip" for an address (RFC 8738). */
static json_t *types_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, json_string(names_identifier_type(v[i]))) != 0) {
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
                  json_object_set_new(o, "types", types_json(site->names, site->nnames)) |
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
    st->json_printed = true;
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

/* ---- include lines: print, or --install ------------------------------------------------- */

static const char *const item_kinds[] = {"challenge", "tls", "server"};

/* The path part of "path:line". */
static bool same_file(const char *where, const char *file)
{
    const char *colon = strrchr(where, ':');

    return colon != NULL && strlen(file) == (size_t)(colon - where) &&
           strncmp(where, file, (size_t)(colon - where)) == 0;
}

/* text with each line indented by four spaces, without the blank lines it starts with. */
static void print_indented(const char *text)
{
    const char *p = text, *nl;

    while (*p == '\n' || *p == '\r')
        p++;
    while (*p) {
        nl = strchr(p, '\n');
        printf("    %.*s\n", (int)(nl ? nl - p : (ptrdiff_t)strlen(p)), p);
        p = nl ? nl + 1 : p + strlen(p);
    }
}

static void print_plan(const struct cli_state *st, const struct nginx_plan *plan, bool installed)
{
    const struct nginx_item *it;
    char in_file[4200];
    size_t i;

    for (i = 0; i < plan->nitems; i++) {
        it = &plan->items[i];
        in_file[0] = '\0';
        if (it->file[0] && !same_file(it->block, it->file))
            snprintf(in_file, sizeof(in_file), " in %s", it->file);
        if (it->present) {
            if (st->ctx->loglevel >= NACME_LOG_VERBOSE)
                printf("%s (%s): already has %s\n", it->block, it->site, it->add);
            continue;
        }
        if (it->note != NULL)
            printf("%s (%s): %s:\n", it->block, it->site, it->note);
        else if (it->kind == NGINX_ITEM_SERVER)
            printf("%s (%s): %s this server block after it%s:\n", it->block, it->site,
                   installed ? "added" : "add", in_file);
        else
            printf("%s (%s): %s%s:\n", it->block, it->site, installed ? "added" : "add",
                   in_file);
        print_indented(it->add);
    }
}

static json_t *plan_json(const struct nginx_plan *plan)
{
    json_t *a = json_array();
    const struct nginx_item *it;
    size_t i;

    for (i = 0; a != NULL && i < plan->nitems; i++) {
        it = &plan->items[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s?}", "block",
                                           it->block, "file", it->file, "site", it->site, "kind",
                                           item_kinds[it->kind], "present", it->present, "add",
                                           it->add, "note", it->note));
    }
    return a;
}

static size_t plan_missing(const struct nginx_plan *plan)
{
    size_t i, n = 0;

    for (i = 0; i < plan->nitems; i++)
        n += !plan->items[i].present && plan->items[i].note == NULL;
    return n;
}

/* Sites with no certificate yet: the TLS part waits for one. */
static size_t sites_without_cert(const struct nginx_sites *sites, char **lineages, size_t n)
{
    size_t i, j, count = 0;

    for (i = 0; i < sites->nsites; i++) {
        for (j = 0; j < n && strcmp(lineages[j], sites->sites[i].names[0]) != 0; j++)
            ;
        count += j == n;
    }
    return count;
}

/* ---- after a reload: nginx answers http-01 for every name ------------------------------- */

#define SERVED_WAIT_MS 10000 /* nginx -s reload only signals the master; old workers linger */
#define SERVED_STEP_MS 50

/* Whether nginx serves probe for name: retried until the reload has taken effect. */
static enum nacme_err served_wait(struct cli_state *st, const struct preflight_opts *po,
                                  const char *name, const char *token, const char *keyauth)
{
    enum nacme_err r;
    long waited = 0;

    for (;;) {
        if ((r = preflight_check(st->ctx, po, name, token, keyauth)) == NACME_OK)
            return NACME_OK;
        if (waited >= SERVED_WAIT_MS || nacme_sleep_ms(SERVED_STEP_MS) != 0)
            break;
        waited += SERVED_STEP_MS;
    }
    return nacme_fail_prefix(st->ctx, "nginx was reloaded but does not answer http-01 for %s "
                                      "after %d s: ",
                             name, SERVED_WAIT_MS / 1000);
}

/* After --install --reload, fetch a probe token for each name of each site whose HTTP block
 * includes the challenge snippet, the way the CA will: an `issue --nginx` right after must not
 * meet nginx's old workers, and a snippet that does not work is said now, not at the CA. */
static enum nacme_err setup_verify_served(struct cli_state *st, const struct nacme_config *cfg,
                                          const struct nginx_sites *sites,
                                          const struct nginx_plan *plan, const char *thumbprint)
{
    struct preflight_opts po = {.host = "127.0.0.1",
                                .http_port = (int)cfg->nginx_http_port,
                                .https_port = (int)cfg->nginx_https_port};
    struct challenge_webroot *w = NULL;
    unsigned char rnd[32];
    char *token = NULL, *keyauth = NULL;
    size_t i, j, k, checked = 0;
    enum nacme_err r = NACME_OK;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return nacme_fail_ssl(st->ctx, NACME_E_CRYPTO, "no random bytes for a probe token");
    /* stateless: nginx answers TOKEN.THUMBPRINT itself; otherwise the file says anything */
    if ((token = b64url_encode_new(rnd, sizeof(rnd))) == NULL ||
        (keyauth = nacme_printf_new("%s.%s", token, thumbprint ? thumbprint : "nacme-probe")) ==
            NULL) {
        r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    if (thumbprint == NULL &&
        ((r = challenge_webroot_new(st->ctx, cfg->webroot, &w)) != NACME_OK ||
         (r = challenge_webroot_put(st->ctx, w, token, keyauth)) != NACME_OK))
        goto out;
    for (i = 0; i < sites->nsites && r == NACME_OK; i++) {
        const struct nginx_site *site = &sites->sites[i];
        for (k = 0; k < plan->nitems; k++)
            if (plan->items[k].kind == NGINX_ITEM_CHALLENGE &&
                strcmp(plan->items[k].site, site->names[0]) == 0)
                break;
        if (k == plan->nitems)
            continue;
        for (j = 0; j < site->nnames && r == NACME_OK; j++, checked++)
            r = served_wait(st, &po, site->names[j], token, keyauth);
    }
    if (r == NACME_OK && checked > 0)
        nacme_info(st->ctx, "nginx answers http-01 for all %zu name%s", checked,
                   checked == 1 ? "" : "s");
out:
    challenge_webroot_free(st->ctx, w);
    free(keyauth);
    free(token);
    return r;
}

static enum nacme_err setup_includes(struct cli_state *st, const struct nacme_config *cfg,
                                     struct setup_out *o, const char *thumbprint,
                                     char **lineages, size_t n)
{
    struct nginx_install_opts opt = {
        .conf_path = cfg->nginx_conf,
        .snippet_dir = cfg->nginx_snippets,
        .http_port = cfg->nginx_http_port,
        .https_port = cfg->nginx_https_port,
        .lineages = lineages,
        .nlineages = n,
    };
    struct nginx_conf *conf = NULL;
    struct nginx_sites *sites = NULL;
    struct nginx_plan *plan = NULL;
    json_t *edited = json_array();
    char *output = NULL, *bpath = NULL;
    const char *file, *backup;
    bool tested = false, reloaded = false, changed;
    size_t i, missing = 0, nocert = 0;
    enum nacme_err r;

    if ((r = nginx_conf_read_new(st->ctx, cfg->nginx_conf, &conf)) != NACME_OK) {
        if (st->install)
            goto out;
        /* Without --install the snippets are what was asked for; where they go is advice. */
        nacme_log(st->ctx, NACME_LOG_ERROR, "nacme: cannot say which server blocks need them: %s",
                  st->ctx->errmsg);
        st->ctx->err = NACME_OK;
        st->ctx->errmsg[0] = '\0';
        if (st->json)
            cli_json_print(st, json_pack("{s:s, s:b, s:O, s:O}", "snippet_dir", cfg->nginx_snippets,
                                     "stateless", st->stateless, "written", o->written,
                                     "unchanged", o->unchanged));
        else if (st->ctx->loglevel >= NACME_LOG_INFO) {
            setup_print_includes(cfg, lineages, n);
            printf("Then: nginx -t && nginx -s reload\n");
        }
        r = NACME_OK;
        goto out;
    }
    if ((r = nginx_sites_new(st->ctx, conf, &sites)) != NACME_OK ||
        (r = nginx_plan_new(st->ctx, conf, sites, &opt, &plan)) != NACME_OK)
        goto out;
    missing = plan_missing(plan);
    nocert = sites_without_cert(sites, lineages, n);
    changed = json_array_size(o->written) > 0 || plan->nfiles > 0;
    if (st->install && changed) {
        r = nginx_plan_install(st->ctx, plan, cfg->nginx_test_cmd, st->now, &output);
        if (r != NACME_OK) {
            /* nginx's output first; the cause line ends the run */
            if (output)
                nginx_output_show(st->ctx, output);
            goto out;
        }
        tested = true;
        for (i = 0; i < plan->nfiles; i++) {
            file = nginx_plan_file(plan, i, &backup);
            if (backup == NULL)
                continue;
            free(bpath);
            if ((bpath = nacme_printf_new("%.*s/%s", (int)(strrchr(file, '/') - file), file,
                                          backup)) == NULL) {
                r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
                goto out;
            }
            json_array_append_new(edited,
                                  json_pack("{s:s, s:s}", "file", file, "backup", bpath));
            nacme_info(st->ctx, "%s: edited; the file as it was is %s", file, bpath);
        }
        nacme_info(st->ctx, "\"%s\": the configuration is valid", cfg->nginx_test_cmd);
        if (st->reload && !nginx_running(cfg->nginx_pid_file))
            nacme_info(st->ctx, "nginx is not running (no live process in %s): not reloading "
                                "it, nor starting it",
                       cfg->nginx_pid_file);
        else if (st->reload) {
            if ((r = nginx_reload(st->ctx, cfg->nginx_reload_cmd, cfg->nginx_pid_file)) != NACME_OK)
                goto out;
            reloaded = true;
            nacme_info(st->ctx, "nginx reloaded");
            if (!cfg->preflight_off &&
                (r = setup_verify_served(st, cfg, sites, plan, thumbprint)) != NACME_OK)
                goto out;
        }
    } else if (st->install) {
        nacme_info(st->ctx, "nothing to change: every server block has its include lines");
    }
    if (st->json) {
        cli_json_print(st, json_pack("{s:s, s:b, s:O, s:O, s:o, s:b, s:o, s:b, s:b, s:i}",
                                 "snippet_dir", cfg->nginx_snippets, "stateless", st->stateless,
                                 "written", o->written, "unchanged", o->unchanged, "blocks",
                                 plan_json(plan), "installed", st->install, "edited", edited,
                                 "tested", tested, "reloaded", reloaded, "sites_without_cert",
                                 (int)nocert));
        edited = NULL;
    } else if (st->ctx->loglevel >= NACME_LOG_INFO) {
        if (!st->install) {
            setup_print_includes(cfg, lineages, n);
            printf("\nThe server blocks of %s:\n", cfg->nginx_conf);
        }
        print_plan(st, plan, st->install);
        if (!st->install && missing > 0)
            printf("Then: nginx -t && nginx -s reload (or run: nacme nginx-setup --install "
                   "--reload)\n");
        else if (!st->install)
            printf("Every server block already has its include lines.\n");
        if (nocert > 0)
            printf("%zu site%s no certificate yet: nacme issue --nginx, then nacme nginx-setup "
                   "--install again for HTTPS.\n",
                   nocert, nocert == 1 ? " has" : "s have");
    }
out:
    json_decref(edited);
    free(output);
    free(bpath);
    nginx_plan_free(plan);
    nginx_sites_free(sites);
    nginx_conf_free(conf);
    return r;
}

/* ---- the command ------------------------------------------------------------------------- */

enum nacme_err cmd_nginx_setup(struct cli_state *st, struct nacme_config *cfg)
{
    struct setup_out o = {json_array(), json_array()};
    struct nacme_store *store = NULL;
    char **lineages = NULL, *thumbprint = NULL;
    size_t n = 0;
    enum nacme_err r;

    if (st->list && st->stateless) {
        r = nacme_fail(st->ctx, NACME_E_USAGE, "nginx-setup: --list writes nothing; it does not "
                                               "go with --stateless");
        goto out;
    }
    if (st->install && (st->list || st->nginx_dump != NULL)) {
        r = nacme_fail(st->ctx, NACME_E_USAGE,
                       st->list ? "nginx-setup: --list writes nothing; it does not go with "
                                  "--install"
                                : "nginx-setup: --install edits nginx's own files; it cannot "
                                  "edit what --nginx-dump reads (drop --nginx-dump)");
        goto out;
    }
    if (st->reload && !st->install) {
        r = nacme_fail(st->ctx, NACME_E_USAGE, "nginx-setup: --reload goes with --install");
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
    /* --install: one nacme at a time edits nginx's files (and no issue or renew meanwhile) */
    if ((r = store_open_new(st->ctx, cfg->state_dir, &store)) != NACME_OK ||
        (st->install && (r = store_lock(st->ctx, store, (int)cfg->lock_wait)) != NACME_OK) ||
        (r = store_lineage_list_new(st->ctx, store, &lineages, &n)) != NACME_OK ||
        (st->stateless && (r = setup_thumbprint(st, cfg, store, &thumbprint)) != NACME_OK) ||
        (r = setup_snippets(st, cfg, thumbprint, &o, lineages, n)) != NACME_OK)
        goto out;
    r = setup_includes(st, cfg, &o, thumbprint, lineages, n);
out:
    free(thumbprint);
    json_decref(o.written);
    json_decref(o.unchanged);
    store_names_free(lineages, n);
    store_free(store);
    return r;
}
