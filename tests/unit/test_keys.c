/* test_keys.c - key types, generation, PEM round trips and the refusals of keys.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "keys.h"

static const struct {
    const char *name;
    int ok;
    enum nacme_keytype type;
} parse_cases[] = {
    {"ec256", 1, NACME_KEY_EC256},
    {"ec384", 1, NACME_KEY_EC384},
    {"rsa2048", 1, NACME_KEY_RSA2048},
    {"rsa3072", 1, NACME_KEY_RSA3072},
    {"rsa4096", 1, NACME_KEY_RSA4096},
    {"", 0, NACME_KEY_MAX},
    {"ec521", 0, NACME_KEY_MAX},
    {"rsa1024", 0, NACME_KEY_MAX},
    {"ec256 ", 0, NACME_KEY_MAX},
    {"rsa", 0, NACME_KEY_MAX},
};

static void test_keytype_parse(void **state)
{
    enum nacme_keytype t;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        t = NACME_KEY_MAX;
        if (parse_cases[i].ok) {
            assert_int_equal(keytype_parse(parse_cases[i].name, &t), 0);
            assert_int_equal(t, parse_cases[i].type);
            assert_string_equal(keytype_name(t), parse_cases[i].name);
        } else {
            assert_int_equal(keytype_parse(parse_cases[i].name, &t), -1);
        }
    }
    assert_int_equal(keytype_parse(NULL, &t), -1);
    assert_non_null(keytype_name(NACME_KEY_MAX));
}

/* Every supported type: generate, check the type and size, write PKCS#8, read back, compare. */
static void test_generate_roundtrip(void **state)
{
    static const struct {
        enum nacme_keytype type;
        const char *algo;
        int bits;
    } cases[] = {
        {NACME_KEY_EC256, "EC", 256},     {NACME_KEY_EC384, "EC", 384},
        {NACME_KEY_RSA2048, "RSA", 2048}, {NACME_KEY_RSA3072, "RSA", 3072},
        {NACME_KEY_RSA4096, "RSA", 4096},
    };
    struct nacme_ctx ctx;
    EVP_PKEY *key, *back;
    enum nacme_keytype t;
    BIGNUM *e = NULL;
    size_t i, len;
    char *pem;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        key = back = NULL;
        assert_int_equal(key_generate_new(&ctx, cases[i].type, &key), NACME_OK);
        assert_non_null(key);
        assert_true(EVP_PKEY_is_a(key, cases[i].algo));
        assert_int_equal(EVP_PKEY_get_bits(key), cases[i].bits);
        if (strcmp(cases[i].algo, "RSA") == 0) {
            assert_int_equal(EVP_PKEY_get_bn_param(key, "e", &e), 1);
            assert_true(BN_is_word(e, 65537));
            BN_free(e);
            e = NULL;
        }
        assert_int_equal(key_type_of(&ctx, key, &t), NACME_OK);
        assert_int_equal(t, cases[i].type);

        assert_int_equal(key_to_pem_new(&ctx, key, &pem, &len), NACME_OK);
        assert_int_equal(strlen(pem), len);
        assert_true(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
        assert_int_equal(key_from_pem_new(&ctx, pem, len, "roundtrip", &back), NACME_OK);
        assert_int_equal(EVP_PKEY_eq(key, back), 1);
        nacme_secret_free(pem, len);
        EVP_PKEY_free(back);
        EVP_PKEY_free(key);
    }
    assert_int_equal(key_generate_new(&ctx, NACME_KEY_MAX, &key), NACME_E_INVALID);
    assert_null(key);
}

static char *bio_text_new(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);

    return strndup(data, (size_t)n);
}

/* OpenSSL's "traditional" formats (BEGIN EC/RSA PRIVATE KEY) are what older tools wrote. */
static void test_from_pem_traditional(void **state)
{
    static const struct {
        enum nacme_keytype type;
        const char *begin;
    } cases[] = {
        {NACME_KEY_EC256, "-----BEGIN EC PRIVATE KEY-----"},
        {NACME_KEY_RSA2048, "-----BEGIN RSA PRIVATE KEY-----"},
    };
    struct nacme_ctx ctx;
    EVP_PKEY *key, *back;
    size_t i;
    char *pem;
    BIO *bio;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(key_generate_new(&ctx, cases[i].type, &key), NACME_OK);
        bio = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL,
                                                              NULL), 1);
        pem = bio_text_new(bio);
        assert_non_null(strstr(pem, cases[i].begin));
        assert_int_equal(key_from_pem_new(&ctx, pem, strlen(pem), "trad.pem", &back), NACME_OK);
        assert_int_equal(EVP_PKEY_eq(key, back), 1);
        EVP_PKEY_free(back);
        EVP_PKEY_free(key);
        free(pem);
        BIO_free(bio);
    }
}

static int fixed_pass(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    (void)u;
    if (size < 6)
        return 0;
    memcpy(buf, "secret", 6);
    return 6;
}

static void test_from_pem_refused(void **state)
{
    static const struct {
        const char *pem;
        const char *msg;
    } cases[] = {
        {"", "/etc/nacme/k.pem: no PEM private key"},
        {"not a key at all\n", "/etc/nacme/k.pem: not a PEM private key"},
        {"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
         "/etc/nacme/k.pem: not a PEM private key"},
    };
    struct nacme_ctx ctx;
    EVP_PKEY *key = NULL, *back;
    char *pem;
    size_t i;
    BIO *bio;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        back = (EVP_PKEY *)1;
        assert_int_equal(key_from_pem_new(&ctx, cases[i].pem, strlen(cases[i].pem),
                                          "/etc/nacme/k.pem", &back),
                         NACME_E_INVALID);
        assert_null(back);
        assert_true(strncmp(ctx.errmsg, cases[i].msg, strlen(cases[i].msg)) == 0);
    }

    /* An encrypted key must fail at once, never prompt for a passphrase. */
    assert_int_equal(key_generate_new(&ctx, NACME_KEY_EC256, &key), NACME_OK);
    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), NULL, 0,
                                                   fixed_pass, NULL), 1);
    pem = bio_text_new(bio);
    assert_int_equal(key_from_pem_new(&ctx, pem, strlen(pem), "enc.pem", &back),
                     NACME_E_INVALID);
    assert_null(back);
    assert_non_null(strstr(ctx.errmsg, "enc.pem"));
    assert_non_null(strstr(ctx.errmsg, "encrypted"));
    free(pem);
    BIO_free(bio);

    /* A public key is not a private key. */
    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, key), 1);
    pem = bio_text_new(bio);
    assert_int_equal(key_from_pem_new(&ctx, pem, strlen(pem), "pub.pem", &back),
                     NACME_E_INVALID);
    assert_null(back);
    assert_non_null(strstr(ctx.errmsg, "pub.pem"));
    free(pem);
    BIO_free(bio);
    EVP_PKEY_free(key);
    assert_int_equal(ERR_peek_error(), 0);
}

/* Keys we can read but do not support must be named in the refusal. */
static void test_type_of_refused(void **state)
{
    struct nacme_ctx ctx;
    enum nacme_keytype t;
    EVP_PKEY *key;

    (void)state;
    nacme_ctx_init(&ctx);

    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    assert_non_null(key);
    assert_int_equal(key_type_of(&ctx, key, &t), NACME_E_INVALID);
    assert_non_null(strstr(ctx.errmsg, "secp521r1"));
    EVP_PKEY_free(key);

    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    assert_non_null(key);
    assert_int_equal(key_type_of(&ctx, key, &t), NACME_E_INVALID);
    assert_non_null(strstr(ctx.errmsg, "secp256k1"));
    EVP_PKEY_free(key);

    key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    assert_non_null(key);
    assert_int_equal(key_type_of(&ctx, key, &t), NACME_E_INVALID);
    assert_non_null(strstr(ctx.errmsg, "1024 bits"));
    EVP_PKEY_free(key);

    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(key);
    assert_int_equal(key_type_of(&ctx, key, &t), NACME_E_INVALID);
    assert_non_null(strstr(ctx.errmsg, "ED25519"));
    EVP_PKEY_free(key);

    assert_int_equal(key_type_of(&ctx, NULL, &t), NACME_E_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keytype_parse),
        cmocka_unit_test(test_generate_roundtrip),
        cmocka_unit_test(test_from_pem_traditional),
        cmocka_unit_test(test_from_pem_refused),
        cmocka_unit_test(test_type_of_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
