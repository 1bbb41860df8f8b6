/* issue.c - one certificate from account to live/: the steps of RFC 8555 §7 in order. */
#include "issue.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme.h"
#include "cert.h"
#include "challenge.h"
#include "csr.h"
#include "http.h"
#include "names.h"
#include "renew.h"
#include "store.h"

#define POLL_FIRST_MS 10   /* Pebble and most CAs validate within tens of milliseconds */
#define POLL_MAX_MS 2000
#define RETRY_AFTER_MAX_S 60

struct issue_job {
    struct nacme_ctx *ctx;
    const struct nacme_config *cfg;
    const struct issue_request *req;
    const char *name;
    const char *server_url;
    struct nacme_store *store;
    struct nacme_http *http;
    struct acme_client *acme;
    EVP_PKEY *account_key;
    EVP_PKEY *cert_key;
    struct challenge_webroot *webroot;
    struct acme_order *order;
    struct timespec deadline;
};

/* ---- waiting ---------------------------------------------------------------------------- */

static long ms_until(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

/* Sleep before the next poll: exponential from POLL_FIRST_MS, or the CA's Retry-After when it
 * asks for longer, never past the deadline. */
static enum nacme_err poll_wait(struct issue_job *j, long *delay_ms, long retry_after_s,
                                const char *what)
{
    long wait = *delay_ms, left = ms_until(&j->deadline);
    int sig;

    if (retry_after_s > 0)
        wait = (retry_after_s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : retry_after_s) * 1000;
    if (left <= 0)
        return nacme_fail(j->ctx, NACME_E_TIMEOUT, "%s: timed out after %d s waiting for %s",
                          j->name, j->req->timeout_s, what);
    if (wait > left)
        wait = left;
    if ((sig = nacme_sleep_ms(wait)) != 0)
        return nacme_fail(j->ctx, NACME_E_INTERRUPTED, "%s: interrupted by %s waiting for %s",
                          j->name, strsignal(sig), what);
    *delay_ms = *delay_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : *delay_ms * 2;
    return NACME_OK;
}

/* ---- before talking to the CA ----------------------------------------------------------- */

static char *format_time_new(time_t t)
{
    char buf[32];
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm);
    return nacme_strdup_new(buf);
}

/* A lineage with the same names and a certificate not yet due needs nothing. */
static enum nacme_err check_existing(struct issue_job *j, struct issue_result *res, bool *done)
{
    struct store_lineage *lin = NULL;
    struct cert_info *ci = NULL;
    char *pem = NULL, *until = NULL, *due = NULL;
    enum nacme_err r;

    *done = false;
    r = store_lineage_load_new(j->ctx, j->store, j->name, &lin);
    if (r == NACME_E_NOTFOUND)
        return NACME_OK;
    if (r != NACME_OK)
        goto out;
    if (!names_same_set((const char *const *)lin->domains, lin->ndomains, j->req->names,
                        j->req->nnames)) {
        nacme_info(j->ctx, "%s: the names changed; issuing a new certificate", j->name);
        goto out;
    }
    if ((r = store_live_cert_new(j->ctx, j->store, j->name, &pem)) == NACME_E_NOTFOUND) {
        r = NACME_OK;
        goto out;
    }
    if (r != NACME_OK || (r = cert_info_new(j->ctx, pem, &ci)) != NACME_OK)
        goto out;
    res->version = lin->version;
    res->not_after = ci->not_after;
    res->renew_at = renew_moment(ci->not_before, ci->not_after);
    if (j->req->force || renew_due(ci->not_before, ci->not_after, time(NULL)))
        goto out;
    until = format_time_new(ci->not_after);
    due = format_time_new(res->renew_at);
    nacme_info(j->ctx,
               "%s: certificate valid until %s, not due for renewal before %s; nothing to do "
               "(--force replaces it now)",
               j->name, until ? until : "?", due ? due : "?");
    res->outcome = ISSUE_UNCHANGED;
    *done = true;
out:
    store_lineage_free(lin);
    cert_info_free(ci);
    free(pem);
    free(until);
    free(due);
    return r;
}

/* ---- account ---------------------------------------------------------------------------- */

/* Load the account key for this CA, or make one and store it before the CA ever hears of it. */
static enum nacme_err account_key_load(struct issue_job *j, char **url, bool *is_new)
{
    char *pem = NULL;
    size_t len = 0;
    enum nacme_err r;

    *is_new = false;
    r = store_account_load_new(j->ctx, j->store, j->server_url, &pem, &len, url);
    if (r == NACME_OK) {
        r = key_from_pem_new(j->ctx, pem, len, "the account key", &j->account_key);
        goto out;
    }
    if (r != NACME_E_NOTFOUND)
        goto out;
    nacme_verbose(j->ctx, "creating an account key for %s", j->server_url);
    if ((r = key_generate_new(j->ctx, NACME_KEY_EC256, &j->account_key)) != NACME_OK ||
        (r = key_to_pem_new(j->ctx, j->account_key, &pem, &len)) != NACME_OK ||
        (r = store_account_save(j->ctx, j->store, j->server_url, pem, len, NULL)) != NACME_OK)
        goto out;
    *is_new = true;
out:
    nacme_secret_free(pem, len);
    return r;
}

static enum nacme_err account_setup(struct issue_job *j)
{
    struct acme_account_opts o = {
        .email = j->cfg->email,
        .agree_tos = j->cfg->agree_tos,
        .eab_kid = j->cfg->eab_kid,
        .eab_hmac = j->cfg->eab_hmac_key,
    };
    char *known = NULL, *url = NULL;
    enum nacme_err r;

    if ((r = account_key_load(j, &known, &o.key_is_new)) != NACME_OK)
        goto out;
    o.known_url = known;
    if ((r = acme_account_ensure(j->acme, j->account_key, &o, &url)) != NACME_OK)
        goto out;
    if (known == NULL || strcmp(known, url) != 0) {
        nacme_verbose(j->ctx, "account %s", url);
        r = store_account_save(j->ctx, j->store, j->server_url, NULL, 0, url);
    }
out:
    free(known);
    free(url);
    return r;
}

/* ---- authorizations --------------------------------------------------------------------- */

static enum nacme_err authz_failed(struct issue_job *j, const struct acme_authz *a)
{
    char line[700];

    if (a->http01_error != NULL) {
        acme_problem_format(a->http01_error, line, sizeof(line));
        return nacme_fail(j->ctx, NACME_E_ACME, "%s: validation failed: %s", a->identifier, line);
    }
    return nacme_fail(j->ctx, NACME_E_ACME, "%s: authorization is %s", a->identifier, a->status);
}

/* Put the token in the webroot and tell the CA; *started says whether there is anything to poll. */
static enum nacme_err authz_start(struct issue_job *j, const char *url, bool *started)
{
    struct acme_authz *a = NULL;
    char *keyauth = NULL;
    enum nacme_err r;

    *started = false;
    if ((r = acme_authz_get_new(j->acme, url, &a)) != NACME_OK)
        goto out;
    if (strcmp(a->status, "valid") == 0) {
        nacme_verbose(j->ctx, "%s: authorization still valid; no challenge needed", a->identifier);
        goto out;
    }
    if (strcmp(a->status, "pending") != 0) {
        r = authz_failed(j, a);
        goto out;
    }
    if (a->http01_url == NULL) {
        r = nacme_fail(j->ctx, NACME_E_ACME, "%s: the CA offers no http-01 challenge",
                       a->identifier);
        goto out;
    }
    if (j->webroot == NULL &&
        (r = challenge_webroot_new(j->ctx, j->cfg->webroot, &j->webroot)) != NACME_OK)
        goto out;
    if ((r = acme_key_authorization_new(j->acme, a->http01_token, &keyauth)) != NACME_OK ||
        (r = challenge_webroot_put(j->ctx, j->webroot, a->http01_token, keyauth)) != NACME_OK)
        goto out;
    /* A challenge already processing or valid (a retried run) needs no second start. */
    if (strcmp(a->http01_status, "pending") == 0 &&
        (r = acme_challenge_start(j->acme, a->http01_url)) != NACME_OK)
        goto out;
    *started = true;
out:
    free(keyauth);
    acme_authz_free(a);
    return r;
}

static enum nacme_err authz_poll(struct issue_job *j, const char *url)
{
    struct acme_authz *a = NULL;
    long delay = POLL_FIRST_MS, retry = -1;
    enum nacme_err r;

    for (;;) {
        if ((r = poll_wait(j, &delay, retry, "validation")) != NACME_OK)
            break;
        if ((r = acme_authz_get_new(j->acme, url, &a)) != NACME_OK)
            break;
        if (strcmp(a->status, "valid") == 0) {
            nacme_verbose(j->ctx, "%s: validated", a->identifier);
            break;
        }
        if (strcmp(a->status, "pending") != 0) {
            r = authz_failed(j, a);
            break;
        }
        retry = a->retry_after;
        acme_authz_free(a);
        a = NULL;
    }
    acme_authz_free(a);
    return r;
}

/* Start every challenge first, then poll: the CA validates them in parallel. */
static enum nacme_err authorize(struct issue_job *j)
{
    bool *started = NULL;
    size_t i;
    enum nacme_err r = NACME_OK;

    if ((started = calloc(j->order->nauthzs, sizeof(*started))) == NULL)
        return nacme_fail(j->ctx, NACME_E_NOMEM, "out of memory");
    for (i = 0; i < j->order->nauthzs && r == NACME_OK; i++)
        r = authz_start(j, j->order->authzs[i], &started[i]);
    for (i = 0; i < j->order->nauthzs && r == NACME_OK; i++)
        if (started[i])
            r = authz_poll(j, j->order->authzs[i]);
    free(started);
    return r;
}

/* ---- finalize and download -------------------------------------------------------------- */

static enum nacme_err order_wait(struct issue_job *j, const char *want, const char *what)
{
    long delay = POLL_FIRST_MS;
    char line[700];
    enum nacme_err r;

    for (;;) {
        if (strcmp(j->order->status, want) == 0)
            return NACME_OK;
        if (strcmp(j->order->status, "invalid") == 0) {
            if (j->order->error == NULL)
                return nacme_fail(j->ctx, NACME_E_ACME, "%s: the order became invalid", j->name);
            acme_problem_format(j->order->error, line, sizeof(line));
            return nacme_fail(j->ctx, NACME_E_ACME, "%s: the order became invalid: %s", j->name,
                              line);
        }
        if ((r = poll_wait(j, &delay, j->order->retry_after, what)) != NACME_OK ||
            (r = acme_order_refresh(j->acme, j->order)) != NACME_OK)
            return r;
    }
}

static enum nacme_err finalize(struct issue_job *j, char **chain, size_t *len)
{
    unsigned char *der = NULL;
    size_t derlen = 0;
    enum nacme_err r;

    if ((r = csr_der_new(j->ctx, j->cert_key, j->req->names, j->req->nnames, &der, &derlen)) !=
        NACME_OK)
        goto out;
    /* Every authorization is valid now, so the order is ready at the CA even though our copy
     * still says pending: finalize at once, and only wait for "ready" if the CA disagrees. */
    r = acme_order_finalize(j->acme, j->order, der, derlen);
    if (r == NACME_E_ACME && acme_problem_is(j->acme->problem, "orderNotReady")) {
        nacme_verbose(j->ctx, "%s: order not ready yet; waiting for it", j->name);
        if ((r = acme_order_refresh(j->acme, j->order)) != NACME_OK ||
            (r = order_wait(j, "ready", "the order to become ready")) != NACME_OK)
            goto out;
        r = acme_order_finalize(j->acme, j->order, der, derlen);
    }
    if (r != NACME_OK || (r = order_wait(j, "valid", "the certificate")) != NACME_OK)
        goto out;
    if (j->order->certificate == NULL) {
        r = nacme_fail(j->ctx, NACME_E_PROTO, "%s: valid order without a certificate URL",
                       j->order->url);
        goto out;
    }
    r = acme_certificate_get_new(j->acme, j->order->certificate, chain, len);
out:
    free(der);
    return r;
}

/* Check what the CA sent against our key and names, then make it live. */
static enum nacme_err install(struct issue_job *j, const char *pem, size_t len,
                              struct issue_result *res)
{
    struct store_lineage lin = {0};
    struct store_lineage *old = NULL;
    struct cert_chain *chain = NULL;
    struct cert_info *ci = NULL;
    char *key_pem = NULL;
    size_t key_len = 0;
    enum nacme_err r;

    if ((r = cert_chain_parse_new(j->ctx, pem, len, &chain)) != NACME_OK ||
        (r = cert_check(j->ctx, chain->cert_pem, j->cert_key, j->req->names, j->req->nnames)) !=
            NACME_OK ||
        (r = cert_info_new(j->ctx, chain->cert_pem, &ci)) != NACME_OK ||
        (r = key_to_pem_new(j->ctx, j->cert_key, &key_pem, &key_len)) != NACME_OK)
        goto out;
    r = store_lineage_load_new(j->ctx, j->store, j->name, &old);
    if (r != NACME_OK && r != NACME_E_NOTFOUND)
        goto out;
    lin.name = (char *)j->name;
    lin.domains = (char **)j->req->names;
    lin.ndomains = j->req->nnames;
    lin.key_type = (char *)keytype_name(j->req->key_type);
    lin.server = (char *)j->server_url;
    lin.challenge = (char *)"http-01";
    lin.webroot = j->cfg->webroot;
    lin.version = old ? old->version : 0;
    if ((r = store_lineage_install(j->ctx, j->store, &lin, chain->cert_pem, chain->chain_pem,
                                   chain->fullchain_pem, key_pem, key_len)) != NACME_OK)
        goto out;
    res->outcome = ISSUE_ISSUED;
    res->version = lin.version;
    res->not_after = ci->not_after;
    res->renew_at = renew_moment(ci->not_before, ci->not_after);
out:
    nacme_secret_free(key_pem, key_len);
    cert_chain_free(chain);
    cert_info_free(ci);
    store_lineage_free(old);
    return r;
}

/* ---- the whole run ---------------------------------------------------------------------- */

static enum nacme_err issue_steps(struct issue_job *j, struct issue_result *res)
{
    struct http_options hopt = {.ca_bundle = j->cfg->ca_bundle};
    char *chain = NULL;
    size_t len = 0;
    bool done = false;
    enum nacme_err r;

    if ((r = store_open_new(j->ctx, j->cfg->state_dir, &j->store)) != NACME_OK ||
        (r = check_existing(j, res, &done)) != NACME_OK || done)
        goto out;
    if ((r = key_generate_new(j->ctx, j->req->key_type, &j->cert_key)) != NACME_OK ||
        (r = http_new(j->ctx, &hopt, &j->http)) != NACME_OK ||
        (r = acme_client_new(j->ctx, j->http, j->server_url, &j->acme)) != NACME_OK ||
        (r = account_setup(j)) != NACME_OK)
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &j->deadline);
    j->deadline.tv_sec += j->req->timeout_s;
    if ((r = acme_order_new(j->acme, j->req->names, j->req->nnames, &j->order)) != NACME_OK ||
        (r = authorize(j)) != NACME_OK || (r = finalize(j, &chain, &len)) != NACME_OK ||
        (r = install(j, chain, len, res)) != NACME_OK)
        goto out;
out:
    if (j->http != NULL)
        res->requests = http_request_count(j->http);
    free(chain);
    return r;
}

enum nacme_err issue_run(struct nacme_ctx *ctx, const struct nacme_config *cfg,
                         const struct issue_request *req, struct issue_result *res)
{
    struct issue_job j = {
        .ctx = ctx,
        .cfg = cfg,
        .req = req,
        .name = req->cert_name ? req->cert_name : req->names[0],
        .server_url = config_server_url(cfg->server),
    };
    enum nacme_err r;

    memset(res, 0, sizeof(*res));
    if (!store_name_valid(j.name))
        return nacme_fail(ctx, NACME_E_USAGE,
                          "certificate name \"%s\" must be 1-200 of [A-Za-z0-9._-]", j.name);
    r = issue_steps(&j, res);
    if (r != NACME_OK && strncmp(ctx->errmsg, j.name, strlen(j.name)) != 0)
        nacme_fail_prefix(ctx, "%s", j.name);
    /* Tokens go whatever happened; the order (if any) simply expires at the CA. */
    challenge_webroot_free(ctx, j.webroot);
    acme_order_free(j.order);
    acme_client_free(j.acme);
    http_free(j.http);
    EVP_PKEY_free(j.account_key);
    EVP_PKEY_free(j.cert_key);
    store_free(j.store);
    return r;
}
