/* csr.h - the certificate signing request sent at finalize. */
#ifndef NACME_CSR_H
#define NACME_CSR_H

#include <openssl/evp.h>

#include "nacme.h"

/* DER CSR for `key`: subject CN = names[0] when it fits in 64 characters (empty subject otherwise),
 * a subjectAltName extension holding every name as a dNSName, signed with SHA-256.
 * *der is heap memory freed with free(). */
enum nacme_err csr_der_new(struct nacme_ctx *ctx, EVP_PKEY *key, const char *const *names,
                           size_t nnames, unsigned char **der, size_t *derlen);

#endif
