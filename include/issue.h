/* issue.h - obtaining one certificate: account, order, http-01, finalize, check, install. */
#ifndef NACME_ISSUE_H
#define NACME_ISSUE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "keys.h"
#include "nacme.h"

struct issue_request {
    const char *const *names; /* validated and normalized DNS names */
    size_t nnames;
    const char *cert_name;    /* lineage name; names[0] when NULL */
    enum nacme_keytype key_type;
    bool force;               /* replace a certificate that is not yet due */
    bool reuse_key;           /* the live version's key instead of a fresh one (recorded) */
    const char *preferred_chain; /* issuer CN of the chain to pick, or NULL (recorded) */
    const char *profile;      /* the CA's certificate profile to ask for, or NULL (recorded) */
    int timeout_s;            /* overall deadline for validation and issuance */
    const char *replaces;     /* RFC 9773 CertID of the certificate being renewed, or NULL */
    bool dry_run;             /* the whole protocol, then nothing installed */
    const char *challenge;    /* NACME_CHALLENGE_HTTP01 (also when NULL) or _DNS01 (recorded) */
    const char *dns_hook;     /* dns-01: the hook (recorded) */
    const char *dns_resolver; /* dns-01: the resolver to wait for, or NULL (recorded) */
};

enum issue_outcome {
    ISSUE_FAILED = 0,
    ISSUE_ISSUED,
    ISSUE_UNCHANGED, /* a valid certificate for the same names was not due */
    ISSUE_DRY_RUN,   /* issued and checked, not installed (--dry-run) */
};

struct issue_result {
    enum issue_outcome outcome;
    int version;      /* archive version now live */
    time_t not_after; /* of the live certificate */
    time_t renew_at;  /* when it becomes due */
    unsigned requests; /* HTTP requests sent to the CA for this order (for a single issue: all) */
    enum nacme_err err;    /* NACME_OK unless the outcome is ISSUE_FAILED */
    char errmsg[1024];     /* the one-line cause of a failure */
    char problem_type[128]; /* the CA's problem type behind a failure, or "" */
    long retry_after;       /* the CA's Retry-After (s) with that problem, -1 when none */
    bool run_failure;       /* failed because the run could not reach the CA or set up the
                             * account: the same cause for every certificate that needed it */
    bool reload_needed;     /* a run failure before any order: an interrupted account key
                             * rollover rewrote the stateless snippet and nginx must be reloaded
                             * first; no fault of the certificate or the CA (renew records no
                             * failure, so no backoff) */
};

/* One certificate; on failure ctx carries the cause. */
enum nacme_err issue_run(struct nacme_ctx *ctx, const struct nacme_config *cfg,
                         const struct issue_request *req, struct issue_result *res);

struct deploy_opts;
struct nacme_store;

/* New versions staged by one or more batches, waiting for one deploy_run over all of them: how a
 * run that renews lineages of several CAs or webroots (several batches) still tests, switches and
 * reloads nginx once. */
struct issue_pending;
struct issue_pending *issue_pending_new(void); /* NULL on OOM */
void issue_pending_free(struct issue_pending *p);
/* How many new versions p holds. */
size_t issue_pending_count(const struct issue_pending *p);
/* deploy_run over everything p holds (deploy.h); NACME_OK when it holds nothing. */
enum nacme_err issue_pending_deploy(struct nacme_ctx *ctx, struct nacme_store *st,
                                    struct issue_pending *p, const struct deploy_opts *o);

struct issue_batch_opts {
    int parallel;  /* orders in flight at once */
    const struct deploy_opts *deploy; /* when set, new versions go live through deploy_run:
                                       * nginx tested, switched, reloaded once, checked */
    struct issue_pending *pending;    /* with deploy: the staged versions are handed over here
                                       * instead, for the caller's issue_pending_deploy; an
                                       * issued result then means staged, not yet live */
    bool progress; /* report progress on ctx->logf (stderr) */
    bool live;     /* as a live line (a terminal) rather than a line per certificate */
    bool sweep_tokens; /* the run before did not finish: remove the token files it left in the
                          webroot (challenge_webroot_sweep) once the account is known */
};

/* Many certificates in one run: one connection, one account, up to opt->parallel orders at once.
 * Every request gets its result in res[i] (n entries); one failing does not stop the others. An
 * interrupt stops starting new orders and lets those in flight wind down. Returns NACME_OK when
 * all succeeded. When the run itself could not be set up (the CA unreachable, the account refused),
 * that error and its one-line cause; otherwise the first failure's error, with ctx naming how many
 * failed. */
enum nacme_err issue_batch_run(struct nacme_ctx *ctx, const struct nacme_config *cfg,
                               const struct issue_request *reqs, size_t n,
                               const struct issue_batch_opts *opt, struct issue_result *res);

#endif
