/*
 * progress.h - what a person watches while a batch runs. On a terminal: one live line of counts
 * (done / failed / in flight, elapsed time), redrawn in place. Elsewhere (cron mail, a log file):
 * one plain line per finished item. Safe to call from several threads.
 */
#ifndef NACME_PROGRESS_H
#define NACME_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct progress;

/* total items; live: redraw one status line (f is a terminal); quiet: print only failures. */
struct progress *progress_new(FILE *f, size_t total, bool live, bool quiet);
/* One more item in flight. */
void progress_started(struct progress *p);
/* An item finished; line (may be NULL) says how: printed for failures, and for successes when
 * not live and not quiet (above the live line, or on its own). */
void progress_finished(struct progress *p, bool failed, const char *line);
/* An item that never started (the run was interrupted): counted as failed, nothing printed. */
void progress_skipped(struct progress *p);
/* Final counts on the live line, then a newline; frees p. No-op for NULL. */
void progress_free(struct progress *p);

#endif
