/*
 * status.h - what is known about each lineage from the state directory alone: `nacme list` and
 * the metrics file are built from it. Nothing here talks to the network or writes anything.
 *
 * The certificate facts come from the record renew keeps in lineage.json (store.h, struct
 * store_renewal) when it describes the live version; otherwise from live/NAME/cert.pem (a lineage
 * issued before renew existed, or a record renew has not seen yet), without writing the cache
 * back: listing takes no lock and must not race a running renew.
 */
#ifndef NACME_STATUS_H
#define NACME_STATUS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "nacme.h"
#include "renew.h"
#include "store.h"

#define STATUS_ALARM_DAYS RENEW_WARN_DAYS

struct status_entry {
    char *name;
    struct store_lineage *lin;  /* NULL when the lineage could not be read */
    struct renew_decision dec;  /* the next renewal, as renew would decide it now */
    time_t installed;           /* when the live certificate was written, 0 when unknown */
    bool from_cert;             /* the facts came from cert.pem, not from renew's record */
    char *error;                /* unreadable: the one-line cause */
    char *file;                 /* unreadable: the file that could not be read */
    char *reason;               /* unreadable: the cause without the file name */
};

struct status_list {
    struct status_entry *entries;
    size_t n;
    size_t unreadable;
};

/* Every lineage under live/ (only `only` when not NULL: NACME_E_NOTFOUND when there is no such
 * lineage), decided with renew_before_days before_days at now. A lineage that cannot be read is
 * an entry with its error, never a failure of the whole listing. */
enum nacme_err status_collect_new(struct nacme_ctx *ctx, struct nacme_store *st, const char *only,
                                  long before_days, time_t now, struct status_list **out);
void status_list_free(struct status_list *l);

/* Fill e's error, file and reason from a cause "FILE: reason" or "FILE:LINE: reason" (the way
 * store.c names files); file is known_file when the cause does not start with a path. */
enum nacme_err status_set_error(struct status_entry *e, const char *cause,
                                const char *known_file);

/* Whole days left until not_after, rounded down (negative once expired). */
long status_days_left(time_t not_after, time_t now);
/* "error", "expired", "failing", "due" or "ok", in that order of precedence. */
const char *status_state(const struct status_entry *e, time_t now);
/* Something a person must look at: unreadable, expired, failing within RENEW_WARN_DAYS of expiry,
 * or less than STATUS_ALARM_DAYS left (a third of the lifetime for certificates shorter than
 * three weeks, which are never that far from expiry). */
bool status_alarm(const struct status_entry *e, time_t now);

/* The object `nacme list --json` prints for e (field names documented in nacme(1)); NULL on OOM. */
json_t *status_json_new(const struct status_entry *e, time_t now);
/* The table: a header and one line per entry (failing and unreadable ones marked), into f. */
void status_table_print(FILE *f, const struct status_list *l, time_t now);

#endif
