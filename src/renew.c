/* renew.c - the renewal policy: lifetime rule, ARI moment, backoff. */
#include "renew.h"

#define SHORT_LIVED (10 * 24 * 3600)
#define DAY (24 * 3600)

time_t renew_moment(time_t not_before, time_t not_after)
{
    time_t lifetime = not_after - not_before;

    if (lifetime <= 0)
        return not_before;
    if (lifetime < SHORT_LIVED)
        return not_after - lifetime / 2;
    return not_after - lifetime / 3;
}

bool renew_due(time_t not_before, time_t not_after, time_t now)
{
    return now >= renew_moment(not_before, not_after);
}

long renew_backoff_s(int failures, long retry_after)
{
    static const long steps[] = {60, 600, 6000}; /* then a day */
    long wait;

    if (failures <= 0)
        wait = 0;
    else if ((size_t)failures <= sizeof(steps) / sizeof(steps[0]))
        wait = steps[failures - 1];
    else
        wait = DAY;
    return retry_after > wait ? retry_after : wait;
}

long renew_ari_poll_s(long retry_after)
{
    if (retry_after < 0)
        return RENEW_ARI_POLL_DEFAULT;
    if (retry_after < RENEW_ARI_POLL_MIN)
        return RENEW_ARI_POLL_MIN;
    if (retry_after > RENEW_ARI_POLL_MAX)
        return RENEW_ARI_POLL_MAX;
    return retry_after;
}

time_t renew_ari_pick(time_t start, time_t end, uint64_t random)
{
    uint64_t span;

    if (end <= start)
        return start;
    span = (uint64_t)(end - start) + 1;
    /* The modulo bias is below 2^-30 for any window shorter than a century. */
    return start + (time_t)(random % span);
}

const char *renew_source_name(enum renew_source s)
{
    switch (s) {
    case RENEW_SRC_ARI: return "ari";
    case RENEW_SRC_BEFORE_DAYS: return "renew_before_days";
    case RENEW_SRC_LIFETIME: break;
    }
    return "lifetime";
}

void renew_decide(const struct store_renewal *rn, long before_days, bool force, time_t now,
                  struct renew_decision *d)
{
    time_t before;

    d->source = RENEW_SRC_LIFETIME;
    d->at = renew_moment(rn->not_before, rn->not_after);
    if (before_days > 0) {
        d->source = RENEW_SRC_BEFORE_DAYS;
        d->at = rn->not_after - (time_t)before_days * DAY;
    }
    if (rn->ari_end > 0) {
        before = d->at;
        if (before_days <= 0 || rn->ari_moment <= before) {
            d->source = RENEW_SRC_ARI;
            d->at = rn->ari_moment;
        }
    }
    if (force)
        d->verdict = RENEW_DUE;
    else if (now < d->at)
        d->verdict = RENEW_NOT_DUE;
    else if (now < rn->next_attempt)
        d->verdict = RENEW_BACKING_OFF;
    else
        d->verdict = RENEW_DUE;
}

bool renew_alarm(const struct store_renewal *rn, time_t now)
{
    return rn->failures > 0 && rn->not_after - now < (time_t)RENEW_WARN_DAYS * DAY;
}
