/* account.h - the ACME account key of a CA, as the state dir keeps it. */
#ifndef NACME_ACCOUNT_H
#define NACME_ACCOUNT_H

#include <stdbool.h>

#include <openssl/evp.h>

#include "acme.h"
#include "config.h"
#include "http.h"
#include "nacme.h"
#include "store.h"

/* The account key for the CA at directory_url; when there is none yet, a new ECDSA P-256 key,
 * stored before any CA hears of it (*is_new true). *url is the account URL recorded for it, or
 * NULL when none was. */
enum nacme_err account_key_load_new(struct nacme_ctx *ctx, struct nacme_store *st,
                                    const char *directory_url, EVP_PKEY **key, char **url,
                                    bool *is_new);

struct account_rollover_result {
    bool rolled;            /* the CA now knows the new key, and account.key is it */
    bool snippet_rewritten; /* the stateless challenge snippet got the new thumbprint */
};

/* keyChange to a fresh key of the old one's type (RFC 8555 §7.3.5), crash-safe (store.h): the new
 * key is stored as account.key.new first, and becomes account.key once the CA has it; the
 * stateless challenge snippet in snippet_dir (may be NULL), when there is one, is rewritten with
 * the new thumbprint before that. c must be set up for *key; on success *key is the new key (the
 * old one freed) and c signs with it. When the CA's answer is lost, the CA is asked which key it
 * knows (account_rollover_settle); when that fails too, account.key.new stays for the next run. */
enum nacme_err account_rollover(struct nacme_ctx *ctx, struct nacme_store *st,
                                struct acme_client *c, const char *directory_url,
                                const char *snippet_dir, EVP_PKEY **key,
                                struct account_rollover_result *res);

/* A rollover left unfinished (account.key.new exists): onlyReturnExisting with the new key, then
 * the old one, tells which one the CA knows; that one stays (the snippet follows a new key). *key
 * (the old key, loaded from account.key) is replaced by the new key when the CA has it. c then
 * signs with the key the CA knows. NACME_OK with res->rolled false when nothing was pending. */
enum nacme_err account_rollover_settle(struct nacme_ctx *ctx, struct nacme_store *st,
                                       struct acme_client *c, const char *directory_url,
                                       const char *snippet_dir, EVP_PKEY **key,
                                       struct account_rollover_result *res);

/* What the account commands work with: the store (the caller's, locked, or else opened and locked
 * here), one connection to the CA and its directory, and (when asked for) the account: its key
 * (never made here: no key, NACME_E_NOTFOUND naming the state dir), an unfinished rollover
 * settled, and its URL (recorded, or found with onlyReturnExisting and then recorded; never
 * created). */
struct account_session {
    const char *directory_url; /* borrowed */
    struct nacme_store *store;
    bool owns_store;
    struct nacme_http *http;
    struct acme_client *acme;
    EVP_PKEY *key; /* NULL without need_account */
    char *url;
    bool snippet_rewritten; /* settling an unfinished rollover rewrote the stateless snippet:
                             * nginx answers with the old thumbprint until it is reloaded */
};
/* The sentence every command says when settling an unfinished rollover rewrote the stateless
 * snippet; its printf arguments: the snippet directory, NGINX_CHALLENGE_SNIPPET. */
#define ACCOUNT_SNIPPET_REWRITTEN                                                                  \
    "an interrupted account key rollover was completed and %s/%s now holds the new key's "       \
    "thumbprint"
enum nacme_err account_session_open(struct nacme_ctx *ctx, const struct nacme_config *cfg,
                                    const char *directory_url, bool need_account,
                                    struct nacme_store *store, struct account_session **out);
void account_session_free(struct account_session *s);

#endif
