/* account.c - the account key of a CA: loaded from the state dir, or made and stored first. */
#include "account.h"

#include <stdlib.h>

#include "keys.h"

enum nacme_err account_key_load_new(struct nacme_ctx *ctx, struct nacme_store *st,
                                    const char *directory_url, EVP_PKEY **key, char **url,
                                    bool *is_new)
{
    char *pem = NULL;
    size_t len = 0;
    EVP_PKEY *k = NULL;
    enum nacme_err r;

    *key = NULL;
    *url = NULL;
    *is_new = false;
    r = store_account_load_new(ctx, st, directory_url, &pem, &len, url);
    if (r == NACME_OK) {
        r = key_from_pem_new(ctx, pem, len, "the account key", &k);
        goto out;
    }
    if (r != NACME_E_NOTFOUND)
        goto out;
    nacme_verbose(ctx, "creating an account key for %s", directory_url);
    if ((r = key_generate_new(ctx, NACME_KEY_EC256, &k)) != NACME_OK ||
        (r = key_to_pem_new(ctx, k, &pem, &len)) != NACME_OK ||
        (r = store_account_save(ctx, st, directory_url, pem, len, NULL)) != NACME_OK)
        goto out;
    *is_new = true;
out:
    nacme_secret_free(pem, len);
    if (r == NACME_OK) {
        *key = k;
        k = NULL;
    } else {
        free(*url);
        *url = NULL;
    }
    EVP_PKEY_free(k);
    return r;
}
