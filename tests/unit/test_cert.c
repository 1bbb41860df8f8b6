/* test_cert.c - chain splitting, the refusals of RFC 8555 §11.4, cert_check and cert_info.
 *
 * Certificates are made in the test: a CA key signs leaves and intermediates with the names and
 * times each case needs, so no fixture can silently go stale. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "keys.h"

#define T_BEFORE ((time_t)1700000000)  /* 2023-11-14, UTCTime */
#define T_AFTER ((time_t)1707776000)   /* 2024-02-12, UTCTime */
#define T_FAR ((time_t)2600000000LL)   /* 2052-05-22, GeneralizedTime */

struct fixture {
    EVP_PKEY *ca_key;
    EVP_PKEY *leaf_key;
    EVP_PKEY *other_key;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct nacme_ctx ctx;

    nacme_ctx_init(&ctx);
    if (f == NULL || key_generate_new(&ctx, NACME_KEY_EC256, &f->ca_key) != NACME_OK ||
        key_generate_new(&ctx, NACME_KEY_EC256, &f->leaf_key) != NACME_OK ||
        key_generate_new(&ctx, NACME_KEY_EC384, &f->other_key) != NACME_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    EVP_PKEY_free(f->ca_key);
    EVP_PKEY_free(f->leaf_key);
    EVP_PKEY_free(f->other_key);
    free(f);
    return 0;
}

/* A certificate for subject_key, signed by issuer_key. serial_hex NULL means serial 1. */
static X509 *make_cert(EVP_PKEY *subject_key, EVP_PKEY *issuer_key, const char *cn,
                       const char *const *sans, size_t nsans, const char *serial_hex,
                       time_t not_before, time_t not_after)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    X509_NAME *name = X509_NAME_new();
    ASN1_INTEGER *serial = NULL;
    BIGNUM *bn = NULL;
    X509 *x = X509_new();
    size_t i;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_true(BN_hex2bn(&bn, serial_hex ? serial_hex : "01") > 0);
    serial = BN_to_ASN1_INTEGER(bn, NULL);
    assert_int_equal(X509_set_serialNumber(x, serial), 1);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)cn, -1, -1, 0), 1);
    assert_int_equal(X509_set_subject_name(x, name), 1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), not_before));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), not_after));
    assert_int_equal(X509_set_pubkey(x, subject_key), 1);
    for (i = 0; i < nsans; i++) {
        GENERAL_NAME *gen = GENERAL_NAME_new();
        ASN1_IA5STRING *ia5;
        ASN1_OCTET_STRING *ip;
        unsigned char addr[16];

        /* "IP:ADDRESS" is an iPAddress entry, anything else a dNSName. */
        if (strncmp(sans[i], "IP:", 3) == 0) {
            int v6 = strchr(sans[i] + 3, ':') != NULL;
            assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, sans[i] + 3, addr), 1);
            ip = ASN1_OCTET_STRING_new();
            assert_int_equal(ASN1_OCTET_STRING_set(ip, addr, v6 ? 16 : 4), 1);
            GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
            assert_true(sk_GENERAL_NAME_push(gens, gen) > 0);
            continue;
        }
        ia5 = ASN1_IA5STRING_new();
        assert_int_equal(ASN1_STRING_set(ia5, sans[i], -1), 1);
        GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);
        assert_true(sk_GENERAL_NAME_push(gens, gen) > 0);
    }
    if (nsans > 0)
        assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0), 1);
    assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
    GENERAL_NAMES_free(gens);
    X509_NAME_free(name);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return x;
}

static char *cert_pem_new(X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *s;
    long n;

    assert_int_equal(PEM_write_bio_X509(bio, x), 1);
    n = BIO_get_mem_data(bio, &data);
    s = strndup(data, (size_t)n);
    BIO_free(bio);
    return s;
}

static char *concat_new(const char *a, const char *b)
{
    char *s = malloc(strlen(a) + strlen(b) + 1);

    assert_non_null(s);
    memcpy(s, a, strlen(a));
    memcpy(s + strlen(a), b, strlen(b) + 1);
    return s;
}

static char *leaf_pem_new(struct fixture *f, const char *const *sans, size_t nsans)
{
    X509 *x = make_cert(f->leaf_key, f->ca_key, "leaf", sans, nsans, NULL, T_BEFORE, T_AFTER);
    char *pem = cert_pem_new(x);

    X509_free(x);
    return pem;
}

static void test_chain_split(void **state)
{
    static const char *const names[] = {"example.com"};
    struct fixture *f = *state;
    struct nacme_ctx ctx;
    struct cert_chain *c;
    X509 *x[3];
    char *pem[3], *body, *chain, *full;
    size_t i;

    nacme_ctx_init(&ctx);
    x[0] = make_cert(f->leaf_key, f->ca_key, "leaf", names, 1, "10", T_BEFORE, T_AFTER);
    x[1] = make_cert(f->ca_key, f->ca_key, "intermediate 1", NULL, 0, "11", T_BEFORE, T_FAR);
    x[2] = make_cert(f->other_key, f->ca_key, "intermediate 2", NULL, 0, "12", T_BEFORE, T_FAR);
    for (i = 0; i < 3; i++)
        pem[i] = cert_pem_new(x[i]);
    /* Text before, between and after the blocks is allowed and must not survive. */
    body = nacme_printf_new("preamble text\n%s\nBag Attributes: junk\r\n%s%s\ntrailer\n", pem[0],
                            pem[1], pem[2]);
    chain = concat_new(pem[1], pem[2]);
    full = concat_new(pem[0], chain);

    assert_int_equal(cert_chain_parse_new(&ctx, body, strlen(body), &c), NACME_OK);
    assert_string_equal(c->cert_pem, pem[0]);
    assert_string_equal(c->chain_pem, chain);
    assert_string_equal(c->fullchain_pem, full);
    cert_chain_free(c);

    /* A leaf alone: the chain is empty, the full chain is the leaf. */
    assert_int_equal(cert_chain_parse_new(&ctx, pem[0], strlen(pem[0]), &c), NACME_OK);
    assert_string_equal(c->cert_pem, pem[0]);
    assert_string_equal(c->chain_pem, "");
    assert_string_equal(c->fullchain_pem, pem[0]);
    cert_chain_free(c);

    /* The length bounds the body: the second certificate past len is not read. */
    assert_int_equal(cert_chain_parse_new(&ctx, full, strlen(pem[0]), &c), NACME_OK);
    assert_string_equal(c->fullchain_pem, pem[0]);
    cert_chain_free(c);
    cert_chain_free(NULL);

    for (i = 0; i < 3; i++) {
        free(pem[i]);
        X509_free(x[i]);
    }
    free(body);
    free(chain);
    free(full);
}

static void test_chain_refused(void **state)
{
    static const char *const names[] = {"example.com"};
    static const struct {
        const char *label;
        const char *tail; /* appended after one valid certificate, or the whole body if alone */
        int alone;
        const char *msg;
    } cases[] = {
        {"private key", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n"
                        "-----END PRIVATE KEY-----\n", 0,
         "certificate chain holds a PRIVATE KEY block (RFC 8555 §11.4 allows only CERTIFICATE)"},
        {"private key first", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n"
                              "-----END RSA PRIVATE KEY-----\n", 1,
         "certificate chain holds a RSA PRIVATE KEY block"},
        {"old label", "-----BEGIN X509 CERTIFICATE-----\nAAAA\n-----END X509 CERTIFICATE-----\n",
         0, "certificate chain holds a X509 CERTIFICATE block"},
        {"control bytes in label", "-----BEGIN EVIL\x1b[2J-----\nAAAA\n-----END EVIL\x1b[2J-----\n",
         0, "certificate chain holds a EVIL?[2J block"},
        {"garbage base64",
         "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n", 0,
         "certificate 2 in the chain is not valid PEM"},
        {"not a certificate", "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
         0, "certificate 2 in the chain does not parse"},
        {"no END line", "-----BEGIN CERTIFICATE-----\nAAAA\n", 0,
         "certificate chain block 2 (CERTIFICATE) has no END line"},
        {"mismatched END", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n", 0,
         "certificate chain block 2 (CERTIFICATE) has no END line"},
        {"empty", "", 1, "certificate chain holds no certificate"},
        {"text only", "hello\nworld\n-----END CERTIFICATE-----\n", 1,
         "certificate chain holds no certificate"},
        {"unterminated label", "-----BEGIN CERTIFICATE\nAAAA\n", 0,
         "certificate chain block 2 has a malformed BEGIN line"},
    };
    struct fixture *f = *state;
    struct nacme_ctx ctx;
    struct cert_chain *c;
    char *leaf, *body;
    size_t i;

    nacme_ctx_init(&ctx);
    leaf = leaf_pem_new(f, names, 1);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("%s\n", cases[i].label);
        body = cases[i].alone ? strdup(cases[i].tail) : concat_new(leaf, cases[i].tail);
        c = (struct cert_chain *)1;
        assert_int_equal(cert_chain_parse_new(&ctx, body, strlen(body), &c), NACME_E_PROTO);
        assert_null(c);
        if (strncmp(ctx.errmsg, cases[i].msg, strlen(cases[i].msg)) != 0)
            fail_msg("got \"%s\"", ctx.errmsg);
        free(body);
    }
    assert_int_equal(cert_chain_parse_new(&ctx, NULL, 0, &c), NACME_E_PROTO);
    free(leaf);
}

/* A DER certificate followed by extra bytes inside one PEM block is not a certificate. */
static void test_chain_trailing_der(void **state)
{
    static const char *const names[] = {"example.com"};
    struct fixture *f = *state;
    X509 *x = make_cert(f->leaf_key, f->ca_key, "leaf", names, 1, NULL, T_BEFORE, T_AFTER);
    unsigned char *der = NULL, *padded;
    struct nacme_ctx ctx;
    struct cert_chain *c;
    char *data = NULL, *body;
    int n = i2d_X509(x, &der);
    long blen;
    BIO *bio = BIO_new(BIO_s_mem());

    nacme_ctx_init(&ctx);
    padded = malloc((size_t)n + 4);
    memcpy(padded, der, (size_t)n);
    memcpy(padded + n, "\x05\x00\x05\x00", 4);
    assert_true(PEM_write_bio(bio, "CERTIFICATE", "", padded, n + 4) > 0);
    blen = BIO_get_mem_data(bio, &data);
    body = strndup(data, (size_t)blen);
    assert_int_equal(cert_chain_parse_new(&ctx, body, strlen(body), &c), NACME_E_PROTO);
    assert_string_equal(ctx.errmsg, "certificate 1 in the chain has trailing data");
    free(body);
    free(padded);
    OPENSSL_free(der);
    BIO_free(bio);
    X509_free(x);
}

static void test_chain_cap(void **state)
{
    static const char *const names[] = {"example.com"};
    struct fixture *f = *state;
    struct nacme_ctx ctx;
    struct cert_chain *c;
    struct nacme_buf body = {0};
    char *leaf;
    int i;

    nacme_ctx_init(&ctx);
    leaf = leaf_pem_new(f, names, 1);
    for (i = 0; i < 10; i++)
        assert_int_equal(nacme_buf_append(&body, leaf, strlen(leaf)), 0);
    assert_int_equal(cert_chain_parse_new(&ctx, body.data, body.len, &c), NACME_OK);
    cert_chain_free(c);
    assert_int_equal(nacme_buf_append(&body, leaf, strlen(leaf)), 0);
    assert_int_equal(cert_chain_parse_new(&ctx, body.data, body.len, &c), NACME_E_PROTO);
    assert_string_equal(ctx.errmsg, "certificate chain holds more than 10 certificates");
    nacme_buf_clear(&body);
    free(leaf);
}

static void test_check(void **state)
{
    static const char *const sans[] = {"example.com", "www.example.com"};
    static const char *const same[] = {"example.com", "www.example.com"};
    static const char *const reordered[] = {"WWW.Example.COM", "example.com"};
    static const char *const lacks[] = {"example.com", "www.example.com", "api.example.com"};
    static const char *const fewer[] = {"example.com"};
    static const char *const other[] = {"example.com", "www.example.org"};
    static const struct {
        const char *label;
        const char *const *names;
        size_t nnames;
        int wrong_key;
        enum nacme_err want;
        const char *msg;
    } cases[] = {
        {"exact", same, 2, 0, NACME_OK, ""},
        {"order and case free", reordered, 2, 0, NACME_OK, ""},
        {"wrong key", same, 2, 1, NACME_E_INVALID, "certificate does not match the private key"},
        {"lacks a name", lacks, 3, 0, NACME_E_INVALID,
         "certificate lacks name api.example.com"},
        {"unexpected name", fewer, 1, 0, NACME_E_INVALID,
         "certificate has unexpected name www.example.com"},
        {"different name", other, 2, 0, NACME_E_INVALID,
         "certificate lacks name www.example.org"},
    };
    struct fixture *f = *state;
    struct nacme_ctx ctx;
    char *pem;
    size_t i;

    pem = leaf_pem_new(f, sans, 2);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("%s\n", cases[i].label);
        nacme_ctx_init(&ctx);
        assert_int_equal(cert_check(&ctx, pem, cases[i].wrong_key ? f->other_key : f->leaf_key,
                                    cases[i].names, cases[i].nnames),
                         cases[i].want);
        assert_string_equal(ctx.errmsg, cases[i].msg);
    }
    free(pem);

    /* No subjectAltName at all: every name is missing. */
    pem = leaf_pem_new(f, NULL, 0);
    assert_int_equal(cert_check(&ctx, pem, f->leaf_key, fewer, 1), NACME_E_INVALID);
    assert_string_equal(ctx.errmsg, "certificate lacks name example.com");
    free(pem);

    assert_int_equal(cert_check(&ctx, "not a certificate", f->leaf_key, fewer, 1),
                     NACME_E_INVALID);
    assert_int_equal(cert_check(&ctx, "", f->leaf_key, fewer, 1), NACME_E_INVALID);
}

/* iPAddress SANs read as canonical text and compared like names; an address as a dNSName is
 * refused. */
static void test_check_ip(void **state)
{
    static const char *const sans[] = {"example.com", "IP:192.0.2.1", "IP:2001:db8::1"};
    static const char *const same[] = {"2001:db8::1", "example.com", "192.0.2.1"};
    static const char *const fewer[] = {"example.com", "192.0.2.1"};
    static const char *const lacks[] = {"example.com", "192.0.2.1", "2001:db8::1", "192.0.2.2"};
    static const char *const as_dns[] = {"192.0.2.1"};
    struct fixture *f = *state;
    struct nacme_ctx ctx;
    char *pem;

    nacme_ctx_init(&ctx);
    pem = leaf_pem_new(f, sans, 3);
    assert_int_equal(cert_check(&ctx, pem, f->leaf_key, same, 3), NACME_OK);
    assert_int_equal(cert_check(&ctx, pem, f->leaf_key, fewer, 2), NACME_E_INVALID);
    assert_string_equal(ctx.errmsg, "certificate has unexpected name 2001:db8::1");
    assert_int_equal(cert_check(&ctx, pem, f->leaf_key, lacks, 4), NACME_E_INVALID);
    assert_string_equal(ctx.errmsg, "certificate lacks name 192.0.2.2");
    free(pem);
    pem = leaf_pem_new(f, as_dns, 1);
    assert_int_equal(cert_check(&ctx, pem, f->leaf_key, as_dns, 1), NACME_E_INVALID);
    assert_string_equal(ctx.errmsg, "certificate has the address 192.0.2.1 as a dNSName");
    free(pem);
}

static void test_info(void **state)
{
    static const char *const sans[] = {"b.example.com", "a.example.com", "*.c.example.com"};
    static const struct {
        const char *serial_in;
        const char *serial_out;
        time_t not_after;
    } cases[] = {
        {"0A1B2C", "0A1B2C", T_AFTER},
        {"1", "01", T_AFTER},
        {"FA0000000000000000000000000000000000ABCD", "FA0000000000000000000000000000000000ABCD",
         T_FAR},
        {"deadbeef", "DEADBEEF", T_FAR},
    };
    struct fixture *f = *state;
    struct nacme_ctx ctx;
    struct cert_info *ci;
    size_t i, j;
    char *pem;
    X509 *x;

    nacme_ctx_init(&ctx);
    /* Certificate times are UTC whatever the local zone; a POSIX TZ string needs no tzdata. */
    assert_int_equal(setenv("TZ", "NACME-5:30", 1), 0);
    tzset();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        x = make_cert(f->leaf_key, f->ca_key, "leaf", sans, 3, cases[i].serial_in, T_BEFORE,
                      cases[i].not_after);
        pem = cert_pem_new(x);
        assert_int_equal(cert_info_new(&ctx, pem, &ci), NACME_OK);
        assert_int_equal(ci->nnames, 3);
        for (j = 0; j < 3; j++)
            assert_string_equal(ci->names[j], sans[j]);
        assert_int_equal(ci->not_before, T_BEFORE);
        assert_int_equal(ci->not_after, cases[i].not_after);
        assert_string_equal(ci->serial_hex, cases[i].serial_out);
        cert_info_free(ci);
        free(pem);
        X509_free(x);
    }
    cert_info_free(NULL);

    pem = leaf_pem_new(f, NULL, 0);
    assert_int_equal(cert_info_new(&ctx, pem, &ci), NACME_OK);
    assert_int_equal(ci->nnames, 0);
    cert_info_free(ci);
    free(pem);

    ci = (struct cert_info *)1;
    assert_int_equal(cert_info_new(&ctx, "garbage", &ci), NACME_E_INVALID);
    assert_null(ci);
}

/* RFC 9773 §4.1's example: keyIdentifier 69:88:5B:..., serial 0x87654321 (DER content 00 87 65 43
 * 21, the leading zero keeping it positive). */
static void test_ari_certid(void **state)
{
    static const unsigned char aki[] = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
                                        0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
    static const unsigned char serial[] = {0x00, 0x87, 0x65, 0x43, 0x21};
    struct fixture *f = *state;
    struct nacme_ctx ctx;
    struct cert_info *ci;
    char *id, *pem;

    id = cert_ari_certid_new(aki, sizeof(aki), serial, sizeof(serial));
    assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    free(id);
    /* A certificate without an authority key identifier has no CertID. */
    nacme_ctx_init(&ctx);
    pem = leaf_pem_new(f, NULL, 0);
    assert_int_equal(cert_info_new(&ctx, pem, &ci), NACME_OK);
    assert_null(ci->ari_certid);
    cert_info_free(ci);
    free(pem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_split),
        cmocka_unit_test(test_chain_refused),
        cmocka_unit_test(test_chain_trailing_der),
        cmocka_unit_test(test_chain_cap),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_check_ip),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_ari_certid),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
