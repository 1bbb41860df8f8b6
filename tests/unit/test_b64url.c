/* test_b64url.c - base64url (RFC 4648 §5, no padding) and the token alphabet check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "b64url.h"

/* RFC 4648 §10 vectors, with padding removed (base64url has none). */
static const struct {
    const char *in;
    const char *out;
} vectors[] = {
    {"", ""},           {"f", "Zg"},           {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
    {"\xfb\xff", "-_8"}, /* the two characters that differ from base64 */
    {"\xfb\xef\xbe", "----"},
    {"\xff\xff\xff", "____"},
};

static void test_encode_vectors(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char *s = b64url_encode_new(vectors[i].in, strlen(vectors[i].in));
        assert_non_null(s);
        assert_string_equal(s, vectors[i].out);
        free(s);
    }
}

static void test_decode_vectors(void **state)
{
    unsigned char *out;
    size_t i, len;

    (void)state;
    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        assert_int_equal(b64url_decode_new(vectors[i].out, strlen(vectors[i].out), &out, &len), 0);
        assert_int_equal(len, strlen(vectors[i].in));
        assert_memory_equal(out, vectors[i].in, len);
        free(out);
    }
    /* Trailing padding from a sloppy CA is tolerated. */
    assert_int_equal(b64url_decode_new("Zg==", 4, &out, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal(out[0], 'f');
    free(out);
}

static void test_round_trip(void **state)
{
    unsigned char buf[100], *out;
    size_t n, i, len;
    char *s;

    (void)state;
    srand(7);
    for (n = 0; n <= sizeof(buf); n++) {
        for (i = 0; i < n; i++)
            buf[i] = (unsigned char)rand();
        s = b64url_encode_new(buf, n);
        assert_non_null(s);
        assert_int_equal(strlen(s), (n * 4 + 2) / 3);
        assert_null(strpbrk(s, "+/="));
        assert_int_equal(b64url_decode_new(s, strlen(s), &out, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(out, buf, n);
        free(out);
        free(s);
    }
}

static void test_decode_refuses(void **state)
{
    static const char *const bad[] = {"Zm9v+A", "Zm9v/A", "Z", "Zm9vY", "Zm 9v", "Zm\n9v",
                                      "Zm.9", "=Zm9"};
    unsigned char *out = (unsigned char *)"sentinel";
    size_t i, len = 99;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(b64url_decode_new(bad[i], strlen(bad[i]), &out, &len), -1);
        assert_null(out);
        assert_int_equal(len, 0);
    }
    /* An embedded NUL inside the given length is not base64url either. */
    assert_int_equal(b64url_decode_new("Zm\0v", 4, &out, &len), -1);
}

static void test_is_token(void **state)
{
    static const struct {
        const char *s;
        size_t max;
        bool ok;
    } cases[] = {
        {"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", 256, true},
        {"a", 1, true},
        {"a-b_c", 10, true},
        {"", 10, false},
        {"ab", 1, false},
        {"..", 10, false},
        {".", 10, false},
        {"a/b", 10, false},
        {"../../../tmp/x", 64, false},
        {"%2f", 10, false},
        {"a b", 10, false},
        {"a=", 10, false},
        {"\xc3\xa9t\xc3\xa9", 10, false},
        {"a\\b", 10, false},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (b64url_is_token(cases[i].s, cases[i].max) != cases[i].ok)
            fail_msg("b64url_is_token(\"%s\", %zu) should be %d", cases[i].s, cases[i].max,
                     cases[i].ok);
    }
    assert_false(b64url_is_token(NULL, 10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_vectors), cmocka_unit_test(test_decode_vectors),
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_decode_refuses),
        cmocka_unit_test(test_is_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
