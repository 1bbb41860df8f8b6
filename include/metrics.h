/*
 * metrics.h - the Prometheus textfile (node_exporter's textfile collector) that --metrics FILE
 * writes after issue, renew and list: per lineage its expiry, next renewal, last success and
 * failures; per command its last run and result.
 *
 * Text exposition format: "# HELP" and "# TYPE" lines before each metric family, label values
 * in double quotes with backslash, double quote and line feed escaped as \\, \" and \n, every
 * line ending in a line feed, no timestamps (the textfile collector refuses them). The file is
 * replaced atomically (safefile: temp file, fsync, rename), mode 0644, so that the collector never
 * reads half of it.
 */
#ifndef NACME_METRICS_H
#define NACME_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "nacme.h"
#include "status.h"

#define METRICS_MAX_RUNS 8 /* commands whose last run the file remembers */

/* One command's last run. */
struct metrics_run {
    char command[16]; /* "issue", "renew", "list" */
    long long time;   /* seconds since the epoch */
    bool success;
};

/* Append v to b with the exposition format's label-value escaping. 0, or -1 on OOM. */
int metrics_label_escape(struct nacme_buf *b, const char *v);

/* The whole file for the lineages in l (NULL: none) and the runs, into b (appended). */
int metrics_format(struct nacme_buf *b, const struct status_list *l,
                   const struct metrics_run *runs, size_t nruns);

/* The runs of other commands recorded in a previous file's text (so that `list` every minute does
 * not erase when renew last ran). At most max; lines that do not parse are skipped. */
size_t metrics_runs_parse(const char *text, struct metrics_run *runs, size_t max);

/* Write path: the runs recorded there before (other commands'), this one, and l. */
enum nacme_err metrics_write(struct nacme_ctx *ctx, const char *path, const struct status_list *l,
                             const struct metrics_run *run);

#endif
