/* metrics.c - the Prometheus textfile for node_exporter's textfile collector. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safefile.h"

#define METRICS_FILE_MAX (16 * 1024 * 1024)
#define METRICS_MODE 0644 /* read by node_exporter, which runs as another user */

int metrics_label_escape(struct nacme_buf *b, const char *v)
{
    const char *p;
    int bad = 0;

    for (p = v; *p != '\0' && !bad; p++) {
        if (*p == '\\')
            bad = nacme_buf_append(b, "\\\\", 2);
        else if (*p == '"')
            bad = nacme_buf_append(b, "\\\"", 2);
        else if (*p == '\n')
            bad = nacme_buf_append(b, "\\n", 2);
        else
            bad = nacme_buf_append(b, p, 1);
    }
    return bad ? -1 : 0;
}

__attribute__((format(printf, 2, 3))) static int append(struct nacme_buf *b, const char *fmt,
                                                        ...)
{
    char *s = NULL;
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    rc = nacme_buf_append(b, s, (size_t)n);
    free(s);
    return rc;
}

/* What each per-lineage family reports; value() reads it from a readable entry. */
struct family {
    const char *name;
    const char *help;
    long long (*value)(const struct status_entry *e);
};

static long long not_after(const struct status_entry *e)
{
    return (long long)e->lin->renewal.not_after;
}

static long long next_renewal(const struct status_entry *e)
{
    return (long long)e->dec.at;
}

static long long last_success(const struct status_entry *e)
{
    return (long long)e->installed;
}

static long long last_failure(const struct status_entry *e)
{
    return (long long)e->lin->renewal.last_failure;
}

static long long failures(const struct status_entry *e)
{
    return e->lin->renewal.failures;
}

static const struct family families[] = {
    {"nacme_certificate_not_after_timestamp_seconds",
     "When the live certificate expires, in seconds since the epoch.", not_after},
    {"nacme_certificate_next_renewal_timestamp_seconds",
     "When nacme renew will renew the certificate (the CA's ARI window or the lifetime rule), "
     "in seconds since the epoch.",
     next_renewal},
    {"nacme_certificate_last_success_timestamp_seconds",
     "When the live certificate was obtained and installed, in seconds since the epoch.",
     last_success},
    {"nacme_certificate_last_failure_timestamp_seconds",
     "When renewing the live certificate last failed, in seconds since the epoch; 0 when it has "
     "not failed.",
     last_failure},
    {"nacme_certificate_consecutive_failures",
     "Failed renewals of the live certificate since it was installed.", failures},
};

static int format_lineages(struct nacme_buf *b, const struct status_list *l)
{
    size_t f, i;
    int bad = 0;

    for (f = 0; f < sizeof(families) / sizeof(families[0]) && !bad; f++) {
        bad |= append(b, "# HELP %s %s\n# TYPE %s gauge\n", families[f].name, families[f].help,
                      families[f].name);
        for (i = 0; l != NULL && i < l->n && !bad; i++) {
            const struct status_entry *e = &l->entries[i];
            if (e->lin == NULL)
                continue;
            bad |= append(b, "%s{name=\"", families[f].name);
            bad |= metrics_label_escape(b, e->name);
            bad |= append(b, "\"} %lld\n", families[f].value(e));
        }
    }
    if (bad)
        return -1;
    bad |= append(b, "# HELP nacme_certificate_read_error A lineage nacme cannot read (present "
                     "only for those), with the file at fault.\n"
                     "# TYPE nacme_certificate_read_error gauge\n");
    for (i = 0; l != NULL && i < l->n && !bad; i++) {
        const struct status_entry *e = &l->entries[i];
        if (e->lin != NULL)
            continue;
        bad |= append(b, "nacme_certificate_read_error{name=\"");
        bad |= metrics_label_escape(b, e->name);
        bad |= append(b, "\",file=\"");
        bad |= metrics_label_escape(b, e->file ? e->file : "");
        bad |= append(b, "\"} 1\n");
    }
    return bad ? -1 : 0;
}

int metrics_format(struct nacme_buf *b, const struct status_list *l,
                   const struct metrics_run *runs, size_t nruns)
{
    size_t i;
    int bad = 0;

    bad |= format_lineages(b, l);
    bad |= append(b, "# HELP nacme_last_run_timestamp_seconds When the command last ran, in "
                     "seconds since the epoch.\n"
                     "# TYPE nacme_last_run_timestamp_seconds gauge\n");
    for (i = 0; i < nruns && !bad; i++) {
        bad |= append(b, "nacme_last_run_timestamp_seconds{command=\"");
        bad |= metrics_label_escape(b, runs[i].command);
        bad |= append(b, "\"} %lld\n", runs[i].time);
    }
    bad |= append(b, "# HELP nacme_last_run_success 1 when the command's last run succeeded "
                     "(exit status 0), else 0.\n"
                     "# TYPE nacme_last_run_success gauge\n");
    for (i = 0; i < nruns && !bad; i++) {
        bad |= append(b, "nacme_last_run_success{command=\"");
        bad |= metrics_label_escape(b, runs[i].command);
        bad |= append(b, "\"} %d\n", runs[i].success ? 1 : 0);
    }
    return bad ? -1 : 0;
}

/* The run index of command in runs, adding it when there is room; -1 when full. */
static long run_slot(struct metrics_run *runs, size_t *n, size_t max, const char *command)
{
    size_t i;

    for (i = 0; i < *n; i++)
        if (strcmp(runs[i].command, command) == 0)
            return (long)i;
    if (*n == max)
        return -1;
    memset(&runs[*n], 0, sizeof(runs[*n]));
    snprintf(runs[*n].command, sizeof(runs[*n].command), "%s", command);
    return (long)(*n)++;
}

size_t metrics_runs_parse(const char *text, struct metrics_run *runs, size_t max)
{
    static const char *const prefixes[] = {"nacme_last_run_timestamp_seconds{command=\"",
                                           "nacme_last_run_success{command=\""};
    const char *line = text, *nl, *p, *q;
    char command[16], *end;
    size_t n = 0, k, len;
    long long v;
    long slot;

    for (; line != NULL && *line != '\0'; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        for (k = 0; k < 2; k++)
            if (strncmp(line, prefixes[k], strlen(prefixes[k])) == 0)
                break;
        if (k == 2)
            continue;
        /* Only what this file writes: a command of [a-z], then "} VALUE". */
        p = line + strlen(prefixes[k]);
        for (q = p; *q >= 'a' && *q <= 'z'; q++)
            ;
        len = (size_t)(q - p);
        if (len == 0 || len >= sizeof(command) || strncmp(q, "\"} ", 3) != 0)
            continue;
        memcpy(command, p, len);
        command[len] = '\0';
        errno = 0;
        v = strtoll(q + 3, &end, 10);
        if (errno != 0 || end == q + 3 || (*end != '\n' && *end != '\0') || v < 0)
            continue;
        if ((slot = run_slot(runs, &n, max, command)) < 0)
            continue;
        if (k == 0)
            runs[slot].time = v;
        else
            runs[slot].success = v == 1;
    }
    return n;
}

enum nacme_err metrics_write(struct nacme_ctx *ctx, const char *path, const struct status_list *l,
                             const struct metrics_run *run)
{
    struct metrics_run runs[METRICS_MAX_RUNS];
    struct nacme_ctx quiet;
    struct nacme_buf b = {0};
    const char *base = strrchr(path, '/');
    char *dir = NULL, *old = NULL;
    size_t nruns = 0;
    long slot;
    int dirfd = -1;
    enum nacme_err r = NACME_OK;

    base = base ? base + 1 : path;
    if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return nacme_fail(ctx, NACME_E_USAGE, "metrics file %s: give a file name", path);
    if ((dir = base == path ? nacme_strdup_new(".")
                            : nacme_strndup_new(path, base - path > 1 ? (size_t)(base - path - 1)
                                                                      : 1)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot open the directory of the metrics file %s",
                             path);
        goto out;
    }
    /* Other commands' last runs stay; a previous file that cannot be read only loses those. */
    nacme_ctx_init(&quiet);
    if (safefile_read_new(&quiet, dirfd, base, METRICS_FILE_MAX, &old, NULL, path) == NACME_OK)
        nruns = metrics_runs_parse(old, runs, METRICS_MAX_RUNS);
    if ((slot = run_slot(runs, &nruns, METRICS_MAX_RUNS, run->command)) < 0)
        slot = (long)(nruns - 1); /* full of other commands: this run matters more */
    runs[slot] = *run;
    if (metrics_format(&b, l, runs, nruns) != 0) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    r = safefile_write(ctx, dirfd, base, b.data, b.len, METRICS_MODE, path);
out:
    if (dirfd >= 0)
        close(dirfd);
    nacme_buf_clear(&b);
    free(old);
    free(dir);
    return r;
}
