/* rfc3339.c - RFC 3339 date-time in and out, with no locale and no time zone database. */
#include "rfc3339.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* n digits at *p into *v; advances *p. */
static bool digits(const char **p, int n, int *v)
{
    int i;

    *v = 0;
    for (i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return false;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return true;
}

static bool expect(const char **p, char c1, char c2)
{
    if (**p != c1 && **p != c2)
        return false;
    (*p)++;
    return true;
}

/* The range RFC 3339 can write in UTC (four-digit years): 0000-01-01T00:00:00Z and
 * 9999-12-31T23:59:59Z. */
#define RFC3339_MIN ((int64_t)-62167219200)
#define RFC3339_MAX ((int64_t)253402300799)

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool rfc3339_parse(const char *s, time_t *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    const char *p = s;
    int64_t t;

    if (!digits(&p, 4, &y) || !expect(&p, '-', '-') || !digits(&p, 2, &mo) ||
        !expect(&p, '-', '-') || !digits(&p, 2, &d) || !expect(&p, 'T', 't') ||
        !digits(&p, 2, &h) || !expect(&p, ':', ':') || !digits(&p, 2, &mi) ||
        !expect(&p, ':', ':') || !digits(&p, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 ||
        mi > 59 || sec > 60)
        return false;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (!digits(&p, 2, &oh) || !expect(&p, ':', ':') || !digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return false;
    } else {
        return false;
    }
    if (*p != '\0')
        return false;
    if (sec == 60)
        sec = 59;
    t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
    /* an offset can move a time out of the years RFC 3339 writes ("9999-12-31T23:00:00-05:00"),
     * and nacme writes every time back in UTC */
    if (t < RFC3339_MIN || t > RFC3339_MAX || (int64_t)(time_t)t != t)
        return false;
    *out = (time_t)t;
    return true;
}

void rfc3339_format(time_t t, char *buf, size_t size)
{
    struct tm tm;

    /* clamped first: gmtime_r fails (and fills nothing) for years beyond an int, and strftime's
     * %Y writes neither the four digits of year 999 nor fewer than five for year 10000 */
    if ((int64_t)t < RFC3339_MIN)
        t = (time_t)RFC3339_MIN;
    else if ((int64_t)t > RFC3339_MAX)
        t = (time_t)RFC3339_MAX;
    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
