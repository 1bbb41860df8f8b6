/* rfc3339.h - timestamps as ACME writes them (RFC 3339 date-time), e.g. in ARI windows. */
#ifndef NACME_RFC3339_H
#define NACME_RFC3339_H

#include <stdbool.h>
#include <time.h>

/* Parse "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" (T/Z in either case) into seconds since the
 * epoch (the fraction is dropped). Every field is range-checked, including the day of the month;
 * a leap second (:60) is taken as :59. False for anything else. */
bool rfc3339_parse(const char *s, time_t *out);
/* "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). */
void rfc3339_format(time_t t, char *buf, size_t size);

#endif
