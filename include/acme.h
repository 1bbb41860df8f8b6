/*
 * acme.h - the ACME protocol (RFC 8555): directory, nonces, signed requests, account, orders,
 * authorizations, challenges, finalize, certificate download. No file system access here.
 */
#ifndef NACME_ACME_H
#define NACME_ACME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "http.h"
#include "nacme.h"
#include "problem.h"

#define ACME_TOKEN_MAX 256 /* longest challenge token we accept */

struct acme_directory {
    char *new_nonce;
    char *new_account;
    char *new_order;
    char *revoke_cert;
    char *key_change;
    char *renewal_info;     /* RFC 9773 ARI, or NULL */
    char *terms_of_service; /* meta.termsOfService, or NULL */
    bool eab_required;      /* meta.externalAccountRequired */
    /* meta.profiles (draft-ietf-acme-profiles): the names of the certificate profiles the CA
     * offers, nprofiles of them, in the directory's order; none when the CA names none */
    char **profiles;
    size_t nprofiles;
};

/* What every client of one CA in a run shares, whatever thread it runs in (acme.c). */
struct acme_shared;

/*
 * One client per thread: the first (acme_client_new) fetches the directory and sets up the
 * account; each further order running concurrently gets a clone (acme_client_clone_new), which
 * borrows the directory and account from it and shares its nonce pool and its rate-limit hold.
 */
struct acme_client {
    struct nacme_ctx *ctx;   /* this thread's */
    struct nacme_http *http; /* borrowed */
    char *directory_url;
    struct acme_directory dir;
    struct acme_shared *shared; /* owned by the first client, borrowed by clones */
    bool is_clone;
    EVP_PKEY *account_key;   /* borrowed; set by acme_account_ensure */
    char *thumbprint;        /* of the account key, for key authorizations */
    char *kid;               /* account URL once known */
    int badnonce_retries;    /* how often one request is retried after badNonce */
    struct acme_problem *problem; /* the CA's last problem document, or NULL */
    struct timespec deadline; /* CLOCK_MONOTONIC; waiting out a CA's Retry-After stops here.
                               * Zero: at most ACME_HOLD_DEFAULT_S. */
    unsigned requests;        /* HTTP requests this client sent */
    long retry_after;         /* the Retry-After (s) of the last error answer, -1 when none */
};

#define ACME_HOLD_DEFAULT_S 60

/*
 * The pure parsing step of each exchange below, on the body (len bytes, any content) the CA
 * answered at url (which names it in messages): the exchanges call these once the HTTP part is
 * done, and the unit tests and the fuzz targets (tests/fuzz/) call them directly. A body that is
 * not a JSON object, or lacks what RFC 8555 requires, is NACME_E_PROTO naming url.
 */
/* Fills d (zeroed first; cleared again on failure). */
enum nacme_err acme_directory_parse(struct nacme_ctx *ctx, const char *url, const char *body,
                                    size_t len, struct acme_directory *d);
void acme_directory_clear(struct acme_directory *d);

/* Fetch and check the directory. */
enum nacme_err acme_client_new(struct nacme_ctx *ctx, struct nacme_http *http,
                               const char *directory_url, struct acme_client **out);
/* A client for another thread (with its own ctx) sharing parent's directory, account, nonces and
 * rate-limit hold. parent must outlive it. */
enum nacme_err acme_client_clone_new(const struct acme_client *parent, struct nacme_ctx *ctx,
                                     struct acme_client **out);
void acme_client_free(struct acme_client *c);

/* Signed POST of payload (a JSON text; "" for POST-as-GET) to url, with a fresh nonce, retrying
 * badNonce with the nonce of the error. A rate limit (HTTP 429 or 503, or rateLimited) with a
 * Retry-After holds every client of the CA: requests wait it out when it ends before their
 * deadline, and fail at once naming the wait otherwise. Any status >= 400 becomes NACME_E_ACME with the problem in c->problem and a one-line
 * message naming url, the HTTP status, the type, the detail and subproblems. */
enum nacme_err acme_post(struct acme_client *c, const char *url, const char *payload,
                         const char *accept, struct http_response *resp);

struct acme_account_opts {
    const char *email;    /* contact mailto:, or NULL */
    bool agree_tos;       /* the user agreed to the CA's terms */
    const char *eab_kid;  /* External Account Binding, or NULL */
    const char *eab_hmac; /* base64url MAC key */
    const char *known_url; /* the account URL recorded for this key, or NULL */
    bool key_is_new;      /* the key was just generated: no account can exist for it */
};
/* Find or create the account for key; sets c->kid and returns its URL in *url. */
enum nacme_err acme_account_ensure(struct acme_client *c, EVP_PKEY *key,
                                   const struct acme_account_opts *o, char **url);

/* An account object as the CA answers it (RFC 8555 §7.1.2). */
struct acme_account_info {
    char *status;    /* valid, deactivated, revoked */
    char **contact;  /* as the CA lists them ("mailto:..."), ncontact of them */
    size_t ncontact;
    bool tos_agreed; /* termsOfServiceAgreed, when tos_known */
    bool tos_known;
    char *orders;    /* the orders list URL, or NULL */
};
void acme_account_info_clear(struct acme_account_info *a);
/* Fills a (zeroed first; cleared again on failure). */
enum nacme_err acme_account_parse(struct nacme_ctx *ctx, const char *url, const char *body,
                                  size_t len, struct acme_account_info *a);
/* POST-as-GET on the account URL (c->kid). */
enum nacme_err acme_account_get(struct acme_client *c, struct acme_account_info *out);
/* Replace the contacts with mailto:EMAIL for each of n emails (n 0: no contact at all). */
enum nacme_err acme_account_update(struct acme_client *c, const char *const *emails, size_t n,
                                   struct acme_account_info *out);
/* status "deactivated": the CA refuses the account for good afterwards. */
enum nacme_err acme_account_deactivate(struct acme_client *c, struct acme_account_info *out);
/* newAccount with onlyReturnExisting for key: on success c signs with key and the URL found;
 * NACME_E_NOTFOUND when the CA knows no account for key (accountDoesNotExist). Never creates. */
enum nacme_err acme_account_find(struct acme_client *c, EVP_PKEY *key, char **url);
/* keyChange (RFC 8555 §7.3.5) from c's account key to new_key; on success c signs with new_key
 * (borrowed, like the old one) and c->thumbprint is new_key's. */
enum nacme_err acme_account_key_change(struct acme_client *c, EVP_PKEY *new_key);
/* The inner JWS of a keyChange: {"account", "oldKey"} signed by new_key with its jwk and url,
 * no nonce. Exposed for tests. */
enum nacme_err acme_key_change_inner_new(struct nacme_ctx *ctx, EVP_PKEY *old_key,
                                         EVP_PKEY *new_key, const char *account_url,
                                         const char *key_change_url, char **out);

/* RFC 5280 reason codes for the names nacme offers (unspecified 0, keyCompromise 1, superseded 4,
 * cessationOfOperation 5); -1 for any other name. */
int acme_revocation_reason_parse(const char *name);
/* The name of one of those codes, or NULL. */
const char *acme_revocation_reason_name(int code);
/* revokeCert for the DER certificate; reason < 0 sends none. Signed by the account, or, when
 * cert_key is not NULL, by the certificate's key with its jwk. A certificate the CA has revoked
 * before fails with c->problem alreadyRevoked. */
enum nacme_err acme_certificate_revoke(struct acme_client *c, const unsigned char *der,
                                       size_t len, int reason, EVP_PKEY *cert_key);

struct acme_order {
    char *url;
    char *status; /* pending, ready, processing, valid, invalid */
    char **authzs;
    size_t nauthzs;
    char *finalize;
    char *certificate; /* once valid */
    struct acme_problem *error;
    long retry_after; /* from the last response, -1 if none */
    char *profile;    /* the order's "profile" (draft-ietf-acme-profiles), or NULL */
};
/* newOrder for names; replaces (RFC 9773 §5: the CertID of the certificate this one replaces) and
 * profile (one of c->dir.profiles, see acme_profile_check) may be NULL. */
enum nacme_err acme_order_new(struct acme_client *c, const char *const *names, size_t nnames,
                              const char *replaces, const char *profile,
                              struct acme_order **out);
/* NACME_OK when the CA's directory offers profile; NACME_E_USAGE otherwise, with one line in ctx
 * naming the profiles it offers, or saying it offers none. Asks the CA nothing and only reads c,
 * so that an order can check before the account is set up, while another thread sets it up. */
enum nacme_err acme_profile_check(const struct acme_client *c, struct nacme_ctx *ctx,
                                  const char *profile);
/* A profile name as the command line or nacme.conf may give it: 1-64 printable ASCII characters
 * without spaces (no CA offers anything else; the CA's own list is checked once fetched). */
bool acme_profile_name_valid(const char *profile);
enum nacme_err acme_order_refresh(struct acme_client *c, struct acme_order *o);
enum nacme_err acme_order_finalize(struct acme_client *c, struct acme_order *o,
                                   const unsigned char *csr_der, size_t csr_len);
void acme_order_free(struct acme_order *o);
/* Replaces o's status, authorizations, finalize, certificate and error (not its url); on failure
 * o holds some of them, for acme_order_free. */
enum nacme_err acme_order_parse(struct nacme_ctx *ctx, const char *url, const char *body,
                                size_t len, struct acme_order *o);

/* One challenge of an authorization; url is NULL when the CA offers none of that type. */
struct acme_chall {
    char *url;
    char *token; /* checked: base64url, at most ACME_TOKEN_MAX characters */
    char *status;
    struct acme_problem *error;
};

struct acme_authz {
    char *url;
    char *status;     /* pending, valid, invalid, deactivated, expired, revoked */
    char *identifier; /* the DNS name; a wildcard's without its "*." (RFC 8555 §7.1.4) */
    bool wildcard;
    struct acme_chall http01;
    struct acme_chall dns01;
    long retry_after;
};
enum nacme_err acme_authz_get_new(struct acme_client *c, const char *url, struct acme_authz **out);
void acme_authz_free(struct acme_authz *a);
/* Fills a fresh (calloc'ed) a but its url; on failure a holds some fields, for acme_authz_free. */
enum nacme_err acme_authz_parse(struct nacme_ctx *ctx, const char *url, const char *body,
                                size_t len, struct acme_authz *a);
/* Tell the CA the challenge is ready (POST {}). */
enum nacme_err acme_challenge_start(struct acme_client *c, const char *url);
/* token "." thumbprint (RFC 8555 §8.1). */
enum nacme_err acme_key_authorization_new(struct acme_client *c, const char *token, char **out);

/* RFC 9773 renewal information: the CA's suggested window for renewing a certificate. */
struct acme_renewal_info {
    time_t start, end;
    char *explanation; /* explanationURL, or NULL */
    long retry_after;  /* seconds from the Retry-After header, -1 when absent or malformed */
};
/* GET renewalInfo/CERTID (unauthenticated, RFC 9773 §4.2). NACME_E_NOTFOUND when the directory has
 * no renewalInfo; NACME_E_PROTO naming the URL for an answer that is not a valid window. */
enum nacme_err acme_renewal_info_get(struct acme_client *c, const char *certid,
                                     struct acme_renewal_info *out);
void acme_renewal_info_clear(struct acme_renewal_info *ri);
/* Fills ri's window and explanation (not retry_after). */
enum nacme_err acme_renewal_info_parse(struct nacme_ctx *ctx, const char *url, const char *body,
                                       size_t len, struct acme_renewal_info *ri);

/* Download the PEM chain (application/pem-certificate-chain). */
enum nacme_err acme_certificate_get_new(struct acme_client *c, const char *url, char **pem,
                                        size_t *len);
/* The same, and (when alts is not NULL) the URLs of the alternate chains the CA links to
 * (Link rel="alternate", RFC 8555 §7.4.2), *nalts of them, freed with acme_urls_free. */
enum nacme_err acme_certificate_alternates_get_new(struct acme_client *c, const char *url,
                                                   char **pem, size_t *len, char ***alts,
                                                   size_t *nalts);
void acme_urls_free(char **urls, size_t n);

#endif
