/* test_names.c - DNS name checks and normalization; the renewal lifetime rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"
#include "renew.h"

static void test_dns_name_valid(void **state)
{
    static const struct {
        const char *name;
        bool ok;
    } cases[] = {
        {"a.example", true},
        {"xn--bcher-kva.example", true},
        {"a-b.c-d.example", true},
        {"1.example", true},
        {"example.123abc", true},
        {"", false},
        {"example", false},
        {"example.com.", false},
        {".example.com", false},
        {"-a.example", false},
        {"a-.example", false},
        {"a..example", false},
        {"1.2.3.4", false},
        {"*.example.com", false},
        {"a_b.example", false},
        {"A.example", false}, /* callers lower-case first */
        {"a.example/x", false},
        {"a example.com", false},
        {"\xc3\xa9.example", false},
    };
    char label63[64], label64[65], name[300];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (dns_name_valid(cases[i].name) != cases[i].ok)
            fail_msg("dns_name_valid(\"%s\") should be %d", cases[i].name, cases[i].ok);
    memset(label63, 'a', 63);
    label63[63] = '\0';
    memset(label64, 'a', 64);
    label64[64] = '\0';
    snprintf(name, sizeof(name), "%s.example", label63);
    assert_true(dns_name_valid(name));
    snprintf(name, sizeof(name), "%s.example", label64);
    assert_false(dns_name_valid(name));
    /* 253 characters is the limit; 254 is over. */
    snprintf(name, sizeof(name), "%s.%s.%s.%s", label63, label63, label63, label63);
    name[253] = '\0';
    name[252] = 'a';
    assert_true(dns_name_valid(name));
    snprintf(name, sizeof(name), "%s.%s.%s.%s", label63, label63, label63, label63);
    name[254] = '\0';
    assert_false(dns_name_valid(name));
}

static void test_normalize(void **state)
{
    struct nacme_ctx ctx;
    char **names = calloc(4, sizeof(*names));
    size_t n = 4;

    (void)state;
    nacme_ctx_init(&ctx);
    names[0] = strdup("WWW.Example.COM");
    names[1] = strdup("example.com");
    names[2] = strdup("www.example.com");
    names[3] = strdup("Example.com");
    assert_int_equal(names_normalize(&ctx, names, &n), NACME_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "www.example.com");
    assert_string_equal(names[1], "example.com");
    free(names[0]);
    free(names[1]);
    names[0] = strdup("good.example");
    names[1] = strdup("bad_name.example");
    n = 2;
    assert_int_equal(names_normalize(&ctx, names, &n), NACME_E_USAGE);
    assert_non_null(strstr(ctx.errmsg, "\"bad_name.example\""));
    free(names[0]);
    free(names[1]);
    free(names);
}

static void test_same_set(void **state)
{
    const char *a[] = {"a.example", "b.example"};
    const char *b[] = {"B.example", "a.example"};
    const char *c[] = {"a.example"};
    const char *d[] = {"a.example", "c.example"};

    (void)state;
    assert_true(names_same_set(a, 2, b, 2));
    assert_false(names_same_set(a, 2, c, 1));
    assert_false(names_same_set(c, 1, a, 2));
    assert_false(names_same_set(a, 2, d, 2));
}

static void test_renew_rule(void **state)
{
    static const struct {
        long lifetime_days;
        long due_after_days;
    } cases[] = {
        {90, 60}, /* a third left */
        {30, 20},
        {45, 30},
        {6, 3},   /* short-lived: half left */
        {1, 0},   /* due after 12 hours: 0 whole days */
    };
    const time_t day = 86400, nb = 1700000000;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        time_t na = nb + cases[i].lifetime_days * day;
        time_t at = renew_moment(nb, na);
        assert_int_equal((at - nb) / day, cases[i].due_after_days);
        assert_false(renew_due(nb, na, at - 1));
        assert_true(renew_due(nb, na, at));
    }
    assert_true(renew_due(nb, nb, nb)); /* a certificate with no lifetime is due at once */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_name_valid),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_same_set),
        cmocka_unit_test(test_renew_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
