/* keys.h - private key generation, PEM in and out, key types. */
#ifndef NACME_KEYS_H
#define NACME_KEYS_H

#include <openssl/evp.h>

#include "nacme.h"

enum nacme_keytype {
    NACME_KEY_EC256 = 0, /* default: ECDSA P-256 */
    NACME_KEY_EC384,
    NACME_KEY_RSA2048,
    NACME_KEY_RSA3072,
    NACME_KEY_RSA4096,
    NACME_KEY_MAX
};

/* "ec256", "ec384", "rsa2048", "rsa3072", "rsa4096". Returns 0, or -1 for an unknown name. */
int keytype_parse(const char *s, enum nacme_keytype *out);
const char *keytype_name(enum nacme_keytype t);

enum nacme_err key_generate_new(struct nacme_ctx *ctx, enum nacme_keytype t, EVP_PKEY **out);
/* Parse an unencrypted PEM private key; `what` names its source (a path) in errors. */
enum nacme_err key_from_pem_new(struct nacme_ctx *ctx, const char *pem, size_t len,
                                const char *what, EVP_PKEY **out);
/* PKCS#8 PEM. The caller wipes and frees the result with nacme_secret_free(*pem, *len). */
enum nacme_err key_to_pem_new(struct nacme_ctx *ctx, EVP_PKEY *key, char **pem, size_t *len);
/* Which of our key types this key is; NACME_E_INVALID for anything else (e.g. P-521, RSA-1024). */
enum nacme_err key_type_of(struct nacme_ctx *ctx, EVP_PKEY *key, enum nacme_keytype *out);

#endif
