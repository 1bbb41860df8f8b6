/* account.c - the account key of a CA: loaded from the state dir, or made and stored first; its
 * rollover, and the settling of a rollover a crash interrupted. */
#include "account.h"

#include <stdio.h>
#include <stdlib.h>

#include <unistd.h>

#include "jws.h"
#include "keys.h"
#include "signer.h"
#include "nginx_snippets.h"

enum nacme_err account_key_load_new(struct nacme_ctx *ctx, struct nacme_store *st,
                                    const char *directory_url, EVP_PKEY **key, char **url,
                                    bool *is_new)
{
    char *pem = NULL, *what = NULL;
    size_t len = 0;
    EVP_PKEY *k = NULL;
    int fd = -1;
    enum nacme_err r;

    *key = NULL;
    *url = NULL;
    *is_new = false;
    r = store_account_key_open(ctx, st, directory_url, &fd, &what, url);
    if (r == NACME_E_NOTFOUND) {
        /* A new key passes through this process once, on its way to the state dir. */
        nacme_verbose(ctx, "creating an account key for %s", directory_url);
        if ((r = key_generate_new(ctx, NACME_KEY_EC256, &k)) != NACME_OK ||
            (r = key_to_pem_new(ctx, k, &pem, &len)) != NACME_OK ||
            (r = store_account_save(ctx, st, directory_url, pem, len, NULL)) != NACME_OK)
            goto out;
        EVP_PKEY_free(k);
        k = NULL;
        *is_new = true;
        r = store_account_key_open(ctx, st, directory_url, &fd, &what, url);
    }
    if (r != NACME_OK)
        goto out;
    r = signer_key_new(ctx, fd, what, &k); /* takes fd */
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    free(what);
    nacme_secret_free(pem, len);
    if (r == NACME_OK) {
        *key = k;
        k = NULL;
    } else {
        free(*url);
        *url = NULL;
    }
    EVP_PKEY_free(k);
    return r;
}

/* The stateless challenge snippet answers with the thumbprint: when snippet_dir holds one, it is
 * rewritten for key. */
static enum nacme_err snippet_follow_key(struct nacme_ctx *ctx, const char *snippet_dir,
                                         EVP_PKEY *key, bool *rewritten)
{
    char *thumbprint = NULL, *text = NULL;
    bool stateless = false;
    enum nacme_err r;

    *rewritten = false;
    if (snippet_dir == NULL ||
        (r = nginx_snippet_challenge_is_stateless(ctx, snippet_dir, &stateless)) != NACME_OK ||
        !stateless)
        return snippet_dir == NULL ? NACME_OK : r;
    if ((r = jwk_thumbprint_new(ctx, key, &thumbprint)) == NACME_OK &&
        (r = nginx_snippet_challenge_new(ctx, NULL, thumbprint, &text)) == NACME_OK)
        r = nginx_snippet_write(ctx, snippet_dir, NGINX_CHALLENGE_SNIPPET, text, rewritten);
    free(thumbprint);
    free(text);
    return r;
}

/* The CA knows key_new: the snippet follows, then account.key.new becomes account.key. A snippet
 * that cannot be written does not stop the key from being kept (the CA has it now). */
static enum nacme_err take_new_key(struct nacme_ctx *ctx, struct nacme_store *st,
                                   const char *directory_url, const char *snippet_dir,
                                   EVP_PKEY *key_new, struct account_rollover_result *res)
{
    char snippet_err[sizeof(ctx->errmsg)] = "";
    enum nacme_err r, rs;

    if ((rs = snippet_follow_key(ctx, snippet_dir, key_new, &res->snippet_rewritten)) != NACME_OK)
        snprintf(snippet_err, sizeof(snippet_err), "%s", ctx->errmsg);
    if ((r = store_account_key_pending_settle(ctx, st, directory_url, true)) != NACME_OK)
        return r;
    res->rolled = true;
    if (rs != NACME_OK)
        return nacme_fail(ctx, rs, "the CA took the new account key, but the stateless challenge "
                                   "snippet still has the old thumbprint: %s",
                          snippet_err);
    return NACME_OK;
}

enum nacme_err account_rollover_settle(struct nacme_ctx *ctx, struct nacme_store *st,
                                       struct acme_client *c, const char *directory_url,
                                       const char *snippet_dir, EVP_PKEY **key,
                                       struct account_rollover_result *res)
{
    char *pem = NULL, *url = NULL;
    size_t len = 0;
    EVP_PKEY *key_new = NULL;
    enum nacme_err r;

    *res = (struct account_rollover_result){0};
    r = store_account_key_pending_load_new(ctx, st, directory_url, &pem, &len);
    if (r == NACME_E_NOTFOUND)
        return NACME_OK;
    if (r != NACME_OK || (r = key_from_pem_new(ctx, pem, len, "the new account key (rollover)",
                                               &key_new)) != NACME_OK)
        goto out;
    nacme_info(ctx,
               "an account key rollover was left unfinished; asking the CA which key it knows");
    if ((r = acme_account_find(c, key_new, &url)) == NACME_OK) {
        if ((r = take_new_key(ctx, st, directory_url, snippet_dir, key_new, res)) == NACME_OK)
            nacme_info(ctx, "the CA has the new account key: it is in use now");
        EVP_PKEY_free(*key);
        *key = key_new; /* in use by c either way */
        key_new = NULL;
        goto out;
    }
    /* c signs with the old key again, whatever comes next: key_new is freed at out */
    c->account_key = *key;
    if (r != NACME_E_NOTFOUND)
        goto out;
    free(url);
    url = NULL;
    if ((r = acme_account_find(c, *key, &url)) == NACME_E_NOTFOUND) {
        r = nacme_fail(ctx, NACME_E_ACME,
                       "%s knows neither the account key nor the new one of an unfinished "
                       "rollover (account.key.new kept)",
                       directory_url);
        goto out;
    }
    if (r != NACME_OK ||
        (r = store_account_key_pending_settle(ctx, st, directory_url, false)) != NACME_OK)
        goto out;
    nacme_info(ctx, "the CA kept the old account key; the unused new one is removed");
out:
    nacme_secret_free(pem, len);
    EVP_PKEY_free(key_new);
    free(url);
    return r;
}

/* After a failed keyChange: a problem document with a 4xx status is a refusal (nothing changed);
 * anything else (no answer, 5xx) may or may not have reached the CA. */
static bool refused_for_sure(const struct acme_client *c, enum nacme_err r)
{
    return r == NACME_E_ACME && c->problem != NULL && c->problem->type != NULL &&
           c->problem->status >= 400 && c->problem->status < 500;
}

enum nacme_err account_rollover(struct nacme_ctx *ctx, struct nacme_store *st,
                                struct acme_client *c, const char *directory_url,
                                const char *snippet_dir, EVP_PKEY **key,
                                struct account_rollover_result *res)
{
    char why[sizeof(ctx->errmsg)];
    enum nacme_keytype kt = NACME_KEY_EC256;
    EVP_PKEY *key_new = NULL;
    char *pem = NULL;
    size_t len = 0;
    enum nacme_err r, rs;

    *res = (struct account_rollover_result){0};
    if (c->dir.key_change == NULL)
        return nacme_fail(ctx, NACME_E_PROTO, "%s offers no keyChange: the account key cannot "
                                              "be replaced there",
                          directory_url);
    if (key_type_of(ctx, *key, &kt) != NACME_OK)
        kt = NACME_KEY_EC256;
    /* The new key is on disk before the CA hears of it: whatever happens next, one of the two
     * keys on disk is the one the CA knows. */
    if ((r = key_generate_new(ctx, kt, &key_new)) != NACME_OK ||
        (r = key_to_pem_new(ctx, key_new, &pem, &len)) != NACME_OK ||
        (r = store_account_key_pending_save(ctx, st, directory_url, pem, len)) != NACME_OK)
        goto out;
    if ((r = acme_account_key_change(c, key_new)) == NACME_OK) {
        r = take_new_key(ctx, st, directory_url, snippet_dir, key_new, res);
        EVP_PKEY_free(*key);
        *key = key_new;
        key_new = NULL;
        goto out;
    }
    snprintf(why, sizeof(why), "%s", ctx->errmsg);
    if (refused_for_sure(c, r)) {
        if ((rs = store_account_key_pending_settle(ctx, st, directory_url, false)) != NACME_OK)
            r = rs;
        else
            nacme_fail(ctx, r, "%s (the old account key stays in use)", why);
        goto out;
    }
    /* No clear answer: ask the CA which key it has now. */
    if ((rs = account_rollover_settle(ctx, st, c, directory_url, snippet_dir, key, res)) !=
        NACME_OK) {
        nacme_fail(ctx, r,
                   "%s; the CA could not say which key it has either (account.key.new kept: the "
                   "next nacme run for this CA asks again)",
                   why);
        goto out;
    }
    if (res->rolled) /* the CA did change the key: the request only lost its answer */
        r = NACME_OK;
    else
        nacme_fail(ctx, r, "%s (the old account key stays in use)", why);
out:
    nacme_secret_free(pem, len);
    EVP_PKEY_free(key_new);
    return r;
}

/* ---- a session with the account, for the commands that manage it ----------------------------- */

void account_session_free(struct account_session *s)
{
    if (s == NULL)
        return;
    acme_client_free(s->acme);
    http_free(s->http);
    EVP_PKEY_free(s->key);
    free(s->url);
    if (s->owns_store)
        store_free(s->store);
    free(s);
}

/* The key on disk, a rollover left unfinished settled, and the account URL (recorded, or looked
 * up without ever creating an account). */
static enum nacme_err session_account(struct nacme_ctx *ctx, struct account_session *s,
                                      const char *snippet_dir)
{
    struct account_rollover_result res;
    struct acme_account_opts o = {0};
    char *pem = NULL, *url = NULL;
    size_t len = 0;
    enum nacme_err r;

    r = store_account_load_new(ctx, s->store, s->directory_url, &pem, &len, &s->url);
    if (r == NACME_E_NOTFOUND) {
        r = nacme_fail(ctx, NACME_E_NOTFOUND,
                       "no account key for %s in %s (nacme issue creates the account)",
                       s->directory_url, s->store->path);
        goto out;
    }
    if (r != NACME_OK ||
        (r = key_from_pem_new(ctx, pem, len, "the account key", &s->key)) != NACME_OK ||
        (r = account_rollover_settle(ctx, s->store, s->acme, s->directory_url, snippet_dir,
                                     &s->key, &res)) != NACME_OK)
        goto out;
    s->snippet_rewritten = res.snippet_rewritten;
    if (s->url != NULL) {
        o.known_url = s->url;
        r = acme_account_ensure(s->acme, s->key, &o, &url);
        goto out;
    }
    if ((r = acme_account_find(s->acme, s->key, &url)) == NACME_E_NOTFOUND) {
        nacme_fail_prefix(ctx, "%s has no account for the key in %s", s->directory_url,
                          s->store->path);
        goto out;
    }
    if (r != NACME_OK ||
        (r = store_account_save(ctx, s->store, s->directory_url, NULL, 0, url)) != NACME_OK)
        goto out;
    s->url = url;
    url = NULL;
out:
    nacme_secret_free(pem, len);
    free(url);
    return r;
}

/* The session failed after its settling rewrote the stateless snippet: the error line says that
 * too, or nobody would know that nginx still answers with the old thumbprint. Frees s. */
static enum nacme_err session_fail(struct nacme_ctx *ctx, struct account_session *s,
                                   const char *snippet_dir, enum nacme_err r)
{
    char why[sizeof(ctx->errmsg)];

    if (s->snippet_rewritten) {
        snprintf(why, sizeof(why), "%s", ctx->errmsg);
        nacme_fail(ctx, r, "%s (" ACCOUNT_SNIPPET_REWRITTEN ": reload nginx)", why, snippet_dir,
                   NGINX_CHALLENGE_SNIPPET);
    }
    account_session_free(s);
    return r;
}

enum nacme_err account_session_open(struct nacme_ctx *ctx, const struct nacme_config *cfg,
                                    const char *directory_url, bool need_account,
                                    struct nacme_store *store, struct account_session **out)
{
    struct http_options hopt = {.ca_bundle = cfg->ca_bundle,
                                .timeout_ms = cfg->http_timeout * 1000,
                                .no_landlock = cfg->landlock_off};
    struct account_session *s;
    enum nacme_err r;

    *out = NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    s->directory_url = directory_url;
    s->store = store;
    s->owns_store = store == NULL;
    /* One nacme at a time per state directory: the account key may change under a run. */
    if (s->owns_store && ((r = store_open_new(ctx, cfg->state_dir, &s->store)) != NACME_OK ||
                          (r = store_lock(ctx, s->store, (int)cfg->lock_wait)) != NACME_OK)) {
        account_session_free(s);
        return r;
    }
    if ((r = http_new(ctx, &hopt, &s->http)) != NACME_OK ||
        (r = acme_client_new(ctx, s->http, directory_url, &s->acme)) != NACME_OK ||
        (need_account && (r = session_account(ctx, s, cfg->nginx_snippets)) != NACME_OK))
        return session_fail(ctx, s, cfg->nginx_snippets, r);
    *out = s;
    return NACME_OK;
}
