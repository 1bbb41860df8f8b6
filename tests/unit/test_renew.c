/* test_renew.c - the renewal policy at its boundaries, with the clock as an argument. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "renew.h"

#define DAY (24 * 3600L)
#define T0 1800000000L /* an arbitrary not_before */

/* The lifetime rule: a third left (90 days: due at day 60), half for short-lived ones. */
static void test_lifetime_boundaries(void **state)
{
    static const struct {
        long lifetime, now_offset; /* from not_before */
        bool due;
    } cases[] = {
        {90 * DAY, 60 * DAY - 1, false},
        {90 * DAY, 60 * DAY, true},
        {90 * DAY, 89 * DAY, true},
        {10 * DAY, 10 * DAY * 2 / 3 - 1, false}, /* exactly 10 days is not short-lived */
        {10 * DAY, 10 * DAY - 10 * DAY / 3, true},
        {10 * DAY - 1, (10 * DAY - 1) / 2, false}, /* just under: half */
        {10 * DAY - 1, (10 * DAY - 1) - (10 * DAY - 1) / 2, true},
        {6 * DAY, 3 * DAY - 1, false},
        {6 * DAY, 3 * DAY, true},
        {600, 299, false}, /* ten-minute certificates of the lab */
        {600, 300, true},
        {0, 0, true}, /* nonsense dates: due at once */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        time_t nb = T0, na = T0 + cases[i].lifetime;
        if (renew_due(nb, na, T0 + cases[i].now_offset) != cases[i].due)
            fail_msg("case %zu: lifetime %ld, now +%ld: due should be %d", i, cases[i].lifetime,
                     cases[i].now_offset, cases[i].due);
    }
}

static void test_backoff_schedule(void **state)
{
    static const struct {
        int failures;
        long retry_after, want;
    } cases[] = {
        {0, 0, 0},       {1, 0, 60},          {2, 0, 600},        {3, 0, 6000},
        {4, 0, DAY},     {50, 0, DAY},        {1, 30, 60},        {1, 3600, 3600},
        {4, 3 * DAY, 3 * DAY}, {3, 5999, 6000}, {3, 6001, 6001},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (renew_backoff_s(cases[i].failures, cases[i].retry_after) != cases[i].want)
            fail_msg("case %zu: %d failures, Retry-After %ld: want %ld, got %ld", i,
                     cases[i].failures, cases[i].retry_after, cases[i].want,
                     renew_backoff_s(cases[i].failures, cases[i].retry_after));
}

static void test_ari_poll_clamp(void **state)
{
    (void)state;
    assert_int_equal(renew_ari_poll_s(-1), RENEW_ARI_POLL_DEFAULT);
    assert_int_equal(renew_ari_poll_s(0), 60);
    assert_int_equal(renew_ari_poll_s(59), 60);
    assert_int_equal(renew_ari_poll_s(60), 60);
    assert_int_equal(renew_ari_poll_s(61), 61);
    assert_int_equal(renew_ari_poll_s(DAY), DAY);
    assert_int_equal(renew_ari_poll_s(DAY + 1), DAY);
    assert_int_equal(renew_ari_poll_s(365 * DAY), DAY);
}

static void test_ari_pick(void **state)
{
    (void)state;
    assert_int_equal(renew_ari_pick(100, 200, 0), 100);
    assert_int_equal(renew_ari_pick(100, 200, 100), 200); /* both ends belong to the window */
    assert_int_equal(renew_ari_pick(100, 200, 101), 100);
    assert_int_equal(renew_ari_pick(100, 200, UINT64_MAX), 100 + (time_t)(UINT64_MAX % 101));
    assert_int_equal(renew_ari_pick(100, 100, 12345), 100);
    assert_int_equal(renew_ari_pick(200, 100, 12345), 200); /* refused upstream; still sane */
}

static void test_decide(void **state)
{
    struct store_renewal rn;
    struct renew_decision d;
    time_t na = T0 + 90 * DAY, life = T0 + 60 * DAY;

    (void)state;
    memset(&rn, 0, sizeof(rn));
    rn.not_before = T0;
    rn.not_after = na;
    /* lifetime rule */
    renew_decide(&rn, 0, false, life - 1, &d);
    assert_int_equal(d.verdict, RENEW_NOT_DUE);
    assert_int_equal(d.source, RENEW_SRC_LIFETIME);
    assert_int_equal(d.at, life);
    renew_decide(&rn, 0, false, life, &d);
    assert_int_equal(d.verdict, RENEW_DUE);
    renew_decide(&rn, 0, true, T0, &d);
    assert_int_equal(d.verdict, RENEW_DUE);
    /* renew_before_days overrides */
    renew_decide(&rn, 10, false, na - 10 * DAY - 1, &d);
    assert_int_equal(d.verdict, RENEW_NOT_DUE);
    assert_int_equal(d.source, RENEW_SRC_BEFORE_DAYS);
    renew_decide(&rn, 10, false, na - 10 * DAY, &d);
    assert_int_equal(d.verdict, RENEW_DUE);
    /* an ARI window decides when known, even later than the lifetime rule */
    rn.ari_start = T0 + 70 * DAY;
    rn.ari_end = T0 + 72 * DAY;
    rn.ari_moment = T0 + 71 * DAY;
    renew_decide(&rn, 0, false, life, &d);
    assert_int_equal(d.verdict, RENEW_NOT_DUE);
    assert_int_equal(d.source, RENEW_SRC_ARI);
    renew_decide(&rn, 0, false, rn.ari_moment - 1, &d);
    assert_int_equal(d.verdict, RENEW_NOT_DUE);
    renew_decide(&rn, 0, false, rn.ari_moment, &d);
    assert_int_equal(d.verdict, RENEW_DUE);
    /* ... but never later than an explicit renew_before_days */
    renew_decide(&rn, 30, false, na - 30 * DAY, &d);
    assert_int_equal(d.verdict, RENEW_DUE);
    assert_int_equal(d.source, RENEW_SRC_BEFORE_DAYS);
    renew_decide(&rn, 5, false, rn.ari_moment, &d);
    assert_int_equal(d.source, RENEW_SRC_ARI);
    /* backoff: due, but not before next_attempt; --force ignores it */
    rn.next_attempt = rn.ari_moment + 60;
    renew_decide(&rn, 0, false, rn.ari_moment + 59, &d);
    assert_int_equal(d.verdict, RENEW_BACKING_OFF);
    renew_decide(&rn, 0, false, rn.ari_moment + 60, &d);
    assert_int_equal(d.verdict, RENEW_DUE);
    renew_decide(&rn, 0, true, rn.ari_moment + 59, &d);
    assert_int_equal(d.verdict, RENEW_DUE);
    /* a backoff does not make a certificate that is not due look due */
    renew_decide(&rn, 0, false, rn.ari_moment - 1, &d);
    assert_int_equal(d.verdict, RENEW_NOT_DUE);
}

static void test_alarm(void **state)
{
    struct store_renewal rn;

    (void)state;
    memset(&rn, 0, sizeof(rn));
    rn.not_after = T0 + 7 * DAY;
    assert_false(renew_alarm(&rn, T0 + 1)); /* no failure */
    rn.failures = 1;
    assert_false(renew_alarm(&rn, T0));     /* exactly 7 days left */
    assert_true(renew_alarm(&rn, T0 + 1));
    assert_true(renew_alarm(&rn, T0 + 8 * DAY)); /* expired */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifetime_boundaries), cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_ari_poll_clamp),      cmocka_unit_test(test_ari_pick),
        cmocka_unit_test(test_decide),              cmocka_unit_test(test_alarm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
