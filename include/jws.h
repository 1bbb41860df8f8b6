/*
 * jws.h - JSON Web Signature in flattened JSON serialization (RFC 7515), JWK (RFC 7517) and its
 * thumbprint (RFC 7638), as ACME uses them. The account key is only ever used through here, and
 * here through its signer process when the key came from one (signer.h).
 */
#ifndef NACME_JWS_H
#define NACME_JWS_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "nacme.h"

/* "ES256" for P-256, "ES384" for P-384, "RS256" for RSA; NULL for any other key. */
const char *jws_alg(EVP_PKEY *key);

/* The public JWK of key (kty/crv/x/y or kty/n/e). */
enum nacme_err jwk_new(struct nacme_ctx *ctx, EVP_PKEY *key, json_t **out);
/* base64url(SHA-256(canonical JWK)) per RFC 7638. */
enum nacme_err jwk_thumbprint_new(struct nacme_ctx *ctx, EVP_PKEY *key, char **out);

/* Sign payload (a JSON text, or "" for POST-as-GET) for url with nonce. With kid NULL the
 * protected header carries the jwk (newAccount, revocation by certificate key); with kid it
 * carries the account URL. nonce NULL leaves it out (the inner JWS of a keyChange). *out is the
 * compact JSON text of {protected, payload, signature}. */
enum nacme_err jws_sign_new(struct nacme_ctx *ctx, EVP_PKEY *key, const char *kid,
                            const char *nonce, const char *url, const char *payload, char **out);

/* The raw signature of input with key (DER for ECDSA, as EVP_DigestSign makes it), with the
 * digest the key's JWS algorithm names. The signer process signs with this. */
enum nacme_err jws_raw_sign_new(struct nacme_ctx *ctx, EVP_PKEY *key, const char *input,
                                size_t len, unsigned char **sig, size_t *siglen);

/* External Account Binding (RFC 8555 §7.3.4): an HS256 JWS over the account's public JWK, keyed
 * with the CA-provided MAC key (base64url, as CAs hand it out). */
enum nacme_err jws_eab_new(struct nacme_ctx *ctx, EVP_PKEY *account_key, const char *eab_kid,
                           const char *eab_hmac_b64url, const char *url, json_t **out);

#endif
