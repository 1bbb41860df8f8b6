/* test_csr.c - the CSR parses back with the names asked for and a valid signature. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include <cmocka.h>

#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "csr.h"
#include "keys.h"

#define LONG61 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const char *const one[] = {"example.com"};
static const char *const three[] = {"example.com", "www.example.com", "*.api.example.com"};
/* 64 characters exactly: still fits ub-common-name. */
static const char *const cn64[] = {"b." LONG61 "z", "other.example"};
/* 65 characters: the subject must be empty and the name only in subjectAltName. */
static const char *const cn65[] = {"bc." LONG61 "z", "other.example"};
/* A comma must not split one name into two subjectAltName entries. */
static const char *const comma[] = {"a.example,DNS:evil.example"};

/* RFC 8738: addresses are iPAddress entries, never the CN; the CN is the first DNS name. */
static const char *const ipv4[] = {"192.0.2.1"};
static const char *const ipv6[] = {"2001:db8::1", "192.0.2.1"};
static const char *const mixed[] = {"192.0.2.1", "example.com", "2001:db8::1", "www.example.com"};

static const struct {
    const char *label;
    const char *const *names;
    size_t nnames;
    const char *cn; /* NULL: empty subject */
} cases[] = {
    {"one name", one, 1, "example.com"},
    {"three names", three, 3, "example.com"},
    {"64-character CN", cn64, 2, "b." LONG61 "z"},
    {"65-character CN", cn65, 2, NULL},
    {"comma in a name", comma, 1, "a.example,DNS:evil.example"},
    {"IPv4 address", ipv4, 1, NULL},
    {"IPv6 and IPv4 addresses", ipv6, 2, NULL},
    {"addresses and DNS names", mixed, 4, "example.com"},
};

static int setup_keys(void **state)
{
    static const enum nacme_keytype types[] = {NACME_KEY_EC256, NACME_KEY_EC384,
                                               NACME_KEY_RSA2048};
    EVP_PKEY **keys = calloc(4, sizeof(*keys));
    struct nacme_ctx ctx;
    size_t i;

    nacme_ctx_init(&ctx);
    if (keys == NULL)
        return -1;
    for (i = 0; i < 3; i++)
        if (key_generate_new(&ctx, types[i], &keys[i]) != NACME_OK)
            return -1;
    *state = keys;
    return 0;
}

static int teardown_keys(void **state)
{
    EVP_PKEY **keys = *state;
    size_t i;

    for (i = 0; keys != NULL && keys[i] != NULL; i++)
        EVP_PKEY_free(keys[i]);
    free(keys);
    return 0;
}

static void check_san(X509_REQ *req, const char *const *names, size_t nnames)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *gens;
    const GENERAL_NAME *gen;
    int i, crit = -1;

    assert_non_null(exts);
    gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
    assert_non_null(gens);
    assert_int_equal(crit, 0);
    assert_int_equal(sk_GENERAL_NAME_num(gens), (int)nnames);
    for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        unsigned char addr[16];
        int family = strchr(names[i], ':') ? AF_INET6 : AF_INET;

        gen = sk_GENERAL_NAME_value(gens, i);
        if (inet_pton(family, names[i], addr) == 1) {
            assert_int_equal(gen->type, GEN_IPADD);
            assert_int_equal(ASN1_STRING_length(gen->d.iPAddress), family == AF_INET6 ? 16 : 4);
            assert_memory_equal(ASN1_STRING_get0_data(gen->d.iPAddress), addr,
                                family == AF_INET6 ? 16 : 4);
            continue;
        }
        assert_int_equal(gen->type, GEN_DNS);
        assert_int_equal(ASN1_STRING_length(gen->d.dNSName), (int)strlen(names[i]));
        assert_memory_equal(ASN1_STRING_get0_data(gen->d.dNSName), names[i], strlen(names[i]));
    }
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

static void check_subject(X509_REQ *req, const char *cn)
{
    const X509_NAME *subj = X509_REQ_get_subject_name(req);
    const X509_NAME_ENTRY *ent;
    const ASN1_STRING *val;

    if (cn == NULL) {
        assert_int_equal(X509_NAME_entry_count(subj), 0);
        return;
    }
    assert_int_equal(X509_NAME_entry_count(subj), 1);
    ent = X509_NAME_get_entry(subj, 0);
    assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(ent)), NID_commonName);
    val = X509_NAME_ENTRY_get_data(ent);
    assert_int_equal(ASN1_STRING_length(val), (int)strlen(cn));
    assert_memory_equal(ASN1_STRING_get0_data(val), cn, strlen(cn));
}

static void test_csr_table(void **state)
{
    EVP_PKEY **keys = *state;
    struct nacme_ctx ctx;
    const unsigned char *p;
    unsigned char *der;
    X509_REQ *req;
    size_t k, i, derlen;

    nacme_ctx_init(&ctx);
    assert_int_equal(strlen(cn64[0]), 64);
    assert_int_equal(strlen(cn65[0]), 65);
    for (k = 0; keys[k] != NULL; k++) {
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            print_message("key %zu: %s\n", k, cases[i].label);
            assert_int_equal(csr_der_new(&ctx, keys[k], cases[i].names, cases[i].nnames, &der,
                                         &derlen),
                             NACME_OK);
            p = der;
            req = d2i_X509_REQ(NULL, &p, (long)derlen);
            assert_non_null(req);
            assert_ptr_equal(p, der + derlen);
            assert_int_equal(X509_REQ_get_version(req), 0);
            assert_int_equal(X509_REQ_verify(req, keys[k]), 1);
            assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), keys[k]), 1);
            assert_int_equal(X509_REQ_get_signature_nid(req),
                             EVP_PKEY_is_a(keys[k], "RSA") ? NID_sha256WithRSAEncryption
                                                           : NID_ecdsa_with_SHA256);
            check_subject(req, cases[i].cn);
            check_san(req, cases[i].names, cases[i].nnames);
            X509_REQ_free(req);
            free(der);
        }
    }
}

/* Signed with one key, the CSR must not verify under another. */
static void test_csr_wrong_key(void **state)
{
    EVP_PKEY **keys = *state;
    struct nacme_ctx ctx;
    const unsigned char *p;
    unsigned char *der;
    X509_REQ *req;
    size_t derlen;

    nacme_ctx_init(&ctx);
    assert_int_equal(csr_der_new(&ctx, keys[0], one, 1, &der, &derlen), NACME_OK);
    p = der;
    req = d2i_X509_REQ(NULL, &p, (long)derlen);
    assert_non_null(req);
    assert_int_not_equal(X509_REQ_verify(req, keys[1]), 1);
    X509_REQ_free(req);
    free(der);
}

static void test_csr_refused(void **state)
{
    static const char *const empty_name[] = {"example.com", ""};
    static const char *const null_name[] = {"example.com", NULL};
    EVP_PKEY **keys = *state;
    struct nacme_ctx ctx;
    unsigned char *der = (unsigned char *)1;
    size_t derlen = 7;

    nacme_ctx_init(&ctx);
    assert_int_equal(csr_der_new(&ctx, keys[0], one, 0, &der, &derlen), NACME_E_INVALID);
    assert_null(der);
    assert_int_equal(derlen, 0);
    assert_int_equal(csr_der_new(&ctx, keys[0], NULL, 1, &der, &derlen), NACME_E_INVALID);
    assert_int_equal(csr_der_new(&ctx, NULL, one, 1, &der, &derlen), NACME_E_INVALID);
    assert_int_equal(csr_der_new(&ctx, keys[0], empty_name, 2, &der, &derlen), NACME_E_INVALID);
    assert_non_null(strstr(ctx.errmsg, "name 2"));
    assert_int_equal(csr_der_new(&ctx, keys[0], null_name, 2, &der, &derlen), NACME_E_INVALID);
    assert_null(der);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csr_table),
        cmocka_unit_test(test_csr_wrong_key),
        cmocka_unit_test(test_csr_refused),
    };

    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
