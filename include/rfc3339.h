/* rfc3339.h - timestamps as ACME writes them (RFC 3339 date-time), e.g. in ARI windows. */
#ifndef NACME_RFC3339_H
#define NACME_RFC3339_H

#include <stdbool.h>
#include <time.h>

/* Parse "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" (T/Z in either case) into seconds since the
 * epoch (the fraction is dropped). Every field is range-checked, including the day of the month;
 * a leap second (:60) is taken as :59. False for anything else, and for a time whose offset puts
 * it outside years 0000 to 9999 in UTC (rfc3339_format could not write it back). */
bool rfc3339_parse(const char *s, time_t *out);
/* "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes), always four digits of year: a time
 * before year 0000 or after 9999 is written as that range's first or last second. */
void rfc3339_format(time_t t, char *buf, size_t size);

#endif
