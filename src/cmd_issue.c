/* cmd_issue.c - `nacme issue`: one certificate for a set of names, or one per name (--separate). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_cmd.h"
#include "deploy.h"
#include "issue.h"
#include "keys.h"
#include "names.h"
#include "nginx_conf.h"
#include "nginx_sites.h"
#include "run.h"
#include "store.h"

static const char *outcome_name(enum issue_outcome o)
{
    return o == ISSUE_ISSUED ? "issued" : o == ISSUE_UNCHANGED ? "unchanged" : "failed";
}

/* One certificate's result as a JSON object (NULL on OOM). */
static json_t *issue_json_new(const struct issue_request *req, const struct nacme_config *cfg,
                              const struct issue_result *res)
{
    const char *name = req->cert_name ? req->cert_name : req->names[0];
    json_t *o, *names = json_array();
    char *live = NULL;
    size_t i;

    for (i = 0; i < req->nnames; i++)
        json_array_append_new(names, json_string(req->names[i]));
    if (res->outcome == ISSUE_FAILED)
        return json_pack("{s:s, s:s, s:o, s:s, s:s?, s:s?, s:i}", "name", name, "result",
                         "failed", "domains", names, "error", res->errmsg, "problem",
                         res->problem_type[0] ? res->problem_type : NULL, "profile",
                         req->profile, "requests", (int)res->requests);
    live = nacme_printf_new("%s/live/%s", cfg->state_dir, name);
    o = json_pack("{s:s, s:s, s:o, s:s?, s:i, s:I, s:I, s:s?, s:i}", "name", name, "result",
                  outcome_name(res->outcome), "domains", names, "live", live, "version",
                  res->version, "not_after", (json_int_t)res->not_after, "renew_after",
                  (json_int_t)res->renew_at, "profile", req->profile, "requests",
                  (int)res->requests);
    free(live);
    return o;
}

/* The hook is recorded for renew, which cron or a timer runs from another directory: its program
 * is a name found in PATH or an absolute path, never a relative one. */
static enum nacme_err check_dns_hook(struct cli_state *st, const char *hook)
{
    char *copy = NULL, *argv[32];
    enum nacme_err r = NACME_OK;

    if ((copy = nacme_strdup_new(hook)) == NULL)
        return nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
    if (run_split_words(copy, argv, sizeof(argv) / sizeof(argv[0])) != 0)
        r = nacme_fail(st->ctx, NACME_E_USAGE,
                       "dns_hook \"%s\": give a program and its arguments, quotes closed", hook);
    else if (argv[0][0] != '/' && strchr(argv[0], '/') != NULL)
        r = nacme_fail(st->ctx, NACME_E_USAGE,
                       "dns_hook \"%s\": give the program's absolute path (it is recorded, and "
                       "renew runs elsewhere)",
                       hook);
    free(copy);
    return r;
}

/* The challenge and the names it can prove, before any order: a wildcard only through DNS
 * (what CAs require; RFC 8555 §7.1.3 lets an order hold one), an address never through DNS
 * (RFC 8738). */
static enum nacme_err check_challenge(struct cli_state *st, const struct nacme_config *cfg)
{
    bool dns = strcmp(cfg->challenge, NACME_CHALLENGE_DNS01) == 0;
    enum nacme_err r;
    size_t i, k;

    if (dns && cfg->dns_hook == NULL)
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "--challenge dns-01 needs --dns-hook PROG (or dns_hook in the "
                          "configuration): nacme puts TXT records only through it");
    if (dns && (r = check_dns_hook(st, cfg->dns_hook)) != NACME_OK)
        return r;
    for (i = 0; i < st->ndomains; i++) {
        if (!dns && names_is_wildcard(st->domains[i]))
            return nacme_fail(st->ctx, NACME_E_USAGE,
                              "%s: a wildcard name needs --challenge dns-01 (and --dns-hook PROG)",
                              st->domains[i]);
        if (dns && ip_addr_is(st->domains[i]))
            return nacme_fail(st->ctx, NACME_E_USAGE,
                              "%s: an IP address cannot be validated with dns-01; issue it with "
                              "http-01",
                              st->domains[i]);
    }
    /* --separate names a wildcard's lineage after its base name: both in one run would be one
     * lineage written by two orders at once */
    for (i = 0; st->separate && i < st->ndomains; i++)
        for (k = 0; names_is_wildcard(st->domains[i]) && k < st->ndomains; k++)
            if (strcmp(st->domains[i] + 2, st->domains[k]) == 0)
                return nacme_fail(st->ctx, NACME_E_USAGE,
                                  "%s and %s would both be the lineage %s with --separate; issue "
                                  "them as one certificate (without --separate)",
                                  st->domains[k], st->domains[i], st->domains[k]);
    return NACME_OK;
}

/* A lineage is named after its first name; a wildcard's "*" is no file name, so *.example.com's
 * lineage is example.com (certbot's choice too). NULL: the first name as it is. */
static const char *default_cert_name(const char *first)
{
    return names_is_wildcard(first) ? first + 2 : NULL;
}

static enum nacme_err check_issue_options(struct cli_state *st, struct nacme_config *cfg,
                                          enum nacme_keytype *kt)
{
    enum nacme_err r;
    size_t i;

    if (st->nginx && (st->ndomains > 0 || st->cert_name != NULL || st->separate))
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "--nginx takes the names and certificate names from nginx's sites; "
                          "drop %s",
                          st->ndomains > 0 ? "-d" : st->cert_name ? "--cert-name" : "--separate");
    if (st->ndomains == 0 && !st->nginx)
        return nacme_fail(st->ctx, NACME_E_USAGE, "issue needs at least one -d NAME (or --nginx)");
    if (st->separate && st->cert_name != NULL)
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "--separate names each certificate after its domain; drop --cert-name");
    if (st->parallel != 0 && !st->separate && !st->nginx)
        return nacme_fail(st->ctx, NACME_E_USAGE, "--parallel goes with --separate or --nginx");
    if (keytype_parse(cfg->key_type, kt) != 0)
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "--key-type %s: use ec256, ec384, rsa2048, rsa3072 or rsa4096",
                          cfg->key_type);
    if ((r = names_normalize(st->ctx, st->domains, &st->ndomains)) != NACME_OK ||
        (r = check_challenge(st, cfg)) != NACME_OK)
        return r;
    /* A lineage is named after its first name unless --cert-name says otherwise; an IPv6 address
     * is no file name ([A-Za-z0-9._-]), and a made-up one would be a name the admin never chose. */
    for (i = 0; st->cert_name == NULL && i < (st->separate ? st->ndomains : 1) && i < st->ndomains;
         i++)
        if (strchr(st->domains[i], ':') != NULL)
            return nacme_fail(st->ctx, NACME_E_USAGE, "%s: an IPv6 address is not a certificate "
                              "name; give --cert-name NAME%s", st->domains[i],
                              st->separate ? " (without --separate)" : "");
    return NACME_OK;
}

/* The end of a batch: a table (or a JSON array) of every name with its result on stdout. */
static void batch_report(struct cli_state *st, const struct nacme_config *cfg,
                         const struct issue_request *reqs, const struct issue_result *res,
                         size_t n, double secs)
{
    size_t i, count[4] = {0}, run_failures = 0;
    json_t *arr;

    for (i = 0; i < n; i++) {
        count[res[i].outcome]++;
        run_failures += res[i].run_failure;
    }
    if (st->json) {
        arr = json_array();
        for (i = 0; i < n; i++)
            json_array_append_new(arr, issue_json_new(&reqs[i], cfg, &res[i]));
        cli_json_print(st, arr);
    } else if (st->ctx->loglevel >= NACME_LOG_INFO && run_failures == 0) {
        /* (a run that could not start has one cause, printed once as the error line) */
        printf("%-40s %-10s %s\n", "NAME", "RESULT", "DETAIL");
        for (i = 0; i < n; i++)
            printf("%-40s %-10s %s\n", reqs[i].names[0], outcome_name(res[i].outcome),
                   res[i].outcome == ISSUE_FAILED ? res[i].errmsg : "");
    }
    fflush(stdout);
    if (run_failures == 0)
        nacme_info(st->ctx, "%zu certificates in %.1f s: %zu issued, %zu unchanged, %zu failed", n,
               secs, count[ISSUE_ISSUED], count[ISSUE_UNCHANGED], count[ISSUE_FAILED]);
}

/* reqs[0..n) concurrently, then the report. */
static enum nacme_err run_batch(struct cli_state *st, struct nacme_config *cfg,
                                const struct issue_request *reqs, size_t n)
{
    struct deploy_opts dopt;
    struct issue_batch_opts opt = {
        .parallel = st->parallel ? st->parallel : 10,
        .progress = true,
        .live = isatty(STDERR_FILENO) && st->ctx->loglevel <= NACME_LOG_INFO,
        .sweep_tokens = st->after_unfinished_run,
    };
    struct issue_result *res = NULL;
    struct timespec t0, t1;
    enum nacme_err r;

    if (st->reload) {
        cli_deploy_opts(cfg, &dopt);
        opt.deploy = &dopt;
    }
    if ((res = calloc(n, sizeof(*res))) == NULL)
        return nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = issue_batch_run(st->ctx, cfg, reqs, n, &opt, res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    batch_report(st, cfg, reqs, res, n,
                 (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    free(res);
    return r;
}

/* --nginx: one certificate per site of nginx's configuration, named after its first name, with
 * all its names. */
static enum nacme_err run_nginx_batch(struct cli_state *st, struct nacme_config *cfg,
                                      enum nacme_keytype kt)
{
    struct nginx_conf *conf = NULL;
    struct nginx_sites *sites = NULL;
    struct issue_request *reqs = NULL;
    enum nacme_err r;
    size_t i;

    if ((r = nginx_conf_read_new(st->ctx, cfg->nginx_conf, &conf)) != NACME_OK ||
        (r = nginx_sites_new(st->ctx, conf, &sites)) != NACME_OK)
        goto out;
    if (sites->nsites == 0) {
        r = nacme_fail(st->ctx, NACME_E_INVALID,
                       "%s: no server block has a name nacme can certify (see nacme nginx-setup "
                       "--list)",
                       cfg->nginx_conf);
        goto out;
    }
    if ((reqs = calloc(sites->nsites, sizeof(*reqs))) == NULL) {
        r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < sites->nsites; i++)
        reqs[i] = (struct issue_request){
            .names = (const char *const *)sites->sites[i].names,
            .nnames = sites->sites[i].nnames,
            .key_type = kt,
            .force = st->force,
            .reuse_key = st->reuse_key,
            .preferred_chain = st->preferred_chain,
            .profile = st->profile ? st->profile : cfg->profile,
            .timeout_s = st->timeout_s ? st->timeout_s : 300,
            .challenge = cfg->challenge,
            .dns_hook = cfg->dns_hook,
            .dns_resolver = cfg->dns_resolver,
        };
    nacme_verbose(st->ctx, "%s: %zu sites", cfg->nginx_conf, sites->nsites);
    r = run_batch(st, cfg, reqs, sites->nsites);
out:
    free(reqs);
    nginx_sites_free(sites);
    nginx_conf_free(conf);
    return r;
}

/* --separate: one certificate per name, concurrently. */
static enum nacme_err run_issue_batch(struct cli_state *st, struct nacme_config *cfg,
                                      enum nacme_keytype kt)
{
    struct issue_request *reqs = NULL;
    enum nacme_err r;
    size_t i, n = st->ndomains;

    if ((reqs = calloc(n, sizeof(*reqs))) == NULL)
        return nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
    for (i = 0; i < n; i++)
        reqs[i] = (struct issue_request){
            .names = (const char *const *)&st->domains[i],
            .nnames = 1,
            .cert_name = default_cert_name(st->domains[i]),
            .key_type = kt,
            .force = st->force,
            .reuse_key = st->reuse_key,
            .preferred_chain = st->preferred_chain,
            .profile = st->profile ? st->profile : cfg->profile,
            .timeout_s = st->timeout_s ? st->timeout_s : 300,
            .challenge = cfg->challenge,
            .dns_hook = cfg->dns_hook,
            .dns_resolver = cfg->dns_resolver,
        };
    r = run_batch(st, cfg, reqs, n);
    free(reqs);
    return r;
}

static enum nacme_err issue_locked(struct cli_state *st, struct nacme_config *cfg,
                                   enum nacme_keytype kt);

/* One nacme at a time per state directory: the lock is held until the store is freed. */
static enum nacme_err lock_state(struct cli_state *st, const struct nacme_config *cfg,
                                 struct nacme_store **store)
{
    enum nacme_err r;

    if ((r = store_open_new(st->ctx, cfg->state_dir, store)) != NACME_OK ||
        (r = store_lock(st->ctx, *store, (int)cfg->lock_wait)) != NACME_OK)
        return r;
    st->after_unfinished_run = (*store)->previous_died;
    return NACME_OK;
}

enum nacme_err cmd_issue(struct cli_state *st, struct nacme_config *cfg)
{
    struct nacme_store *store = NULL;
    enum nacme_keytype kt;
    enum nacme_err r;

    /* Usage errors first: they need no lock, nor a state directory. */
    if ((r = check_issue_options(st, cfg, &kt)) != NACME_OK)
        return r;
    if ((r = lock_state(st, cfg, &store)) == NACME_OK)
        r = issue_locked(st, cfg, kt);
    store_free(store);
    return r;
}

static enum nacme_err issue_locked(struct cli_state *st, struct nacme_config *cfg,
                                   enum nacme_keytype kt)
{
    struct issue_request req = {.timeout_s = st->timeout_s ? st->timeout_s : 300,
                                .force = st->force,
                                .reuse_key = st->reuse_key,
                                .preferred_chain = st->preferred_chain,
                                .profile = st->profile ? st->profile : cfg->profile,
                                .key_type = kt,
                                .challenge = cfg->challenge,
                                .dns_hook = cfg->dns_hook,
                                .dns_resolver = cfg->dns_resolver};
    struct deploy_opts dopt;
    struct issue_batch_opts opt = {.parallel = 1, .sweep_tokens = st->after_unfinished_run};
    struct issue_result res;
    char date[32];
    struct tm tm;
    enum nacme_err r;

    if (st->nginx)
        return run_nginx_batch(st, cfg, req.key_type);
    if (st->separate)
        return run_issue_batch(st, cfg, req.key_type);
    req.names = (const char *const *)st->domains;
    req.nnames = st->ndomains;
    req.cert_name = st->cert_name ? st->cert_name : default_cert_name(req.names[0]);
    if (st->reload) {
        cli_deploy_opts(cfg, &dopt);
        opt.deploy = &dopt;
    }
    if ((r = issue_batch_run(st->ctx, cfg, &req, 1, &opt, &res)) != NACME_OK) {
        /* --json: the failure as data on stdout too; the error line still goes to stderr. A
         * certificate issued but not made live (--reload: nginx refused it) failed as well. */
        if (st->json && res.outcome != ISSUE_FAILED) {
            res.outcome = ISSUE_FAILED;
            snprintf(res.errmsg, sizeof(res.errmsg), "%s", st->ctx->errmsg);
        }
        if (st->json)
            cli_json_print(st, issue_json_new(&req, cfg, &res));
        return r;
    }
    if (res.outcome == ISSUE_ISSUED) {
        gmtime_r(&res.not_after, &tm);
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
        nacme_info(st->ctx, "%s: certificate issued, valid until %s: %s/live/%s/", req.names[0],
                   date, cfg->state_dir, req.cert_name ? req.cert_name : req.names[0]);
    }
    if (st->json)
        cli_json_print(st, issue_json_new(&req, cfg, &res));
    return NACME_OK;
}
