/*
 * cmd_renew.c - `nacme renew`: every lineage checked against its renewal moment (the CA's ARI
 * window when it offers one, the lifetime rule otherwise), the due ones renewed through the batch
 * path, nginx tested and reloaded once, hooks around it, and what happened recorded in each
 * lineage so that the next run (a timer, twice a day) knows without asking anybody.
 *
 * A run with nothing due reads lineage.json files and nothing else: the certificate facts the
 * decision needs are cached there (store.h, struct store_renewal), and the CA is only asked for
 * renewal information when the poll time recorded from its last answer has come.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "acme.h"
#include "cert.h"
#include "cli_cmd.h"
#include "deploy.h"
#include "http.h"
#include "issue.h"
#include "keys.h"
#include "renew.h"
#include "rfc3339.h"
#include "run.h"
#include "store.h"

#define HOOK_TIMEOUT_S 600

enum renew_result {
    RESULT_NOT_DUE = 0,
    RESULT_BACKING_OFF,
    RESULT_RENEWED,
    RESULT_DRY_RUN,
    RESULT_FAILED,
};

static const char *const result_names[] = {"not_due", "backing_off", "renewed", "dry_run",
                                           "failed"};

struct renew_item {
    char *name;
    struct store_lineage *lin; /* NULL when its record could not be read */
    struct renew_decision dec;
    bool attempt;              /* goes into this run's batch */
    bool dirty;                /* lin->renewal changed: write lineage.json */
    bool ari_failed;           /* this run's renewalInfo request failed */
    bool issued;               /* the CA issued: installed, or staged for the run's deploy */
    int old_version;
    enum renew_result result;
    char error[1024];
};

/* One CA's renewalInfo, set up the first time a lineage of that CA needs to poll. */
struct ari_ca {
    const char *server; /* borrowed from a lineage */
    struct nacme_ctx ctx;
    struct nacme_http *http;
    struct acme_client *acme;
    enum nacme_err err;
};

struct renew_run {
    struct cli_state *st;
    struct nacme_config *cfg;
    struct nacme_store *store;
    time_t now;
    time_t started; /* the real clock before waiting for the lock (now may be NACME_NOW's) */
    struct renew_item *items;
    size_t n;
    struct ari_ca **cas; /* pointers: acme and http keep the address of each one's ctx */
    size_t ncas;
    bool hook_failed;
};

static void fmt_time(time_t t, char *buf, size_t size)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm);
}

static void item_fail(struct renew_item *it, const char *msg)
{
    it->result = RESULT_FAILED;
    snprintf(it->error, sizeof(it->error), "%s", msg);
}

/* ---- what is known locally ---------------------------------------------------------------- */

/* The certificate facts of the live version, from the cache or (once per version) from
 * cert.pem. A cache of another version belongs to another certificate: all of it goes. */
static enum nacme_err cache_fill(struct renew_run *run, struct renew_item *it)
{
    struct store_renewal *rn = &it->lin->renewal;
    struct cert_info *ci = NULL;
    char *pem = NULL;
    enum nacme_err r;

    if (rn->cert_version == it->lin->version && rn->not_after > 0)
        return NACME_OK;
    store_renewal_clear(rn);
    if ((r = store_live_cert_new(run->st->ctx, run->store, it->name, &pem)) != NACME_OK ||
        (r = cert_info_new(run->st->ctx, pem, &ci)) != NACME_OK)
        goto out;
    rn->cert_version = it->lin->version;
    rn->not_before = ci->not_before;
    rn->not_after = ci->not_after;
    if (ci->ari_certid != NULL && (rn->certid = nacme_strdup_new(ci->ari_certid)) == NULL) {
        r = nacme_fail(run->st->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    it->dirty = true;
out:
    cert_info_free(ci);
    free(pem);
    return r;
}

/* ---- renewal information (RFC 9773) -------------------------------------------------------- */

static struct ari_ca *ari_ca_get(struct renew_run *run, const char *server)
{
    struct http_options hopt = {.ca_bundle = run->cfg->ca_bundle,
                                .timeout_ms = run->cfg->http_timeout * 1000,
                                .no_landlock = run->cfg->landlock_off};
    struct ari_ca *ca, **grown;
    size_t i;

    for (i = 0; i < run->ncas; i++)
        if (strcmp(run->cas[i]->server, server) == 0)
            return run->cas[i];
    if ((grown = realloc(run->cas, (run->ncas + 1) * sizeof(*grown))) == NULL)
        return NULL;
    run->cas = grown;
    if ((ca = calloc(1, sizeof(*ca))) == NULL)
        return NULL;
    run->cas[run->ncas++] = ca;
    ca->server = server;
    nacme_ctx_init(&ca->ctx);
    ca->ctx.loglevel = run->st->ctx->loglevel;
    ca->ctx.logf = run->st->ctx->logf;
    if ((ca->err = http_new(&ca->ctx, &hopt, &ca->http)) == NACME_OK)
        ca->err = acme_client_new(&ca->ctx, ca->http, server, &ca->acme);
    return ca;
}

static void ari_cas_free(struct renew_run *run)
{
    size_t i;

    for (i = 0; i < run->ncas; i++) {
        acme_client_free(run->cas[i]->acme);
        http_free(run->cas[i]->http);
        free(run->cas[i]);
    }
    free(run->cas);
}

/* Forget the window: the lifetime rule decides until the next successful poll. */
static void ari_forget(struct store_renewal *rn)
{
    rn->ari_start = rn->ari_end = rn->ari_moment = 0;
    free(rn->ari_explanation);
    rn->ari_explanation = NULL;
}

/* Ask the CA for the certificate's window when the poll time has come. Never fails the lineage:
 * whatever goes wrong, the lifetime rule decides and the next poll is scheduled. */
static void ari_poll(struct renew_run *run, struct renew_item *it)
{
    struct store_renewal *rn = &it->lin->renewal;
    struct acme_renewal_info ri = {.retry_after = -1};
    struct ari_ca *ca;
    char a[32], b[32];
    uint64_t rnd = 0;
    enum nacme_err r;

    if (rn->certid == NULL || rn->ari_next_poll > run->now)
        return;
    it->dirty = true;
    if ((ca = ari_ca_get(run, it->lin->server)) == NULL) {
        rn->ari_next_poll = run->now + RENEW_ARI_POLL_ERROR;
        return;
    }
    if ((r = ca->err) == NACME_OK) {
        ca->ctx.err = NACME_OK;
        r = acme_renewal_info_get(ca->acme, rn->certid, &ri);
    }
    if (r == NACME_E_NOTFOUND) {
        nacme_verbose(run->st->ctx, "%s: %s; using the lifetime rule", it->name, ca->ctx.errmsg);
        ari_forget(rn);
        rn->ari_next_poll = run->now + RENEW_ARI_POLL_NONE;
        goto out;
    }
    if (r != NACME_OK) {
        nacme_info(run->st->ctx, "%s: no renewal information (%s); using the lifetime rule",
                   it->name, ca->ctx.errmsg);
        ari_forget(rn);
        it->ari_failed = true;
        rn->ari_next_poll = run->now + (ri.retry_after >= 0 ? renew_ari_poll_s(ri.retry_after)
                                                            : RENEW_ARI_POLL_ERROR);
        goto out;
    }
    /* A moment is drawn once per window: every run until the CA moves the window agrees. */
    if (ri.start != rn->ari_start || ri.end != rn->ari_end || rn->ari_moment < ri.start ||
        rn->ari_moment > ri.end) {
        if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
            rnd = (uint64_t)run->now ^ ((uint64_t)getpid() << 16);
        rn->ari_start = ri.start;
        rn->ari_end = ri.end;
        rn->ari_moment = renew_ari_pick(ri.start, ri.end, rnd);
        fmt_time(ri.start, a, sizeof(a));
        fmt_time(ri.end, b, sizeof(b));
        /* An explanation is the CA telling the administrator something (an incident, a
         * revocation ahead): worth a line at the default level. */
        nacme_log(run->st->ctx, ri.explanation ? NACME_LOG_INFO : NACME_LOG_VERBOSE,
                  "%s: the CA suggests renewing between %s and %s%s%s", it->name, a, b,
                  ri.explanation ? ": " : "", ri.explanation ? ri.explanation : "");
    }
    free(rn->ari_explanation);
    rn->ari_explanation = ri.explanation;
    ri.explanation = NULL;
    rn->ari_next_poll = run->now + renew_ari_poll_s(ri.retry_after);
out:
    acme_renewal_info_clear(&ri);
}

/* ---- deciding ------------------------------------------------------------------------------ */

/* Whether another nacme, which this run waited for, renewed the lineage after this run was
 * started: --force asks for a certificate newer than the request, and that one is. Ten `renew
 * --force` started together thus make one order per lineage, not ten. */
static bool renewed_meanwhile(struct renew_run *run, const struct renew_item *it)
{
    struct nacme_ctx *ctx = run->st->ctx;
    time_t made = 0;

    if (!run->store->lock_waited)
        return false;
    if (store_version_mtime(ctx, run->store, it->name, it->lin->version, &made) != NACME_OK) {
        ctx->err = NACME_OK; /* then --force has its way */
        return false;
    }
    if (made < run->started)
        return false;
    nacme_info(ctx, "%s: renewed by another nacme while this one waited for the lock; not "
                    "renewing it again",
               it->name);
    return true;
}

static void decide(struct renew_run *run, struct renew_item *it)
{
    struct store_renewal *rn = &it->lin->renewal;
    bool force = run->st->force && !renewed_meanwhile(run, it);
    const char *src;

    renew_decide(rn, run->cfg->renew_before_days, force, run->now, &it->dec);
    /* A dry run is a rehearsal of renewing: every selected lineage goes through it. */
    if (run->st->dry_run)
        it->dec.verdict = RENEW_DUE;
    it->attempt = it->dec.verdict == RENEW_DUE;
    it->result = it->dec.verdict == RENEW_BACKING_OFF ? RESULT_BACKING_OFF : RESULT_NOT_DUE;
    src = renew_source_name(it->dec.source);
    if (rn->next_renewal != it->dec.at || rn->next_source == NULL ||
        strcmp(rn->next_source, src) != 0) {
        free(rn->next_source);
        rn->next_source = nacme_strdup_new(src);
        rn->next_renewal = it->dec.at;
        it->dirty = true;
    }
}

/* Read, cache, poll and decide for one lineage; a lineage that cannot be read is a failure of
 * its own and stops nothing else. */
static void item_prepare(struct renew_run *run, struct renew_item *it)
{
    struct nacme_ctx *ctx = run->st->ctx;

    ctx->err = NACME_OK;
    if (store_lineage_load_new(ctx, run->store, it->name, &it->lin) != NACME_OK ||
        cache_fill(run, it) != NACME_OK) {
        item_fail(it, ctx->errmsg);
        store_lineage_free(it->lin);
        it->lin = NULL;
        return;
    }
    it->old_version = it->lin->version;
    ari_poll(run, it);
    decide(run, it);
}

/* ---- recording ----------------------------------------------------------------------------- */

static void item_save(struct renew_run *run, struct renew_item *it)
{
    struct nacme_ctx *ctx = run->st->ctx;

    if (it->lin == NULL || !it->dirty || run->st->dry_run)
        return;
    ctx->err = NACME_OK;
    /* The record is renew's memory, not the certificate: losing it costs a recomputation. */
    if (store_lineage_save(ctx, run->store, it->lin) != NACME_OK)
        fprintf(stderr, "nacme: warning: %s\n", ctx->errmsg);
    it->dirty = false;
}

static void record_failure(struct renew_run *run, struct renew_item *it, const char *msg,
                           long retry_after)
{
    struct store_renewal *rn = &it->lin->renewal;

    item_fail(it, msg);
    rn->failures++;
    rn->last_failure = run->now;
    free(rn->last_error);
    rn->last_error = nacme_strdup_new(msg);
    rn->retry_after = retry_after > 0 ? retry_after : 0;
    rn->next_attempt = run->now + renew_backoff_s(rn->failures, rn->retry_after);
    it->dirty = true;
}

/* After the batch, live/ says what happened to an issued certificate: a new version live is a
 * renewal (its record holds the new version and no renewal state: cache it now); the old one
 * still live means deploy kept it (nginx broken, or refusing the new one), a failure with the
 * batch's cause. */
static void record_issued(struct renew_run *run, struct renew_item *it, const char *why)
{
    struct nacme_ctx *ctx = run->st->ctx;
    struct store_lineage *fresh = NULL;
    char cause[1024];

    snprintf(cause, sizeof(cause), "%s", why);
    ctx->err = NACME_OK;
    if (store_lineage_load_new(ctx, run->store, it->name, &fresh) != NACME_OK) {
        item_fail(it, ctx->errmsg);
        return;
    }
    if (fresh->version == it->old_version) {
        store_lineage_free(fresh);
        record_failure(run, it, cause[0] ? cause : "the new certificate did not go live", -1);
        return;
    }
    it->result = RESULT_RENEWED;
    store_lineage_free(it->lin);
    it->lin = fresh;
    if (cache_fill(run, it) != NACME_OK) {
        fprintf(stderr, "nacme: warning: %s\n", ctx->errmsg);
        return;
    }
    renew_decide(&it->lin->renewal, run->cfg->renew_before_days, false, run->now, &it->dec);
    it->lin->renewal.next_renewal = it->dec.at;
    it->lin->renewal.next_source = nacme_strdup_new(renew_source_name(it->dec.source));
    it->dirty = true;
}

/* ---- hooks --------------------------------------------------------------------------------- */

/* Run a configured hook; a failure is said (with the hook's output) and remembered for the exit
 * status, and nothing is undone for it. */
static void hook_run(struct renew_run *run, const char *key, const char *cmd, char **env)
{
    struct nacme_ctx hctx;
    char *output = NULL;
    char shown[2048];
    int status = -1;

    nacme_ctx_init(&hctx);
    nacme_verbose(run->st->ctx, "running %s \"%s\"", key, cmd);
    if (run_command_new(&hctx, cmd, env, HOOK_TIMEOUT_S, &output, &status) != NACME_OK) {
        fprintf(stderr, "nacme: %s failed: %s\n", key, hctx.errmsg);
        run->hook_failed = true;
    } else if (status != 0) {
        nacme_sanitize(shown, sizeof(shown), output, sizeof(shown) - 1);
        fprintf(stderr, "nacme: %s \"%s\" exited with status %d: %s\n", key, cmd, status, shown);
        run->hook_failed = true;
    } else if (output[0] != '\0') {
        nacme_sanitize(shown, sizeof(shown), output, sizeof(shown) - 1);
        nacme_verbose(run->st->ctx, "%s said: %s", key, shown);
    }
    free(output);
}

static void deploy_hook_run(struct renew_run *run, const struct renew_item *it)
{
    struct nacme_buf domains = {0};
    char *vars[3] = {NULL, NULL, NULL};
    char **env = NULL;
    size_t i;

    for (i = 0; i < it->lin->ndomains; i++)
        if ((i > 0 && nacme_buf_append(&domains, " ", 1) != 0) ||
            nacme_buf_append(&domains, it->lin->domains[i], strlen(it->lin->domains[i])) != 0)
            goto out;
    if ((vars[0] = nacme_printf_new("NACME_CERT_NAME=%s", it->name)) == NULL ||
        (vars[1] = nacme_printf_new("NACME_LIVE_DIR=%s/live/%s", run->cfg->state_dir,
                                    it->name)) == NULL ||
        (vars[2] = nacme_printf_new("NACME_DOMAINS=%s", domains.data)) == NULL ||
        (env = run_env_new(vars, 3)) == NULL)
        goto out;
    hook_run(run, "deploy_hook", run->cfg->deploy_hook, env);
out:
    if (env == NULL) {
        fprintf(stderr, "nacme: deploy_hook for %s: out of memory\n", it->name);
        run->hook_failed = true;
    }
    free(env);
    for (i = 0; i < 3; i++)
        free(vars[i]);
    nacme_buf_clear(&domains);
}

/* ---- renewing ------------------------------------------------------------------------------ */

/* The due lineages of one CA and webroot (issue_batch_run takes both from the configuration)
 * in one batch: one connection, one account. New versions are staged into pending (when the run
 * deploys) so that nginx is tested and reloaded once for every group together. */
static void renew_group(struct renew_run *run, size_t first, bool *in_group,
                        const struct deploy_opts *dopt, struct issue_pending *pending)
{
    struct renew_item *lead = &run->items[first];
    struct nacme_config gcfg = *run->cfg;
    struct issue_batch_opts opt = {
        .parallel = run->st->parallel ? run->st->parallel : 10,
        .deploy = dopt,
        .pending = pending,
        .sweep_tokens = run->store->previous_died,
    };
    struct issue_request *reqs = NULL;
    struct issue_result *res = NULL;
    size_t *idx = NULL, n = 0, i, k;
    enum nacme_keytype kt;

    if ((reqs = calloc(run->n, sizeof(*reqs))) == NULL ||
        (res = calloc(run->n, sizeof(*res))) == NULL ||
        (idx = calloc(run->n, sizeof(*idx))) == NULL) {
        for (i = first; i < run->n; i++)
            if (in_group[i])
                item_fail(&run->items[i], "out of memory");
        goto out;
    }
    for (i = first; i < run->n; i++) {
        struct renew_item *it = &run->items[i];
        if (!in_group[i])
            continue;
        if (keytype_parse(it->lin->key_type, &kt) != 0) {
            char msg[300];
            snprintf(msg, sizeof(msg), "%s: lineage.json names an unknown key type", it->name);
            item_fail(it, msg);
            continue;
        }
        reqs[n] = (struct issue_request){
            .names = (const char *const *)it->lin->domains,
            .nnames = it->lin->ndomains,
            .cert_name = it->name,
            .key_type = kt,
            .reuse_key = it->lin->reuse_key || run->st->reuse_key,
            .preferred_chain = run->st->preferred_chain ? run->st->preferred_chain
                                                        : it->lin->preferred_chain,
            /* the command line, else what the lineage asked for, else the configuration's */
            .profile = run->st->profile   ? run->st->profile
                       : it->lin->profile ? it->lin->profile
                                          : run->cfg->profile,
            .force = true, /* due by this run's rule, which issue's own check does not know */
            .timeout_s = run->st->timeout_s ? run->st->timeout_s : 300,
            .replaces = it->lin->renewal.certid,
            .dry_run = run->st->dry_run,
            /* the lineage's challenge, hook and resolver: what worked last time */
            .challenge = it->lin->challenge,
            .dns_hook = it->lin->dns_hook ? it->lin->dns_hook : run->cfg->dns_hook,
            .dns_resolver = it->lin->dns_hook ? it->lin->dns_resolver : run->cfg->dns_resolver,
        };
        if (strcmp(it->lin->challenge, NACME_CHALLENGE_DNS01) == 0 && reqs[n].dns_hook == NULL) {
            char msg[300];
            snprintf(msg, sizeof(msg), "%s: a dns-01 lineage without a dns_hook (lineage.json "
                     "records none, nor does the configuration)", it->name);
            item_fail(it, msg);
            continue;
        }
        if (!config_challenge_valid(it->lin->challenge)) {
            char msg[300];
            snprintf(msg, sizeof(msg), "%s: lineage.json names an unknown challenge", it->name);
            item_fail(it, msg);
            continue;
        }
        idx[n++] = i;
    }
    if (n == 0)
        goto out;
    gcfg.server = lead->lin->server;
    gcfg.webroot = lead->lin->webroot;
    /* A rehearsal against Let's Encrypt goes to its staging CA: same protocol, no rate limits
     * spent, no certificate that counts. The CertID is production's: staging never saw it. */
    if (run->st->dry_run && strcmp(gcfg.server, config_server_url("letsencrypt")) == 0) {
        gcfg.server = (char *)config_server_url("letsencrypt-staging");
        for (k = 0; k < n; k++)
            reqs[k].replaces = NULL;
    }
    run->st->ctx->err = NACME_OK;
    issue_batch_run(run->st->ctx, &gcfg, reqs, n, &opt, res);
    for (k = 0; k < n; k++) {
        struct renew_item *it = &run->items[idx[k]];
        if (res[k].outcome == ISSUE_FAILED &&
            (res[k].err == NACME_E_INTERRUPTED || res[k].reload_needed)) {
            item_fail(it, res[k].errmsg); /* the CA is not to blame: no backoff */
        } else if (res[k].outcome == ISSUE_FAILED) {
            record_failure(run, it, res[k].errmsg, res[k].retry_after);
        } else if (res[k].outcome == ISSUE_DRY_RUN) {
            it->result = RESULT_DRY_RUN;
            it->lin->renewal.not_after = res[k].not_after; /* shown only; never saved */
        } else {
            it->issued = true; /* recorded once the run's deploy has said what went live */
        }
    }
out:
    free(reqs);
    free(res);
    free(idx);
}

/* Every attempted lineage into a batch of its CA and webroot; then one nginx test, switch and
 * reload for every batch's new versions. */
static void renew_attempted(struct renew_run *run)
{
    struct issue_pending *pending = NULL;
    struct deploy_opts dopt, *deploy = NULL;
    bool *in_group = NULL, *done = NULL;
    char cause[1024] = "";
    size_t i, j;

    if (!run->st->no_reload && !run->st->dry_run) {
        cli_deploy_opts(run->cfg, &dopt);
        deploy = &dopt;
    }
    if ((in_group = calloc(run->n, sizeof(*in_group))) == NULL ||
        (done = calloc(run->n, sizeof(*done))) == NULL ||
        (deploy != NULL && (pending = issue_pending_new()) == NULL)) {
        for (i = 0; i < run->n; i++)
            if (run->items[i].attempt)
                item_fail(&run->items[i], "out of memory");
        goto out;
    }
    for (i = 0; i < run->n; i++) {
        struct renew_item *lead = &run->items[i];
        if (!lead->attempt || done[i])
            continue;
        memset(in_group, 0, run->n * sizeof(*in_group));
        for (j = i; j < run->n; j++) {
            struct renew_item *it = &run->items[j];
            if (it->attempt && !done[j] && strcmp(it->lin->server, lead->lin->server) == 0 &&
                strcmp(it->lin->webroot, lead->lin->webroot) == 0)
                in_group[j] = done[j] = true;
        }
        renew_group(run, i, in_group, deploy, pending);
    }
    run->st->ctx->err = NACME_OK;
    if (issue_pending_deploy(run->st->ctx, run->store, pending, deploy) != NACME_OK)
        snprintf(cause, sizeof(cause), "%s", run->st->ctx->errmsg);
    /* live/ now says what happened to each issued certificate. */
    for (i = 0; i < run->n; i++)
        if (run->items[i].issued)
            record_issued(run, &run->items[i], cause);
out:
    issue_pending_free(pending);
    free(in_group);
    free(done);
}

/* ---- output -------------------------------------------------------------------------------- */

static void item_line(const struct renew_run *run, const struct renew_item *it)
{
    const struct store_renewal *rn = it->lin ? &it->lin->renewal : NULL;
    char at[32], until[32], a[32], b[32];

    if (rn != NULL) {
        fmt_time(it->dec.at, at, sizeof(at));
        fmt_time(rn->not_after, until, sizeof(until));
        fmt_time(rn->next_attempt, a, sizeof(a));
    }
    switch (it->result) {
    case RESULT_RENEWED:
        printf("%s: renewed, valid until %s\n", it->name, until);
        break;
    case RESULT_DRY_RUN:
        printf("%s: dry run: the CA issued a certificate valid until %s; nothing installed\n",
               it->name, until);
        break;
    case RESULT_FAILED:
        if (rn != NULL && rn->next_attempt > 0 && !run->st->dry_run)
            printf("%s: failed: %s (next attempt after %s)\n", it->name, it->error, a);
        else
            printf("%s: failed: %s\n", it->name, it->error);
        break;
    case RESULT_BACKING_OFF:
        printf("%s: due since %s, but backing off until %s after %d failure%s: %s\n", it->name,
               at, a, rn->failures, rn->failures == 1 ? "" : "s",
               rn->last_error ? rn->last_error : "?");
        break;
    case RESULT_NOT_DUE:
        if (it->dec.source == RENEW_SRC_ARI) {
            fmt_time(rn->ari_start, a, sizeof(a));
            fmt_time(rn->ari_end, b, sizeof(b));
            printf("%s: not due, renewing at %s (the CA's window %s to %s%s%s), valid until %s\n",
                   it->name, at, a, b, rn->ari_explanation ? "; " : "",
                   rn->ari_explanation ? rn->ari_explanation : "", until);
        } else {
            printf("%s: not due, renewing at %s (%s), valid until %s\n", it->name, at,
                   it->dec.source == RENEW_SRC_BEFORE_DAYS ? "renew_before_days"
                                                           : "lifetime rule",
                   until);
        }
        break;
    }
}

static json_t *item_json_new(const struct renew_item *it)
{
    const struct store_renewal *rn = it->lin ? &it->lin->renewal : NULL;
    json_t *o = json_pack("{s:s, s:s}", "name", it->name, "result", result_names[it->result]);
    json_t *d;
    size_t i;

    if (o == NULL)
        return NULL;
    if (it->result == RESULT_FAILED)
        json_object_set_new(o, "error", json_string(it->error));
    if (rn == NULL)
        return o;
    if ((d = json_array()) != NULL) {
        for (i = 0; i < it->lin->ndomains; i++)
            json_array_append_new(d, json_string(it->lin->domains[i]));
        json_object_set_new(o, "domains", d);
    }
    json_object_set_new(o, "version", json_integer(it->lin->version));
    json_object_set_new(o, "profile",
                        it->lin->profile ? json_string(it->lin->profile) : json_null());
    json_object_set_new(o, "not_after", json_integer((json_int_t)rn->not_after));
    json_object_set_new(o, "renew_at", json_integer((json_int_t)it->dec.at));
    json_object_set_new(o, "source", json_string(renew_source_name(it->dec.source)));
    if (rn->ari_end > 0)
        json_object_set_new(o, "ari_window",
                            json_pack("{s:I, s:I}", "start", (json_int_t)rn->ari_start, "end",
                                      (json_int_t)rn->ari_end));
    if (rn->ari_explanation != NULL)
        json_object_set_new(o, "explanation", json_string(rn->ari_explanation));
    if (rn->failures > 0) {
        json_object_set_new(o, "failures", json_integer(rn->failures));
        json_object_set_new(o, "last_error", json_string(rn->last_error ? rn->last_error : ""));
        json_object_set_new(o, "next_attempt", json_integer((json_int_t)rn->next_attempt));
    }
    return o;
}

/* Failing this close to expiry must not go unnoticed in a journal full of routine lines. */
static size_t alarms(const struct renew_run *run)
{
    size_t i, count = 0;
    char until[32];

    for (i = 0; i < run->n; i++) {
        const struct renew_item *it = &run->items[i];
        const struct store_renewal *rn;
        if (it->lin == NULL || run->st->dry_run)
            continue;
        rn = &it->lin->renewal;
        if (!renew_alarm(rn, run->now))
            continue;
        fmt_time(rn->not_after, until, sizeof(until));
        fprintf(stderr,
                "nacme: WARNING: %s expires at %s (in %.1f days) and renewing it keeps failing "
                "(%d attempts): %s\n",
                it->name, until, (double)(rn->not_after - run->now) / 86400.0, rn->failures,
                rn->last_error ? rn->last_error : "?");
        count++;
    }
    return count;
}

/* ---- the command --------------------------------------------------------------------------- */

static enum nacme_err select_names(struct renew_run *run, char **names, size_t n)
{
    size_t i;

    if ((run->items = calloc(n ? n : 1, sizeof(*run->items))) == NULL)
        return nacme_fail(run->st->ctx, NACME_E_NOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        if (run->st->cert_name != NULL && strcmp(run->st->cert_name, names[i]) != 0)
            continue;
        run->items[run->n++].name = names[i];
    }
    if (run->st->cert_name != NULL && run->n == 0)
        return nacme_fail(run->st->ctx, NACME_E_NOTFOUND, "%s/live/%s: no such certificate",
                          run->cfg->state_dir, run->st->cert_name);
    return NACME_OK;
}

enum nacme_err cmd_renew(struct cli_state *st, struct nacme_config *cfg)
{
    struct renew_run run = {.st = st, .cfg = cfg, .now = st->now};
    char **names = NULL;
    size_t nnames = 0, i, failed = 0, attempted = 0, renewed = 0, first = 0, nalarms;
    json_t *arr = NULL;
    enum nacme_err r;

    run.started = time(NULL);
    if ((r = store_open_new(st->ctx, cfg->state_dir, &run.store)) != NACME_OK ||
        (r = store_lock(st->ctx, run.store, (int)cfg->lock_wait)) != NACME_OK ||
        (r = store_lineage_list_new(st->ctx, run.store, &names, &nnames)) != NACME_OK ||
        (r = select_names(&run, names, nnames)) != NACME_OK)
        goto out;
    for (i = 0; i < run.n; i++) {
        item_prepare(&run, &run.items[i]);
        attempted += run.items[i].attempt;
    }
    if (attempted > 0 && cfg->pre_hook != NULL && !st->dry_run)
        hook_run(&run, "pre_hook", cfg->pre_hook, NULL);
    if (attempted > 0)
        renew_attempted(&run);
    for (i = 0; i < run.n; i++) {
        struct renew_item *it = &run.items[i];
        if (it->result == RESULT_RENEWED) {
            renewed++;
            if (cfg->deploy_hook != NULL)
                deploy_hook_run(&run, it);
        }
        if (it->result == RESULT_FAILED && failed++ == 0)
            first = i;
        item_save(&run, it);
    }
    if (attempted > 0 && cfg->post_hook != NULL && !st->dry_run)
        hook_run(&run, "post_hook", cfg->post_hook, NULL);
    if (st->json) {
        arr = json_array();
        for (i = 0; i < run.n; i++)
            json_array_append_new(arr, item_json_new(&run.items[i]));
        cli_json_print(st, arr);
    } else if (st->ctx->loglevel >= NACME_LOG_INFO) {
        for (i = 0; i < run.n; i++)
            item_line(&run, &run.items[i]);
        if (run.n == 0)
            printf("no certificates under %s/live\n", cfg->state_dir);
    }
    fflush(stdout);
    nalarms = alarms(&run);
    if (failed > 0)
        r = nacme_fail(st->ctx, NACME_E_ACME,
                       "%zu of %zu certificates failed to renew; the first: %s", failed, run.n,
                       run.items[first].error);
    else if (nalarms > 0)
        r = nacme_fail(st->ctx, NACME_E_ACME,
                       "%zu certificate%s close to expiry with renewal failing", nalarms,
                       nalarms == 1 ? "" : "s");
    else if (run.hook_failed)
        r = nacme_fail(st->ctx, NACME_E_IO, "a hook failed (see above); the certificates are "
                                            "in place");
    else
        nacme_verbose(st->ctx, "%zu certificates checked, %zu renewed", run.n, renewed);
out:
    for (i = 0; i < run.n; i++)
        store_lineage_free(run.items[i].lin);
    free(run.items);
    ari_cas_free(&run);
    store_names_free(names, nnames);
    store_free(run.store);
    return r;
}
