/*
 * cmd_list.c - `nacme list` (alias `status`): every lineage, its expiry and its next renewal, from
 * the state directory alone (no CA, no network, no lock, nothing written), as a table or with
 * --json as an array for monitoring; and --metrics, written after issue, renew and list.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_cmd.h"
#include "metrics.h"
#include "status.h"
#include "store.h"

/* One line for the exit status: what a person must look at first. */
static enum nacme_err verdict(struct cli_state *st, const struct status_list *l)
{
    size_t i, alarms = 0, first_alarm = 0, first_error = 0;

    for (i = 0; i < l->n; i++) {
        const struct status_entry *e = &l->entries[i];
        if (e->lin == NULL && l->entries[first_error].lin != NULL)
            first_error = i;
        if (e->lin != NULL && status_alarm(e, st->now) && alarms++ == 0)
            first_alarm = i;
    }
    if (l->unreadable > 0)
        return nacme_fail(st->ctx, NACME_E_INVALID,
                          "%zu of %zu lineages cannot be read%s; the first: %s", l->unreadable,
                          l->n, alarms ? " and more need attention" : "",
                          l->entries[first_error].error);
    if (alarms > 0)
        return nacme_fail(st->ctx, NACME_E_INVALID,
                          "%zu certificate%s expired or close to expiry; the first: %s (%s)",
                          alarms, alarms == 1 ? "" : "s", l->entries[first_alarm].name,
                          status_state(&l->entries[first_alarm], st->now));
    return NACME_OK;
}

/* Opening the store makes a missing state directory; a listing must not write anything, so a
 * missing one is simply empty (*store stays NULL). */
static enum nacme_err store_open_existing(struct nacme_ctx *ctx, const char *path,
                                          struct nacme_store **store)
{
    struct stat sb;

    *store = NULL;
    if (stat(path, &sb) != 0 && errno == ENOENT)
        return NACME_OK;
    return store_open_new(ctx, path, store);
}

enum nacme_err cmd_list(struct cli_state *st, struct nacme_config *cfg)
{
    struct nacme_store *store = NULL;
    struct status_list *l = NULL;
    json_t *arr = NULL;
    size_t i;
    enum nacme_err r;

    if ((r = store_open_existing(st->ctx, cfg->state_dir, &store)) != NACME_OK)
        goto out;
    if (store == NULL && st->cert_name != NULL) {
        r = nacme_fail(st->ctx, NACME_E_NOTFOUND, "%s/live/%s: no such certificate",
                       cfg->state_dir, st->cert_name);
        goto out;
    }
    if (store == NULL && (l = calloc(1, sizeof(*l))) == NULL) {
        r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    if (store != NULL &&
        (r = status_collect_new(st->ctx, store, st->cert_name, cfg->renew_before_days, st->now,
                                &l)) != NACME_OK)
        goto out;
    if (st->json) {
        if ((arr = json_array()) == NULL) {
            r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
            goto out;
        }
        for (i = 0; i < l->n; i++) {
            json_t *o = status_json_new(&l->entries[i], st->now);
            if (o == NULL || json_array_append_new(arr, o) != 0) {
                json_decref(arr);
                r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
                goto out;
            }
        }
        cli_json_print(st, arr);
    } else if (l->n == 0) {
        if (st->ctx->loglevel >= NACME_LOG_INFO)
            printf("no certificates under %s/live\n", cfg->state_dir);
    } else {
        status_table_print(stdout, l, st->now);
    }
    fflush(stdout);
    r = verdict(st, l);
out:
    status_list_free(l);
    store_free(store);
    return r;
}

enum nacme_err cli_metrics_after(struct cli_state *st, const struct nacme_config *cfg,
                                 const char *command, enum nacme_err result)
{
    struct metrics_run run = {.time = (long long)st->now, .success = result == NACME_OK};
    struct nacme_store *store = NULL;
    struct status_list *l = NULL;
    struct nacme_ctx c;
    enum nacme_err r;

    snprintf(run.command, sizeof(run.command), "%s", command);
    nacme_ctx_init(&c);
    c.loglevel = st->ctx->loglevel;
    c.logf = st->ctx->logf;
    /* Without the lineages (no state directory yet) the run itself is still worth recording. */
    if (store_open_existing(&c, cfg->state_dir, &store) != NACME_OK ||
        (store != NULL &&
         status_collect_new(&c, store, NULL, cfg->renew_before_days, st->now, &l) != NACME_OK))
        fprintf(stderr, "nacme: warning: metrics without certificates: %s\n", c.errmsg);
    c.err = NACME_OK;
    if ((r = metrics_write(&c, cfg->metrics_file, l, &run)) != NACME_OK) {
        if (result == NACME_OK)
            result = nacme_fail(st->ctx, r, "%s", c.errmsg);
        else
            fprintf(stderr, "nacme: %s\n", c.errmsg);
    }
    status_list_free(l);
    store_free(store);
    return result;
}
