/*
 * renew.h - when a certificate is due for renewal, and how long to wait after a failure. Pure
 * functions of their arguments (the clock is one of them), so that every boundary can be tested.
 */
#ifndef NACME_RENEW_H
#define NACME_RENEW_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

#define RENEW_ARI_POLL_MIN 60              /* renewalInfo's Retry-After, clamped (RFC 9773 §4.3) */
#define RENEW_ARI_POLL_MAX (24 * 3600)
#define RENEW_ARI_POLL_DEFAULT (6 * 3600)  /* no Retry-After given */
#define RENEW_ARI_POLL_ERROR 3600          /* the window could not be fetched */
#define RENEW_ARI_POLL_NONE (24 * 3600)    /* the CA offers no renewalInfo: look again tomorrow */
#define RENEW_WARN_DAYS 7                  /* failing this close to expiry is said loudly */

/* The moment a certificate valid from not_before to not_after becomes due: when a third of its
 * lifetime is left, or half of it for certificates shorter than 10 days (short-lived ones need
 * the margin to survive a failed attempt). */
time_t renew_moment(time_t not_before, time_t not_after);
bool renew_due(time_t not_before, time_t not_after, time_t now);

/* Seconds to wait before trying again after `failures` consecutive failures (1 min, 10 min,
 * 100 min, then a day), or the CA's retry_after when that is longer. */
long renew_backoff_s(int failures, long retry_after);

/* Seconds until the next renewalInfo poll for the Retry-After the CA sent (-1: none), clamped to
 * [RENEW_ARI_POLL_MIN, RENEW_ARI_POLL_MAX]. */
long renew_ari_poll_s(long retry_after);

/* A moment in [start, end] from a uniformly random 64-bit value (RFC 9773 §4.2: pick at random
 * in the window so that clients spread out). */
time_t renew_ari_pick(time_t start, time_t end, uint64_t random);

enum renew_source {
    RENEW_SRC_LIFETIME = 0, /* renew_moment() */
    RENEW_SRC_BEFORE_DAYS,  /* renew_before_days of the configuration */
    RENEW_SRC_ARI,          /* the CA's suggested window */
};
const char *renew_source_name(enum renew_source s); /* "lifetime", "renew_before_days", "ari" */

enum renew_verdict {
    RENEW_NOT_DUE = 0,
    RENEW_DUE,
    RENEW_BACKING_OFF, /* due, but a recent failure says not yet */
};

struct renew_decision {
    enum renew_verdict verdict;
    time_t at;                /* the renewal moment */
    enum renew_source source; /* where `at` comes from */
};

/*
 * The decision for a certificate with the cached facts and state rn (not_before/not_after set):
 *   at = the ARI moment when a window is known, else not_after - before_days days when
 *        before_days > 0, else renew_moment(); with both a window and before_days, the earlier
 *        (the administrator's setting is a latest moment, never a delay);
 *   due when now >= at or force; backing off when due but now < rn->next_attempt (not with force).
 */
void renew_decide(const struct store_renewal *rn, long before_days, bool force, time_t now,
                  struct renew_decision *d);

/* True when rn records a failing renewal and the certificate expires within RENEW_WARN_DAYS. */
bool renew_alarm(const struct store_renewal *rn, time_t now);

#endif
