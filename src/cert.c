/* cert.c - checking what the CA sent before anything is installed. */
#include "cert.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "b64url.h"
#include "names.h"

/* A leaf and a few intermediates; a longer chain is a misbehaving server, not a real CA. */
#define CERT_CHAIN_MAX 10
/* The longest PEM label we accept ("CERTIFICATE" is 11); anything longer is not a label. */
#define PEM_LABEL_MAX 64
/* How much of a server-supplied label or name a message shows. */
#define SHOW_MAX 80

static const char pem_begin[] = "-----BEGIN ";
static const char pem_dashes[] = "-----";
static const char pem_cert_label[] = "CERTIFICATE";

struct pem_block {
    const char *start; /* "-----BEGIN " */
    const char *label; /* the label, not NUL-terminated */
    size_t labellen;
    size_t len; /* from start through the END line's dashes */
};

/* Server text shown in a message: bounded before sanitising, since the body need not hold a NUL
 * right after the bytes we show. */
static void show_text(char *dst, size_t dstsz, const char *src, size_t n)
{
    char tmp[SHOW_MAX];

    if (n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    memcpy(tmp, src, n);
    tmp[n] = '\0';
    nacme_sanitize(dst, dstsz, tmp, n);
}

/* Find the next "-----BEGIN L-----" ... "-----END L-----" in [p, end): *found is 1 with *b filled,
 * or 0 when no block starts before end. A BEGIN line without its END line is an error. */
static enum nacme_err pem_next_block(struct nacme_ctx *ctx, const char *p, const char *end,
                                     size_t index, struct pem_block *b, int *found)
{
    enum nacme_err r = NACME_OK;
    char endline[sizeof("-----END ") + PEM_LABEL_MAX + sizeof(pem_dashes)];
    char shown[SHOW_MAX];
    const char *label, *dashes, *e;
    size_t room;

    *found = 0;
    if ((b->start = memmem(p, (size_t)(end - p), pem_begin, sizeof(pem_begin) - 1)) == NULL)
        goto out;
    label = b->start + sizeof(pem_begin) - 1;
    room = (size_t)(end - label);
    dashes = memmem(label, room < PEM_LABEL_MAX + 5 ? room : PEM_LABEL_MAX + 5, pem_dashes,
                    sizeof(pem_dashes) - 1);
    if (dashes == NULL || dashes - label > PEM_LABEL_MAX ||
        memchr(label, '\n', (size_t)(dashes - label)) != NULL) {
        show_text(shown, sizeof(shown), label, room < 40 ? room : 40);
        r = nacme_fail(ctx, NACME_E_PROTO, "certificate chain block %zu has a malformed BEGIN "
                       "line (\"%s\")", index, shown);
        goto out;
    }
    b->label = label;
    b->labellen = (size_t)(dashes - label);
    snprintf(endline, sizeof(endline), "-----END %.*s-----", (int)b->labellen, label);
    e = memmem(dashes, (size_t)(end - dashes), endline, strlen(endline));
    if (e == NULL) {
        show_text(shown, sizeof(shown), label, b->labellen);
        r = nacme_fail(ctx, NACME_E_PROTO, "certificate chain block %zu (%s) has no END line",
                       index, shown);
        goto out;
    }
    b->len = (size_t)(e + strlen(endline) - b->start);
    *found = 1;
out:
    return r;
}

/* Decode one CERTIFICATE block strictly: no PEM headers, and DER with nothing after it. */
static enum nacme_err pem_block_to_x509(struct nacme_ctx *ctx, const struct pem_block *b,
                                        size_t index, X509 **out)
{
    enum nacme_err r = NACME_OK;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    const unsigned char *p;
    long dlen = 0;
    X509 *x = NULL;
    BIO *bio = NULL;

    *out = NULL;
    if (b->len > INT_MAX || (bio = BIO_new_mem_buf(b->start, (int)b->len)) == NULL) {
        r = nacme_fail_ssl(ctx, NACME_E_NOMEM, "reading certificate %zu", index);
        goto out;
    }
    if (!PEM_read_bio(bio, &name, &header, &data, &dlen) || dlen <= 0) {
        r = nacme_fail_ssl(ctx, NACME_E_PROTO, "certificate %zu in the chain is not valid PEM",
                           index);
        goto out;
    }
    if (header != NULL && header[0] != '\0') {
        r = nacme_fail(ctx, NACME_E_PROTO, "certificate %zu in the chain has PEM headers", index);
        goto out;
    }
    p = data;
    if ((x = d2i_X509(NULL, &p, dlen)) == NULL) {
        r = nacme_fail_ssl(ctx, NACME_E_PROTO, "certificate %zu in the chain does not parse",
                           index);
        goto out;
    }
    if (p != data + dlen) {
        r = nacme_fail(ctx, NACME_E_PROTO, "certificate %zu in the chain has trailing data",
                       index);
        goto out;
    }
    *out = x;
    x = NULL;
out:
    ERR_clear_error();
    X509_free(x);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(bio);
    return r;
}

/* The BIO's contents as a NUL-terminated heap string ("" for an empty BIO). */
static char *bio_strdup_new(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);

    if (n <= 0 || data == NULL)
        return nacme_strdup_new("");
    return nacme_strndup_new(data, (size_t)n);
}

void cert_chain_free(struct cert_chain *c)
{
    if (c == NULL)
        return;
    free(c->cert_pem);
    free(c->chain_pem);
    free(c->fullchain_pem);
    free(c);
}

enum nacme_err cert_chain_parse_new(struct nacme_ctx *ctx, const char *pem, size_t len,
                                    struct cert_chain **out)
{
    enum nacme_err r = NACME_OK;
    STACK_OF(X509) *certs = NULL;
    struct cert_chain *c = NULL;
    struct pem_block b;
    BIO *leaf = NULL, *rest = NULL, *full = NULL;
    const char *p, *end;
    char shown[SHOW_MAX];
    X509 *x = NULL;
    size_t nblocks = 0;
    int found, i;

    *out = NULL;
    if ((certs = sk_X509_new_null()) == NULL)
        goto nomem;
    p = pem != NULL ? pem : "";
    end = pem != NULL ? pem + len : p;
    for (;;) {
        if ((r = pem_next_block(ctx, p, end, nblocks + 1, &b, &found)) != NACME_OK)
            goto out;
        if (!found)
            break;
        nblocks++;
        if (b.labellen != sizeof(pem_cert_label) - 1 ||
            memcmp(b.label, pem_cert_label, b.labellen) != 0) {
            show_text(shown, sizeof(shown), b.label, b.labellen);
            r = nacme_fail(ctx, NACME_E_PROTO, "certificate chain holds a %s block "
                           "(RFC 8555 §11.4 allows only CERTIFICATE)", shown);
            goto out;
        }
        if (nblocks > CERT_CHAIN_MAX) {
            r = nacme_fail(ctx, NACME_E_PROTO, "certificate chain holds more than %d "
                           "certificates", CERT_CHAIN_MAX);
            goto out;
        }
        if ((r = pem_block_to_x509(ctx, &b, nblocks, &x)) != NACME_OK)
            goto out;
        if (!sk_X509_push(certs, x))
            goto nomem;
        x = NULL;
        p = b.start + b.len;
    }
    if (sk_X509_num(certs) == 0) {
        r = nacme_fail(ctx, NACME_E_PROTO, "certificate chain holds no certificate");
        goto out;
    }
    if ((leaf = BIO_new(BIO_s_mem())) == NULL || (rest = BIO_new(BIO_s_mem())) == NULL ||
        (full = BIO_new(BIO_s_mem())) == NULL)
        goto nomem;
    for (i = 0; i < sk_X509_num(certs); i++) {
        if (!PEM_write_bio_X509(i == 0 ? leaf : rest, sk_X509_value(certs, i)) ||
            !PEM_write_bio_X509(full, sk_X509_value(certs, i)))
            goto nomem;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL)
        goto nomem;
    if ((c->cert_pem = bio_strdup_new(leaf)) == NULL ||
        (c->chain_pem = bio_strdup_new(rest)) == NULL ||
        (c->fullchain_pem = bio_strdup_new(full)) == NULL)
        goto nomem;
    *out = c;
    c = NULL;
    goto out;
nomem:
    r = nacme_fail_ssl(ctx, NACME_E_NOMEM, "re-encoding the certificate chain: out of memory");
out:
    cert_chain_free(c);
    X509_free(x);
    sk_X509_pop_free(certs, X509_free);
    BIO_free(leaf);
    BIO_free(rest);
    BIO_free(full);
    return r;
}

/* The first certificate in cert_pem. */
static enum nacme_err leaf_parse_new(struct nacme_ctx *ctx, const char *cert_pem, X509 **out)
{
    enum nacme_err r = NACME_OK;
    size_t len = cert_pem != NULL ? strlen(cert_pem) : 0;
    BIO *bio = NULL;
    X509 *x = NULL;

    *out = NULL;
    if (len == 0 || len > INT_MAX) {
        r = nacme_fail(ctx, NACME_E_INVALID, "no certificate given");
        goto out;
    }
    if ((bio = BIO_new_mem_buf(cert_pem, (int)len)) == NULL) {
        r = nacme_fail_ssl(ctx, NACME_E_NOMEM, "reading the certificate");
        goto out;
    }
    if ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
        r = nacme_fail_ssl(ctx, NACME_E_INVALID, "certificate is not valid PEM");
        goto out;
    }
    *out = x;
    x = NULL;
out:
    BIO_free(bio);
    return r;
}

static void names_free(char **names, size_t n)
{
    size_t i;

    if (names == NULL)
        return;
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* An iPAddress SAN as text, canonical as names_normalize writes it; NULL when not 4 or 16
 * octets. */
static char *ip_text_new(const ASN1_OCTET_STRING *ip)
{
    char buf[INET6_ADDRSTRLEN];
    int len = ASN1_STRING_length(ip);

    if ((len != 4 && len != 16) ||
        inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), buf,
                  sizeof(buf)) == NULL)
        return NULL;
    return nacme_strdup_new(buf);
}

/* The subjectAltName dNSNames and iPAddresses (as text) of x, in order; none when there is no
 * such extension. */
static enum nacme_err dns_names_new(struct nacme_ctx *ctx, X509 *x, char ***out, size_t *nout)
{
    enum nacme_err r = NACME_OK;
    GENERAL_NAMES *gens = NULL;
    const GENERAL_NAME *gen;
    const unsigned char *data;
    char **names = NULL;
    size_t n = 0;
    int crit = -1, i, len;

    *out = NULL;
    *nout = 0;
    gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL && crit == -2) {
        r = nacme_fail(ctx, NACME_E_INVALID, "certificate has more than one subjectAltName");
        goto out;
    }
    if (gens == NULL && crit >= 0) {
        r = nacme_fail_ssl(ctx, NACME_E_INVALID, "certificate subjectAltName does not parse");
        goto out;
    }
    if (gens != NULL && sk_GENERAL_NAME_num(gens) > 0 &&
        (names = calloc((size_t)sk_GENERAL_NAME_num(gens), sizeof(*names))) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "reading certificate names: out of memory");
        goto out;
    }
    for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        gen = sk_GENERAL_NAME_value(gens, i);
        if (gen->type == GEN_IPADD) {
            if ((names[n] = ip_text_new(gen->d.iPAddress)) == NULL) {
                r = nacme_fail(ctx, NACME_E_INVALID, "certificate has an iPAddress that is "
                               "neither 4 nor 16 octets long");
                goto out;
            }
            n++;
            continue;
        }
        if (gen->type != GEN_DNS)
            continue;
        data = ASN1_STRING_get0_data(gen->d.dNSName);
        len = ASN1_STRING_length(gen->d.dNSName);
        /* An embedded NUL would make the C string a different name than the one certified. */
        if (len <= 0 || memchr(data, '\0', (size_t)len) != NULL) {
            r = nacme_fail(ctx, NACME_E_INVALID, "certificate has an empty or NUL-bearing "
                           "dNSName");
            goto out;
        }
        if ((names[n] = nacme_strndup_new((const char *)data, (size_t)len)) == NULL) {
            r = nacme_fail(ctx, NACME_E_NOMEM, "reading certificate names: out of memory");
            goto out;
        }
        /* Names are compared as text: an address certified as a dNSName would pass for the ip
         * identifier asked for, yet no client matches an address against a dNSName. */
        if (ip_addr_is(names[n++])) {
            r = nacme_fail(ctx, NACME_E_INVALID, "certificate has the address %s as a dNSName",
                           names[n - 1]);
            goto out;
        }
    }
    *out = names;
    *nout = n;
    names = NULL;
out:
    names_free(names, n);
    GENERAL_NAMES_free(gens);
    ERR_clear_error();
    return r;
}

static int name_in(const char *name, const char *const *set, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcasecmp(name, set[i]) == 0)
            return 1;
    return 0;
}

enum nacme_err cert_check(struct nacme_ctx *ctx, const char *cert_pem, EVP_PKEY *key,
                          const char *const *names, size_t nnames)
{
    enum nacme_err r = NACME_OK;
    char **have = NULL;
    char shown[SHOW_MAX];
    size_t nhave = 0, i;
    EVP_PKEY *pub;
    X509 *x = NULL;

    if ((r = leaf_parse_new(ctx, cert_pem, &x)) != NACME_OK)
        goto out;
    if (key == NULL || (pub = X509_get0_pubkey(x)) == NULL || EVP_PKEY_eq(pub, key) != 1) {
        ERR_clear_error();
        r = nacme_fail(ctx, NACME_E_INVALID, "certificate does not match the private key");
        goto out;
    }
    if ((r = dns_names_new(ctx, x, &have, &nhave)) != NACME_OK)
        goto out;
    for (i = 0; i < nnames; i++) {
        if (!name_in(names[i], (const char *const *)have, nhave)) {
            r = nacme_fail(ctx, NACME_E_INVALID, "certificate lacks name %s", names[i]);
            goto out;
        }
    }
    for (i = 0; i < nhave; i++) {
        if (!name_in(have[i], names, nnames)) {
            nacme_sanitize(shown, sizeof(shown), have[i], SHOW_MAX);
            r = nacme_fail(ctx, NACME_E_INVALID, "certificate has unexpected name %s", shown);
            goto out;
        }
    }
out:
    names_free(have, nhave);
    X509_free(x);
    return r;
}

void cert_info_free(struct cert_info *ci)
{
    if (ci == NULL)
        return;
    names_free(ci->names, ci->nnames);
    free(ci->serial_hex);
    free(ci->ari_certid);
    free(ci);
}

static enum nacme_err asn1_time_to_time_t(struct nacme_ctx *ctx, const ASN1_TIME *t,
                                          const char *which, time_t *out)
{
    enum nacme_err r = NACME_OK;
    struct tm tm;

    *out = 0;
    memset(&tm, 0, sizeof(tm));
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) {
        r = nacme_fail_ssl(ctx, NACME_E_INVALID, "certificate %s does not parse", which);
        goto out;
    }
    /* The certificate's times are UTC; mktime would apply the local zone. */
    *out = timegm(&tm);
out:
    return r;
}

/* Upper-case hex of the serial's magnitude, two digits per byte, as `openssl x509 -serial`. */
static char *serial_hex_new(const ASN1_INTEGER *serial)
{
    static const char digits[] = "0123456789ABCDEF";
    const unsigned char *data = ASN1_STRING_get0_data(serial);
    int len = ASN1_STRING_length(serial), i;
    int neg = ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER;
    char *s, *o;

    if (len <= 0)
        return nacme_strdup_new("00");
    if ((s = malloc((size_t)len * 2 + 2)) == NULL)
        return NULL;
    o = s;
    if (neg)
        *o++ = '-';
    for (i = 0; i < len; i++) {
        *o++ = digits[data[i] >> 4];
        *o++ = digits[data[i] & 0x0f];
    }
    *o = '\0';
    return s;
}

char *cert_serial_hex_new(const X509 *x)
{
    return serial_hex_new(X509_get0_serialNumber(x));
}

char *cert_ari_certid_new(const unsigned char *aki, size_t aki_len, const unsigned char *serial,
                          size_t serial_len)
{
    char *a = b64url_encode_new(aki, aki_len), *s = b64url_encode_new(serial, serial_len);
    char *id = a && s ? nacme_printf_new("%s.%s", a, s) : NULL;

    free(a);
    free(s);
    return id;
}

/* The CertID of x, or NULL (*r set on OOM only): a certificate without an authority key
 * identifier simply has no renewal information to ask for. */
static char *certid_of_new(X509 *x, enum nacme_err *r)
{
    const ASN1_OCTET_STRING *kid = X509_get0_authority_key_id(x);
    unsigned char *der = NULL;
    size_t hdr;
    char *id = NULL;
    int len;

    *r = NACME_OK;
    if (kid == NULL || ASN1_STRING_length(kid) <= 0)
        return NULL;
    /* The serial's DER content octets: the TLV without tag and length (RFC 9773 §4.1). */
    if ((len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der)) < 3) {
        OPENSSL_free(der);
        return NULL;
    }
    hdr = der[1] < 0x80 ? 2 : 2 + (size_t)(der[1] & 0x7f);
    if (hdr < (size_t)len)
        id = cert_ari_certid_new(ASN1_STRING_get0_data(kid), (size_t)ASN1_STRING_length(kid),
                                 der + hdr, (size_t)len - hdr);
    if (id == NULL && hdr < (size_t)len)
        *r = NACME_E_NOMEM;
    OPENSSL_free(der);
    return id;
}

enum nacme_err cert_info_new(struct nacme_ctx *ctx, const char *cert_pem, struct cert_info **out)
{
    enum nacme_err r = NACME_OK;
    struct cert_info *ci = NULL;
    X509 *x = NULL;

    *out = NULL;
    if ((r = leaf_parse_new(ctx, cert_pem, &x)) != NACME_OK)
        goto out;
    if ((ci = calloc(1, sizeof(*ci))) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "reading the certificate: out of memory");
        goto out;
    }
    if ((r = dns_names_new(ctx, x, &ci->names, &ci->nnames)) != NACME_OK)
        goto out;
    if ((r = asn1_time_to_time_t(ctx, X509_get0_notBefore(x), "notBefore", &ci->not_before)) !=
        NACME_OK)
        goto out;
    if ((r = asn1_time_to_time_t(ctx, X509_get0_notAfter(x), "notAfter", &ci->not_after)) !=
        NACME_OK)
        goto out;
    if ((ci->serial_hex = serial_hex_new(X509_get0_serialNumber(x))) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "reading the certificate serial: out of memory");
        goto out;
    }
    if ((ci->ari_certid = certid_of_new(x, &r)) == NULL && r != NACME_OK) {
        r = nacme_fail(ctx, r, "reading the certificate's CertID: out of memory");
        goto out;
    }
    *out = ci;
    ci = NULL;
out:
    cert_info_free(ci);
    X509_free(x);
    return r;
}

enum nacme_err cert_top_issuer_cn_new(struct nacme_ctx *ctx, const char *fullchain_pem,
                                      char **cn)
{
    size_t len = fullchain_pem != NULL ? strlen(fullchain_pem) : 0;
    BIO *bio = NULL;
    X509 *x, *top = NULL;
    const X509_NAME *issuer;
    char buf[256];
    int n;
    enum nacme_err r = NACME_OK;

    *cn = NULL;
    if (len == 0 || len > INT_MAX || (bio = BIO_new_mem_buf(fullchain_pem, (int)len)) == NULL) {
        r = nacme_fail(ctx, NACME_E_INVALID, "no certificate chain given");
        goto out;
    }
    /* The chain was re-encoded by cert_chain_parse_new: nothing but certificates, in order. */
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_free(top);
        top = x;
    }
    ERR_clear_error(); /* the end of the input */
    if (top == NULL) {
        r = nacme_fail(ctx, NACME_E_INVALID, "no certificate in the chain");
        goto out;
    }
    issuer = X509_get_issuer_name(top);
    n = X509_NAME_get_text_by_NID((X509_NAME *)issuer, NID_commonName, buf, sizeof(buf));
    /* An issuer without a CN (or one too long for buf) matches no name: "" rather than a failure. */
    if ((*cn = nacme_strdup_new(n > 0 ? buf : "")) == NULL)
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
out:
    X509_free(top);
    BIO_free(bio);
    return r;
}
