/* keys.c - private key generation, PEM in and out, mapping a key to the types nacme supports. */
#include "keys.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

struct keytype_row {
    const char *name;
    const char *curve; /* OpenSSL group name for EC keys, NULL for RSA */
    int curve_nid;
    size_t rsa_bits;
};

static const struct keytype_row keytypes[NACME_KEY_MAX] = {
    [NACME_KEY_EC256] = {"ec256", "P-256", NID_X9_62_prime256v1, 0},
    [NACME_KEY_EC384] = {"ec384", "P-384", NID_secp384r1, 0},
    [NACME_KEY_RSA2048] = {"rsa2048", NULL, NID_undef, 2048},
    [NACME_KEY_RSA3072] = {"rsa3072", NULL, NID_undef, 3072},
    [NACME_KEY_RSA4096] = {"rsa4096", NULL, NID_undef, 4096},
};

int keytype_parse(const char *s, enum nacme_keytype *out)
{
    int i;

    if (s == NULL)
        return -1;
    for (i = 0; i < NACME_KEY_MAX; i++) {
        if (strcmp(s, keytypes[i].name) == 0) {
            *out = (enum nacme_keytype)i;
            return 0;
        }
    }
    return -1;
}

const char *keytype_name(enum nacme_keytype t)
{
    /* Callers print this in messages, so an out-of-range value must still yield a string. */
    if ((int)t < 0 || t >= NACME_KEY_MAX)
        return "unknown";
    return keytypes[t].name;
}

enum nacme_err key_generate_new(struct nacme_ctx *ctx, enum nacme_keytype t, EVP_PKEY **out)
{
    enum nacme_err r = NACME_OK;
    EVP_PKEY *key = NULL;

    *out = NULL;
    if ((int)t < 0 || t >= NACME_KEY_MAX) {
        r = nacme_fail(ctx, NACME_E_INVALID, "unknown key type %d", (int)t);
        goto out;
    }
    /* RSA keygen defaults to e = 65537, the exponent every CA accepts. */
    if (keytypes[t].curve != NULL)
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", keytypes[t].curve);
    else
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", keytypes[t].rsa_bits);
    if (key == NULL) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "generating %s key", keytypes[t].name);
        goto out;
    }
    *out = key;
    key = NULL;
out:
    EVP_PKEY_free(key);
    return r;
}

/* Refuse to prompt: without a callback OpenSSL would ask for a passphrase on the terminal, which
 * would hang an unattended renewal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

enum nacme_err key_from_pem_new(struct nacme_ctx *ctx, const char *pem, size_t len,
                                const char *what, EVP_PKEY **out)
{
    enum nacme_err r = NACME_OK;
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;

    *out = NULL;
    if (what == NULL)
        what = "private key";
    if (pem == NULL || len == 0 || len > INT_MAX) {
        r = nacme_fail(ctx, NACME_E_INVALID, "%s: no PEM private key", what);
        goto out;
    }
    if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
        r = nacme_fail_ssl(ctx, NACME_E_NOMEM, "%s: reading the key", what);
        goto out;
    }
    key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (key == NULL) {
        /* Tell the admin what to do rather than show OpenSSL's bad-decrypt reason. */
        if (memmem(pem, len, "ENCRYPTED", 9) != NULL)
            r = nacme_fail(ctx, NACME_E_INVALID,
                           "%s: the private key is encrypted; nacme needs an unencrypted key",
                           what);
        else
            r = nacme_fail_ssl(ctx, NACME_E_INVALID, "%s: not a PEM private key", what);
        ERR_clear_error();
        goto out;
    }
    *out = key;
    key = NULL;
out:
    BIO_free(bio);
    EVP_PKEY_free(key);
    return r;
}

enum nacme_err key_to_pem_new(struct nacme_ctx *ctx, EVP_PKEY *key, char **pem, size_t *len)
{
    enum nacme_err r = NACME_OK;
    char *data = NULL, *copy = NULL;
    BIO *bio = NULL;
    long n;

    *pem = NULL;
    *len = 0;
    /* A secure-memory BIO grows with clean reallocations and wipes its buffer when freed, so the
     * only copy of the key left after this function is the one handed to the caller. */
    if ((bio = BIO_new(BIO_s_secmem())) == NULL) {
        r = nacme_fail_ssl(ctx, NACME_E_NOMEM, "encoding the private key");
        goto out;
    }
    if (!PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "encoding the private key as PKCS#8 PEM");
        goto out;
    }
    if ((n = BIO_get_mem_data(bio, &data)) <= 0 || data == NULL) {
        r = nacme_fail(ctx, NACME_E_CRYPTO, "encoding the private key: empty output");
        goto out;
    }
    if ((copy = malloc((size_t)n + 1)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "encoding the private key: out of memory");
        goto out;
    }
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    *pem = copy;
    *len = (size_t)n;
    copy = NULL;
out:
    BIO_free(bio);
    return r;
}

enum nacme_err key_type_of(struct nacme_ctx *ctx, EVP_PKEY *key, enum nacme_keytype *out)
{
    enum nacme_err r = NACME_OK;
    char group[80];
    size_t glen = 0;
    int i, nid, bits;

    *out = NACME_KEY_MAX;
    if (key == NULL) {
        r = nacme_fail(ctx, NACME_E_INVALID, "no key");
        goto out;
    }
    if (EVP_PKEY_is_a(key, "EC")) {
        if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof(group), &glen)) {
            ERR_clear_error();
            r = nacme_fail(ctx, NACME_E_INVALID,
                           "EC key without a named curve is not supported (use P-256 or P-384)");
            goto out;
        }
        nid = OBJ_txt2nid(group);
        for (i = 0; i < NACME_KEY_MAX; i++) {
            if (keytypes[i].curve != NULL && keytypes[i].curve_nid == nid) {
                *out = (enum nacme_keytype)i;
                goto out;
            }
        }
        r = nacme_fail(ctx, NACME_E_INVALID,
                       "EC key on curve %s is not supported (use P-256 or P-384)", group);
        goto out;
    }
    if (EVP_PKEY_is_a(key, "RSA")) {
        bits = EVP_PKEY_get_bits(key);
        for (i = 0; i < NACME_KEY_MAX; i++) {
            if (keytypes[i].curve == NULL && bits > 0 && keytypes[i].rsa_bits == (size_t)bits) {
                *out = (enum nacme_keytype)i;
                goto out;
            }
        }
        r = nacme_fail(ctx, NACME_E_INVALID,
                       "RSA key of %d bits is not supported (use 2048, 3072 or 4096)", bits);
        goto out;
    }
    r = nacme_fail(ctx, NACME_E_INVALID, "%s key is not supported (use EC P-256/P-384 or RSA)",
                   EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "unknown");
out:
    return r;
}
