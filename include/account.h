/* account.h - the ACME account key of a CA, as the state dir keeps it. */
#ifndef NACME_ACCOUNT_H
#define NACME_ACCOUNT_H

#include <stdbool.h>

#include <openssl/evp.h>

#include "nacme.h"
#include "store.h"

/* The account key for the CA at directory_url; when there is none yet, a new ECDSA P-256 key,
 * stored before any CA hears of it (*is_new true). *url is the account URL recorded for it, or
 * NULL when none was. */
enum nacme_err account_key_load_new(struct nacme_ctx *ctx, struct nacme_store *st,
                                    const char *directory_url, EVP_PKEY **key, char **url,
                                    bool *is_new);

#endif
