/* test_rfc3339.c - RFC 3339 date-time parsing: valid forms, offsets, and everything refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rfc3339.h"

static void test_valid(void **state)
{
    static const struct {
        const char *in;
        time_t want;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2025-01-15T12:00:00Z", 1736942400},
        {"2025-01-15t12:00:00z", 1736942400},
        {"2025-01-15T12:00:00.123456789Z", 1736942400},
        {"2025-01-15T13:30:00+01:30", 1736942400},
        {"2025-01-15T07:00:00-05:00", 1736942400},
        {"2024-02-29T00:00:00Z", 1709164800},
        {"2016-12-31T23:59:60Z", 1483228799},
        {"1969-12-31T23:59:59Z", -1},
        {"0000-01-01T00:00:00Z", -62167219200},
        {"9999-12-31T23:59:59Z", 253402300799},
        {"9999-12-31T23:59:59+23:59", 253402214459},
    };
    time_t t;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t = 42;
        assert_true(rfc3339_parse(cases[i].in, &t));
        assert_int_equal(t, cases[i].want);
    }
}

static void test_refused(void **state)
{
    static const char *const bad[] = {
        "", "2025-01-15", "2025-01-15T12:00:00", "2025-01-15 12:00:00Z",
        "2025-13-01T00:00:00Z", "2025-00-01T00:00:00Z", "2025-02-29T00:00:00Z",
        "2025-04-31T00:00:00Z", "2025-01-15T24:00:00Z", "2025-01-15T12:60:00Z",
        "2025-01-15T12:00:61Z", "2025-01-15T12:00:00.Z", "2025-01-15T12:00:00+0100",
        "2025-01-15T12:00:00+24:00", "2025-01-15T12:00:00Zjunk", "+2025-01-15T12:00:00Z",
        "２０２５-01-15T12:00:00Z", "2025-1-15T12:00:00Z", "1736942400",
        /* fuzz_rfc3339: valid text whose UTC time is beyond the years RFC 3339 writes */
        "9999-12-31T23:59:59-00:01", "0000-01-01T00:00:00+00:01",
    };
    time_t t = 42;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(rfc3339_parse(bad[i], &t));
        assert_int_equal(t, 42);
    }
}

static void test_format_round_trip(void **state)
{
    /* what nacme writes it reads back; fuzz_rfc3339 found years before 1000 written with fewer
     * than four digits ("410-12-30T05:15:13Z") */
    static const struct {
        time_t t;
        const char *want;
    } cases[] = {
        {1736942400, "2025-01-15T12:00:00Z"},
        {0, "1970-01-01T00:00:00Z"},
        {-49197437087, "0410-12-30T05:15:13Z"},
        {-62167219200, "0000-01-01T00:00:00Z"},
        {253402300799, "9999-12-31T23:59:59Z"},
    };
    char buf[32];
    time_t t;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rfc3339_format(cases[i].t, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
        assert_true(rfc3339_parse(buf, &t));
        assert_int_equal(t, cases[i].t);
    }
}

/* A time no four-digit year holds (a lineage record edited by hand, a certificate's notAfter in
 * year 9999 plus an offset) is written as the range's last or first second, never as garbage:
 * gmtime_r fails for years beyond an int and would leave its struct unset. */
static void test_format_clamped(void **state)
{
    static const struct {
        int64_t t;
        const char *want;
    } cases[] = {
        {253402300800, "9999-12-31T23:59:59Z"},
        {INT64_MAX, "9999-12-31T23:59:59Z"},
        {(int64_t)1 << 60, "9999-12-31T23:59:59Z"},
        {-62167219201, "0000-01-01T00:00:00Z"},
        {INT64_MIN, "0000-01-01T00:00:00Z"},
    };
    char buf[32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rfc3339_format((time_t)cases[i].t, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_format_clamped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
