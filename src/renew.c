/* renew.c - the lifetime rule for renewal. */
#include "renew.h"

#define SHORT_LIVED (10 * 24 * 3600)

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
