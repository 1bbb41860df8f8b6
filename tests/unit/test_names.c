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

/* A wildcard is "*." and a valid DNS name; a "*" anywhere else, or before a name that is not
 * one, is refused. */
static void test_wildcards(void **state)
{
    static const struct {
        const char *in;
        const char *out; /* NULL: refused */
    } cases[] = {
        {"*.example.com", "*.example.com"},
        {"*.WWW.Example.Org", "*.www.example.org"},
        {"*.com", NULL},
        {"*", NULL},
        {"*.", NULL},
        {"**.example.com", NULL},
        {"*.*.example.com", NULL},
        {"www.*.example.com", NULL},
        {"*example.com", NULL},
        {"*.192.0.2.1", NULL},
        {"*.-bad.example", NULL},
    };
    struct nacme_ctx ctx;
    char *names[1];
    size_t i, n;
    enum nacme_err r;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nacme_ctx_init(&ctx);
        names[0] = strdup(cases[i].in);
        n = 1;
        r = names_normalize(&ctx, names, &n);
        if (cases[i].out == NULL && r != NACME_E_USAGE)
            fail_msg("\"%s\" should be refused", cases[i].in);
        if (cases[i].out != NULL && (r != NACME_OK || strcmp(names[0], cases[i].out) != 0))
            fail_msg("\"%s\": got %s (%s), want %s", cases[i].in, names[0], ctx.errmsg,
                     cases[i].out);
        if (cases[i].out != NULL)
            assert_true(names_is_wildcard(names[0]));
        free(names[0]);
    }
    assert_false(names_is_wildcard("example.com"));
}

static void test_ip_canonical(void **state)
{
    static const struct {
        const char *in;
        enum ip_parse kind;
        const char *out; /* the canonical text for IP_V4 and IP_V6 */
    } cases[] = {
        {"192.0.2.1", IP_V4, "192.0.2.1"},
        {"127.0.0.1", IP_V4, "127.0.0.1"},
        {"0.0.0.0", IP_V4, "0.0.0.0"},
        {"255.255.255.255", IP_V4, "255.255.255.255"},
        {"1.2.3", IP_NONE, NULL},
        {"01.2.3.4", IP_NONE, NULL},
        {"1.2.3.256", IP_NONE, NULL},
        {"0x7f.0.0.1", IP_NONE, NULL},
        {"1.2.3.4.5", IP_NONE, NULL},
        {" 1.2.3.4", IP_NONE, NULL},
        {"2001:db8::1", IP_V6, "2001:db8::1"},
        {"2001:DB8:0:0:0:0:0:1", IP_V6, "2001:db8::1"},
        {"2001:0db8:0000:0000:0000:0000:0000:0001", IP_V6, "2001:db8::1"},
        /* RFC 5952 §4.2.2: a single zero group is not compressed; §4.2.3: the first of equal
         * runs is. */
        {"2001:db8:0:1:1:1:1:1", IP_V6, "2001:db8:0:1:1:1:1:1"},
        {"2001:0:0:1:0:0:0:1", IP_V6, "2001:0:0:1::1"},
        {"2001:db8:0:0:1:0:0:1", IP_V6, "2001:db8::1:0:0:1"},
        {"::1", IP_V6, "::1"},
        {"0:0:0:0:0:0:0:1", IP_V6, "::1"},
        {"::ffff:192.0.2.1", IP_MAPPED, NULL},
        {"::FFFF:c000:0201", IP_MAPPED, NULL},
        {"fe80::1%eth0", IP_NONE, NULL},
        {"[2001:db8::1]", IP_NONE, NULL},
        {"2001:db8::1::2", IP_NONE, NULL},
        {"2001:db8:1", IP_NONE, NULL},
        {"example.com", IP_NONE, NULL},
        {"", IP_NONE, NULL},
    };
    char buf[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum ip_parse k = ip_addr_canonical(cases[i].in, buf, sizeof(buf));
        if (k != cases[i].kind)
            fail_msg("ip_addr_canonical(\"%s\") = %d, not %d", cases[i].in, k, cases[i].kind);
        if (cases[i].out != NULL && strcmp(buf, cases[i].out) != 0)
            fail_msg("ip_addr_canonical(\"%s\") wrote \"%s\", not \"%s\"", cases[i].in, buf,
                     cases[i].out);
        /* The identifier type follows: "ip" only for an address in canonical form. */
        bool canonical = cases[i].out != NULL && strcmp(cases[i].in, cases[i].out) == 0;
        assert_string_equal(names_identifier_type(cases[i].in), canonical ? "ip" : "dns");
    }
}

static void test_normalize_ip(void **state)
{
    static const char *const bad[] = {"1.2.3", "01.2.3.4", "::ffff:1.2.3.4", "fe80::1%eth0",
                                      "[::1]", "1.2.3.4:80"};
    struct nacme_ctx ctx;
    char **names = calloc(6, sizeof(*names));
    size_t n = 6, i;

    (void)state;
    nacme_ctx_init(&ctx);
    names[0] = strdup("2001:DB8:0:0:0:0:0:1");
    names[1] = strdup("192.0.2.1");
    names[2] = strdup("Example.com");
    names[3] = strdup("2001:db8::1");
    names[4] = strdup("2001:0db8::0001");
    names[5] = strdup("::1");
    assert_int_equal(names_normalize(&ctx, names, &n), NACME_OK);
    assert_int_equal(n, 4);
    assert_string_equal(names[0], "2001:db8::1");
    assert_string_equal(names[1], "192.0.2.1");
    assert_string_equal(names[2], "example.com");
    assert_string_equal(names[3], "::1");
    for (i = 0; i < n; i++)
        free(names[i]);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        names[0] = strdup(bad[i]);
        n = 1;
        assert_int_equal(names_normalize(&ctx, names, &n), NACME_E_USAGE);
        if (strstr(ctx.errmsg, bad[i]) == NULL)
            fail_msg("the message for \"%s\" does not name it: %s", bad[i], ctx.errmsg);
        free(names[0]);
    }
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
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_ip_canonical),
        cmocka_unit_test(test_normalize_ip),
        cmocka_unit_test(test_same_set),
        cmocka_unit_test(test_renew_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
