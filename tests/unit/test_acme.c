/* test_acme.c - the parts of the protocol engine that need no CA: keyChange's inner JWS (RFC 8555
 * §7.3.5), checked member by member and verified with OpenSSL, revocation reason codes, and the
 * check of a profile name against the directory's meta.profiles (draft-ietf-acme-profiles), and the
 * parsing of the CA's answers (the step the fuzz target tests/fuzz/fuzz_acme_json.c drives). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "acme.h"
#include "b64url.h"
#include "jws.h"
#include "keys.h"

#define ACCOUNT_URL "https://ca.test/acct/17"
#define KEY_CHANGE_URL "https://ca.test/key-change"

static json_t *b64url_json(const char *s)
{
    unsigned char *bytes;
    size_t len;
    json_t *j;

    assert_int_equal(b64url_decode_new(s, strlen(s), &bytes, &len), 0);
    j = json_loadb((char *)bytes, len, JSON_REJECT_DUPLICATES, NULL);
    free(bytes);
    assert_non_null(j);
    return j;
}

static json_t *jwk_of(EVP_PKEY *key)
{
    struct nacme_ctx ctx;
    json_t *jwk = NULL;

    nacme_ctx_init(&ctx);
    assert_int_equal(jwk_new(&ctx, key, &jwk), NACME_OK);
    return jwk;
}

/* Whether sig64 is a valid JWS signature (algorithm alg) by key over prot64.pay64. */
static bool verifies(EVP_PKEY *key, const char *alg, const char *prot64, const char *pay64,
                     const char *sig64)
{
    unsigned char *sig, *der = NULL;
    size_t siglen, half;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char *input = nacme_printf_new("%s.%s", prot64, pay64);
    int derlen;
    bool ok;

    assert_int_equal(b64url_decode_new(sig64, strlen(sig64), &sig, &siglen), 0);
    if (alg[0] == 'E') { /* R||S in the JWS, DER for OpenSSL */
        ECDSA_SIG *es = ECDSA_SIG_new();
        half = strcmp(alg, "ES256") == 0 ? 32 : 48;
        if (siglen != 2 * half) {
            ECDSA_SIG_free(es);
            free(sig);
            free(input);
            EVP_MD_CTX_free(md);
            return false;
        }
        ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)half, NULL), BN_bin2bn(sig + half, (int)half, NULL));
        derlen = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
    } else {
        der = OPENSSL_memdup(sig, siglen);
        derlen = (int)siglen;
    }
    ok = EVP_DigestVerifyInit(md, NULL, strcmp(alg, "ES384") == 0 ? EVP_sha384() : EVP_sha256(),
                              NULL, key) == 1 &&
         EVP_DigestVerify(md, der, (size_t)derlen, (unsigned char *)input, strlen(input)) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    free(sig);
    free(input);
    return ok;
}

static void test_key_change_inner(void **state)
{
    static const struct {
        enum nacme_keytype old_type, new_type;
    } cases[] = {
        {NACME_KEY_EC256, NACME_KEY_EC256},
        {NACME_KEY_EC256, NACME_KEY_EC384},
        {NACME_KEY_EC384, NACME_KEY_RSA2048},
        {NACME_KEY_RSA2048, NACME_KEY_EC256},
    };
    struct nacme_ctx ctx;
    size_t i;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EVP_PKEY *old_key = NULL, *new_key = NULL;
        const char *prot64, *pay64, *sig64, *alg;
        json_t *jws, *hdr, *pay, *old_jwk, *new_jwk;
        char *out = NULL, *tampered;

        assert_int_equal(key_generate_new(&ctx, cases[i].old_type, &old_key), NACME_OK);
        assert_int_equal(key_generate_new(&ctx, cases[i].new_type, &new_key), NACME_OK);
        assert_int_equal(acme_key_change_inner_new(&ctx, old_key, new_key, ACCOUNT_URL,
                                                   KEY_CHANGE_URL, &out),
                         NACME_OK);
        jws = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(jws);
        assert_int_equal(json_unpack(jws, "{s:s, s:s, s:s}", "protected", &prot64, "payload",
                                     &pay64, "signature", &sig64),
                         0);
        assert_int_equal(json_object_size(jws), 3);
        /* Protected header: the new key's alg and jwk, the keyChange URL, no nonce, no kid. */
        hdr = b64url_json(prot64);
        new_jwk = jwk_of(new_key);
        old_jwk = jwk_of(old_key);
        assert_string_equal(json_string_value(json_object_get(hdr, "alg")), jws_alg(new_key));
        assert_true(json_equal(json_object_get(hdr, "jwk"), new_jwk));
        assert_string_equal(json_string_value(json_object_get(hdr, "url")), KEY_CHANGE_URL);
        assert_null(json_object_get(hdr, "nonce"));
        assert_null(json_object_get(hdr, "kid"));
        assert_int_equal(json_object_size(hdr), 3);
        /* Payload: the account URL and the old key. */
        pay = b64url_json(pay64);
        assert_string_equal(json_string_value(json_object_get(pay, "account")), ACCOUNT_URL);
        assert_true(json_equal(json_object_get(pay, "oldKey"), old_jwk));
        assert_int_equal(json_object_size(pay), 2);
        /* Signed by the new key, not the old one; a changed payload no longer verifies. */
        alg = jws_alg(new_key);
        assert_true(verifies(new_key, alg, prot64, pay64, sig64));
        assert_false(verifies(old_key, alg, prot64, pay64, sig64));
        tampered = nacme_strdup_new(pay64);
        tampered[3] = tampered[3] == 'A' ? 'B' : 'A';
        assert_false(verifies(new_key, alg, prot64, tampered, sig64));
        free(tampered);
        json_decref(pay);
        json_decref(hdr);
        json_decref(old_jwk);
        json_decref(new_jwk);
        json_decref(jws);
        free(out);
        EVP_PKEY_free(old_key);
        EVP_PKEY_free(new_key);
    }
}

static void test_revocation_reasons(void **state)
{
    static const struct {
        const char *name;
        int code;
    } cases[] = {
        /* RFC 5280 §5.3.1 CRLReason values */
        {"unspecified", 0},
        {"keyCompromise", 1},
        {"superseded", 4},
        {"cessationOfOperation", 5},
        /* not offered, or not spelled as RFC 5280 spells them */
        {"cACompromise", -1},
        {"affiliationChanged", -1},
        {"certificateHold", -1},
        {"removeFromCRL", -1},
        {"privilegeWithdrawn", -1},
        {"aACompromise", -1},
        {"KeyCompromise", -1},
        {"keycompromise", -1},
        {"keyCompromise ", -1},
        {"1", -1},
        {"", -1},
    };
    static const int unnamed[] = {-1, 2, 3, 6, 7, 8, 9, 10, 11};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(acme_revocation_reason_parse(cases[i].name), cases[i].code);
        if (cases[i].code >= 0)
            assert_string_equal(acme_revocation_reason_name(cases[i].code), cases[i].name);
    }
    assert_int_equal(acme_revocation_reason_parse(NULL), -1);
    for (i = 0; i < sizeof(unnamed) / sizeof(unnamed[0]); i++)
        assert_null(acme_revocation_reason_name(unnamed[i]));
}

static void test_profile_names(void **state)
{
    static const struct {
        const char *name;
        bool valid;
    } cases[] = {
        {"classic", true},
        {"shortlived", true},
        {"tls-server_2025.v1", true},
        {"a", true},
        {"", false},
        {"short lived", false},
        {"tab\tname", false},
        {"caf\xc3\xa9", false},
        {"del\x7f", false},
        {"0123456789012345678901234567890123456789012345678901234567890123", true},
        {"01234567890123456789012345678901234567890123456789012345678901234", false},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (acme_profile_name_valid(cases[i].name) != cases[i].valid)
            fail_msg("acme_profile_name_valid(\"%s\") is not %d", cases[i].name, cases[i].valid);
}

static void test_profile_check(void **state)
{
    static const struct {
        size_t offered; /* how many of offered_names the directory lists */
        const char *profile;
        enum nacme_err err;
        const char *msg; /* the one line, or NULL */
    } cases[] = {
        {2, "classic", NACME_OK, NULL},
        {2, "shortlived", NACME_OK, NULL},
        {2, "Classic", NACME_E_USAGE,
         "profile \"Classic\": https://ca.test/dir does not offer it; it offers classic, "
         "shortlived"},
        {1, "shortlived", NACME_E_USAGE,
         "profile \"shortlived\": https://ca.test/dir does not offer it; it offers classic"},
        {0, "classic", NACME_E_USAGE,
         "profile \"classic\": https://ca.test/dir offers no certificate profiles (leave out "
         "--profile and the profile setting)"},
    };
    char *offered_names[] = {(char *)"classic", (char *)"shortlived"};
    struct nacme_ctx ctx;
    struct acme_client c;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nacme_ctx_init(&ctx);
        memset(&c, 0, sizeof(c));
        c.ctx = &ctx;
        c.directory_url = (char *)"https://ca.test/dir";
        c.dir.profiles = offered_names;
        c.dir.nprofiles = cases[i].offered;
        assert_int_equal(acme_profile_check(&c, &ctx, cases[i].profile), cases[i].err);
        if (cases[i].msg != NULL)
            assert_string_equal(ctx.errmsg, cases[i].msg);
    }
}

#define URL "https://ca.test/x"

/* Each parser on bodies it must take and bodies it must refuse; the refusal names the URL. */
static void test_parse_bodies(void **state)
{
    enum kind { DIR, ACCT, ORDER, AUTHZ, ARI };
    static const struct {
        enum kind kind;
        const char *body;
        enum nacme_err want;
        const char *field; /* what a member parsed to (kind-specific), or NULL */
    } cases[] = {
        {DIR, "{\"newNonce\":\"https://n\",\"newAccount\":\"https://a\",\"newOrder\":"
              "\"https://o\",\"meta\":{\"termsOfService\":\"https://tos\"}}", NACME_OK,
         "https://o https://tos"},
        {DIR, "{\"newNonce\":\"https://n\",\"newAccount\":\"https://a\"}", NACME_E_PROTO, NULL},
        {DIR, "{\"newNonce\":\"https://n\",\"newAccount\":\"https://a\",\"newOrder\":1}",
         NACME_E_PROTO, NULL},
        {DIR, "<html>", NACME_E_PROTO, NULL},
        {DIR, "[]", NACME_E_PROTO, NULL},
        {DIR, "", NACME_E_PROTO, NULL},
        {ACCT, "{\"status\":\"valid\",\"contact\":[\"mailto:a@b.example\"]}", NACME_OK,
         "valid mailto:a@b.example"},
        {ACCT, "{\"status\":\"valid\",\"contact\":\"mailto:a@b.example\"}", NACME_E_PROTO, NULL},
        {ACCT, "{\"status\":\"sleeping\"}", NACME_E_PROTO, NULL},
        {ORDER, "{\"status\":\"valid\",\"authorizations\":[\"https://z/1\"],\"finalize\":"
                "\"https://f\",\"certificate\":\"https://c\"}", NACME_OK, "valid https://c"},
        {ORDER, "{\"status\":\"invalid\",\"authorizations\":[\"https://z/1\"],\"finalize\":"
                "\"https://f\",\"error\":{\"type\":\"urn:ietf:params:acme:error:orderNotReady\"}}",
         NACME_OK, "invalid urn:ietf:params:acme:error:orderNotReady"},
        {ORDER, "{\"status\":\"valid\",\"authorizations\":[],\"finalize\":\"https://f\"}",
         NACME_E_PROTO, NULL},
        {ORDER, "{\"status\":\"valid\",\"status\":\"valid\",\"authorizations\":[\"https://z\"],"
                "\"finalize\":\"https://f\"}", NACME_E_PROTO, NULL}, /* duplicate key */
        {ORDER, "{\"status\":\"done\",\"authorizations\":[\"https://z\"],\"finalize\":\"https://f\"}",
         NACME_E_PROTO, NULL},
        {ORDER, "{\"status\":\"valid\",\"authorizations\":[7],\"finalize\":\"https://f\"}",
         NACME_E_PROTO, NULL},
        {AUTHZ, "{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"
                "\"challenges\":[{\"type\":\"dns-01\",\"url\":\"https://d\",\"status\":\"pending\","
                "\"token\":\"tokd\"},{\"type\":\"http-01\",\"url\":\"https://c\","
                "\"status\":\"invalid\",\"token\":\"tok_-9\",\"error\":{\"type\":\"urn:ietf:params:"
                "acme:error:unauthorized\",\"status\":403}}]}", NACME_OK,
         "a.example tok_-9 urn:ietf:params:acme:error:unauthorized"},
        /* a dns-01 challenge without url, status or token: refused like a broken http-01 one */
        {AUTHZ, "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"
                "\"challenges\":[{\"type\":\"dns-01\"},{\"type\":\"http-01\",\"url\":\"https://c\","
                "\"status\":\"pending\",\"token\":\"tok\"}]}", NACME_E_PROTO, NULL},
        {AUTHZ, "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"
                "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://c\",\"status\":\"pending\","
                "\"token\":\"../x\"}]}", NACME_E_PROTO, NULL},
        {AUTHZ, "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a\\u0000b\"},"
                "\"challenges\":[]}", NACME_E_PROTO, NULL},
        {AUTHZ, "{\"status\":\"pending\",\"challenges\":[]}", NACME_E_PROTO, NULL},
        {ARI, "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\",\"end\":"
              "\"2025-01-03T04:00:00Z\"},\"explanationURL\":\"https://ca.test/why\"}", NACME_OK,
         "1735790400 1735876800 https://ca.test/why"},
        {ARI, "{\"suggestedWindow\":{\"start\":\"2025-01-03T04:00:00Z\",\"end\":"
              "\"2025-01-02T04:00:00Z\"}}", NACME_E_PROTO, NULL},
        /* valid RFC 3339, but past 9999 in UTC (fuzz_rfc3339) */
        {ARI, "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\",\"end\":"
              "\"9999-12-31T23:59:59-00:01\"}}", NACME_E_PROTO, NULL},
    };
    struct nacme_ctx ctx;
    char got[512];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *b = cases[i].body;
        size_t len = strlen(b);
        enum nacme_err r = NACME_E_MAX;

        nacme_ctx_init(&ctx);
        got[0] = '\0';
        switch (cases[i].kind) {
        case DIR: {
            struct acme_directory d;
            if ((r = acme_directory_parse(&ctx, URL, b, len, &d)) == NACME_OK)
                snprintf(got, sizeof(got), "%s %s", d.new_order, d.terms_of_service);
            acme_directory_clear(&d);
            break;
        }
        case ACCT: {
            struct acme_account_info a;
            if ((r = acme_account_parse(&ctx, URL, b, len, &a)) == NACME_OK)
                snprintf(got, sizeof(got), "%s %s", a.status, a.ncontact ? a.contact[0] : "-");
            acme_account_info_clear(&a);
            break;
        }
        case ORDER: {
            struct acme_order *o = calloc(1, sizeof(*o));
            assert_non_null(o);
            if ((r = acme_order_parse(&ctx, URL, b, len, o)) == NACME_OK)
                snprintf(got, sizeof(got), "%s %s", o->status,
                         o->error ? o->error->type : o->certificate);
            acme_order_free(o);
            break;
        }
        case AUTHZ: {
            struct acme_authz *a = calloc(1, sizeof(*a));
            assert_non_null(a);
            if ((r = acme_authz_parse(&ctx, URL, b, len, a)) == NACME_OK)
                snprintf(got, sizeof(got), "%s %s %s", a->identifier, a->http01.token,
                         a->http01.error ? a->http01.error->type : "-");
            acme_authz_free(a);
            break;
        }
        case ARI: {
            struct acme_renewal_info ri = {.retry_after = -1};
            if ((r = acme_renewal_info_parse(&ctx, URL, b, len, &ri)) == NACME_OK)
                snprintf(got, sizeof(got), "%lld %lld %s", (long long)ri.start,
                         (long long)ri.end, ri.explanation);
            acme_renewal_info_clear(&ri);
            break;
        }
        }
        if (r != cases[i].want)
            fail_msg("case %zu (%s): got %d (%s), want %d", i, b, r, ctx.errmsg, cases[i].want);
        if (cases[i].field != NULL)
            assert_string_equal(got, cases[i].field);
        if (r != NACME_OK)
            assert_non_null(strstr(ctx.errmsg, URL));
    }
}

/* Both tokens bad, the dns-01 challenge listed first: the refusal names the http-01 one, whatever
 * order the CA lists them in (Pebble shuffles them), so that the same fault reads the same. */
static void test_authz_bad_token_named(void **state)
{
    static const char *const bodies[] = {
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"
        "\"challenges\":[{\"type\":\"dns-01\",\"url\":\"https://d\",\"status\":\"pending\","
        "\"token\":\"a/b\"},{\"type\":\"http-01\",\"url\":\"https://c\",\"status\":\"pending\","
        "\"token\":\"a/b\"}]}",
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"
        "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://c\",\"status\":\"pending\","
        "\"token\":\"a/b\"},{\"type\":\"dns-01\",\"url\":\"https://d\",\"status\":\"pending\","
        "\"token\":\"a/b\"}]}",
    };
    struct nacme_ctx ctx;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct acme_authz *a = calloc(1, sizeof(*a));
        assert_non_null(a);
        nacme_ctx_init(&ctx);
        assert_int_equal(acme_authz_parse(&ctx, URL, bodies[i], strlen(bodies[i]), a),
                         NACME_E_PROTO);
        assert_non_null(strstr(ctx.errmsg, "the token of the CA's http-01 challenge is not base64url"));
        acme_authz_free(a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_change_inner),
        cmocka_unit_test(test_revocation_reasons),
        cmocka_unit_test(test_profile_names),
        cmocka_unit_test(test_profile_check),
        cmocka_unit_test(test_parse_bodies),
        cmocka_unit_test(test_authz_bad_token_named),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
