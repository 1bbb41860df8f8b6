/* deploy.c - switching live/ between two nginx configuration tests, then one reload. */
#include "deploy.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nginx_ctl.h"

#define DEPLOY_POLL_MS 100

static void watch_served(struct nacme_ctx *ctx, const struct deploy_opts *o,
                         struct deploy_item *items, size_t n)
{
    struct nacme_ctx quiet;
    char *served = NULL;
    size_t i;

    nacme_ctx_init(&quiet); /* a name nginx does not serve over TLS is not an error here */
    for (i = 0; i < n; i++) {
        items[i].watched = false;
        if (items[i].old_serial == NULL ||
            nginx_served_serial_new(&quiet, o->host, o->https_port, items[i].sni, &served) !=
                NACME_OK)
            continue;
        items[i].watched = strcmp(served, items[i].old_serial) == 0;
        nacme_verbose(ctx, "%s: nginx serves %s", items[i].sni,
                      items[i].watched ? "the current certificate: will check the new one"
                                       : "another certificate: not checked after reload");
        free(served);
        served = NULL;
    }
}

/* Point live/ back where it was for every item switched so far. */
static void switch_back(struct nacme_ctx *ctx, struct nacme_store *st, struct deploy_item *items,
                        size_t n)
{
    struct nacme_ctx c;
    size_t i;

    for (i = 0; i < n; i++) {
        if (!items[i].switched)
            continue;
        nacme_ctx_init(&c);
        if ((items[i].lin_old != NULL
                 ? store_lineage_switch(&c, st, items[i].lin_old, items[i].old_version)
                 : store_live_remove(&c, st, items[i].lin_new->name)) != NACME_OK)
            nacme_log(ctx, NACME_LOG_ERROR, "cannot switch %s back: %s", items[i].lin_new->name,
                      c.errmsg);
        else
            items[i].switched = false;
    }
}

static enum nacme_err switch_all(struct nacme_ctx *ctx, struct nacme_store *st,
                                 struct deploy_item *items, size_t n)
{
    enum nacme_err r;
    size_t i;

    for (i = 0; i < n; i++) {
        if ((r = store_lineage_switch(ctx, st, items[i].lin_new, items[i].new_version)) !=
            NACME_OK) {
            switch_back(ctx, st, items, n);
            return r;
        }
        items[i].switched = true;
    }
    return NACME_OK;
}

/* After the reload: every watched name must present its new certificate within o->verify_ms. */
static enum nacme_err verify(struct nacme_ctx *ctx, const struct deploy_opts *o,
                             struct deploy_item *items, size_t n, long log_before)
{
    struct nacme_ctx quiet;
    struct timespec start, now;
    char *served = NULL, *emerg;
    size_t i;
    bool ok;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (i = 0; i < n; i++) {
        if (!items[i].watched)
            continue;
        for (;;) {
            nacme_ctx_init(&quiet);
            ok = nginx_served_serial_new(&quiet, o->host, o->https_port, items[i].sni,
                                         &served) == NACME_OK &&
                 strcmp(served, items[i].new_serial) == 0;
            free(served);
            served = NULL;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (ok || (now.tv_sec - start.tv_sec) * 1000 +
                              (now.tv_nsec - start.tv_nsec) / 1000000 > o->verify_ms)
                break;
            if (nacme_sleep_ms(DEPLOY_POLL_MS) != 0)
                return nacme_fail(ctx, NACME_E_INTERRUPTED, "interrupted checking nginx");
        }
        if (!ok) {
            emerg = nginx_last_emerg_new(o->error_log, log_before);
            nacme_fail(ctx, NACME_E_IO,
                       "%s: nginx still serves the old certificate %d s after \"%s\"%s%s",
                       items[i].sni, o->verify_ms / 1000, o->reload_cmd,
                       emerg ? "; its error log says: " : "", emerg ? emerg : "");
            free(emerg);
            return ctx->err;
        }
        nacme_verbose(ctx, "%s: nginx serves the new certificate", items[i].sni);
    }
    return NACME_OK;
}

enum nacme_err deploy_run(struct nacme_ctx *ctx, struct nacme_store *st,
                          const struct deploy_opts *o, struct deploy_item *items, size_t n)
{
    char *output = NULL;
    long log_before;
    bool running;
    enum nacme_err r;

    if (n == 0)
        return NACME_OK;
    if ((r = nginx_test(ctx, o->test_cmd, &output)) != NACME_OK) {
        nacme_fail_prefix(ctx, "nginx's configuration is broken before any change; the new "
                               "certificates stay staged, live/ is unchanged, nginx not reloaded");
        if (output)
            nginx_output_show(ctx, output);
        goto out;
    }
    free(output);
    output = NULL;
    if ((running = nginx_running(o->pid_file)))
        watch_served(ctx, o, items, n);
    if ((r = switch_all(ctx, st, items, n)) != NACME_OK)
        goto out;
    if ((r = nginx_test(ctx, o->test_cmd, &output)) != NACME_OK) {
        switch_back(ctx, st, items, n);
        nacme_fail_prefix(ctx, "nginx refuses the new certificates; live/ switched back");
        if (output)
            nginx_output_show(ctx, output);
        goto out;
    }
    if (!running) {
        nacme_info(ctx, "nginx is not running (no live process in %s): the new certificates are "
                        "live for its next start; not starting it",
                   o->pid_file);
        goto out;
    }
    log_before = nginx_error_log_size(o->error_log);
    if ((r = nginx_reload(ctx, o->reload_cmd, o->pid_file)) != NACME_OK ||
        (r = verify(ctx, o, items, n, log_before)) != NACME_OK)
        goto out;
    nacme_info(ctx, "nginx reloaded (\"%s\")", o->reload_cmd);
out:
    free(output);
    return r;
}
