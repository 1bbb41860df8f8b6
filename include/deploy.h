/*
 * deploy.h - making staged certificate versions live without ever leaving nginx broken:
 *   1. test nginx's configuration as it is; broken already: switch nothing, reload nothing;
 *   2. note which of the lineages nginx serves now (a TLS handshake per name);
 *   3. switch every live/NAME to its new version;
 *   4. test again; failing now: switch every one back;
 *   5. nginx not running: say so and stop there (never start it);
 *   6. reload once;
 *   7. check that nginx serves each new certificate it served the old one of.
 */
#ifndef NACME_DEPLOY_H
#define NACME_DEPLOY_H

#include <stdbool.h>

#include "nacme.h"
#include "store.h"

struct deploy_opts {
    const char *test_cmd;   /* "nginx -t" */
    const char *reload_cmd; /* "nginx -s reload" */
    const char *pid_file;   /* the nginx master's */
    const char *error_log;  /* for the [emerg] line behind a reload that did not apply */
    const char *host;       /* where nginx listens for HTTPS, "127.0.0.1" */
    int https_port;
    int verify_ms;          /* how long the new certificates may take to appear */
};

struct deploy_item {
    struct store_lineage *lin_new; /* the record to write with the new version */
    struct store_lineage *lin_old; /* the record before, or NULL for a first version */
    int new_version;
    int old_version;               /* 0: none */
    const char *sni;               /* a name the certificate is served for */
    const char *new_serial;
    const char *old_serial;        /* NULL for a first version */
    bool watched;                  /* nginx served the old version: it must serve the new */
    bool switched;
};

/* Steps 1-7 for n staged items. NACME_OK when every new version is live and, where nginx served
 * the old one, served; otherwise the cause, with live/ as it was before for steps 1 and 4. */
enum nacme_err deploy_run(struct nacme_ctx *ctx, struct nacme_store *st,
                          const struct deploy_opts *o, struct deploy_item *items, size_t n);

#endif
