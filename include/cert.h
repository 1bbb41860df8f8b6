/* cert.h - checking what the CA sent before anything is installed. */
#ifndef NACME_CERT_H
#define NACME_CERT_H

#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "nacme.h"

/* A downloaded chain split into what the store writes. All strings are PEM, NUL-terminated. */
struct cert_chain {
    char *cert_pem;      /* the leaf */
    char *chain_pem;     /* the intermediates the CA served, in order (may be "") */
    char *fullchain_pem; /* leaf followed by intermediates */
};

/* Parse application/pem-certificate-chain. Refuses (NACME_E_PROTO) a body holding any PEM block
 * other than CERTIFICATE (RFC 8555 §11.4), a block that does not parse, or no certificate at all.
 * The output is re-encoded from the parsed certificates, so stray text never reaches disk. */
enum nacme_err cert_chain_parse_new(struct nacme_ctx *ctx, const char *pem, size_t len,
                                    struct cert_chain **out);
void cert_chain_free(struct cert_chain *c);
/* The issuer common name of the topmost (last) certificate of a PEM chain (cert_chain's
 * fullchain_pem), "" when that issuer has none: what --preferred-chain compares (certbot's rule). */
enum nacme_err cert_top_issuer_cn_new(struct nacme_ctx *ctx, const char *fullchain_pem,
                                      char **cn);

/* NACME_OK when the leaf's public key is key's and its subjectAltName dNSNames are exactly the
 * set `names` (case-insensitive, order free). NACME_E_INVALID naming the mismatch otherwise. */
enum nacme_err cert_check(struct nacme_ctx *ctx, const char *cert_pem, EVP_PKEY *key,
                          const char *const *names, size_t nnames);

struct cert_info {
    char **names; /* subjectAltName dNSNames, in certificate order */
    size_t nnames;
    time_t not_before;
    time_t not_after;
    char *serial_hex; /* upper-case hex, no separators */
    char *ari_certid; /* RFC 9773 §4.1 CertID, or NULL when there is no authority key id */
};

/* base64url(AKI keyIdentifier) "." base64url(serial DER content octets), or NULL on OOM. */
char *cert_ari_certid_new(const unsigned char *aki, size_t aki_len, const unsigned char *serial,
                          size_t serial_len);
/* The serial as cert_info's serial_hex spells it (NULL on OOM). */
char *cert_serial_hex_new(const X509 *x);
enum nacme_err cert_info_new(struct nacme_ctx *ctx, const char *cert_pem, struct cert_info **out);
void cert_info_free(struct cert_info *ci);

#endif
