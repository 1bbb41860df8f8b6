/*
 * cmd_revoke.c - `nacme revoke --cert-name NAME`: revoke the live certificate of a lineage at the
 * CA that issued it (RFC 8555 §7.6), signed by the account or by the certificate's own key, and
 * with --delete remove the lineage afterwards.
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "account.h"
#include "acme.h"
#include "cert.h"
#include "cli_cmd.h"
#include "keys.h"
#include "nginx_snippets.h"
#include "safefile.h"
#include "store.h"

#define REVOKE_KEY_MAX (64 * 1024)

struct revoke_cert {
    unsigned char *der;
    size_t len;
    char *serial; /* upper-case hex */
    X509 *x509;
};

static void revoke_cert_clear(struct revoke_cert *c)
{
    OPENSSL_free(c->der);
    free(c->serial);
    X509_free(c->x509);
    memset(c, 0, sizeof(*c));
}

/* The leaf of live/NAME in DER, and its serial. */
static enum nacme_err live_cert_load(struct nacme_ctx *ctx, struct nacme_store *store,
                                     const char *name, struct revoke_cert *out)
{
    char *pem = NULL;
    BIO *bio = NULL;
    int len;
    enum nacme_err r;

    if ((r = store_live_cert_new(ctx, store, name, &pem)) != NACME_OK) {
        if (r == NACME_E_NOTFOUND)
            r = nacme_fail(ctx, r, "no certificate named %s in %s/live", name, store->path);
        goto out;
    }
    if ((bio = BIO_new_mem_buf(pem, -1)) == NULL ||
        (out->x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL ||
        (len = i2d_X509(out->x509, &out->der)) <= 0) {
        r = nacme_fail_ssl(ctx, NACME_E_INVALID, "%s/live/%s/cert.pem: not a PEM certificate",
                           store->path, name);
        goto out;
    }
    out->len = (size_t)len;
    if ((out->serial = cert_serial_hex_new(out->x509)) == NULL)
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
out:
    BIO_free(bio);
    free(pem);
    return r;
}

/* --cert-key FILE: the private key of the certificate being revoked, and nothing else. */
static enum nacme_err cert_key_load(struct nacme_ctx *ctx, const char *path, X509 *x509,
                                    EVP_PKEY **out)
{
    char *pem = NULL;
    size_t len = 0;
    EVP_PKEY *key = NULL;
    enum nacme_err r;

    *out = NULL;
    r = safefile_read_new(ctx, AT_FDCWD, path, REVOKE_KEY_MAX, &pem, &len, path);
    if (r == NACME_E_NOTFOUND)
        r = nacme_fail(ctx, NACME_E_USAGE, "--cert-key %s: no such file", path);
    if (r != NACME_OK || (r = key_from_pem_new(ctx, pem, len, path, &key)) != NACME_OK)
        goto out;
    if (EVP_PKEY_eq(X509_get0_pubkey(x509), key) != 1) {
        r = nacme_fail(ctx, NACME_E_USAGE, "--cert-key %s: not the key of the certificate", path);
        goto out;
    }
    *out = key;
    key = NULL;
out:
    nacme_secret_free(pem, len);
    EVP_PKEY_free(key);
    return r;
}

/* The CA that issued the lineage (lineage.json), else the configured one. */
static char *lineage_server_new(struct nacme_ctx *ctx, struct nacme_store *store,
                                const char *name, const struct nacme_config *cfg)
{
    struct store_lineage *lin = NULL;
    char *server;

    if (store_lineage_load_new(ctx, store, name, &lin) == NACME_OK && lin->server != NULL)
        server = nacme_strdup_new(lin->server);
    else
        server = nacme_strdup_new(config_server_url(cfg->server));
    store_lineage_free(lin);
    return server;
}

static enum nacme_err revoke_check_options(struct cli_state *st, int *reason)
{
    *reason = -1;
    if (st->cert_name == NULL)
        return nacme_fail(st->ctx, NACME_E_USAGE, "revoke needs --cert-name NAME");
    if (!store_name_valid(st->cert_name))
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "certificate name \"%s\" must be 1-200 of [A-Za-z0-9._-]",
                          st->cert_name);
    if (st->reason != NULL && (*reason = acme_revocation_reason_parse(st->reason)) < 0)
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "--reason %s: use unspecified, keyCompromise, superseded or "
                          "cessationOfOperation",
                          st->reason);
    if (st->yes && !st->delete_lineage)
        return nacme_fail(st->ctx, NACME_E_USAGE, "--yes goes with --delete");
    return NACME_OK;
}

/* --delete, once the certificate is revoked: the lineage goes, and nginx must stop using it. */
static enum nacme_err revoke_delete(struct cli_state *st, const struct nacme_config *cfg,
                                    struct nacme_store *store)
{
    char *ssl_file = NULL;
    enum nacme_err r;

    if ((r = store_lineage_remove(st->ctx, store, st->cert_name)) != NACME_OK)
        return r;
    nacme_info(st->ctx, "%s: removed %s/live/%s and %s/archive/%s", st->cert_name, store->path,
               st->cert_name, store->path, st->cert_name);
    if ((ssl_file = nginx_snippet_ssl_file_new(st->cert_name)) != NULL)
        nacme_info(st->ctx,
                   "if nginx includes %s/%s, remove that include (and the snippet) before nginx "
                   "is reloaded: the files it names are gone",
                   cfg->nginx_snippets, ssl_file);
    free(ssl_file);
    return NACME_OK;
}

enum nacme_err cmd_revoke(struct cli_state *st, struct nacme_config *cfg)
{
    struct revoke_cert cert = {0};
    struct account_session *s = NULL;
    struct nacme_store *store = NULL;
    EVP_PKEY *cert_key = NULL;
    char *server = NULL, *question = NULL;
    bool already = false;
    int reason;
    enum nacme_err r;

    if ((r = revoke_check_options(st, &reason)) != NACME_OK)
        return r;
    if ((r = store_open_new(st->ctx, cfg->state_dir, &store)) != NACME_OK ||
        (r = store_lock(st->ctx, store, (int)cfg->lock_wait)) != NACME_OK ||
        (r = live_cert_load(st->ctx, store, st->cert_name, &cert)) != NACME_OK ||
        (st->cert_key != NULL &&
         (r = cert_key_load(st->ctx, st->cert_key, cert.x509, &cert_key)) != NACME_OK))
        goto out;
    /* Asked before anything is sent: a revocation cannot be taken back either. */
    if (st->delete_lineage) {
        if ((question = nacme_printf_new("Revoke certificate %s (serial %s) and delete %s/live/%s "
                                         "and %s/archive/%s",
                                         st->cert_name, cert.serial, store->path, st->cert_name,
                                         store->path, st->cert_name)) == NULL) {
            r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
            goto out;
        }
        if ((r = cli_confirm(st, question)) != NACME_OK)
            goto out;
    }
    if ((server = lineage_server_new(st->ctx, store, st->cert_name, cfg)) == NULL) {
        r = nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    if ((r = account_session_open(st->ctx, cfg, server, cert_key == NULL, store, &s)) != NACME_OK)
        goto out;
    if (s->snippet_rewritten)
        cli_account_reload_notice(st, cfg);
    r = acme_certificate_revoke(s->acme, cert.der, cert.len, reason, cert_key);
    if (r == NACME_E_ACME && acme_problem_is(s->acme->problem, "alreadyRevoked")) {
        /* The state asked for holds already: not a failure (a retry is harmless), but the
         * answer to the command, so -q does not hide it as it hides progress. */
        nacme_log(st->ctx, NACME_LOG_ERROR,
                  "%s: certificate serial %s was already revoked (the CA says alreadyRevoked); "
                  "nothing to do",
                  st->cert_name, cert.serial);
        already = true;
        r = NACME_OK;
    }
    if (r != NACME_OK) {
        nacme_fail_prefix(st->ctx, "revoking %s (serial %s)", st->cert_name, cert.serial);
        goto out;
    }
    if (!already)
        nacme_info(st->ctx, "%s: certificate serial %s revoked%s%s", st->cert_name, cert.serial,
                   reason >= 0 ? ", reason " : "",
                   reason >= 0 ? acme_revocation_reason_name(reason) : "");
    if (st->delete_lineage && (r = revoke_delete(st, cfg, store)) != NACME_OK)
        goto out;
    if (st->json)
        cli_json_print(st, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:b}", "name", st->cert_name,
                                 "serial", cert.serial, "result",
                                 already ? "already-revoked" : "revoked", "directory", server,
                                 "reason", reason >= 0 ? acme_revocation_reason_name(reason) : NULL,
                                 "signed_by", cert_key ? "certificate-key" : "account",
                                 "deleted", st->delete_lineage));
out:
    revoke_cert_clear(&cert);
    EVP_PKEY_free(cert_key);
    account_session_free(s);
    store_free(store);
    free(server);
    free(question);
    return r;
}
