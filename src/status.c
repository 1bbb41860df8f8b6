/* status.c - each lineage's state from lineage.json (or cert.pem), for `nacme list` and metrics. */
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "rfc3339.h"

#define DAY (24L * 3600)

static enum nacme_err oom(struct nacme_ctx *ctx)
{
    return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
}

/* ---- errors --------------------------------------------------------------------------------- */

enum nacme_err status_set_error(struct status_entry *e, const char *cause,
                                const char *known_file)
{
    const char *at = strstr(cause, known_file), *base = strrchr(known_file, '/');
    struct nacme_buf reason = {0};
    size_t flen = strlen(known_file);

    base = base ? base + 1 : known_file;
    free(e->error);
    free(e->file);
    free(e->reason);
    e->error = nacme_strdup_new(cause);
    e->file = nacme_strdup_new(known_file);
    /* The reason names the file by its last component: the full path is in file already. */
    if (at == NULL) {
        e->reason = nacme_strdup_new(cause);
    } else if (nacme_buf_append(&reason, cause, (size_t)(at - cause)) == 0 &&
               nacme_buf_append(&reason, base, strlen(base)) == 0 &&
               nacme_buf_append(&reason, at + flen, strlen(at + flen)) == 0) {
        e->reason = reason.data;
        reason.data = NULL;
    }
    nacme_buf_clear(&reason);
    return e->error && e->file && e->reason ? NACME_OK : NACME_E_NOMEM;
}

/* The file a failed step was reading, named the way store.c names it in its messages: the
 * longest of the candidates that the cause mentions (a cause about live/NAME/cert.pem mentions
 * live/NAME too), else the first. */
static const char *blamed_file(const char *cause, char *const *candidates, size_t n)
{
    const char *best = candidates[0];
    size_t i, best_len = 0;

    for (i = 0; i < n; i++)
        if (candidates[i] != NULL && strstr(cause, candidates[i]) != NULL &&
            strlen(candidates[i]) > best_len) {
            best = candidates[i];
            best_len = strlen(candidates[i]);
        }
    return best;
}

/* ---- collecting ----------------------------------------------------------------------------- */

/* The certificate facts of the live version, from renew's record when it describes that
 * version, else from cert.pem (then everything else in the record belonged to another
 * certificate, as renew's cache_fill decides too). */
static enum nacme_err facts_fill(struct nacme_ctx *ctx, struct nacme_store *st,
                                 struct status_entry *e)
{
    struct store_renewal *rn = &e->lin->renewal;
    struct cert_info *ci = NULL;
    char *pem = NULL;
    enum nacme_err r;

    if (rn->cert_version == e->lin->version && rn->not_after > 0)
        return NACME_OK;
    store_renewal_clear(rn);
    e->from_cert = true;
    if ((r = store_live_cert_new(ctx, st, e->name, &pem)) != NACME_OK ||
        (r = cert_info_new(ctx, pem, &ci)) != NACME_OK)
        goto out;
    rn->cert_version = e->lin->version;
    rn->not_before = ci->not_before;
    rn->not_after = ci->not_after;
    if (ci->ari_certid != NULL && (rn->certid = nacme_strdup_new(ci->ari_certid)) == NULL)
        r = oom(ctx);
out:
    cert_info_free(ci);
    free(pem);
    return r;
}

static enum nacme_err entry_fill(struct nacme_ctx *ctx, struct nacme_store *st,
                                 struct status_entry *e, long before_days, time_t now)
{
    char *files[4] = {NULL, NULL, NULL, NULL};
    struct nacme_ctx c;
    enum nacme_err r = NACME_OK;
    size_t i;

    nacme_ctx_init(&c);
    c.loglevel = ctx->loglevel;
    c.logf = ctx->logf;
    if (store_lineage_load_new(&c, st, e->name, &e->lin) == NACME_OK &&
        facts_fill(&c, st, e) == NACME_OK) {
        renew_decide(&e->lin->renewal, before_days, false, now, &e->dec);
        /* The installation time is worth a line of its own, not the lineage's failure. */
        if (store_version_mtime(&c, st, e->name, e->lin->version, &e->installed) != NACME_OK)
            nacme_verbose(ctx, "%s", c.errmsg);
        return NACME_OK;
    }
    if (c.err == NACME_E_NOMEM)
        return nacme_fail(ctx, NACME_E_NOMEM, "%s", c.errmsg);
    store_lineage_free(e->lin);
    e->lin = NULL;
    if ((files[0] = nacme_printf_new("%s/archive/%s/lineage.json", st->path, e->name)) == NULL ||
        (files[1] = nacme_printf_new("%s/live/%s/cert.pem", st->path, e->name)) == NULL ||
        (files[2] = nacme_printf_new("%s/live/%s", st->path, e->name)) == NULL ||
        (files[3] = nacme_printf_new("%s/archive/%s", st->path, e->name)) == NULL ||
        status_set_error(e, c.errmsg, blamed_file(c.errmsg, files, 4)) != NACME_OK)
        r = oom(ctx);
    for (i = 0; i < 4; i++)
        free(files[i]);
    return r;
}

enum nacme_err status_collect_new(struct nacme_ctx *ctx, struct nacme_store *st, const char *only,
                                  long before_days, time_t now, struct status_list **out)
{
    struct status_list *l = NULL;
    char **names = NULL;
    size_t nnames = 0, i;
    enum nacme_err r;

    *out = NULL;
    if ((r = store_lineage_list_new(ctx, st, &names, &nnames)) != NACME_OK)
        goto out;
    if ((l = calloc(1, sizeof(*l))) == NULL ||
        (l->entries = calloc(nnames ? nnames : 1, sizeof(*l->entries))) == NULL) {
        r = oom(ctx);
        goto out;
    }
    for (i = 0; i < nnames; i++) {
        struct status_entry *e = &l->entries[l->n];
        if (only != NULL && strcmp(only, names[i]) != 0)
            continue;
        e->name = names[i];
        names[i] = NULL;
        l->n++;
        if ((r = entry_fill(ctx, st, e, before_days, now)) != NACME_OK)
            goto out;
        l->unreadable += e->lin == NULL;
    }
    if (only != NULL && l->n == 0) {
        r = nacme_fail(ctx, NACME_E_NOTFOUND, "%s/live/%s: no such certificate", st->path, only);
        goto out;
    }
    *out = l;
    l = NULL;
out:
    store_names_free(names, nnames);
    status_list_free(l);
    return r;
}

void status_list_free(struct status_list *l)
{
    size_t i;

    if (l == NULL)
        return;
    for (i = 0; i < l->n; i++) {
        free(l->entries[i].name);
        store_lineage_free(l->entries[i].lin);
        free(l->entries[i].error);
        free(l->entries[i].file);
        free(l->entries[i].reason);
    }
    free(l->entries);
    free(l);
}

/* ---- judging -------------------------------------------------------------------------------- */

long status_days_left(time_t not_after, time_t now)
{
    long long d = (long long)not_after - (long long)now;

    /* Rounded down, also below zero: one second past expiry is day -1, not day 0. */
    return (long)(d >= 0 ? d / DAY : -((-d + DAY - 1) / DAY));
}

const char *status_state(const struct status_entry *e, time_t now)
{
    if (e->lin == NULL)
        return "error";
    if (now >= e->lin->renewal.not_after)
        return "expired";
    if (e->lin->renewal.failures > 0)
        return "failing";
    if (now >= e->dec.at)
        return "due";
    return "ok";
}

bool status_alarm(const struct status_entry *e, time_t now)
{
    const struct store_renewal *rn;
    time_t margin = (time_t)STATUS_ALARM_DAYS * DAY, third;

    if (e->lin == NULL)
        return true;
    rn = &e->lin->renewal;
    third = (rn->not_after - rn->not_before) / 3;
    if (third > 0 && third < margin)
        margin = third;
    return now >= rn->not_after || renew_alarm(rn, now) || rn->not_after - now < margin;
}

/* ---- JSON ----------------------------------------------------------------------------------- */

/* KEY as an RFC 3339 string and KEY_epoch as seconds, both null when t is 0 (none). */
static int set_time(json_t *o, const char *key, time_t t)
{
    char text[32], epoch_key[64];

    snprintf(epoch_key, sizeof(epoch_key), "%s_epoch", key);
    if (t <= 0)
        return json_object_set_new(o, key, json_null()) |
               json_object_set_new(o, epoch_key, json_null());
    rfc3339_format(t, text, sizeof(text));
    return json_object_set_new(o, key, json_string(text)) |
           json_object_set_new(o, epoch_key, json_integer((json_int_t)t));
}

static json_t *string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *status_json_new(const struct status_entry *e, time_t now)
{
    static const char *const time_keys[] = {"not_before",   "not_after",  "next_renewal",
                                            "last_success", "last_failure", "next_attempt"};
    static const char *const null_keys[] = {"key_type",  "server",      "webroot", "challenge",
                                            "version",
                                            "days_left", "next_renewal_source", "ari_window",
                                            "ari_explanation", "failures", "last_error",
                                            "retry_after", "certid", "profile",
                                            "reuse_key", "preferred_chain"};
    const struct store_renewal *rn = e->lin ? &e->lin->renewal : NULL;
    json_t *o = json_object(), *d = NULL, *w = NULL;
    int bad = 0;
    size_t i;

    if (o == NULL)
        return NULL;
    bad |= json_object_set_new(o, "name", json_string(e->name));
    bad |= json_object_set_new(o, "status", json_string(status_state(e, now)));
    bad |= json_object_set_new(o, "alarm", json_boolean(status_alarm(e, now)));
    bad |= json_object_set_new(o, "error", string_or_null(e->error));
    bad |= json_object_set_new(o, "file", string_or_null(e->file));
    bad |= json_object_set_new(o, "reason", string_or_null(e->reason));
    if (rn == NULL) {
        /* The same fields as a readable lineage, all null: a monitoring check reads one shape. */
        bad |= json_object_set_new(o, "domains", json_null());
        for (i = 0; i < sizeof(null_keys) / sizeof(null_keys[0]); i++)
            bad |= json_object_set_new(o, null_keys[i], json_null());
        for (i = 0; i < sizeof(time_keys) / sizeof(time_keys[0]); i++)
            bad |= set_time(o, time_keys[i], 0);
        bad |= json_object_set_new(o, "due", json_null());
        bad |= json_object_set_new(o, "expired", json_null());
        goto out;
    }
    if ((d = json_array()) == NULL)
        goto fail;
    for (i = 0; i < e->lin->ndomains; i++)
        bad |= json_array_append_new(d, json_string(e->lin->domains[i]));
    bad |= json_object_set_new(o, "domains", d);
    bad |= json_object_set_new(o, "key_type", json_string(e->lin->key_type));
    bad |= json_object_set_new(o, "server", json_string(e->lin->server));
    bad |= json_object_set_new(o, "webroot", json_string(e->lin->webroot));
    bad |= json_object_set_new(o, "challenge", string_or_null(e->lin->challenge));
    bad |= json_object_set_new(o, "version", json_integer(e->lin->version));
    bad |= json_object_set_new(o, "profile", string_or_null(e->lin->profile));
    bad |= json_object_set_new(o, "reuse_key", json_boolean(e->lin->reuse_key));
    bad |= json_object_set_new(o, "preferred_chain", string_or_null(e->lin->preferred_chain));
    bad |= json_object_set_new(o, "certid", string_or_null(rn->certid));
    bad |= set_time(o, "not_before", rn->not_before);
    bad |= set_time(o, "not_after", rn->not_after);
    bad |= json_object_set_new(o, "days_left",
                               json_integer(status_days_left(rn->not_after, now)));
    bad |= json_object_set_new(o, "expired", json_boolean(now >= rn->not_after));
    bad |= set_time(o, "next_renewal", e->dec.at);
    bad |= json_object_set_new(o, "next_renewal_source",
                               json_string(renew_source_name(e->dec.source)));
    bad |= json_object_set_new(o, "due", json_boolean(now >= e->dec.at));
    if (rn->ari_end > 0) {
        if ((w = json_object()) == NULL)
            goto fail;
        bad |= set_time(w, "start", rn->ari_start);
        bad |= set_time(w, "end", rn->ari_end);
        bad |= json_object_set_new(o, "ari_window", w);
    } else {
        bad |= json_object_set_new(o, "ari_window", json_null());
    }
    bad |= json_object_set_new(o, "ari_explanation", string_or_null(rn->ari_explanation));
    bad |= set_time(o, "last_success", e->installed);
    bad |= json_object_set_new(o, "failures", json_integer(rn->failures));
    bad |= set_time(o, "last_failure", rn->last_failure);
    bad |= json_object_set_new(o, "last_error", string_or_null(rn->last_error));
    bad |= json_object_set_new(o, "retry_after",
                               rn->retry_after > 0 ? json_integer(rn->retry_after) : json_null());
    bad |= set_time(o, "next_attempt", rn->failures > 0 ? rn->next_attempt : 0);
out:
    if (!bad)
        return o;
fail:
    json_decref(o);
    return NULL;
}

/* ---- the table ------------------------------------------------------------------------------ */

static void fmt_time(time_t t, char *buf, size_t size)
{
    struct tm tm;

    if (t <= 0) {
        snprintf(buf, size, "-");
        return;
    }
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M", &tm);
}

void status_table_print(FILE *f, const struct status_list *l, time_t now)
{
    char until[32], next[32], attempt[32], state[16], domains[64];
    int w = 4;
    size_t i, k;

    for (i = 0; i < l->n; i++)
        if ((int)strlen(l->entries[i].name) > w)
            w = (int)strlen(l->entries[i].name);
    fprintf(f, "%-*s %-7s %-16s %5s %-16s %-17s %-8s %s\n", w, "NAME", "KEY", "NOT AFTER (UTC)",
            "DAYS", "RENEWAL (UTC)", "SOURCE", "STATUS", "DOMAINS");
    for (i = 0; i < l->n; i++) {
        const struct status_entry *e = &l->entries[i];
        const struct store_renewal *rn;
        /* Upper case for what needs a person, so that it stands out in a long list. */
        snprintf(state, sizeof(state), "%s", status_state(e, now));
        if (status_alarm(e, now) || e->lin == NULL || e->lin->renewal.failures > 0)
            for (k = 0; state[k]; k++)
                state[k] = (char)(state[k] >= 'a' && state[k] <= 'z' ? state[k] - 32 : state[k]);
        if (e->lin == NULL) {
            fprintf(f, "%-*s %-7s %-16s %5s %-16s %-17s %-8s %s -- %s: %s\n", w, e->name, "-",
                    "-", "-", "-", "-", state, "-", e->file, e->reason);
            continue;
        }
        rn = &e->lin->renewal;
        fmt_time(rn->not_after, until, sizeof(until));
        fmt_time(e->dec.at, next, sizeof(next));
        if (e->lin->ndomains > 1)
            snprintf(domains, sizeof(domains), "%s +%zu", e->lin->domains[0],
                     e->lin->ndomains - 1);
        else
            snprintf(domains, sizeof(domains), "%s", e->lin->domains[0]);
        fprintf(f, "%-*s %-7s %-16s %5ld %-16s %-17s %-8s %s", w, e->name, e->lin->key_type,
                until, status_days_left(rn->not_after, now), next,
                renew_source_name(e->dec.source), state, domains);
        if (e->lin->profile != NULL)
            fprintf(f, " profile %s", e->lin->profile);
        if (rn->failures > 0) {
            fmt_time(rn->next_attempt, attempt, sizeof(attempt));
            fprintf(f, " -- %d failure%s, next attempt %s UTC: %s", rn->failures,
                    rn->failures == 1 ? "" : "s", attempt,
                    rn->last_error ? rn->last_error : "?");
        }
        fputc('\n', f);
    }
}
