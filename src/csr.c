/* csr.c - the certificate signing request sent at finalize (RFC 8555 §7.4). */
#include "csr.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "names.h"

/* RFC 5280 ub-common-name: a longer CN would make the CSR invalid, so the subject stays empty and
 * the name lives only in subjectAltName, which is all RFC 8555 CAs look at. */
#define CSR_CN_MAX 64

/* Built as structures, not as an "DNS:a,DNS:b" config string, so a name can never add an entry. */
static enum nacme_err san_extension_new(struct nacme_ctx *ctx, const char *const *names,
                                        size_t nnames, STACK_OF(X509_EXTENSION) **out)
{
    enum nacme_err r = NACME_OK;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    GENERAL_NAMES *gens = NULL;
    GENERAL_NAME *gen = NULL;
    ASN1_IA5STRING *ia5 = NULL;
    ASN1_OCTET_STRING *ip = NULL;
    unsigned char addr[16];
    size_t i, len;
    int alen;

    *out = NULL;
    if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
        goto nomem;
    for (i = 0; i < nnames; i++) {
        len = strlen(names[i]);
        if (len > INT_MAX) {
            r = nacme_fail(ctx, NACME_E_INVALID, "CSR name %zu is too long", i + 1);
            goto out;
        }
        if ((gen = GENERAL_NAME_new()) == NULL)
            goto nomem;
        /* RFC 8738: an "ip" identifier is certified as an iPAddress (RFC 5280: 4 or 16 octets). */
        if (ip_addr_is(names[i])) {
            alen = strchr(names[i], ':') ? 16 : 4;
            if (inet_pton(alen == 16 ? AF_INET6 : AF_INET, names[i], addr) != 1) {
                r = nacme_fail(ctx, NACME_E_INVALID, "CSR address %s does not parse", names[i]);
                goto out;
            }
            if ((ip = ASN1_OCTET_STRING_new()) == NULL || !ASN1_OCTET_STRING_set(ip, addr, alen))
                goto nomem;
            GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
            ip = NULL;
        } else {
            if ((ia5 = ASN1_IA5STRING_new()) == NULL ||
                !ASN1_STRING_set(ia5, names[i], (int)len))
                goto nomem;
            GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);
            ia5 = NULL;
        }
        if (!sk_GENERAL_NAME_push(gens, gen))
            goto nomem;
        gen = NULL;
    }
    if (X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "encoding the CSR subjectAltName extension");
        goto out;
    }
    *out = exts;
    exts = NULL;
    goto out;
nomem:
    r = nacme_fail_ssl(ctx, NACME_E_NOMEM, "building the CSR subjectAltName: out of memory");
out:
    ASN1_IA5STRING_free(ia5);
    ASN1_OCTET_STRING_free(ip);
    GENERAL_NAME_free(gen);
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return r;
}

/* cn NULL: an empty subject. */
static enum nacme_err subject_set(struct nacme_ctx *ctx, X509_REQ *req, const char *cn)
{
    enum nacme_err r = NACME_OK;
    X509_NAME *name = NULL;

    if ((name = X509_NAME_new()) == NULL) {
        r = nacme_fail_ssl(ctx, NACME_E_NOMEM, "building the CSR subject");
        goto out;
    }
    if (cn != NULL && strlen(cn) <= CSR_CN_MAX &&
        !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                    (const unsigned char *)cn, -1, -1, 0)) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "setting the CSR common name");
        goto out;
    }
    if (!X509_REQ_set_subject_name(req, name)) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "setting the CSR subject");
        goto out;
    }
out:
    X509_NAME_free(name);
    return r;
}

enum nacme_err csr_der_new(struct nacme_ctx *ctx, EVP_PKEY *key, const char *const *names,
                           size_t nnames, unsigned char **der, size_t *derlen)
{
    enum nacme_err r = NACME_OK;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509_REQ *req = NULL;
    unsigned char *buf = NULL, *p;
    size_t i;
    int n;

    *der = NULL;
    *derlen = 0;
    if (key == NULL || names == NULL || nnames == 0) {
        r = nacme_fail(ctx, NACME_E_INVALID, "CSR needs a key and at least one name");
        goto out;
    }
    for (i = 0; i < nnames; i++) {
        if (names[i] == NULL || names[i][0] == '\0') {
            r = nacme_fail(ctx, NACME_E_INVALID, "CSR name %zu is empty", i + 1);
            goto out;
        }
    }
    if ((req = X509_REQ_new()) == NULL) {
        r = nacme_fail_ssl(ctx, NACME_E_NOMEM, "creating the CSR");
        goto out;
    }
    if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) || !X509_REQ_set_pubkey(req, key)) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "setting the CSR version and public key");
        goto out;
    }
    /* The CN is the first DNS name, never an address: CAs differ in how they match an address
     * written in a CN, and RFC 8555 CAs look only at subjectAltName, so a certificate of addresses
     * only gets an empty subject. */
    for (i = 0; i < nnames && ip_addr_is(names[i]); i++)
        ;
    if ((r = subject_set(ctx, req, i < nnames ? names[i] : NULL)) != NACME_OK)
        goto out;
    if ((r = san_extension_new(ctx, names, nnames, &exts)) != NACME_OK)
        goto out;
    if (!X509_REQ_add_extensions(req, exts)) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "adding the CSR extensions");
        goto out;
    }
    if (X509_REQ_sign(req, key, EVP_sha256()) <= 0) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "signing the CSR for %s", names[0]);
        goto out;
    }
    if ((n = i2d_X509_REQ(req, NULL)) <= 0) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "encoding the CSR for %s", names[0]);
        goto out;
    }
    /* Our own malloc, so the caller can free() it whatever allocator OpenSSL was built with. */
    if ((buf = malloc((size_t)n)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "encoding the CSR: out of memory");
        goto out;
    }
    p = buf;
    if (i2d_X509_REQ(req, &p) != n) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "encoding the CSR for %s", names[0]);
        goto out;
    }
    *der = buf;
    *derlen = (size_t)n;
    buf = NULL;
out:
    free(buf);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    return r;
}
