/*
 * fuzz_acme_json.c - the CA's JSON answers: every input goes through each parser nacme applies to
 * a response body (directory, account, order, authorization, renewal information, problem
 * document), and what a parser accepted is used as the client would use it (a problem formatted
 * for the terminal, an order's error, a challenge's error).
 */
#include "fuzz.h"

#include "acme.h"
#include "problem.h"

#define URL "https://ca.fuzz/x"

static void use_problem(const struct acme_problem *p)
{
    char line[300], tiny[8];

    if (p == NULL)
        return;
    acme_problem_format(p, line, sizeof(line));
    acme_problem_format(p, tiny, sizeof(tiny));
    (void)acme_problem_is(p, "rateLimited");
    (void)acme_problem_is(p, "badNonce");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nacme_ctx ctx;
    struct acme_directory dir;
    struct acme_account_info acct;
    struct acme_renewal_info ri = {.retry_after = -1};
    struct acme_order *o = calloc(1, sizeof(*o));
    struct acme_authz *a = calloc(1, sizeof(*a));
    struct acme_problem *p;
    char *body = fuzz_exact_copy(data, size);

    fuzz_ctx_init(&ctx);
    if (o == NULL || a == NULL || (size > 0 && body == NULL))
        goto out;
    if (acme_directory_parse(&ctx, URL, body, size, &dir) == NACME_OK)
        acme_directory_clear(&dir);
    if (acme_account_parse(&ctx, URL, body, size, &acct) == NACME_OK)
        acme_account_info_clear(&acct);
    /* twice, as a refreshed order replaces what the first answer filled in */
    if (acme_order_parse(&ctx, URL, body, size, o) == NACME_OK) {
        use_problem(o->error);
        (void)acme_order_parse(&ctx, URL, body, size, o);
    }
    if (acme_authz_parse(&ctx, URL, body, size, a) == NACME_OK) {
        use_problem(a->http01.error);
        use_problem(a->dns01.error);
    }
    if (acme_renewal_info_parse(&ctx, URL, body, size, &ri) == NACME_OK)
        acme_renewal_info_clear(&ri);
    p = acme_problem_from_body_new(body, size, 400);
    use_problem(p);
    acme_problem_free(p);
out:
    acme_order_free(o);
    acme_authz_free(a);
    free(body);
    return 0;
}
