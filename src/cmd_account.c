/*
 * cmd_account.c - `nacme account show|update|rollover|deactivate`: the ACME account of the CA
 * (RFC 8555 §7.3), as the CA answers for it; nothing here creates an account.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "acme.h"
#include "cli_cmd.h"
#include "jws.h"
#include "keys.h"
#include "nginx_ctl.h"
#include "nginx_snippets.h"

void cli_account_reload_notice(struct cli_state *st, const struct nacme_config *cfg)
{
    /* Not progress but something to do: the next issuance fails until nginx is reloaded. */
    nacme_log(st->ctx, NACME_LOG_ERROR,
              "nacme: warning: " ACCOUNT_SNIPPET_REWRITTEN ": reload nginx (nginx -t && nginx -s "
              "reload) before the next certificate is issued",
              cfg->nginx_snippets, NGINX_CHALLENGE_SNIPPET);
}

/* The account of --server, with the state directory locked. */
static enum nacme_err account_open(struct cli_state *st, const struct nacme_config *cfg,
                                   struct account_session **s)
{
    return account_session_open(st->ctx, cfg, config_server_url(cfg->server), true, NULL, s);
}

/* account_open for the commands without --reload: a rollover it settled that rewrote the
 * snippet is said, so that a silent change does not break the next issuance. */
static enum nacme_err account_open_noting(struct cli_state *st, const struct nacme_config *cfg,
                                          struct account_session **s)
{
    enum nacme_err r = account_open(st, cfg, s);

    if (r == NACME_OK && (*s)->snippet_rewritten)
        cli_account_reload_notice(st, cfg);
    return r;
}

/* What `account show` prints, as JSON (NULL on OOM). */
static json_t *account_json_new(const struct account_session *s,
                                const struct acme_account_info *a, const char *thumbprint,
                                const char *key_type)
{
    json_t *o, *contact = json_array();
    size_t i;

    for (i = 0; i < a->ncontact; i++)
        json_array_append_new(contact, json_string(a->contact[i]));
    o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "directory", s->directory_url, "url", s->url,
                  "status", a->status, "contact", contact, "key_type", key_type, "thumbprint",
                  thumbprint);
    if (o != NULL && a->tos_known)
        json_object_set_new(o, "terms_of_service_agreed", json_boolean(a->tos_agreed));
    return o;
}

static void account_print(const struct account_session *s, const struct acme_account_info *a,
                          const char *thumbprint, const char *key_type)
{
    char clean[512];
    size_t i;

    /* Everything but our own URL and key comes from the CA: sanitized to one printable line. */
    printf("directory   %s\n", s->directory_url);
    nacme_sanitize(clean, sizeof(clean), s->url, sizeof(clean) - 1);
    printf("account     %s\n", clean);
    nacme_sanitize(clean, sizeof(clean), a->status, sizeof(clean) - 1);
    printf("status      %s\n", clean);
    if (a->ncontact == 0)
        printf("contact     (none)\n");
    for (i = 0; i < a->ncontact; i++) {
        nacme_sanitize(clean, sizeof(clean), a->contact[i], sizeof(clean) - 1);
        printf("contact     %s\n", clean);
    }
    printf("key type    %s\n", key_type);
    printf("thumbprint  %s\n", thumbprint);
}

/* Print the account as the CA answered it (text, or JSON with --json). */
static enum nacme_err account_report(struct cli_state *st, const struct account_session *s,
                                     const struct acme_account_info *a)
{
    enum nacme_keytype kt;
    const char *key_type;
    char *thumbprint = NULL;
    enum nacme_err r;

    if ((r = jwk_thumbprint_new(st->ctx, s->key, &thumbprint)) != NACME_OK)
        return r;
    key_type = key_type_of(st->ctx, s->key, &kt) == NACME_OK ? keytype_name(kt) : "other";
    if (st->json)
        cli_json_print(st, account_json_new(s, a, thumbprint, key_type));
    else if (st->ctx->loglevel >= NACME_LOG_INFO)
        account_print(s, a, thumbprint, key_type);
    free(thumbprint);
    return NACME_OK;
}

enum nacme_err cmd_account_show(struct cli_state *st, struct nacme_config *cfg)
{
    struct acme_account_info a = {0};
    struct account_session *s = NULL;
    enum nacme_err r;

    if ((r = account_open_noting(st, cfg, &s)) == NACME_OK &&
        (r = acme_account_get(s->acme, &a)) == NACME_OK)
        r = account_report(st, s, &a);
    acme_account_info_clear(&a);
    account_session_free(s);
    return r;
}

/* An address for mailto: one @ between non-empty parts, printable ASCII without spaces, and none
 * of the characters that would change a URI's meaning. */
static bool email_valid(const char *e)
{
    const char *at = strchr(e, '@');
    size_t i;

    if (at == NULL || at == e || at[1] == '\0' || strchr(at + 1, '@') != NULL || strlen(e) > 254)
        return false;
    for (i = 0; e[i]; i++)
        if (e[i] <= ' ' || e[i] > '~' || strchr(",;?#<>\"%()[]\\", e[i]) != NULL)
            return false;
    return true;
}

enum nacme_err cmd_account_update(struct cli_state *st, struct nacme_config *cfg)
{
    struct acme_account_info a = {0};
    struct account_session *s = NULL;
    size_t i, n = st->nemails;
    enum nacme_err r;

    if (n == 0)
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "account update needs --email ADDR (repeat for more; --email '' "
                          "removes every contact)");
    if (n == 1 && st->emails[0][0] == '\0')
        n = 0;
    for (i = 0; i < n; i++)
        if (!email_valid(st->emails[i]))
            return nacme_fail(st->ctx, NACME_E_USAGE,
                              "--email %s: not an address for mailto: (and '' only alone)",
                              st->emails[i]);
    if ((r = account_open_noting(st, cfg, &s)) != NACME_OK ||
        (r = acme_account_update(s->acme, st->emails, n, &a)) != NACME_OK)
        goto out;
    nacme_info(st->ctx, "%s: contact %s", s->url, n ? "updated" : "removed");
    r = account_report(st, s, &a);
out:
    acme_account_info_clear(&a);
    account_session_free(s);
    return r;
}

/* --reload after the stateless snippet changed: nginx's test first, then one reload, so that
 * nginx answers challenges with the new thumbprint. */
static enum nacme_err rollover_reload(struct cli_state *st, const struct nacme_config *cfg,
                                      bool *reloaded)
{
    enum nacme_err r;

    *reloaded = false;
    if ((r = nginx_test(st->ctx, cfg->nginx_test_cmd, NULL)) != NACME_OK)
        return nacme_fail_prefix(st->ctx, "the new account key is in use and the stateless "
                                          "snippet rewritten, but nginx was not reloaded");
    if (!nginx_running(cfg->nginx_pid_file)) {
        nacme_info(st->ctx, "nginx is not running (%s): it reads the new snippet when it starts",
                   cfg->nginx_pid_file);
        return NACME_OK;
    }
    if ((r = nginx_reload(st->ctx, cfg->nginx_reload_cmd, cfg->nginx_pid_file)) != NACME_OK)
        return nacme_fail_prefix(st->ctx, "the new account key is in use and the stateless "
                                          "snippet rewritten, but nginx was not reloaded");
    *reloaded = true;
    nacme_info(st->ctx, "nginx reloaded (%s)", cfg->nginx_reload_cmd);
    return NACME_OK;
}

enum nacme_err cmd_account_rollover(struct cli_state *st, struct nacme_config *cfg)
{
    struct account_rollover_result res = {0};
    struct account_session *s = NULL;
    char *old_tp = NULL, *new_tp = NULL, *snippet = NULL;
    bool reloaded = false, rewritten;
    enum nacme_err r;

    if ((r = account_open(st, cfg, &s)) != NACME_OK)
        goto out;
    if ((r = jwk_thumbprint_new(st->ctx, s->key, &old_tp)) != NACME_OK ||
        (r = account_rollover(st->ctx, s->store, s->acme, s->directory_url, cfg->nginx_snippets,
                              &s->key, &res)) != NACME_OK ||
        (r = jwk_thumbprint_new(st->ctx, s->key, &new_tp)) != NACME_OK) {
        /* the rollover settled first is done all the same, and its snippet waits for nginx */
        if (s->snippet_rewritten)
            cli_account_reload_notice(st, cfg);
        goto out;
    }
    /* a rollover settled first rewrote the snippet too: one reload (or notice) for both */
    rewritten = res.snippet_rewritten || s->snippet_rewritten;
    if ((snippet = nacme_printf_new("%s/%s", cfg->nginx_snippets, NGINX_CHALLENGE_SNIPPET)) ==
        NULL) {
        r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    nacme_info(st->ctx, "%s: the account key is replaced; thumbprint %s (was %s)", s->url, new_tp,
               old_tp);
    if (rewritten && !st->reload)
        nacme_info(st->ctx,
                   "%s: rewritten with the new thumbprint; reload nginx (nginx -t && nginx -s "
                   "reload) before the next certificate is issued",
                   snippet);
    else if (rewritten && (r = rollover_reload(st, cfg, &reloaded)) != NACME_OK)
        goto out;
    if (st->json)
        cli_json_print(st, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:b, s:b}", "directory",
                                 s->directory_url, "url", s->url, "thumbprint", new_tp,
                                 "old_thumbprint", old_tp, "snippet_rewritten",
                                 rewritten ? snippet : NULL, "nginx_reloaded", reloaded,
                                 "nginx_reload_needed", rewritten && !reloaded));
out:
    free(old_tp);
    free(new_tp);
    free(snippet);
    account_session_free(s);
    return r;
}

enum nacme_err cmd_account_deactivate(struct cli_state *st, struct nacme_config *cfg)
{
    struct acme_account_info a = {0};
    struct account_session *s = NULL;
    char *question = NULL;
    enum nacme_err r;

    /* Refuse before any network traffic when nobody can confirm. */
    if (!st->yes && !isatty(STDIN_FILENO))
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "account deactivate cannot be undone and needs a confirmation: there "
                          "is no terminal to ask on, so add --yes");
    if ((r = account_open_noting(st, cfg, &s)) != NACME_OK)
        goto out;
    if ((question = nacme_printf_new("Deactivate the account %s for good (the CA will refuse it "
                                     "from now on)",
                                     s->url)) == NULL) {
        r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    if ((r = cli_confirm(st, question)) != NACME_OK ||
        (r = acme_account_deactivate(s->acme, &a)) != NACME_OK)
        goto out;
    nacme_info(st->ctx,
               "%s: deactivated; the CA refuses it from now on (to start afresh, remove "
               "%s/accounts/ for this CA and let nacme issue create a new account)",
               s->url, cfg->state_dir);
    r = account_report(st, s, &a);
out:
    free(question);
    acme_account_info_clear(&a);
    account_session_free(s);
    return r;
}
