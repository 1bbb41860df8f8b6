/*
 * issue.c - certificates from account to live/: the steps of RFC 8555 §7 in order, for one order
 * or for a batch of them running concurrently.
 *
 * A run (struct issue_run) sets up once what every order shares: the state dir, one HTTP client
 * (one connection to the CA), the directory and the account. Each order (struct issue_job) then
 * runs in a worker thread with its own context and its own clone of the ACME client, so that one
 * failing order records its own cause and the others go on.
 */
#include "issue.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "account.h"
#include "acme.h"
#include "cert.h"
#include "challenge.h"
#include "jws.h"
#include "csr.h"
#include "deploy.h"
#include "dns01.h"
#include "http.h"
#include "names.h"
#include "nginx_conf.h"
#include "nginx_ctl.h"
#include "nginx_sites.h"
#include "nginx_snippets.h"
#include "preflight.h"
#include "progress.h"
#include "renew.h"
#include "store.h"

#define POLL_FIRST_MS 10   /* Pebble and most CAs validate within tens of milliseconds */
#define POLL_MAX_MS 2000
#define RETRY_AFTER_MAX_S 60

/* A new version written but not yet live, for deploy_run once every order is done. */
struct issue_staged {
    int new_version;              /* 0: nothing staged */
    struct store_lineage *old;    /* the record before, or NULL for a first version */
    char *new_serial;
    char *old_serial;             /* of the certificate live before, or NULL */
    char *sni;                    /* the name nginx is asked for it by (sni_name_new) */
};

/* What every order of a run shares. */
struct issue_run {
    bool sweep_tokens; /* issue_batch_opts.sweep_tokens */
    struct nacme_ctx *ctx;
    const struct nacme_config *cfg;
    const char *server_url;
    struct nacme_store *store;
    struct nacme_http *http;
    struct acme_client *acme; /* the first client; jobs use clones of it */
    EVP_PKEY *account_key;
    const struct issue_request *reqs;
    struct issue_result *res;
    size_t n;
    struct progress *progress;
    const struct deploy_opts *deploy; /* stage only; deploy_run makes it all live at the end */
    struct issue_staged *staged;      /* n entries when deploy is set */
    pthread_mutex_t lock; /* guards next, stop and why_stop */
    size_t next;          /* the next request to start */
    bool stop;            /* start nothing more */
    char why_stop[1024];  /* what the requests never started are told */
    pthread_mutex_t connect_lock; /* guards the six below */
    bool connect_tried;   /* the CA is only contacted once some order needs it */
    bool account_tried;   /* the account only once some order gets past the directory */
    bool reload_needed;   /* the account set-up stopped for nginx's reload (snippet_reload) */
    enum nacme_err connect_err;
    char connect_msg[1024];
};

/* One order, in one thread. */
struct issue_job {
    struct issue_run *run;
    struct nacme_ctx *ctx; /* this job's own, so that its cause is its own */
    const struct nacme_config *cfg;
    const struct issue_request *req;
    struct issue_result *res;
    struct issue_staged *staged; /* this order's slot when the run deploys, else NULL */
    const char *name;
    const char *server_url;
    struct nacme_store *store;
    struct acme_client *acme; /* a clone of the run's */
    EVP_PKEY *cert_key;
    struct challenge_webroot *webroot;
    struct dns01_hook *dns; /* dns-01: the records added, removed at the end */
    struct acme_order *order;
    struct timespec deadline;
    char order_profile[80]; /* the order's profile as shown in a warning */
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

/* A killed run could not remove its token files; this run holds the lock now. */
static void sweep_tokens(struct issue_run *run)
{
    char *thumbprint = NULL;

    if (jwk_thumbprint_new(run->ctx, run->account_key, &thumbprint) == NACME_OK)
        challenge_webroot_sweep(run->ctx, run->cfg->webroot, thumbprint);
    else
        run->ctx->err = NACME_OK; /* only housekeeping: the run goes on */
    free(thumbprint);
}

/* A rollover settled by this run rewrote the stateless snippet, but nginx answers challenges
 * from the snippet it loaded: until it is reloaded, each name's preflight (or the CA) would meet
 * the old thumbprint. A run that reloads nginx anyway (issue --reload, renew) tests and reloads
 * it now and goes on; any other stops and asks for the reload. Either way a stop is nobody's
 * failure to renew (run->reload_needed): no order was placed. */
static enum nacme_err snippet_reload(struct issue_run *run)
{
    const struct deploy_opts *d = run->deploy;
    const char *snippets = run->cfg->nginx_snippets;
    enum nacme_err r = NACME_OK;

    if (d == NULL) {
        r = nacme_fail(run->ctx, NACME_E_INVALID,
                       ACCOUNT_SNIPPET_REWRITTEN ": reload nginx (nginx -t && nginx -s reload), "
                       "then run this again",
                       snippets, NGINX_CHALLENGE_SNIPPET);
        goto out;
    }
    nacme_info(run->ctx,
               ACCOUNT_SNIPPET_REWRITTEN ": testing and reloading nginx before any challenge",
               snippets, NGINX_CHALLENGE_SNIPPET);
    if ((r = nginx_test(run->ctx, d->test_cmd, NULL)) != NACME_OK)
        goto out;
    if (!nginx_running(d->pid_file))
        nacme_info(run->ctx, "nginx is not running (%s): it reads the new snippet when it starts",
                   d->pid_file);
    else if ((r = nginx_reload(run->ctx, d->reload_cmd, d->pid_file)) == NACME_OK)
        nacme_info(run->ctx, "nginx reloaded (%s)", d->reload_cmd);
out:
    if (r != NACME_OK && d != NULL)
        nacme_fail_prefix(run->ctx,
                          ACCOUNT_SNIPPET_REWRITTEN ", but nginx was not reloaded",
                          snippets, NGINX_CHALLENGE_SNIPPET);
    run->reload_needed = r != NACME_OK;
    return r;
}

static enum nacme_err account_setup(struct issue_run *run)
{
    struct acme_account_opts o = {
        .email = run->cfg->email,
        .agree_tos = run->cfg->agree_tos,
        .eab_kid = run->cfg->eab_kid,
        .eab_hmac = run->cfg->eab_hmac_key,
    };
    struct account_rollover_result settled;
    char *known = NULL, *url = NULL;
    enum nacme_err r;

    if ((r = account_key_load_new(run->ctx, run->store, run->server_url, &run->account_key,
                                  &known, &o.key_is_new)) != NACME_OK)
        goto out;
    o.known_url = known;
    /* A rollover a crash interrupted is settled before the key signs anything. */
    if (!o.key_is_new &&
        (r = account_rollover_settle(run->ctx, run->store, run->acme, run->server_url,
                                     run->cfg->nginx_snippets, &run->account_key, &settled)) !=
            NACME_OK)
        goto out;
    if (!o.key_is_new && settled.snippet_rewritten && (r = snippet_reload(run)) != NACME_OK)
        goto out;
    if ((r = acme_account_ensure(run->acme, run->account_key, &o, &url)) != NACME_OK)
        goto out;
    if (run->sweep_tokens && run->cfg->webroot != NULL)
        sweep_tokens(run);
    if (known == NULL || strcmp(known, url) != 0) {
        nacme_verbose(run->ctx, "account %s", url);
        r = store_account_save(run->ctx, run->store, run->server_url, NULL, 0, url);
    }
out:
    free(known);
    free(url);
    return r;
}

/* ---- authorizations --------------------------------------------------------------------- */

static bool job_dns01(const struct issue_job *j)
{
    return j->req->challenge != NULL && strcmp(j->req->challenge, NACME_CHALLENGE_DNS01) == 0;
}

/* The name as ordered: a wildcard's authorization names it without its "*." (RFC 8555 §7.1.4),
 * which would read as the base name in a message. */
static void authz_name(const struct acme_authz *a, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", a->wildcard ? "*." : "", a->identifier);
}

static enum nacme_err authz_failed(struct issue_job *j, const struct acme_authz *a)
{
    const struct acme_problem *err = job_dns01(j) ? a->dns01.error : a->http01.error;
    char line[700], name[300];

    authz_name(a, name, sizeof(name));
    if (err != NULL) {
        if (err->type != NULL)
            snprintf(j->res->problem_type, sizeof(j->res->problem_type), "%s", err->type);
        acme_problem_format(err, line, sizeof(line));
        return nacme_fail(j->ctx, NACME_E_ACME, "%s: validation failed: %s", name, line);
    }
    return nacme_fail(j->ctx, NACME_E_ACME, "%s: authorization is %s", name, a->status);
}

/* After a failed preflight: which of nginx's server blocks has the name, read from nginx's own
 * configuration, so that the admin knows where to add the challenge include. Appended to the
 * cause; nothing is said when the configuration cannot be read (nginx may be elsewhere). */
static void preflight_where(struct issue_job *j, const char *name)
{
    struct nacme_ctx scratch;
    struct nginx_conf *conf = NULL;
    struct nginx_sites *sites = NULL;
    const struct nginx_site *site;
    char where[512] = "", *cause = NULL;
    size_t i, n;

    nacme_ctx_init(&scratch);
    scratch.loglevel = NACME_LOG_ERROR - 1; /* silent */
    if (j->cfg->nginx_conf == NULL || nginx_conf_read_new(&scratch, j->cfg->nginx_conf, &conf) ||
        nginx_sites_new(&scratch, conf, &sites))
        goto out;
    if ((site = nginx_sites_find(sites, name)) == NULL) {
        snprintf(where, sizeof(where), "no server block of %s has %s as an exact server_name "
                                       "(a wildcard, a regular expression or a default server "
                                       "answered)", j->cfg->nginx_conf, name);
    } else {
        n = (size_t)snprintf(where, sizeof(where), "its server block%s: ",
                             site->nfiles == 1 ? "" : "s");
        for (i = 0; i < site->nfiles && n < sizeof(where); i++)
            n += (size_t)snprintf(where + n, sizeof(where) - n, "%s%s", i ? ", " : "",
                                  site->files[i]);
    }
    if ((cause = nacme_strdup_new(j->ctx->errmsg)) != NULL)
        nacme_fail(j->ctx, j->ctx->err, "%s; nginx: %s", cause, where);
out:
    free(cause);
    nginx_sites_free(sites);
    nginx_conf_free(conf);
}

/* The local nginx must serve the token before the CA is asked to fetch it (preflight.h). */
static enum nacme_err authz_preflight(struct issue_job *j, const struct acme_authz *a,
                                      const char *keyauth)
{
    struct preflight_opts o = {
        .host = "127.0.0.1",
        .http_port = (int)j->cfg->nginx_http_port,
        .https_port = (int)j->cfg->nginx_https_port,
    };

    enum nacme_err r;

    if (j->cfg->preflight_off)
        return NACME_OK;
    if ((r = preflight_check(j->ctx, &o, a->identifier, a->http01.token, keyauth)) != NACME_OK)
        preflight_where(j, a->identifier);
    return r;
}

/* dns-01: the TXT record through the hook. Nothing is started here either: every record of the
 * order is added (and, with a resolver, seen) before the CA looks at any, since a wildcard and
 * its base name share one record name with two values. No webroot and no preflight. */
static enum nacme_err authz_prepare_dns01(struct issue_job *j, const struct acme_authz *a,
                                          char **start)
{
    char *keyauth = NULL, *value = NULL, *record = NULL, name[300];
    enum nacme_err r;

    authz_name(a, name, sizeof(name));
    if (a->dns01.url == NULL) {
        r = nacme_fail(j->ctx, NACME_E_ACME, "%s: the CA offers no dns-01 challenge", name);
        goto out;
    }
    if (j->dns == NULL &&
        (r = dns01_hook_new(j->ctx, j->req->dns_hook, (int)j->cfg->dns_hook_timeout, &j->dns)) !=
            NACME_OK)
        goto out;
    if ((record = dns01_record_name_new(a->identifier)) == NULL) {
        r = nacme_fail(j->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    /* also for a challenge the CA is processing already (a retried run): it may look again */
    if ((r = acme_key_authorization_new(j->acme, a->dns01.token, &keyauth)) != NACME_OK ||
        (r = dns01_txt_value_new(j->ctx, keyauth, &value)) != NACME_OK ||
        (r = dns01_hook_add(j->ctx, j->dns, name, record, value)) != NACME_OK)
        goto out;
    if (strcmp(a->dns01.status, "pending") == 0 &&
        (*start = nacme_strdup_new(a->dns01.url)) == NULL)
        r = nacme_fail(j->ctx, NACME_E_NOMEM, "out of memory");
out:
    free(keyauth);
    free(value);
    free(record);
    return r;
}

/* Put the token in the webroot and check nginx serves it. *start gets the challenge URL to start
 * (NULL when the CA validates already or the authorization is valid); *poll says whether there
 * is anything to poll. Nothing is started here, so that one name nginx does not serve stops the
 * order before the CA validates any of its names. */
static enum nacme_err authz_prepare(struct issue_job *j, const char *url, char **start,
                                    bool *poll)
{
    struct acme_authz *a = NULL;
    char *keyauth = NULL;
    enum nacme_err r;

    *start = NULL;
    *poll = false;
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
    if (job_dns01(j)) {
        r = authz_prepare_dns01(j, a, start);
        *poll = r == NACME_OK;
        goto out;
    }
    if (a->http01.url == NULL) {
        r = nacme_fail(j->ctx, NACME_E_ACME, "%s: the CA offers no http-01 challenge",
                       a->identifier);
        goto out;
    }
    if (j->webroot == NULL &&
        (r = challenge_webroot_new(j->ctx, j->cfg->webroot, &j->webroot)) != NACME_OK)
        goto out;
    if ((r = acme_key_authorization_new(j->acme, a->http01.token, &keyauth)) != NACME_OK ||
        (r = challenge_webroot_put(j->ctx, j->webroot, a->http01.token, keyauth)) != NACME_OK)
        goto out;
    /* A challenge already processing or valid (a retried run) needs no second start, and no
     * preflight: the CA is validating already. */
    if (strcmp(a->http01.status, "pending") == 0) {
        if ((r = authz_preflight(j, a, keyauth)) != NACME_OK)
            goto out;
        if ((*start = nacme_strdup_new(a->http01.url)) == NULL) {
            r = nacme_fail(j->ctx, NACME_E_NOMEM, "out of memory");
            goto out;
        }
    }
    *poll = true;
out:
    free(keyauth);
    acme_authz_free(a);
    return r;
}

static enum nacme_err authz_poll(struct issue_job *j, const char *url)
{
    struct acme_authz *a = NULL;
    long delay = POLL_FIRST_MS, retry = -1;
    char name[300];
    enum nacme_err r;

    for (;;) {
        if ((r = poll_wait(j, &delay, retry, "validation")) != NACME_OK)
            break;
        if ((r = acme_authz_get_new(j->acme, url, &a)) != NACME_OK)
            break;
        if (strcmp(a->status, "valid") == 0) {
            authz_name(a, name, sizeof(name));
            nacme_verbose(j->ctx, "%s: validated", name);
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

/* --reuse-key: the live version's key, checked to be of the requested type, before any order
 * (a refusal costs the CA nothing). A lineage without a live version gets a fresh key later. */
static enum nacme_err reuse_key_load(struct issue_job *j)
{
    struct nacme_ctx quiet;
    char *pem = NULL, *what = NULL;
    size_t len = 0;
    enum nacme_keytype have;
    enum nacme_err r;

    nacme_ctx_init(&quiet);
    if ((r = store_live_key_new(&quiet, j->store, j->name, &pem, &len)) == NACME_E_NOTFOUND) {
        nacme_verbose(j->ctx, "%s: no live key to reuse yet; generating one", j->name);
        return NACME_OK;
    }
    if (r != NACME_OK) {
        r = nacme_fail(j->ctx, r, "%s", quiet.errmsg);
        goto out;
    }
    if ((what = nacme_printf_new("live/%s/privkey.pem", j->name)) == NULL) {
        r = nacme_fail(j->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    if ((r = key_from_pem_new(j->ctx, pem, len, what, &j->cert_key)) != NACME_OK ||
        (r = key_type_of(j->ctx, j->cert_key, &have)) != NACME_OK)
        goto out;
    if (have != j->req->key_type) {
        r = nacme_fail(j->ctx, NACME_E_USAGE,
                       "%s: --reuse-key keeps its %s key, so the key type cannot change to %s; "
                       "drop --reuse-key or --key-type",
                       j->name, keytype_name(have), keytype_name(j->req->key_type));
        goto out;
    }
    nacme_verbose(j->ctx, "%s: reusing the live %s key", j->name, keytype_name(have));
out:
    nacme_secret_free(pem, len);
    free(what);
    return r;
}

/* --dns-resolver: every record added is answered there before the CA is asked to look. */
static enum nacme_err dns_wait(struct issue_job *j)
{
    struct dns01_resolver res;

    if (dns01_resolver_parse(j->req->dns_resolver, &res) != 0)
        return nacme_fail(j->ctx, NACME_E_USAGE, "dns_resolver \"%s\" is not IP, IP:PORT, IPv6 "
                          "or [IPv6]:PORT", j->req->dns_resolver);
    return dns01_hook_wait(j->ctx, j->dns, &res, (int)j->cfg->dns_wait_timeout);
}

/* Put every token and check them all, then start every challenge, then poll: the CA validates
 * them in parallel. The certificate key is generated while the CA validates (an RSA key takes
 * long enough to matter). */
static enum nacme_err authorize(struct issue_job *j)
{
    size_t i, n = j->order->nauthzs;
    char **start = NULL;
    bool *poll = NULL;
    enum nacme_err r = NACME_OK;

    if ((start = calloc(n, sizeof(*start))) == NULL || (poll = calloc(n, sizeof(*poll))) == NULL) {
        free(start);
        return nacme_fail(j->ctx, NACME_E_NOMEM, "out of memory");
    }
    for (i = 0; i < n && r == NACME_OK; i++)
        r = authz_prepare(j, j->order->authzs[i], &start[i], &poll[i]);
    if (r == NACME_OK && j->dns != NULL && j->req->dns_resolver != NULL)
        r = dns_wait(j);
    for (i = 0; i < n && r == NACME_OK; i++)
        if (start[i] != NULL)
            r = acme_challenge_start(j->acme, start[i]);
    if (r == NACME_OK && j->cert_key == NULL) /* not kept by --reuse-key */
        r = key_generate_new(j->ctx, j->req->key_type, &j->cert_key);
    for (i = 0; i < n && r == NACME_OK; i++)
        if (poll[i])
            r = authz_poll(j, j->order->authzs[i]);
    for (i = 0; i < n; i++)
        free(start[i]);
    free(start);
    free(poll);
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

/* Whether the chain's topmost certificate was issued by --preferred-chain's name (certbot's rule:
 * the chains of one CA differ in the root their top certificate chains to). */
static enum nacme_err chain_matches(struct issue_job *j, const char *pem, size_t len,
                                    const char *url, bool *match)
{
    struct cert_chain *chain = NULL;
    char *cn = NULL;
    enum nacme_err r;

    *match = false;
    if ((r = cert_chain_parse_new(j->ctx, pem, len, &chain)) != NACME_OK ||
        (r = cert_top_issuer_cn_new(j->ctx, chain->fullchain_pem, &cn)) != NACME_OK)
        goto out;
    *match = strcmp(cn, j->req->preferred_chain) == 0;
    nacme_verbose(j->ctx, "%s: the chain at %s tops out at a certificate issued by \"%s\"%s",
                  j->name, url, cn, *match ? ": the preferred one" : "");
out:
    free(cn);
    cert_chain_free(chain);
    return r;
}

/* The default chain unless it is not the preferred one and an alternate (RFC 8555 §7.4.2) is.
 * An alternate that cannot be fetched or read is passed over: the certificate is issued. */
static enum nacme_err preferred_chain_get(struct issue_job *j, char **chain, size_t *len)
{
    const char *url = j->order->certificate;
    char **alts = NULL, *pem = NULL;
    size_t nalts = 0, plen = 0, i;
    bool match = false;
    enum nacme_err r;

    if ((r = acme_certificate_alternates_get_new(j->acme, url, chain, len, &alts, &nalts)) !=
            NACME_OK ||
        (r = chain_matches(j, *chain, *len, url, &match)) != NACME_OK || match)
        goto out;
    for (i = 0; i < nalts && !match; i++) {
        if ((r = acme_certificate_get_new(j->acme, alts[i], &pem, &plen)) != NACME_OK ||
            (r = chain_matches(j, pem, plen, alts[i], &match)) != NACME_OK) {
            nacme_info(j->ctx, "%s: passing over the alternate chain: %s", j->name,
                       j->ctx->errmsg);
            j->ctx->err = NACME_OK;
            r = NACME_OK;
        } else if (match) {
            free(*chain);
            *chain = pem;
            *len = plen;
            pem = NULL;
        }
        free(pem);
        pem = NULL;
    }
    if (!match)
        nacme_verbose(j->ctx,
                      "%s: none of the %zu chains offered tops out at a certificate issued by "
                      "\"%s\"; keeping the default chain",
                      j->name, nalts + 1, j->req->preferred_chain);
out:
    free(pem);
    acme_urls_free(alts, nalts);
    return r;
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
    if (j->req->preferred_chain == NULL)
        r = acme_certificate_get_new(j->acme, j->order->certificate, chain, len);
    else
        r = preferred_chain_get(j, chain, len);
out:
    free(der);
    return r;
}

/* The lineage record of a request (every pointer borrowed from req, cfg and server_url). */
static void lineage_record(struct store_lineage *lin, const struct issue_request *req,
                           const struct nacme_config *cfg, const char *server_url, int version)
{
    memset(lin, 0, sizeof(*lin));
    lin->name = (char *)(req->cert_name ? req->cert_name : req->names[0]);
    lin->domains = (char **)req->names;
    lin->ndomains = req->nnames;
    lin->key_type = (char *)keytype_name(req->key_type);
    lin->server = (char *)server_url;
    lin->challenge = (char *)(req->challenge ? req->challenge : NACME_CHALLENGE_HTTP01);
    /* the hook and resolver of a dns-01 lineage, so that renew repeats them without flags */
    if (strcmp(lin->challenge, NACME_CHALLENGE_DNS01) == 0) {
        lin->dns_hook = (char *)req->dns_hook;
        lin->dns_resolver = (char *)req->dns_resolver;
    }
    lin->webroot = cfg->webroot;
    lin->version = version;
    lin->reuse_key = req->reuse_key;
    lin->preferred_chain = (char *)req->preferred_chain;
    lin->profile = (char *)req->profile;
}

/* The serial of the certificate live now, or NULL (none, or unreadable: then nothing to watch). */
static char *live_serial_new(struct issue_job *j)
{
    struct nacme_ctx quiet;
    struct cert_info *ci = NULL;
    char *pem = NULL, *serial = NULL;

    nacme_ctx_init(&quiet);
    if (store_live_cert_new(&quiet, j->store, j->name, &pem) == NACME_OK &&
        cert_info_new(&quiet, pem, &ci) == NACME_OK)
        serial = nacme_strdup_new(ci->serial_hex);
    cert_info_free(ci);
    free(pem);
    return serial;
}

/* The name deploy asks nginx for the certificate by (SNI): the first name that is not a
 * wildcard, or, for a certificate of wildcards only, a name under the first, which nginx's
 * wildcard server_name answers ("*" is no host name to send). NULL on OOM. */
static char *sni_name_new(const struct issue_request *req)
{
    size_t i;

    for (i = 0; i < req->nnames; i++)
        if (!names_is_wildcard(req->names[i]))
            return nacme_strdup_new(req->names[i]);
    return nacme_printf_new("nacme-check%s", req->names[0] + 1);
}

/* Deploying runs stage the version now and switch it with the others after nginx's test. */
static enum nacme_err stage(struct issue_job *j, struct store_lineage *lin,
                            struct store_lineage **old, const struct cert_chain *chain,
                            const struct cert_info *ci, const char *key_pem, size_t key_len)
{
    struct issue_staged *stg = j->staged;
    enum nacme_err r;

    if ((r = store_lineage_stage(j->ctx, j->store, lin, chain->cert_pem, chain->chain_pem,
                                 chain->fullchain_pem, key_pem, key_len, &stg->new_version)) !=
        NACME_OK)
        return r;
    stg->old = *old;
    *old = NULL;
    stg->old_serial = live_serial_new(j);
    if ((stg->new_serial = nacme_strdup_new(ci->serial_hex)) == NULL ||
        (stg->sni = sni_name_new(j->req)) == NULL)
        return nacme_fail(j->ctx, NACME_E_NOMEM, "out of memory");
    lin->version = stg->new_version;
    return NACME_OK;
}

/* Check what the CA sent against our key and names, then make it live (or stage it). */
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
    res->not_after = ci->not_after;
    res->renew_at = renew_moment(ci->not_before, ci->not_after);
    if (j->req->dry_run) { /* checked like a real one, then dropped */
        res->outcome = ISSUE_DRY_RUN;
        goto out;
    }
    r = store_lineage_load_new(j->ctx, j->store, j->name, &old);
    if (r != NACME_OK && r != NACME_E_NOTFOUND)
        goto out;
    lineage_record(&lin, j->req, j->cfg, j->server_url, old ? old->version : 0);
    if (j->staged != NULL)
        r = stage(j, &lin, &old, chain, ci, key_pem, key_len);
    else
        r = store_lineage_install(j->ctx, j->store, &lin, chain->cert_pem, chain->chain_pem,
                                  chain->fullchain_pem, key_pem, key_len);
    if (r != NACME_OK)
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

/* ---- one order ------------------------------------------------------------------------- */

/* The CA names the profile it applies in the order (draft-ietf-acme-profiles §4); another one
 * than asked for is worth a warning, not a failure: the certificate is still for our names. */
static void order_profile_check(struct issue_job *j)
{
    const char *got = j->order->profile;

    if (j->req->profile == NULL || got == NULL || strcmp(got, j->req->profile) == 0)
        return;
    nacme_sanitize(j->order_profile, sizeof(j->order_profile), got, 64);
    nacme_log(j->ctx, NACME_LOG_ERROR,
              "%s: warning: asked %s for profile \"%s\", the order says profile \"%s\"", j->name,
              j->acme->directory_url, j->req->profile, j->order_profile);
}

/* RFC 9773 §5: a CA may refuse `replaces` (already replaced, not ours to replace, or an error of
 * its own); the renewal must not fail for that, so the order is placed once more without it. */
static enum nacme_err order_new(struct issue_job *j)
{
    const struct acme_problem *p;
    enum nacme_err r;

    r = acme_order_new(j->acme, j->req->names, j->req->nnames, j->req->replaces, j->req->profile,
                       &j->order);
    if (r != NACME_E_ACME || j->req->replaces == NULL || (p = j->acme->problem) == NULL)
        goto out;
    if (!(acme_problem_is(p, "alreadyReplaced") || acme_problem_is(p, "conflict") ||
          p->status == 409 || (p->status == 403 && acme_problem_is(p, "unauthorized")) ||
          p->status >= 500))
        goto out;
    nacme_info(j->ctx, "%s: the CA refused \"replaces\" (%s); ordering without it", j->name,
               j->ctx->errmsg);
    j->ctx->err = NACME_OK;
    r = acme_order_new(j->acme, j->req->names, j->req->nnames, NULL, j->req->profile,
                       &j->order);
out:
    if (r == NACME_OK)
        order_profile_check(j);
    return r;
}

static void run_stop(struct issue_run *run, const char *why)
{
    pthread_mutex_lock(&run->lock);
    if (!run->stop)
        snprintf(run->why_stop, sizeof(run->why_stop), "%s", why);
    run->stop = true;
    pthread_mutex_unlock(&run->lock);
}

static void run_connect_failed(struct issue_run *run, enum nacme_err r)
{
    run->connect_err = r;
    snprintf(run->connect_msg, sizeof(run->connect_msg), "%s", run->ctx->errmsg);
    run_stop(run, run->connect_msg);
}

/* Connection and directory, then (with account) the account, each set up once by the first
 * order that needs it: a run where nothing is due never talks to the CA, and one whose orders are
 * all refused on the directory alone (an unknown profile) makes no account key and sends no
 * newAccount. A failure here fails the whole run. */
static enum nacme_err run_connect(struct issue_run *run, struct nacme_ctx *ctx, bool account)
{
    struct http_options hopt = {.ca_bundle = run->cfg->ca_bundle,
                                .timeout_ms = run->cfg->http_timeout * 1000,
                                .no_landlock = run->cfg->landlock_off};
    enum nacme_err r;

    pthread_mutex_lock(&run->connect_lock);
    if (!run->connect_tried) {
        run->connect_tried = true;
        if ((r = http_new(run->ctx, &hopt, &run->http)) != NACME_OK ||
            (r = acme_client_new(run->ctx, run->http, run->server_url, &run->acme)) != NACME_OK)
            run_connect_failed(run, r);
    }
    if (account && run->connect_err == NACME_OK && !run->account_tried) {
        run->account_tried = true;
        if ((r = account_setup(run)) != NACME_OK)
            run_connect_failed(run, r);
    }
    if ((r = run->connect_err) != NACME_OK)
        nacme_fail(ctx, r, "%s", run->connect_msg);
    pthread_mutex_unlock(&run->connect_lock);
    return r;
}

static enum nacme_err job_steps(struct issue_job *j)
{
    char *chain = NULL;
    size_t len = 0;
    bool done = false;
    enum nacme_err r;

    if (!store_name_valid(j->name))
        return nacme_fail(j->ctx, NACME_E_USAGE,
                          "certificate name \"%s\" must be 1-200 of [A-Za-z0-9._-]", j->name);
    if ((r = check_existing(j, j->res, &done)) != NACME_OK || done)
        goto out;
    /* Before the account key is made or the CA asked: a dry run stores nothing. */
    if (!j->req->dry_run && (r = store_space_check(j->ctx, j->store)) != NACME_OK)
        goto out;
    if ((r = run_connect(j->run, j->ctx, false)) != NACME_OK) {
        j->res->run_failure = true;
        goto out;
    }
    /* An unknown profile is refused with the CA's list from the directory alone: before an
     * account key is made or the CA hears of the account, and before any order. */
    if (j->req->profile != NULL &&
        (r = acme_profile_check(j->run->acme, j->ctx, j->req->profile)) != NACME_OK)
        goto out;
    if ((r = run_connect(j->run, j->ctx, true)) != NACME_OK) {
        j->res->run_failure = true;
        j->res->reload_needed = j->run->reload_needed; /* set before the error, under its lock */
        goto out;
    }
    if ((r = acme_client_clone_new(j->run->acme, j->ctx, &j->acme)) != NACME_OK)
        goto out;
    if (j->req->reuse_key && (r = reuse_key_load(j)) != NACME_OK)
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &j->deadline);
    j->deadline.tv_sec += j->req->timeout_s;
    j->acme->deadline = j->deadline;
    if ((r = order_new(j)) != NACME_OK || (r = authorize(j)) != NACME_OK ||
        (r = finalize(j, &chain, &len)) != NACME_OK ||
        (r = install(j, chain, len, j->res)) != NACME_OK)
        goto out;
out:
    free(chain);
    return r;
}

/* Run one request of the run in the calling thread; its outcome and cause go to res. */
static void job_run(struct issue_run *run, const struct issue_request *req,
                    struct issue_result *res, struct issue_staged *staged)
{
    struct nacme_ctx ctx;
    struct issue_job j = {
        .run = run,
        .ctx = &ctx,
        .cfg = run->cfg,
        .req = req,
        .res = res,
        .staged = staged,
        .name = req->cert_name ? req->cert_name : req->names[0],
        .server_url = run->server_url,
        .store = run->store,
    };
    enum nacme_err r;

    nacme_ctx_init(&ctx);
    ctx.loglevel = run->ctx->loglevel;
    ctx.logf = run->ctx->logf;
    r = job_steps(&j);
    if (r != NACME_OK && strncmp(ctx.errmsg, j.name, strlen(j.name)) != 0)
        nacme_fail_prefix(&ctx, "%s", j.name);
    if (r != NACME_OK && j.acme != NULL)
        res->retry_after = j.acme->retry_after;
    if (r != NACME_OK && res->problem_type[0] == '\0' && j.acme != NULL &&
        j.acme->problem != NULL && j.acme->problem->type != NULL)
        snprintf(res->problem_type, sizeof(res->problem_type), "%s", j.acme->problem->type);
    /* Tokens and TXT records go whatever happened; the order (if any) simply expires at the
     * CA. */
    challenge_webroot_free(&ctx, j.webroot);
    dns01_hook_free(&ctx, j.dns);
    if (j.acme != NULL)
        res->requests = j.acme->requests;
    acme_order_free(j.order);
    acme_client_free(j.acme);
    EVP_PKEY_free(j.cert_key);
    res->err = r;
    if (r == NACME_OK)
        res->errmsg[0] = '\0';
    else
        snprintf(res->errmsg, sizeof(res->errmsg), "%s", ctx.errmsg);
    if (r != NACME_OK)
        res->outcome = ISSUE_FAILED;
}

/* ---- the run ---------------------------------------------------------------------------- */

static void result_line(const struct issue_request *req, const struct issue_result *res,
                        char *buf, size_t size)
{
    const char *name = req->cert_name ? req->cert_name : req->names[0];
    char until[32];
    struct tm tm;

    if (res->outcome == ISSUE_FAILED) {
        snprintf(buf, size, "%s", res->errmsg);
        return;
    }
    gmtime_r(&res->not_after, &tm);
    strftime(until, sizeof(until), "%Y-%m-%d %H:%M UTC", &tm);
    snprintf(buf, size, "%s: %s, valid until %s", name,
             res->outcome == ISSUE_ISSUED    ? "issued"
             : res->outcome == ISSUE_DRY_RUN ? "issued (dry run: not installed)"
                                             : "unchanged, not due",
             until);
}

/* A worker: take the next request until none is left or the run was interrupted. */
static void *worker_main(void *arg)
{
    struct issue_run *run = arg;
    char line[1200];
    size_t i;

    for (;;) {
        pthread_mutex_lock(&run->lock);
        if (run->stop || run->next == run->n) {
            pthread_mutex_unlock(&run->lock);
            return NULL;
        }
        i = run->next++;
        pthread_mutex_unlock(&run->lock);
        progress_started(run->progress);
        job_run(run, &run->reqs[i], &run->res[i], run->staged ? &run->staged[i] : NULL);
        if (run->res[i].err == NACME_E_INTERRUPTED || nacme_interrupted())
            run_stop(run, "interrupted");
        result_line(&run->reqs[i], &run->res[i], line, sizeof(line));
        /* A failed set-up is said once, at the end, not once per certificate. */
        progress_finished(run->progress, run->res[i].outcome == ISSUE_FAILED,
                          run->res[i].run_failure ? NULL : line);
    }
}

/* Start up to parallel workers (the calling thread is one of them) and wait for all. */
static void run_workers(struct issue_run *run, int parallel)
{
    pthread_t *threads = NULL;
    size_t i, nthreads = (size_t)(parallel < 1 ? 1 : parallel), started = 0;

    if (nthreads > run->n)
        nthreads = run->n;
    if (nthreads > 1 && (threads = calloc(nthreads - 1, sizeof(*threads))) != NULL)
        for (i = 0; i + 1 < nthreads; i++)
            if (pthread_create(&threads[i], NULL, worker_main, run) == 0)
                started++;
    worker_main(run);
    for (i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
}

/* Every staged version live at once, between nginx's tests, with one reload. */
static enum nacme_err run_deploy(struct issue_run *run)
{
    struct deploy_item *items = NULL;
    struct store_lineage *lins = NULL;
    size_t i, k = 0;
    enum nacme_err r = NACME_OK;

    if ((items = calloc(run->n, sizeof(*items))) == NULL ||
        (lins = calloc(run->n, sizeof(*lins))) == NULL) {
        r = nacme_fail(run->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < run->n; i++) {
        struct issue_staged *stg = &run->staged[i];
        if (stg->new_version == 0)
            continue;
        lineage_record(&lins[k], &run->reqs[i], run->cfg, run->server_url, stg->new_version);
        items[k] = (struct deploy_item){
            .lin_new = &lins[k],
            .lin_old = stg->old,
            .new_version = stg->new_version,
            .old_version = stg->old ? stg->old->version : 0,
            .sni = stg->sni,
            .new_serial = stg->new_serial,
            .old_serial = stg->old_serial,
        };
        k++;
    }
    r = deploy_run(run->ctx, run->store, run->deploy, items, k);
out:
    free(items);
    free(lins);
    return r;
}

/* ---- staged versions of several batches, deployed at once -------------------------------- */

struct issue_pending_item {
    struct store_lineage *lin_new; /* owned copies: the batch's requests and configuration are */
    struct store_lineage *lin_old; /* gone by the time the caller deploys */
    int new_version;
    char *sni;
    char *new_serial;
    char *old_serial;
};

struct issue_pending {
    struct issue_pending_item *items;
    size_t n;
};

struct issue_pending *issue_pending_new(void)
{
    return calloc(1, sizeof(struct issue_pending));
}

void issue_pending_free(struct issue_pending *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n; i++) {
        store_lineage_free(p->items[i].lin_new);
        store_lineage_free(p->items[i].lin_old);
        free(p->items[i].sni);
        free(p->items[i].new_serial);
        free(p->items[i].old_serial);
    }
    free(p->items);
    free(p);
}

size_t issue_pending_count(const struct issue_pending *p)
{
    return p != NULL ? p->n : 0;
}

/* A heap copy of a record whose strings are borrowed (lineage_record's), NULL on OOM. */
static struct store_lineage *lineage_copy_new(const struct store_lineage *src)
{
    struct store_lineage *lin = calloc(1, sizeof(*lin));

    if (lin == NULL)
        return NULL;
    lin->version = src->version;
    lin->reuse_key = src->reuse_key;
    if ((lin->domains = calloc(src->ndomains, sizeof(*lin->domains))) == NULL)
        goto fail;
    for (lin->ndomains = 0; lin->ndomains < src->ndomains; lin->ndomains++)
        if ((lin->domains[lin->ndomains] = nacme_strdup_new(src->domains[lin->ndomains])) ==
            NULL)
            goto fail;
    if ((lin->name = nacme_strdup_new(src->name)) == NULL ||
        (lin->key_type = nacme_strdup_new(src->key_type)) == NULL ||
        (lin->server = nacme_strdup_new(src->server)) == NULL ||
        (lin->challenge = nacme_strdup_new(src->challenge)) == NULL ||
        (lin->webroot = nacme_strdup_new(src->webroot)) == NULL ||
        (src->preferred_chain != NULL &&
         (lin->preferred_chain = nacme_strdup_new(src->preferred_chain)) == NULL) ||
        (src->profile != NULL && (lin->profile = nacme_strdup_new(src->profile)) == NULL) ||
        (src->dns_hook != NULL && (lin->dns_hook = nacme_strdup_new(src->dns_hook)) == NULL) ||
        (src->dns_resolver != NULL &&
         (lin->dns_resolver = nacme_strdup_new(src->dns_resolver)) == NULL))
        goto fail;
    return lin;
fail:
    store_lineage_free(lin); /* frees the ndomains names copied so far */
    return NULL;
}

/* Hand this run's staged versions over to p (the olds and serials move; the records are copied). */
static enum nacme_err pending_take(struct issue_run *run, struct issue_pending *p)
{
    struct issue_pending_item *grown;
    struct store_lineage rec;
    size_t i;

    if ((grown = realloc(p->items, (p->n + run->n) * sizeof(*grown))) == NULL)
        return nacme_fail(run->ctx, NACME_E_NOMEM, "out of memory");
    p->items = grown;
    for (i = 0; i < run->n; i++) {
        struct issue_staged *stg = &run->staged[i];
        struct issue_pending_item *it = &p->items[p->n];
        if (stg->new_version == 0)
            continue;
        lineage_record(&rec, &run->reqs[i], run->cfg, run->server_url, stg->new_version);
        *it = (struct issue_pending_item){.new_version = stg->new_version};
        if ((it->lin_new = lineage_copy_new(&rec)) == NULL)
            return nacme_fail(run->ctx, NACME_E_NOMEM, "out of memory");
        it->sni = stg->sni;
        stg->sni = NULL;
        it->lin_old = stg->old;
        stg->old = NULL;
        it->new_serial = stg->new_serial;
        stg->new_serial = NULL;
        it->old_serial = stg->old_serial;
        stg->old_serial = NULL;
        p->n++;
    }
    return NACME_OK;
}

enum nacme_err issue_pending_deploy(struct nacme_ctx *ctx, struct nacme_store *st,
                                    struct issue_pending *p, const struct deploy_opts *o)
{
    struct deploy_item *items = NULL;
    enum nacme_err r;
    size_t i;

    if (p == NULL || p->n == 0)
        return NACME_OK;
    if ((items = calloc(p->n, sizeof(*items))) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    for (i = 0; i < p->n; i++)
        items[i] = (struct deploy_item){
            .lin_new = p->items[i].lin_new,
            .lin_old = p->items[i].lin_old,
            .new_version = p->items[i].new_version,
            .old_version = p->items[i].lin_old ? p->items[i].lin_old->version : 0,
            .sni = p->items[i].sni,
            .new_serial = p->items[i].new_serial,
            .old_serial = p->items[i].old_serial,
        };
    r = deploy_run(ctx, st, o, items, p->n);
    free(items);
    return r;
}

static void staged_free(struct issue_staged *staged, size_t n)
{
    size_t i;

    for (i = 0; staged != NULL && i < n; i++) {
        store_lineage_free(staged[i].old);
        free(staged[i].new_serial);
        free(staged[i].old_serial);
        free(staged[i].sni);
    }
    free(staged);
}

enum nacme_err issue_batch_run(struct nacme_ctx *ctx, const struct nacme_config *cfg,
                               const struct issue_request *reqs, size_t n,
                               const struct issue_batch_opts *opt, struct issue_result *res)
{
    struct issue_run run = {
        .ctx = ctx,
        .cfg = cfg,
        .server_url = config_server_url(cfg->server),
        .reqs = reqs,
        .res = res,
        .n = n,
    };
    size_t i, failed = 0, first = 0;
    enum nacme_err r;

    memset(res, 0, n * sizeof(*res));
    for (i = 0; i < n; i++)
        res[i].retry_after = -1;
    pthread_mutex_init(&run.lock, NULL);
    pthread_mutex_init(&run.connect_lock, NULL);
    if ((r = store_open_new(ctx, cfg->state_dir, &run.store)) != NACME_OK) {
        for (i = 0; i < n; i++) {
            res[i].err = r;
            snprintf(res[i].errmsg, sizeof(res[i].errmsg), "%s", ctx->errmsg);
        }
        goto out;
    }
    run.sweep_tokens = opt != NULL && opt->sweep_tokens;
    if (opt != NULL && opt->deploy != NULL) {
        run.deploy = opt->deploy;
        if ((run.staged = calloc(n, sizeof(*run.staged))) == NULL) {
            r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
            goto out;
        }
    }
    if (opt != NULL && opt->progress)
        run.progress = progress_new(ctx->logf ? ctx->logf : stderr, n, opt->live,
                                    ctx->loglevel < NACME_LOG_INFO);
    run_workers(&run, opt != NULL ? opt->parallel : 1);
    for (i = 0; i < n; i++) {
        if (run.next <= i) { /* never started: the run was stopped */
            res[i].err = run.connect_err ? run.connect_err : NACME_E_INTERRUPTED;
            res[i].run_failure = run.connect_err != NACME_OK;
            res[i].reload_needed = run.reload_needed;
            snprintf(res[i].errmsg, sizeof(res[i].errmsg), "%s: not attempted: %.900s",
                     reqs[i].cert_name ? reqs[i].cert_name : reqs[i].names[0], run.why_stop);
            progress_skipped(run.progress);
        }
        if (res[i].err != NACME_OK && failed++ == 0)
            first = i;
    }
    progress_free(run.progress); /* finish the live line before anything else is said */
    run.progress = NULL;
    /* What succeeded goes live even when other names failed; nginx's verdict comes first. */
    if (run.deploy != NULL && failed < n &&
        (r = opt->pending != NULL ? pending_take(&run, opt->pending) : run_deploy(&run)) !=
            NACME_OK)
        goto out;
    if (failed == 0)
        goto out;
    r = res[first].err;
    if (run.connect_err != NACME_OK) {
        r = nacme_fail(ctx, run.connect_err, "%s", run.connect_msg);
    } else if (n == 1) {
        nacme_fail(ctx, r, "%s", res[0].errmsg);
    } else {
        /* One bad name among many is not a usage error of the whole command. */
        if (r == NACME_E_USAGE || r == NACME_E_CONFIG)
            r = NACME_E_INVALID;
        nacme_fail(ctx, r, "%zu of %zu certificates failed; the first: %s", failed, n,
                   res[first].errmsg);
    }
out:
    progress_free(run.progress);
    if (run.http != NULL && n == 1)
        res[0].requests = http_request_count(run.http);
    acme_client_free(run.acme);
    http_free(run.http);
    EVP_PKEY_free(run.account_key);
    staged_free(run.staged, n);
    store_free(run.store);
    pthread_mutex_destroy(&run.connect_lock);
    pthread_mutex_destroy(&run.lock);
    return r;
}

enum nacme_err issue_run(struct nacme_ctx *ctx, const struct nacme_config *cfg,
                         const struct issue_request *req, struct issue_result *res)
{
    return issue_batch_run(ctx, cfg, req, 1, NULL, res);
}
