/* jws.c - JWS signing, JWK and thumbprints with OpenSSL 3. */
#include "jws.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "b64url.h"
#include "signer.h"

/* Curve name and coordinate size for the EC keys we support. */
static int ec_coord_size(EVP_PKEY *key, const char **crv)
{
    char group[64];

    if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                        NULL))
        return 0;
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
        *crv = "P-256";
        return 32;
    }
    if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
        *crv = "P-384";
        return 48;
    }
    return 0;
}

const char *jws_alg(EVP_PKEY *key)
{
    const char *crv;

    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        return "RS256";
    case EVP_PKEY_EC:
        switch (ec_coord_size(key, &crv)) {
        case 32:
            return "ES256";
        case 48:
            return "ES384";
        }
        return NULL;
    default:
        return NULL;
    }
}

/* base64url of a big number, left-padded to pad bytes (0: minimal length). */
static char *bn_b64url_new(const BIGNUM *bn, int pad)
{
    unsigned char buf[1024];
    int len = pad ? pad : BN_num_bytes(bn);

    if (len <= 0 || len > (int)sizeof(buf) || BN_bn2binpad(bn, buf, len) != len)
        return NULL;
    return b64url_encode_new(buf, (size_t)len);
}

static enum nacme_err jwk_ec_new(struct nacme_ctx *ctx, EVP_PKEY *key, json_t **out)
{
    BIGNUM *x = NULL, *y = NULL;
    char *xs = NULL, *ys = NULL;
    const char *crv = NULL;
    enum nacme_err r;
    int size;

    if ((size = ec_coord_size(key, &crv)) == 0) {
        r = nacme_fail(ctx, NACME_E_INVALID, "unsupported EC curve for an ACME key");
        goto out;
    }
    if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
        !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y)) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "cannot read the EC public key");
        goto out;
    }
    r = NACME_E_NOMEM;
    if ((xs = bn_b64url_new(x, size)) == NULL || (ys = bn_b64url_new(y, size)) == NULL)
        goto out;
    if ((*out = json_pack("{s:s, s:s, s:s, s:s}", "crv", crv, "kty", "EC", "x", xs, "y", ys)) ==
        NULL)
        goto out;
    r = NACME_OK;
out:
    if (r == NACME_E_NOMEM)
        nacme_fail(ctx, r, "out of memory building a JWK");
    BN_free(x);
    BN_free(y);
    free(xs);
    free(ys);
    return r;
}

static enum nacme_err jwk_rsa_new(struct nacme_ctx *ctx, EVP_PKEY *key, json_t **out)
{
    BIGNUM *n = NULL, *e = NULL;
    char *ns = NULL, *es = NULL;
    enum nacme_err r;

    if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e)) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "cannot read the RSA public key");
        goto out;
    }
    r = NACME_E_NOMEM;
    if ((ns = bn_b64url_new(n, 0)) == NULL || (es = bn_b64url_new(e, 0)) == NULL)
        goto out;
    if ((*out = json_pack("{s:s, s:s, s:s}", "e", es, "kty", "RSA", "n", ns)) == NULL)
        goto out;
    r = NACME_OK;
out:
    if (r == NACME_E_NOMEM)
        nacme_fail(ctx, r, "out of memory building a JWK");
    BN_free(n);
    BN_free(e);
    free(ns);
    free(es);
    return r;
}

enum nacme_err jwk_new(struct nacme_ctx *ctx, EVP_PKEY *key, json_t **out)
{
    *out = NULL;
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
        return jwk_ec_new(ctx, key, out);
    case EVP_PKEY_RSA:
        return jwk_rsa_new(ctx, key, out);
    default:
        return nacme_fail(ctx, NACME_E_INVALID, "unsupported key type for an ACME key");
    }
}

enum nacme_err jwk_thumbprint_new(struct nacme_ctx *ctx, EVP_PKEY *key, char **out)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    json_t *jwk = NULL;
    char *canon = NULL;
    enum nacme_err r;

    *out = NULL;
    if ((r = jwk_new(ctx, key, &jwk)) != NACME_OK)
        goto out;
    /* RFC 7638 §3: required members only, sorted, no whitespace: exactly jansson's compact form. */
    r = NACME_E_NOMEM;
    if ((canon = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
        goto out;
    SHA256((const unsigned char *)canon, strlen(canon), digest);
    if ((*out = b64url_encode_new(digest, sizeof(digest))) == NULL)
        goto out;
    r = NACME_OK;
out:
    if (r == NACME_E_NOMEM)
        nacme_fail(ctx, r, "out of memory computing a JWK thumbprint");
    json_decref(jwk);
    free(canon);
    return r;
}

/* JWS ECDSA signatures are R||S, each padded to the coordinate size (RFC 7518 §3.4), not DER. */
static int ecdsa_der_to_raw(const unsigned char *der, size_t derlen, int size, unsigned char *raw)
{
    const unsigned char *p = der;
    const BIGNUM *r, *s;
    ECDSA_SIG *sig;
    int ok;

    if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
        return -1;
    ECDSA_SIG_get0(sig, &r, &s);
    ok = BN_bn2binpad(r, raw, size) == size && BN_bn2binpad(s, raw + size, size) == size;
    ECDSA_SIG_free(sig);
    return ok ? 0 : -1;
}

enum nacme_err jws_raw_sign_new(struct nacme_ctx *ctx, EVP_PKEY *key, const char *input,
                                size_t len, unsigned char **sig, size_t *siglen)
{
    const EVP_MD *md = EVP_sha256();
    EVP_MD_CTX *mdctx = NULL;
    unsigned char *s = NULL;
    const char *crv;
    size_t n = 0;
    enum nacme_err r = NACME_OK;

    *sig = NULL;
    *siglen = 0;
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC && ec_coord_size(key, &crv) == 48)
        md = EVP_sha384();
    if ((mdctx = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestSignInit(mdctx, NULL, md, NULL, key) != 1 ||
        EVP_DigestSign(mdctx, NULL, &n, (const unsigned char *)input, len) != 1 ||
        (s = malloc(n)) == NULL ||
        EVP_DigestSign(mdctx, s, &n, (const unsigned char *)input, len) != 1) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "cannot sign an ACME request");
        free(s);
        s = NULL;
    }
    EVP_MD_CTX_free(mdctx);
    *sig = s;
    *siglen = n;
    return r;
}

static enum nacme_err sign_input_new(struct nacme_ctx *ctx, EVP_PKEY *key, const char *input,
                                     char **sig_b64)
{
    unsigned char *sig = NULL, raw[2 * 66];
    struct signer *signer = signer_of(key);
    const char *crv;
    size_t siglen = 0;
    enum nacme_err r = NACME_E_CRYPTO;
    int size = 0;

    *sig_b64 = NULL;
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
        (size = ec_coord_size(key, &crv)) == 0)
        return nacme_fail(ctx, NACME_E_INVALID, "unsupported EC curve for an ACME key");
    /* The account key lives in the signer process; any other key (a certificate's, for a
     * revocation; a rollover's new one) is held here. */
    r = signer != NULL ? signer_sign(ctx, signer, input, strlen(input), &sig, &siglen)
                       : jws_raw_sign_new(ctx, key, input, strlen(input), &sig, &siglen);
    if (r != NACME_OK)
        goto out;
    r = NACME_E_CRYPTO;
    if (size != 0) {
        if (ecdsa_der_to_raw(sig, siglen, size, raw) != 0) {
            nacme_fail(ctx, r, "cannot convert an ECDSA signature");
            goto out;
        }
        *sig_b64 = b64url_encode_new(raw, 2 * (size_t)size);
    } else {
        *sig_b64 = b64url_encode_new(sig, siglen);
    }
    if (*sig_b64 == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory signing a request");
        goto out;
    }
    r = NACME_OK;
out:
    free(sig);
    return r;
}

/* Assemble {"protected", "payload", "signature"} from the header object and payload text. */
static enum nacme_err jws_assemble_new(struct nacme_ctx *ctx, EVP_PKEY *key, const unsigned char *hmac,
                                       size_t hmaclen, json_t *header, const char *payload,
                                       json_t **out)
{
    char *hdr = NULL, *hdr64 = NULL, *pay64 = NULL, *input = NULL, *sig64 = NULL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    enum nacme_err r = NACME_E_NOMEM;

    *out = NULL;
    if ((hdr = json_dumps(header, JSON_COMPACT)) == NULL ||
        (hdr64 = b64url_encode_new(hdr, strlen(hdr))) == NULL ||
        (pay64 = b64url_encode_new(payload, strlen(payload))) == NULL ||
        (input = nacme_printf_new("%s.%s", hdr64, pay64)) == NULL)
        goto out;
    if (hmac != NULL) {
        if (HMAC(EVP_sha256(), hmac, (int)hmaclen, (unsigned char *)input, strlen(input), mac,
                 &maclen) == NULL) {
            r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "cannot compute the EAB HMAC");
            goto out;
        }
        sig64 = b64url_encode_new(mac, maclen);
        OPENSSL_cleanse(mac, sizeof(mac));
        if (sig64 == NULL)
            goto out;
    } else if ((r = sign_input_new(ctx, key, input, &sig64)) != NACME_OK) {
        goto out;
    }
    r = NACME_E_NOMEM;
    if ((*out = json_pack("{s:s, s:s, s:s}", "protected", hdr64, "payload", pay64, "signature",
                          sig64)) == NULL)
        goto out;
    r = NACME_OK;
out:
    if (r == NACME_E_NOMEM)
        nacme_fail(ctx, r, "out of memory building a JWS");
    free(hdr);
    free(hdr64);
    free(pay64);
    free(input);
    free(sig64);
    return r;
}

enum nacme_err jws_sign_new(struct nacme_ctx *ctx, EVP_PKEY *key, const char *kid,
                            const char *nonce, const char *url, const char *payload, char **out)
{
    json_t *header = NULL, *jwk = NULL, *jws = NULL;
    const char *alg = jws_alg(key);
    enum nacme_err r;

    *out = NULL;
    if (alg == NULL)
        return nacme_fail(ctx, NACME_E_INVALID, "unsupported account key type");
    if (kid == NULL && (r = jwk_new(ctx, key, &jwk)) != NACME_OK)
        goto out;
    r = NACME_E_NOMEM;
    /* s* leaves the nonce out when NULL: keyChange's inner JWS has none (RFC 8555 §7.3.5). */
    if (kid != NULL)
        header = json_pack("{s:s, s:s, s:s*, s:s}", "alg", alg, "kid", kid, "nonce", nonce, "url",
                           url);
    else
        header = json_pack("{s:s, s:O, s:s*, s:s}", "alg", alg, "jwk", jwk, "nonce", nonce, "url",
                           url);
    if (header == NULL)
        goto out;
    if ((r = jws_assemble_new(ctx, key, NULL, 0, header, payload, &jws)) != NACME_OK)
        goto out;
    r = NACME_E_NOMEM;
    if ((*out = json_dumps(jws, JSON_COMPACT)) == NULL)
        goto out;
    r = NACME_OK;
out:
    if (r == NACME_E_NOMEM)
        nacme_fail(ctx, r, "out of memory building a JWS");
    json_decref(header);
    json_decref(jwk);
    json_decref(jws);
    return r;
}

enum nacme_err jws_eab_new(struct nacme_ctx *ctx, EVP_PKEY *account_key, const char *eab_kid,
                           const char *eab_hmac_b64url, const char *url, json_t **out)
{
    unsigned char *hmac = NULL;
    size_t hmaclen = 0;
    json_t *header = NULL, *jwk = NULL;
    char *jwk_text = NULL;
    enum nacme_err r;

    *out = NULL;
    if (b64url_decode_new(eab_hmac_b64url, strlen(eab_hmac_b64url), &hmac, &hmaclen) != 0 ||
        hmaclen == 0) {
        r = nacme_fail(ctx, NACME_E_USAGE, "the EAB HMAC key is not valid base64url");
        goto out;
    }
    if ((r = jwk_new(ctx, account_key, &jwk)) != NACME_OK)
        goto out;
    r = NACME_E_NOMEM;
    if ((jwk_text = json_dumps(jwk, JSON_COMPACT)) == NULL ||
        (header = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", eab_kid, "url", url)) ==
            NULL)
        goto out;
    r = jws_assemble_new(ctx, NULL, hmac, hmaclen, header, jwk_text, out);
out:
    if (r == NACME_E_NOMEM)
        nacme_fail(ctx, r, "out of memory building the EAB");
    nacme_secret_free(hmac, hmaclen);
    json_decref(header);
    json_decref(jwk);
    free(jwk_text);
    return r;
}
