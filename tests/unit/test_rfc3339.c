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
    char buf[32];
    time_t t;

    (void)state;
    rfc3339_format(1736942400, buf, sizeof(buf));
    assert_string_equal(buf, "2025-01-15T12:00:00Z");
    assert_true(rfc3339_parse(buf, &t));
    assert_int_equal(t, 1736942400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_format_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
