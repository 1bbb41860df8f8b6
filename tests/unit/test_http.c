/* test_http.c - Link header parsing: the first link of a rel, and every one of them in order
 * (the alternate chains of RFC 8555 §7.4.2); Retry-After values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

static void test_link_nth(void **state)
{
    static char h0[] = "<https://ca/dir>;rel=\"index\"";
    static char h1[] = "<https://ca/cert/1/alt/1>;rel=\"alternate\", <https://ca/issuer>;rel=\"up\"";
    static char h2[] = "<https://ca/cert/1/alt/2>; rel=alternate";
    static char h3[] = "<https://ca/cert/1/alt/3>;rel=\"alternates\"";
    static char *links[] = {h0, h1, h2, h3};
    static const struct {
        const char *rel;
        size_t nth;
        const char *want; /* NULL: none */
    } cases[] = {
        {"alternate", 0, "https://ca/cert/1/alt/1"},
        {"alternate", 1, "https://ca/cert/1/alt/2"}, /* whitespace before rel= and no quotes */
        {"alternate", 2, NULL}, /* "alternates" is another rel */
        {"up", 0, "https://ca/issuer"},
        {"up", 1, NULL},
        {"index", 0, "https://ca/dir"},
        {"alternates", 0, "https://ca/cert/1/alt/3"},
        {"alt", 0, NULL},
    };
    struct http_response resp = {.links = links, .nlinks = 4};
    char *got;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        got = http_link_nth_new(&resp, cases[i].rel, cases[i].nth);
        if (cases[i].want == NULL) {
            assert_null(got);
        } else {
            assert_non_null(got);
            assert_string_equal(got, cases[i].want);
        }
        free(got);
    }
    got = http_link_new(&resp, "alternate");
    assert_string_equal(got, "https://ca/cert/1/alt/1");
    free(got);
}

static void test_link_every_alternate(void **state)
{
    static char h0[] = "<https://ca/a/1>;rel=\"alternate\", <https://ca/a/2>;rel=\"alternate\"";
    static char h1[] = "<https://ca/up>;rel=\"up\"";
    static char h2[] = "<https://ca/a/3>;rel=\"alternate\"";
    static char *links[] = {h0, h1, h2};
    static const char *const want[] = {"https://ca/a/1", "https://ca/a/2", "https://ca/a/3"};
    struct http_response resp = {.links = links, .nlinks = 3};
    char *got;
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++) {
        got = http_link_nth_new(&resp, "alternate", i);
        assert_non_null(got);
        assert_string_equal(got, want[i]);
        free(got);
    }
    assert_null(http_link_nth_new(&resp, "alternate", 3));
}

/* Retry-After (RFC 9110 §10.2.3): delta-seconds or one of the three HTTP-date forms; anything else
 * is "none" (-1), never a wait of its own. The seeds of tests/fuzz/corpus/retry_after. */
static void test_retry_after(void **state)
{
    static const time_t now = 1445412000; /* Wed, 21 Oct 2015 07:20:00 GMT */
    static const struct {
        const char *value;
        long want;
    } cases[] = {
        {"120", 120},
        {"0", 0},
        {"9223372036854775807", 9223372036854775807L},
        {"Wed, 21 Oct 2015 07:28:00 GMT", 480},
        {"Wednesday, 21-Oct-15 07:28:00 GMT", 480},
        {"Wed Oct 21 07:28:00 2015", 480},
        {"Tue, 20 Oct 2015 07:28:00 GMT", 0}, /* past: now */
        {"-1", -1},
        {"1.5", -1},
        {"123456789012345678901234567890", -1},
        {"9223372036854775808", -1},
        {"0x10", -1},
        {"+5", -1},
        {"5 s", -1},
        {"soon", -1},
        {"", -1},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(http_retry_after_parse(cases[i].value, now), cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_nth),
        cmocka_unit_test(test_link_every_alternate),
        cmocka_unit_test(test_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
