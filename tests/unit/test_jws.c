/* test_jws.c - JWK, RFC 7638 thumbprints, JWS signatures verified with OpenSSL, EAB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

#include "b64url.h"
#include "jws.h"
#include "keys.h"

/* RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint. */
static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPeb"
    "WKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368Q"
    "QMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2N"
    "cRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char rfc7638_thumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

static BIGNUM *bn_from_b64url(const char *s)
{
    unsigned char *bytes;
    size_t len;
    BIGNUM *bn;

    assert_int_equal(b64url_decode_new(s, strlen(s), &bytes, &len), 0);
    bn = BN_bin2bn(bytes, (int)len, NULL);
    free(bytes);
    assert_non_null(bn);
    return bn;
}

static EVP_PKEY *rsa_public_key(const char *n64, const char *e64)
{
    BIGNUM *n = bn_from_b64url(n64), *e = bn_from_b64url(e64);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *key = NULL;
    OSSL_PARAM *params;

    assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n));
    assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e));
    params = OSSL_PARAM_BLD_to_param(bld);
    assert_int_equal(EVP_PKEY_fromdata_init(pctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_PUBLIC_KEY, params), 1);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(pctx);
    BN_free(n);
    BN_free(e);
    return key;
}

static void test_thumbprint_rfc7638(void **state)
{
    struct nacme_ctx ctx;
    EVP_PKEY *key = rsa_public_key(rfc7638_n, "AQAB");
    json_t *jwk;
    char *tp;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_int_equal(jwk_thumbprint_new(&ctx, key, &tp), NACME_OK);
    assert_string_equal(tp, rfc7638_thumbprint);
    assert_int_equal(jwk_new(&ctx, key, &jwk), NACME_OK);
    assert_string_equal(json_string_value(json_object_get(jwk, "n")), rfc7638_n);
    assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "RSA");
    assert_int_equal(json_object_size(jwk), 3); /* required members only */
    assert_string_equal(jws_alg(key), "RS256");
    json_decref(jwk);
    free(tp);
    EVP_PKEY_free(key);
}

static size_t decoded_len(json_t *jwk, const char *member)
{
    const char *s = json_string_value(json_object_get(jwk, member));
    unsigned char *b;
    size_t len;

    assert_non_null(s);
    assert_int_equal(b64url_decode_new(s, strlen(s), &b, &len), 0);
    free(b);
    return len;
}

/* Coordinates keep their full width even when they start with zero bytes (RFC 7518 §6.2.1.2). */
static void test_ec_jwk_coordinates(void **state)
{
    static const struct {
        enum nacme_keytype type;
        const char *crv;
        const char *alg;
        size_t size;
    } cases[] = {
        {NACME_KEY_EC256, "P-256", "ES256", 32},
        {NACME_KEY_EC384, "P-384", "ES384", 48},
    };
    struct nacme_ctx ctx;
    size_t i;
    int tries, leading_zero;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        leading_zero = 0;
        for (tries = 0; tries < 2000 && !leading_zero; tries++) {
            EVP_PKEY *key = NULL;
            BIGNUM *x = NULL;
            json_t *jwk = NULL;
            assert_int_equal(key_generate_new(&ctx, cases[i].type, &key), NACME_OK);
            assert_int_equal(jwk_new(&ctx, key, &jwk), NACME_OK);
            assert_string_equal(json_string_value(json_object_get(jwk, "crv")), cases[i].crv);
            assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "EC");
            assert_int_equal(decoded_len(jwk, "x"), cases[i].size);
            assert_int_equal(decoded_len(jwk, "y"), cases[i].size);
            assert_string_equal(jws_alg(key), cases[i].alg);
            assert_true(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x));
            leading_zero = BN_num_bytes(x) < (int)cases[i].size;
            BN_free(x);
            json_decref(jwk);
            EVP_PKEY_free(key);
        }
        assert_true(leading_zero); /* about 1 key in 256 has one: the padding path was taken */
    }
}

/* Parse a JWS, check its protected header and payload, and verify its signature with OpenSSL. */
static void check_jws(EVP_PKEY *key, const char *text, const char *kid, const char *payload,
                      bool tamper)
{
    const char *prot64, *pay64, *sig64, *alg;
    unsigned char *prot, *pay, *sig, *der = NULL;
    size_t plen, paylen, siglen, half;
    json_t *jws, *hdr;
    char *input;
    int derlen, ok;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    jws = json_loads(text, 0, NULL);
    assert_non_null(jws);
    assert_int_equal(json_unpack(jws, "{s:s, s:s, s:s}", "protected", &prot64, "payload", &pay64,
                                 "signature", &sig64),
                     0);
    assert_int_equal(b64url_decode_new(prot64, strlen(prot64), &prot, &plen), 0);
    hdr = json_loadb((char *)prot, plen, 0, NULL);
    assert_non_null(hdr);
    alg = json_string_value(json_object_get(hdr, "alg"));
    assert_string_equal(alg, jws_alg(key));
    assert_string_equal(json_string_value(json_object_get(hdr, "nonce")), "NONCE-1");
    assert_string_equal(json_string_value(json_object_get(hdr, "url")), "https://ca.test/new");
    if (kid != NULL) {
        assert_string_equal(json_string_value(json_object_get(hdr, "kid")), kid);
        assert_null(json_object_get(hdr, "jwk"));
    } else {
        assert_null(json_object_get(hdr, "kid"));
        assert_true(json_is_object(json_object_get(hdr, "jwk")));
    }
    assert_int_equal(b64url_decode_new(pay64, strlen(pay64), &pay, &paylen), 0);
    assert_int_equal(paylen, strlen(payload));
    assert_memory_equal(pay, payload, paylen);
    assert_int_equal(b64url_decode_new(sig64, strlen(sig64), &sig, &siglen), 0);
    if (tamper)
        sig[siglen / 2] ^= 0x01;
    if (alg[0] == 'E') {
        /* JWS carries R||S; OpenSSL verifies DER. */
        ECDSA_SIG *es = ECDSA_SIG_new();
        half = strcmp(alg, "ES256") == 0 ? 32 : 48;
        assert_int_equal(siglen, 2 * half);
        ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)half, NULL), BN_bin2bn(sig + half, (int)half, NULL));
        derlen = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
    } else {
        der = OPENSSL_memdup(sig, siglen);
        derlen = (int)siglen;
    }
    input = nacme_printf_new("%s.%s", prot64, pay64);
    assert_int_equal(EVP_DigestVerifyInit(md, NULL,
                                          strcmp(alg, "ES384") == 0 ? EVP_sha384() : EVP_sha256(),
                                          NULL, key),
                     1);
    ok = EVP_DigestVerify(md, der, (size_t)derlen, (unsigned char *)input, strlen(input));
    assert_int_equal(ok, tamper ? 0 : 1);
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    free(input);
    free(prot);
    free(pay);
    free(sig);
    json_decref(hdr);
    json_decref(jws);
}

static void test_sign_and_verify(void **state)
{
    static const enum nacme_keytype types[] = {NACME_KEY_EC256, NACME_KEY_EC384,
                                               NACME_KEY_RSA2048};
    static const char *const payloads[] = {"", "{\"identifiers\":[]}"};
    static const char *const kids[] = {NULL, "https://ca.test/acct/1"};
    struct nacme_ctx ctx;
    size_t t, p, k;

    (void)state;
    nacme_ctx_init(&ctx);
    for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        EVP_PKEY *key = NULL;
        assert_int_equal(key_generate_new(&ctx, types[t], &key), NACME_OK);
        for (p = 0; p < 2; p++)
            for (k = 0; k < 2; k++) {
                char *out = NULL;
                assert_int_equal(jws_sign_new(&ctx, key, kids[k], "NONCE-1",
                                              "https://ca.test/new", payloads[p], &out),
                                 NACME_OK);
                check_jws(key, out, kids[k], payloads[p], false);
                check_jws(key, out, kids[k], payloads[p], true);
                free(out);
            }
        EVP_PKEY_free(key);
    }
}

static void test_eab(void **state)
{
    static const char mac_b64[] = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    const char *prot64, *pay64, *sig64;
    unsigned char *mac, *prot, *pay, expect[EVP_MAX_MD_SIZE];
    size_t maclen, plen, paylen;
    unsigned explen;
    struct nacme_ctx ctx;
    EVP_PKEY *key = NULL;
    json_t *eab = NULL, *hdr, *jwk_in_payload, *jwk = NULL;
    char *input, *expect64;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_int_equal(key_generate_new(&ctx, NACME_KEY_EC256, &key), NACME_OK);
    assert_int_equal(jws_eab_new(&ctx, key, "kid-1", mac_b64, "https://ca.test/acct", &eab),
                     NACME_OK);
    assert_int_equal(json_unpack(eab, "{s:s, s:s, s:s}", "protected", &prot64, "payload", &pay64,
                                 "signature", &sig64),
                     0);
    assert_int_equal(b64url_decode_new(prot64, strlen(prot64), &prot, &plen), 0);
    hdr = json_loadb((char *)prot, plen, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "HS256");
    assert_string_equal(json_string_value(json_object_get(hdr, "kid")), "kid-1");
    assert_string_equal(json_string_value(json_object_get(hdr, "url")), "https://ca.test/acct");
    assert_null(json_object_get(hdr, "nonce")); /* RFC 8555 §7.3.4: no nonce in the inner JWS */
    /* The payload is the account's public JWK. */
    assert_int_equal(b64url_decode_new(pay64, strlen(pay64), &pay, &paylen), 0);
    jwk_in_payload = json_loadb((char *)pay, paylen, 0, NULL);
    assert_int_equal(jwk_new(&ctx, key, &jwk), NACME_OK);
    assert_true(json_equal(jwk_in_payload, jwk));
    /* The signature is HMAC-SHA256 with the decoded MAC key over "protected.payload". */
    assert_int_equal(b64url_decode_new(mac_b64, strlen(mac_b64), &mac, &maclen), 0);
    input = nacme_printf_new("%s.%s", prot64, pay64);
    HMAC(EVP_sha256(), mac, (int)maclen, (unsigned char *)input, strlen(input), expect, &explen);
    expect64 = b64url_encode_new(expect, explen);
    assert_string_equal(sig64, expect64);
    free(expect64);
    free(input);
    free(mac);
    free(prot);
    free(pay);
    json_decref(hdr);
    json_decref(jwk_in_payload);
    json_decref(jwk);
    json_decref(eab);
    eab = NULL;
    /* A MAC key that is not base64url is the user's mistake: usage error, nothing built. */
    assert_int_equal(jws_eab_new(&ctx, key, "kid-1", "not+base64/url", "https://ca.test/a", &eab),
                     NACME_E_USAGE);
    assert_null(eab);
    assert_non_null(strstr(ctx.errmsg, "EAB"));
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thumbprint_rfc7638),
        cmocka_unit_test(test_ec_jwk_coordinates),
        cmocka_unit_test(test_sign_and_verify),
        cmocka_unit_test(test_eab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
