/*
 * fuzz_pem_chain.c - the certificate chain a CA sends (application/pem-certificate-chain): split
 * and checked by cert_chain_parse_new, then, when accepted, read the way issuance and renewal read
 * it before anything is installed (cert_info_new, the top issuer for --preferred-chain,
 * cert_check against the leaf's own key and names, which must pass).
 */
#include "fuzz.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cert.h"

/* What an accepted chain's leaf must pass: cert_check with its own key and its own names. */
static void check_leaf(struct nacme_ctx *ctx, const char *cert_pem)
{
    struct cert_info *ci = NULL;
    BIO *bio = BIO_new_mem_buf(cert_pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    EVP_PKEY *pub = x ? X509_get0_pubkey(x) : NULL;

    if (cert_info_new(ctx, cert_pem, &ci) == NACME_OK && pub != NULL &&
        cert_check(ctx, cert_pem, pub, (const char *const *)ci->names, ci->nnames) != NACME_OK)
        abort(); /* the names cert_info reads are the names cert_check compares */
    cert_info_free(ci);
    X509_free(x);
    BIO_free(bio);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nacme_ctx ctx;
    struct cert_chain *chain = NULL;
    char *body = fuzz_exact_copy(data, size), *cn = NULL;

    fuzz_ctx_init(&ctx);
    if (size > 0 && body == NULL)
        return 0;
    if (cert_chain_parse_new(&ctx, body, size, &chain) == NACME_OK) {
        check_leaf(&ctx, chain->cert_pem);
        if (cert_top_issuer_cn_new(&ctx, chain->fullchain_pem, &cn) == NACME_OK)
            free(cn);
        cert_chain_free(chain);
    }
    free(body);
    return 0;
}
