/* renew.h - when a certificate is due for renewal (the lifetime rule; ARI comes later). */
#ifndef NACME_RENEW_H
#define NACME_RENEW_H

#include <stdbool.h>
#include <time.h>

/* The moment a certificate valid from not_before to not_after becomes due: when a third of its
 * lifetime is left, or half of it for certificates shorter than 10 days (short-lived ones need
 * the margin to survive a failed attempt). */
time_t renew_moment(time_t not_before, time_t not_after);
bool renew_due(time_t not_before, time_t not_after, time_t now);

#endif
