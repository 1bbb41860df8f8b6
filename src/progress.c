/* progress.c - the live counter of a batch on a terminal, plain lines elsewhere. */
#include "progress.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define PROGRESS_REDRAW_MS 100 /* a terminal redrawn more often only flickers */

struct progress {
    FILE *f;
    bool live, quiet;
    pthread_mutex_t lock;
    size_t total, done, failed, inflight;
    struct timespec start, last_draw;
    bool drawn;
};

static long ms_since(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

struct progress *progress_new(FILE *f, size_t total, bool live, bool quiet)
{
    struct progress *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->f = f;
    p->total = total;
    p->live = live && !quiet;
    p->quiet = quiet;
    pthread_mutex_init(&p->lock, NULL);
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    return p;
}

/* "\r[=====>    ] 30/50  28 ok  2 failed  8 in flight  2.1 s", erasing what was there. */
static void draw(struct progress *p, bool force)
{
    char bar[21];
    size_t i, fill;
    long ms = ms_since(&p->start);

    if (!p->live || (!force && p->drawn && ms_since(&p->last_draw) < PROGRESS_REDRAW_MS))
        return;
    fill = p->total ? (p->done * (sizeof(bar) - 1)) / p->total : 0;
    for (i = 0; i < sizeof(bar) - 1; i++)
        bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[sizeof(bar) - 1] = '\0';
    fprintf(p->f, "\r\033[K[%s] %zu/%zu  %zu ok  %zu failed  %zu in flight  %ld.%ld s", bar,
            p->done, p->total, p->done - p->failed, p->failed, p->inflight, ms / 1000,
            (ms % 1000) / 100);
    fflush(p->f);
    clock_gettime(CLOCK_MONOTONIC, &p->last_draw);
    p->drawn = true;
}

void progress_started(struct progress *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->inflight++;
    draw(p, false);
    pthread_mutex_unlock(&p->lock);
}

void progress_finished(struct progress *p, bool failed, const char *line)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->inflight--;
    p->done++;
    if (failed)
        p->failed++;
    /* On a terminal the counter says enough about successes; failures always get their line. */
    if (line != NULL && (failed || (!p->live && !p->quiet))) {
        if (p->live && p->drawn)
            fputs("\r\033[K", p->f);
        fprintf(p->f, "[%zu/%zu] %s\n", p->done, p->total, line);
        p->drawn = false;
    }
    draw(p, false);
    pthread_mutex_unlock(&p->lock);
}

void progress_skipped(struct progress *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->done++;
    p->failed++;
    pthread_mutex_unlock(&p->lock);
}

void progress_free(struct progress *p)
{
    if (p == NULL)
        return;
    if (p->live) {
        draw(p, true);
        fputc('\n', p->f);
        fflush(p->f);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}
