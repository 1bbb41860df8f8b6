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
    int timeout_s;            /* overall deadline for validation and issuance */
};

enum issue_outcome {
    ISSUE_FAILED = 0,
    ISSUE_ISSUED,
    ISSUE_UNCHANGED, /* a valid certificate for the same names was not due */
};

struct issue_result {
    enum issue_outcome outcome;
    int version;      /* archive version now live */
    time_t not_after; /* of the live certificate */
    time_t renew_at;  /* when it becomes due */
    unsigned requests; /* HTTP requests sent to the CA */
};

enum nacme_err issue_run(struct nacme_ctx *ctx, const struct nacme_config *cfg,
                         const struct issue_request *req, struct issue_result *res);

#endif
