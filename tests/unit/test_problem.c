/* test_problem.c - problem documents become one safe line naming status, type, detail, subproblems. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "problem.h"

static char *format_body(const char *body, long status, char *buf, size_t size)
{
    struct acme_problem *p = acme_problem_from_body_new(body, strlen(body), status);

    assert_non_null(p);
    acme_problem_format(p, buf, size);
    acme_problem_free(p);
    return buf;
}

static void test_format_table(void **state)
{
    static const struct {
        const char *body;
        long status;
        const char *line;
    } cases[] = {
        {"{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"Error creating "
         "new order\",\"status\":400,\"subproblems\":[{\"type\":\"urn:ietf:params:acme:error:"
         "rejectedIdentifier\",\"detail\":\"blocked\",\"identifier\":{\"type\":\"dns\",\"value\":"
         "\"a.example\"}},{\"type\":\"urn:ietf:params:acme:error:caa\",\"detail\":\"CAA forbids\","
         "\"identifier\":{\"type\":\"dns\",\"value\":\"b.example\"}}]}",
         400,
         "HTTP 400 urn:ietf:params:acme:error:rejectedIdentifier: Error creating new order "
         "[dns:a.example: urn:ietf:params:acme:error:rejectedIdentifier: blocked; dns:b.example: "
         "urn:ietf:params:acme:error:caa: CAA forbids]"},
        {"{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"JWS has an invalid "
         "anti-replay nonce\"}",
         400, "HTTP 400 urn:ietf:params:acme:error:badNonce: JWS has an invalid anti-replay nonce"},
        {"{\"type\":\"about:blank\"}", 503, "HTTP 503 about:blank"},
        {"<html><body>Bad Gateway</body></html>", 502,
         "HTTP 502 (not a problem document): <html><body>Bad Gateway</body></html>"},
        {"", 500, "HTTP 500 (not a problem document): (empty body)"},
        {"[1,2]", 400, "HTTP 400 (not a problem document): [1,2]"},
        /* A subproblem without an identifier or detail still shows its type. */
        {"{\"type\":\"t\",\"detail\":\"d\",\"subproblems\":[{\"type\":\"s\"}]}", 400,
         "HTTP 400 t: d [s]"},
    };
    char buf[1024];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(format_body(cases[i].body, cases[i].status, buf, sizeof(buf)),
                            cases[i].line);
}

/* A CA (or whoever answers in its place) must not be able to forge lines or terminal escapes. */
static void test_hostile_text_is_sanitized(void **state)
{
    char buf[1024];

    (void)state;
    format_body("{\"type\":\"x\\nnacme: forged\",\"detail\":\"a\\r\\nb\\u001b[31mred\\u0007\"}",
                403, buf, sizeof(buf));
    assert_null(strchr(buf, '\n'));
    assert_null(strchr(buf, '\r'));
    assert_null(strchr(buf, '\x1b'));
    assert_null(strchr(buf, '\x07'));
    assert_non_null(strstr(buf, "forged"));
    format_body("<h1>\x01\xff\x80</h1>", 500, buf, sizeof(buf));
    assert_string_equal(buf, "HTTP 500 (not a problem document): <h1>\x3f\x3f\x3f</h1>");
}

/* A body is len bytes, not a C string: fuzz_acme_json found the excerpt of a short body that is not
 * a problem document reading one byte past it. The buffer here ends right after the body, so the
 * suite's ASan and valgrind runs (tests/check-memory.sh) see such a read. */
static void test_body_read_within_len(void **state)
{
    static const char *const bodies[] = {"<h1>busy</h1>", "{\"status\": \"valid\"}", "x", ""};
    char buf[256], want[256];
    struct acme_problem *p;
    size_t i, n;
    char *body;

    (void)state;
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        n = strlen(bodies[i]);
        body = malloc(n > 0 ? n : 1);
        assert_non_null(body);
        memcpy(body, bodies[i], n);
        p = acme_problem_from_body_new(body, n, 503);
        assert_non_null(p);
        acme_problem_format(p, buf, sizeof(buf));
        snprintf(want, sizeof(want), "HTTP 503 (not a problem document): %s",
                 n > 0 ? bodies[i] : "(empty body)");
        assert_string_equal(buf, want);
        acme_problem_free(p);
        free(body);
    }
}

static void test_long_detail_is_capped(void **state)
{
    char body[5000], buf[2048];
    size_t n;

    (void)state;
    n = (size_t)snprintf(body, sizeof(body), "{\"type\":\"t\",\"detail\":\"");
    memset(body + n, 'd', 3000);
    n += 3000;
    snprintf(body + n, sizeof(body) - n, "\"}");
    format_body(body, 400, buf, sizeof(buf));
    assert_true(strlen(buf) < 600);
}

static void test_small_buffers_never_overflow(void **state)
{
    static const char body[] =
        "{\"type\":\"urn:ietf:params:acme:error:malformed\",\"detail\":\"long enough detail\","
        "\"subproblems\":[{\"type\":\"a\",\"detail\":\"b\",\"identifier\":{\"type\":\"dns\","
        "\"value\":\"c.example\"}}]}";
    char full[512], small[64];
    size_t size;

    (void)state;
    format_body(body, 400, full, sizeof(full));
    for (size = 1; size < sizeof(small); size++) {
        memset(small, 'X', sizeof(small));
        format_body(body, 400, small, size);
        assert_int_equal(small[size - 1 < strlen(full) ? size - 1 : strlen(full)], '\0');
        assert_int_equal(strncmp(small, full, strlen(small)), 0); /* a prefix of the full line */
        if (size < sizeof(small))
            assert_int_equal(small[size], 'X'); /* nothing written past the end */
    }
}

static void test_problem_is(void **state)
{
    struct acme_problem *p;
    const char *body = "{\"type\":\"urn:ietf:params:acme:error:badNonce\"}";

    (void)state;
    p = acme_problem_from_body_new(body, strlen(body), 400);
    assert_true(acme_problem_is(p, "badNonce"));
    assert_false(acme_problem_is(p, "badNonceX"));
    assert_false(acme_problem_is(p, "malformed"));
    acme_problem_free(p);
    body = "{\"type\":\"urn:example:error:badNonce\"}";
    p = acme_problem_from_body_new(body, strlen(body), 400);
    assert_false(acme_problem_is(p, "badNonce")); /* another namespace is not ACME's badNonce */
    acme_problem_free(p);
    assert_false(acme_problem_is(NULL, "badNonce"));
}

/* userActionRequired carries where the person acts (RFC 8555 §7.3.3): kept only as a string. */
static void test_instance(void **state)
{
    static const struct {
        const char *body;
        const char *instance; /* NULL: none kept */
    } cases[] = {
        {"{\"type\":\"urn:ietf:params:acme:error:userActionRequired\",\"detail\":\"new terms\","
         "\"instance\":\"https://ca.example/agree\"}",
         "https://ca.example/agree"},
        {"{\"type\":\"urn:ietf:params:acme:error:userActionRequired\"}", NULL},
        {"{\"type\":\"t\",\"instance\":7}", NULL},
        {"{\"type\":\"t\",\"instance\":null}", NULL},
    };
    struct acme_problem *p;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p = acme_problem_from_body_new(cases[i].body, strlen(cases[i].body), 403);
        assert_non_null(p);
        if (cases[i].instance == NULL)
            assert_null(p->instance);
        else
            assert_string_equal(p->instance, cases[i].instance);
        acme_problem_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_table),
        cmocka_unit_test(test_hostile_text_is_sanitized),
        cmocka_unit_test(test_body_read_within_len),
        cmocka_unit_test(test_long_detail_is_capped),
        cmocka_unit_test(test_small_buffers_never_overflow),
        cmocka_unit_test(test_problem_is),
        cmocka_unit_test(test_instance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
