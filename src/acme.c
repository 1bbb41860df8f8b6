/* acme.c - RFC 8555 protocol engine on top of http.c and jws.c. */
#include "acme.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "b64url.h"
#include "names.h"
#include "jws.h"
#include "rfc3339.h"

/* A CA may reject any share of nonces (Pebble: PEBBLE_WFE_NONCEREJECT). With retries bounded at
 * 100, a request still fails at 50 % rejection with odds of 2^-101, at 90 % of 1 in 40,000; a
 * CA that rejects everything costs 101 quick requests, not a hang. */
#define ACME_BADNONCE_RETRIES 100
#define ACME_MAX_AUTHZS 100
#define ACME_JOSE "application/jose+json"
#define ACME_NONCE_POOL 64        /* spare nonces kept for the next requests of any thread */
#define ACME_HOLD_RETRIES 3       /* how often one request waits out a rate limit */
#define ACME_HOLD_MAX_S 86400     /* a longer Retry-After is taken as a day */
#define ACME_MAX_PROFILES 64      /* profile names kept from a directory's meta.profiles */
#define ACME_PROFILE_MAX 64       /* longest profile name */

struct acme_shared {
    pthread_mutex_t lock;
    char *nonces[ACME_NONCE_POOL]; /* newest last */
    size_t nnonces;
    struct timespec hold_until;    /* CLOCK_MONOTONIC; no request before it */
    char hold_why[1024];           /* the problem that set it */
};

static struct acme_shared *shared_new(void)
{
    struct acme_shared *sh = calloc(1, sizeof(*sh));

    if (sh != NULL)
        pthread_mutex_init(&sh->lock, NULL);
    return sh;
}

static void shared_free(struct acme_shared *sh)
{
    size_t i;

    if (sh == NULL)
        return;
    for (i = 0; i < sh->nnonces; i++)
        free(sh->nonces[i]);
    pthread_mutex_destroy(&sh->lock);
    free(sh);
}

/* Keep the nonce of a response for whichever request comes next (resp->nonce is taken). */
static void nonce_put(struct acme_client *c, struct http_response *resp)
{
    struct acme_shared *sh = c->shared;
    char *old = NULL;

    if (resp->nonce == NULL || !b64url_is_token(resp->nonce, 512))
        return;
    pthread_mutex_lock(&sh->lock);
    if (sh->nnonces == ACME_NONCE_POOL) { /* drop the oldest: it is the likeliest to be stale */
        old = sh->nonces[0];
        memmove(sh->nonces, sh->nonces + 1, (ACME_NONCE_POOL - 1) * sizeof(sh->nonces[0]));
        sh->nnonces--;
    }
    sh->nonces[sh->nnonces++] = resp->nonce;
    resp->nonce = NULL;
    pthread_mutex_unlock(&sh->lock);
    free(old);
}

/* The newest spare nonce, or NULL. */
static char *nonce_take(struct acme_client *c)
{
    struct acme_shared *sh = c->shared;
    char *n = NULL;

    pthread_mutex_lock(&sh->lock);
    if (sh->nnonces > 0)
        n = sh->nonces[--sh->nnonces];
    pthread_mutex_unlock(&sh->lock);
    return n;
}

static long ms_between(const struct timespec *from, const struct timespec *to)
{
    return (long)(to->tv_sec - from->tv_sec) * 1000 + (to->tv_nsec - from->tv_nsec) / 1000000;
}

/* Parse a response body that must be a JSON object; the error names the URL and the flaw. */
static enum nacme_err body_json_new(struct nacme_ctx *ctx, const char *url, const char *body,
                                    size_t len, json_t **out)
{
    json_error_t jerr;
    json_t *obj;
    char why[160];

    *out = NULL;
    obj = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        nacme_sanitize(why, sizeof(why), jerr.text, sizeof(why) - 1);
        return nacme_fail(ctx, NACME_E_PROTO, "%s: malformed JSON in the response (line %d: %s)",
                          url, jerr.line, why);
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        return nacme_fail(ctx, NACME_E_PROTO, "%s: the response is JSON but not an object", url);
    }
    *out = obj;
    return NACME_OK;
}

/* Copy an optional string member; a member present with another type is a protocol error. */
static int opt_string(json_t *obj, const char *key, char **out)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    return (*out = nacme_strdup_new(json_string_value(v))) ? 0 : -1;
}

void acme_directory_clear(struct acme_directory *d)
{
    free(d->new_nonce);
    free(d->new_account);
    free(d->new_order);
    free(d->revoke_cert);
    free(d->key_change);
    free(d->renewal_info);
    free(d->terms_of_service);
    acme_urls_free(d->profiles, d->nprofiles);
    memset(d, 0, sizeof(*d));
}

bool acme_profile_name_valid(const char *profile)
{
    size_t i, n = strlen(profile);

    if (n == 0 || n > ACME_PROFILE_MAX)
        return false;
    for (i = 0; i < n; i++)
        if (profile[i] <= 0x20 || profile[i] >= 0x7f)
            return false;
    return true;
}

/* meta.profiles is an object of name -> description (draft-ietf-acme-profiles §3); only the names
 * matter to a client. A name nobody could ask for (see acme_profile_name_valid) is not kept, and
 * at most ACME_MAX_PROFILES are: the CA controls this input. */
static enum nacme_err directory_profiles(struct nacme_ctx *ctx, const char *url, json_t *meta,
                                         struct acme_directory *d)
{
    json_t *profiles = json_object_get(meta, "profiles"), *v;
    const char *name;

    if (profiles == NULL || json_is_null(profiles))
        return NACME_OK;
    if (!json_is_object(profiles))
        return nacme_fail(ctx, NACME_E_PROTO, "%s: meta.profiles is not an object", url);
    if ((d->profiles = calloc(ACME_MAX_PROFILES, sizeof(*d->profiles))) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    json_object_foreach(profiles, name, v) {
        if (d->nprofiles == ACME_MAX_PROFILES)
            break;
        if (!acme_profile_name_valid(name))
            continue;
        if ((d->profiles[d->nprofiles] = nacme_strdup_new(name)) == NULL)
            return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        d->nprofiles++;
    }
    return NACME_OK;
}

enum nacme_err acme_profile_check(const struct acme_client *c, struct nacme_ctx *ctx,
                                  const char *profile)
{
    char names[1024] = "";
    size_t i, off = 0;

    for (i = 0; i < c->dir.nprofiles; i++) {
        if (strcmp(c->dir.profiles[i], profile) == 0)
            return NACME_OK;
        if (off < sizeof(names))
            off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", i ? ", " : "",
                                    c->dir.profiles[i]);
    }
    if (c->dir.nprofiles == 0)
        return nacme_fail(ctx, NACME_E_USAGE,
                          "profile \"%s\": %s offers no certificate profiles (leave out --profile "
                          "and the profile setting)",
                          profile, c->directory_url);
    return nacme_fail(ctx, NACME_E_USAGE,
                      "profile \"%s\": %s does not offer it; it offers %s", profile,
                      c->directory_url, names);
}

static enum nacme_err directory_parse(struct nacme_ctx *ctx, const char *url, json_t *obj,
                                      struct acme_directory *d)
{
    static const struct {
        const char *key;
        size_t off;
        bool required;
    } fields[] = {
        {"newNonce", offsetof(struct acme_directory, new_nonce), true},
        {"newAccount", offsetof(struct acme_directory, new_account), true},
        {"newOrder", offsetof(struct acme_directory, new_order), true},
        {"revokeCert", offsetof(struct acme_directory, revoke_cert), false},
        {"keyChange", offsetof(struct acme_directory, key_change), false},
        {"renewalInfo", offsetof(struct acme_directory, renewal_info), false},
    };
    json_t *meta;
    size_t i;

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char **slot = (char **)((char *)d + fields[i].off);
        if (opt_string(obj, fields[i].key, slot) != 0)
            return nacme_fail(ctx, NACME_E_PROTO, "%s: directory member \"%s\" is not a string",
                              url, fields[i].key);
        if (*slot == NULL && fields[i].required)
            return nacme_fail(ctx, NACME_E_PROTO,
                              "%s: not an ACME directory: \"%s\" is missing", url, fields[i].key);
    }
    meta = json_object_get(obj, "meta");
    if (json_is_object(meta)) {
        if (opt_string(meta, "termsOfService", &d->terms_of_service) != 0)
            return nacme_fail(ctx, NACME_E_PROTO, "%s: meta.termsOfService is not a string", url);
        d->eab_required = json_is_true(json_object_get(meta, "externalAccountRequired"));
        return directory_profiles(ctx, url, meta, d);
    }
    return NACME_OK;
}

enum nacme_err acme_directory_parse(struct nacme_ctx *ctx, const char *url, const char *body,
                                    size_t len, struct acme_directory *d)
{
    json_t *obj = NULL;
    enum nacme_err r;

    memset(d, 0, sizeof(*d));
    if ((r = body_json_new(ctx, url, body, len, &obj)) != NACME_OK) {
        nacme_fail_prefix(ctx, "not an ACME directory");
        goto out;
    }
    r = directory_parse(ctx, url, obj, d);
out:
    if (r != NACME_OK)
        acme_directory_clear(d);
    json_decref(obj);
    return r;
}

enum nacme_err acme_client_new(struct nacme_ctx *ctx, struct nacme_http *http,
                               const char *directory_url, struct acme_client **out)
{
    struct http_response resp = {.retry_after = -1};
    struct acme_client *c = NULL;
    enum nacme_err r;

    *out = NULL;
    if ((c = calloc(1, sizeof(*c))) == NULL ||
        (c->directory_url = nacme_strdup_new(directory_url)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    c->ctx = ctx;
    c->http = http;
    c->badnonce_retries = ACME_BADNONCE_RETRIES;
    c->retry_after = -1;
    if ((c->shared = shared_new()) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    c->requests++;
    if ((r = http_request(ctx, http, "GET", directory_url, NULL, NULL, "application/json",
                          &resp)) != NACME_OK)
        goto out;
    if (resp.status != 200) {
        r = nacme_fail(ctx, NACME_E_PROTO, "%s: not an ACME directory (HTTP %ld)", directory_url,
                       resp.status);
        goto out;
    }
    if ((r = acme_directory_parse(ctx, directory_url, resp.body.data, resp.body.len,
                                  &c->dir)) != NACME_OK)
        goto out;
    /* A directory response may already carry a nonce; keep it and save a HEAD newNonce. */
    nonce_put(c, &resp);
    *out = c;
    c = NULL;
out:
    http_response_clear(&resp);
    acme_client_free(c);
    return r;
}

enum nacme_err acme_client_clone_new(const struct acme_client *parent, struct nacme_ctx *ctx,
                                     struct acme_client **out)
{
    struct acme_client *c;

    *out = NULL;
    if ((c = malloc(sizeof(*c))) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    *c = *parent; /* the strings stay the parent's: a clone frees none of them */
    c->ctx = ctx;
    c->is_clone = true;
    c->problem = NULL;
    c->requests = 0;
    c->retry_after = -1;
    c->deadline = (struct timespec){0};
    *out = c;
    return NACME_OK;
}

void acme_client_free(struct acme_client *c)
{
    if (c == NULL)
        return;
    if (!c->is_clone) {
        acme_directory_clear(&c->dir);
        free(c->directory_url);
        free(c->thumbprint);
        free(c->kid);
        shared_free(c->shared);
    }
    acme_problem_free(c->problem);
    free(c);
}

/* A fresh nonce from newNonce, for when no response has left one to spare. */
static enum nacme_err fetch_nonce(struct acme_client *c, char **out)
{
    struct http_response resp = {.retry_after = -1};
    enum nacme_err r;

    *out = NULL;
    c->requests++;
    if ((r = http_request(c->ctx, c->http, "HEAD", c->dir.new_nonce, NULL, NULL, NULL, &resp)) !=
        NACME_OK)
        return r;
    if (resp.nonce == NULL || !b64url_is_token(resp.nonce, 512)) {
        r = nacme_fail(c->ctx, NACME_E_PROTO, "%s: no valid Replay-Nonce in the answer (HTTP %ld)",
                       c->dir.new_nonce, resp.status);
    } else {
        *out = resp.nonce;
        resp.nonce = NULL;
    }
    http_response_clear(&resp);
    return r;
}

/* ---- rate limits ------------------------------------------------------------------------ */

static bool is_rate_limit(const struct acme_client *c, const struct http_response *resp)
{
    return resp->status == 429 || resp->status == 503 || acme_problem_is(c->problem, "rateLimited");
}

/* The CA asked for a pause: no client of it sends anything before it ends. */
static void hold_set(struct acme_client *c, long secs, const char *why)
{
    struct acme_shared *sh = c->shared;
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += secs > ACME_HOLD_MAX_S ? ACME_HOLD_MAX_S : secs;
    pthread_mutex_lock(&sh->lock);
    if (ms_between(&sh->hold_until, &until) > 0) {
        sh->hold_until = until;
        snprintf(sh->hold_why, sizeof(sh->hold_why), "%s", why);
    }
    pthread_mutex_unlock(&sh->lock);
}

/* How long this client may wait for anything, in ms from now. */
static long wait_budget_ms(const struct acme_client *c)
{
    struct timespec now;

    if (c->deadline.tv_sec == 0)
        return ACME_HOLD_DEFAULT_S * 1000L;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return ms_between(&now, &c->deadline);
}

/* Before a request: sit out the CA's hold when it ends in time, else fail naming it. */
static enum nacme_err hold_wait(struct acme_client *c, const char *url)
{
    struct acme_shared *sh = c->shared;
    struct timespec now;
    char why[sizeof(sh->hold_why)];
    long ms;
    int sig;

    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&sh->lock);
    ms = ms_between(&now, &sh->hold_until);
    snprintf(why, sizeof(why), "%s", sh->hold_why);
    pthread_mutex_unlock(&sh->lock);
    if (ms <= 0)
        return NACME_OK;
    if (ms > wait_budget_ms(c))
        return nacme_fail(c->ctx, NACME_E_ACME, "%s: not sent: the CA asked to wait %ld s more: %s",
                          url, (ms + 999) / 1000, why);
    nacme_info(c->ctx, "%s: the CA asked to wait; sending in %ld s", url, (ms + 999) / 1000);
    if ((sig = nacme_sleep_ms(ms)) != 0)
        return nacme_fail(c->ctx, NACME_E_INTERRUPTED, "%s: interrupted by %s", url,
                          strsignal(sig));
    return NACME_OK;
}

/* RFC 8555 §7.3.3: new terms are for a person to read and agree to at the problem's instance URL;
 * nacme never agrees on anyone's behalf, so it names both URLs and stops. */
static enum nacme_err user_action_required(struct acme_client *c, const char *url,
                                           const char *line)
{
    char tos[300], instance[300];

    nacme_sanitize(tos, sizeof(tos),
                   c->dir.terms_of_service ? c->dir.terms_of_service : "(the directory names none)",
                   sizeof(tos) - 1);
    nacme_sanitize(instance, sizeof(instance),
                   c->problem->instance ? c->problem->instance : "(the CA gave no instance URL)",
                   sizeof(instance) - 1);
    return nacme_fail(c->ctx, NACME_E_ACME,
                      "%s: %s; the CA needs you to act, probably on changed terms of service: "
                      "read %s, then agree at %s (nacme never agrees on your behalf)",
                      url, line, tos, instance);
}

static enum nacme_err report_problem(struct acme_client *c, const char *url,
                                     struct http_response *resp)
{
    char line[700];

    acme_problem_free(c->problem);
    c->problem = acme_problem_from_body_new(resp->body.data, resp->body.len, resp->status);
    if (c->problem == NULL)
        return nacme_fail(c->ctx, NACME_E_NOMEM, "out of memory");
    acme_problem_format(c->problem, line, sizeof(line));
    if (acme_problem_is(c->problem, "userActionRequired"))
        return user_action_required(c, url, line);
    return nacme_fail(c->ctx, NACME_E_ACME, "%s: %s", url, line);
}

/* One POST signed by key (with kid, or with its jwk when kid is NULL) with the given nonce
 * (consumed). */
static enum nacme_err post_once(struct acme_client *c, EVP_PKEY *key, const char *kid,
                                const char *url, const char *payload, const char *accept,
                                char *nonce, struct http_response *resp)
{
    char *jws = NULL;
    enum nacme_err r;

    r = jws_sign_new(c->ctx, key, kid, nonce, url, payload, &jws);
    free(nonce); /* a nonce is good for one request, whatever happens to it */
    if (r != NACME_OK)
        return r;
    c->requests++;
    r = http_request(c->ctx, c->http, "POST", url, jws, ACME_JOSE, accept, resp);
    free(jws);
    return r;
}

/* After an error: should the same request go again? A badNonce error carries the nonce to use;
 * a rate limit with a Retry-After sets the hold that hold_wait() sits out. */
static bool post_again(struct acme_client *c, struct http_response *resp, int *badnonces,
                       int *holds, char **nonce)
{
    char why[sizeof(c->ctx->errmsg)];

    if (acme_problem_is(c->problem, "badNonce")) {
        if ((*badnonces)++ >= c->badnonce_retries)
            return false;
        if (resp->nonce != NULL && b64url_is_token(resp->nonce, 512)) {
            *nonce = resp->nonce;
            resp->nonce = NULL;
        }
        nacme_verbose(c->ctx, "the CA rejected the nonce; retrying with a fresh one");
        return true;
    }
    if (!is_rate_limit(c, resp) || resp->retry_after <= 0)
        return false;
    acme_problem_format(c->problem, why, sizeof(why));
    hold_set(c, resp->retry_after, why);
    if (resp->retry_after * 1000 > wait_budget_ms(c)) {
        snprintf(why, sizeof(why), "%s", c->ctx->errmsg); /* nacme_fail writes into errmsg */
        nacme_fail(c->ctx, NACME_E_ACME, "%s (the CA asks to wait %ld s before trying again)",
                   why, resp->retry_after);
        return false;
    }
    return (*holds)++ < ACME_HOLD_RETRIES;
}

/* acme_post with any signer: the account (key, kid) or a certificate's key (key, NULL). */
static enum nacme_err post_signed(struct acme_client *c, EVP_PKEY *key, const char *kid,
                                  const char *url, const char *payload, const char *accept,
                                  struct http_response *resp)
{
    char *nonce = NULL;
    enum nacme_err r;
    int badnonces = 0, holds = 0;

    for (;;) {
        if ((r = hold_wait(c, url)) != NACME_OK)
            break;
        if (nonce == NULL && (nonce = nonce_take(c)) == NULL &&
            (r = fetch_nonce(c, &nonce)) != NACME_OK)
            break;
        r = post_once(c, key, kid, url, payload, accept, nonce, resp);
        nonce = NULL;
        if (r != NACME_OK)
            break;
        if (resp->status < 400) {
            nonce_put(c, resp);
            acme_problem_free(c->problem);
            c->problem = NULL;
            return NACME_OK;
        }
        r = report_problem(c, url, resp);
        c->retry_after = resp->retry_after;
        if (!post_again(c, resp, &badnonces, &holds, &nonce))
            break;
        nonce_put(c, resp);
    }
    free(nonce);
    if (resp->nonce != NULL)
        nonce_put(c, resp);
    return r;
}

enum nacme_err acme_post(struct acme_client *c, const char *url, const char *payload,
                         const char *accept, struct http_response *resp)
{
    return post_signed(c, c->account_key, c->kid, url, payload, accept, resp);
}

/* ---- account ---------------------------------------------------------------------------- */

static enum nacme_err account_payload_new(struct acme_client *c, EVP_PKEY *key,
                                          const struct acme_account_opts *o, char **out)
{
    json_t *p = NULL, *eab = NULL;
    char *mailto = NULL;
    enum nacme_err r = NACME_E_NOMEM;

    *out = NULL;
    if ((p = json_object()) == NULL)
        goto out;
    if (o->agree_tos && json_object_set_new(p, "termsOfServiceAgreed", json_true()) != 0)
        goto out;
    if (o->email != NULL) {
        if ((mailto = nacme_printf_new("mailto:%s", o->email)) == NULL ||
            json_object_set_new(p, "contact", json_pack("[s]", mailto)) != 0)
            goto out;
    }
    if (o->eab_kid != NULL) {
        if ((r = jws_eab_new(c->ctx, key, o->eab_kid, o->eab_hmac, c->dir.new_account, &eab)) !=
            NACME_OK)
            goto out;
        r = NACME_E_NOMEM;
        if (json_object_set_new(p, "externalAccountBinding", eab) != 0)
            goto out;
    }
    if ((*out = json_dumps(p, JSON_COMPACT)) == NULL)
        goto out;
    r = NACME_OK;
out:
    if (r == NACME_E_NOMEM)
        nacme_fail(c->ctx, r, "out of memory building newAccount");
    json_decref(p);
    free(mailto);
    return r;
}

/* {"key": value} as compact JSON text. */
static char *json_dumps_new_bool(const char *key, bool value)
{
    json_t *o = json_pack("{s:b}", key, value);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    return text;
}

/* Refuse early, with the fix, what the CA would refuse anyway. */
static enum nacme_err account_preflight(struct acme_client *c, const struct acme_account_opts *o)
{
    if (c->dir.terms_of_service != NULL && !o->agree_tos)
        return nacme_fail(c->ctx, NACME_E_USAGE,
                          "%s requires agreeing to its terms of service (%s): read them, then "
                          "add --agree-tos",
                          c->directory_url, c->dir.terms_of_service);
    if (c->dir.eab_required && (o->eab_kid == NULL || o->eab_hmac == NULL))
        return nacme_fail(c->ctx, NACME_E_USAGE,
                          "%s requires External Account Binding: give --eab-kid and "
                          "--eab-hmac-key from your CA account",
                          c->directory_url);
    if ((o->eab_kid == NULL) != (o->eab_hmac == NULL))
        return nacme_fail(c->ctx, NACME_E_USAGE, "--eab-kid and --eab-hmac-key go together");
    return NACME_OK;
}

static enum nacme_err account_post(struct acme_client *c, const char *payload, char **url)
{
    struct http_response resp = {.retry_after = -1};
    enum nacme_err r;

    *url = NULL;
    if ((r = acme_post(c, c->dir.new_account, payload, NULL, &resp)) != NACME_OK)
        goto out;
    if (resp.location == NULL) {
        r = nacme_fail(c->ctx, NACME_E_PROTO, "%s: no Location for the account (HTTP %ld)",
                       c->dir.new_account, resp.status);
        goto out;
    }
    *url = resp.location;
    resp.location = NULL;
out:
    http_response_clear(&resp);
    return r;
}

/* Sign with key from now on: no account URL known for it yet, its thumbprint for key
 * authorizations. */
static enum nacme_err client_key_set(struct acme_client *c, EVP_PKEY *key)
{
    c->account_key = key;
    free(c->kid);
    c->kid = NULL;
    free(c->thumbprint);
    c->thumbprint = NULL;
    return jwk_thumbprint_new(c->ctx, key, &c->thumbprint);
}

enum nacme_err acme_account_ensure(struct acme_client *c, EVP_PKEY *key,
                                   const struct acme_account_opts *o, char **url)
{
    char *payload = NULL;
    enum nacme_err r;

    *url = NULL;
    if ((r = client_key_set(c, key)) != NACME_OK)
        return r;
    if (o->known_url != NULL) {
        if ((c->kid = nacme_strdup_new(o->known_url)) == NULL ||
            (*url = nacme_strdup_new(o->known_url)) == NULL)
            return nacme_fail(c->ctx, NACME_E_NOMEM, "out of memory");
        return NACME_OK;
    }
    if (!o->key_is_new) {
        /* A key without a recorded URL may already have an account: ask before creating. */
        if ((payload = json_dumps_new_bool("onlyReturnExisting", true)) == NULL)
            return nacme_fail(c->ctx, NACME_E_NOMEM, "out of memory");
        r = account_post(c, payload, url);
        free(payload);
        payload = NULL;
        if (r == NACME_OK || !acme_problem_is(c->problem, "accountDoesNotExist"))
            goto found;
    }
    if ((r = account_preflight(c, o)) != NACME_OK)
        goto out;
    if ((r = account_payload_new(c, key, o, &payload)) != NACME_OK)
        goto out;
    if ((r = account_post(c, payload, url)) != NACME_OK)
        nacme_fail_prefix(c->ctx, "cannot create the ACME account");
found:
    if (r == NACME_OK && (c->kid = nacme_strdup_new(*url)) == NULL)
        r = nacme_fail(c->ctx, NACME_E_NOMEM, "out of memory");
out:
    free(payload);
    if (r != NACME_OK) {
        free(*url);
        *url = NULL;
    }
    return r;
}

/* ---- account management (RFC 8555 §7.3.2, §7.3.5, §7.3.6) ------------------------------- */

void acme_account_info_clear(struct acme_account_info *a)
{
    size_t i;

    free(a->status);
    for (i = 0; i < a->ncontact; i++)
        free(a->contact[i]);
    free(a->contact);
    free(a->orders);
    memset(a, 0, sizeof(*a));
}

static bool account_status_known(const char *s)
{
    return strcmp(s, "valid") == 0 || strcmp(s, "deactivated") == 0 || strcmp(s, "revoked") == 0;
}

#define ACME_MAX_CONTACTS 20

static enum nacme_err account_parse(struct nacme_ctx *ctx, const char *url, json_t *obj,
                                    struct acme_account_info *a)
{
    const char *status = NULL;
    json_t *contact = json_object_get(obj, "contact"), *e, *tos;
    size_t i;

    if (json_unpack(obj, "{s:s}", "status", &status) != 0 || !account_status_known(status))
        return nacme_fail(ctx, NACME_E_PROTO, "%s: account without a known status", url);
    if (contact != NULL && !json_is_null(contact) &&
        (!json_is_array(contact) || json_array_size(contact) > ACME_MAX_CONTACTS))
        return nacme_fail(ctx, NACME_E_PROTO, "%s: account contact is not a short array", url);
    if ((a->status = nacme_strdup_new(status)) == NULL ||
        (json_array_size(contact) > 0 &&
         (a->contact = calloc(json_array_size(contact), sizeof(*a->contact))) == NULL))
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    json_array_foreach(contact, i, e) {
        if (!json_is_string(e))
            return nacme_fail(ctx, NACME_E_PROTO, "%s: an account contact is not a string", url);
        if ((a->contact[a->ncontact++] = nacme_strdup_new(json_string_value(e))) == NULL)
            return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    }
    tos = json_object_get(obj, "termsOfServiceAgreed");
    a->tos_agreed = json_is_true(tos);
    a->tos_known = json_is_boolean(tos);
    if (opt_string(obj, "orders", &a->orders) != 0)
        return nacme_fail(ctx, NACME_E_PROTO, "%s: account orders URL is not a string", url);
    return NACME_OK;
}

enum nacme_err acme_account_parse(struct nacme_ctx *ctx, const char *url, const char *body,
                                  size_t len, struct acme_account_info *a)
{
    json_t *obj = NULL;
    enum nacme_err r;

    memset(a, 0, sizeof(*a));
    if ((r = body_json_new(ctx, url, body, len, &obj)) == NACME_OK)
        r = account_parse(ctx, url, obj, a);
    if (r != NACME_OK)
        acme_account_info_clear(a);
    json_decref(obj);
    return r;
}

/* POST payload to the account URL and parse the account object it answers with. */
static enum nacme_err account_exchange(struct acme_client *c, const char *payload,
                                       struct acme_account_info *out)
{
    struct http_response resp = {.retry_after = -1};
    enum nacme_err r;

    memset(out, 0, sizeof(*out));
    if (c->kid == NULL)
        return nacme_fail(c->ctx, NACME_E_INVALID, "no ACME account is set up for %s",
                          c->directory_url);
    if ((r = acme_post(c, c->kid, payload, NULL, &resp)) != NACME_OK)
        goto out;
    r = acme_account_parse(c->ctx, c->kid, resp.body.data, resp.body.len, out);
out:
    http_response_clear(&resp);
    return r;
}

enum nacme_err acme_account_get(struct acme_client *c, struct acme_account_info *out)
{
    return account_exchange(c, "", out);
}

enum nacme_err acme_account_update(struct acme_client *c, const char *const *emails, size_t n,
                                   struct acme_account_info *out)
{
    json_t *p = NULL, *contact = json_array();
    char *payload = NULL, *mailto;
    enum nacme_err r = NACME_E_NOMEM;
    size_t i;

    memset(out, 0, sizeof(*out));
    if (contact == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        if ((mailto = nacme_printf_new("mailto:%s", emails[i])) == NULL)
            goto out;
        if (json_array_append_new(contact, json_string(mailto)) != 0) {
            free(mailto);
            goto out;
        }
        free(mailto);
    }
    /* An empty array removes every contact (RFC 8555 §7.3.2 replaces the whole field). */
    if ((p = json_pack("{s:O}", "contact", contact)) == NULL ||
        (payload = json_dumps(p, JSON_COMPACT)) == NULL)
        goto out;
    r = account_exchange(c, payload, out);
out:
    if (r == NACME_E_NOMEM)
        nacme_fail(c->ctx, r, "out of memory building an account update");
    json_decref(contact);
    json_decref(p);
    free(payload);
    return r;
}

enum nacme_err acme_account_deactivate(struct acme_client *c, struct acme_account_info *out)
{
    return account_exchange(c, "{\"status\":\"deactivated\"}", out);
}

enum nacme_err acme_account_find(struct acme_client *c, EVP_PKEY *key, char **url)
{
    char *payload = NULL;
    enum nacme_err r;

    *url = NULL;
    if ((r = client_key_set(c, key)) != NACME_OK)
        return r;
    if ((payload = json_dumps_new_bool("onlyReturnExisting", true)) == NULL)
        return nacme_fail(c->ctx, NACME_E_NOMEM, "out of memory");
    r = account_post(c, payload, url);
    free(payload);
    if (r != NACME_OK) {
        if (acme_problem_is(c->problem, "accountDoesNotExist"))
            r = c->ctx->err = NACME_E_NOTFOUND;
        return r;
    }
    if ((c->kid = nacme_strdup_new(*url)) == NULL) {
        free(*url);
        *url = NULL;
        return nacme_fail(c->ctx, NACME_E_NOMEM, "out of memory");
    }
    return NACME_OK;
}

enum nacme_err acme_key_change_inner_new(struct nacme_ctx *ctx, EVP_PKEY *old_key,
                                         EVP_PKEY *new_key, const char *account_url,
                                         const char *key_change_url, char **out)
{
    json_t *old_jwk = NULL, *p = NULL;
    char *payload = NULL;
    enum nacme_err r;

    *out = NULL;
    if ((r = jwk_new(ctx, old_key, &old_jwk)) != NACME_OK)
        goto out;
    if ((p = json_pack("{s:s, s:O}", "account", account_url, "oldKey", old_jwk)) == NULL ||
        (payload = json_dumps(p, JSON_COMPACT)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory building keyChange");
        goto out;
    }
    /* Signed by the new key, with its jwk, the same url as the outer JWS and no nonce. */
    r = jws_sign_new(ctx, new_key, NULL, NULL, key_change_url, payload, out);
out:
    json_decref(old_jwk);
    json_decref(p);
    free(payload);
    return r;
}

enum nacme_err acme_account_key_change(struct acme_client *c, EVP_PKEY *new_key)
{
    struct http_response resp = {.retry_after = -1};
    char *inner = NULL, *thumbprint = NULL;
    enum nacme_err r;

    if (c->dir.key_change == NULL)
        return nacme_fail(c->ctx, NACME_E_PROTO, "%s offers no keyChange", c->directory_url);
    if (c->kid == NULL || c->account_key == NULL)
        return nacme_fail(c->ctx, NACME_E_INVALID, "no ACME account is set up for %s",
                          c->directory_url);
    if ((r = jwk_thumbprint_new(c->ctx, new_key, &thumbprint)) != NACME_OK ||
        (r = acme_key_change_inner_new(c->ctx, c->account_key, new_key, c->kid,
                                       c->dir.key_change, &inner)) != NACME_OK)
        goto out;
    if ((r = acme_post(c, c->dir.key_change, inner, NULL, &resp)) != NACME_OK)
        goto out;
    c->account_key = new_key;
    free(c->thumbprint);
    c->thumbprint = thumbprint;
    thumbprint = NULL;
out:
    http_response_clear(&resp);
    free(inner);
    free(thumbprint);
    return r;
}

/* ---- revocation (RFC 8555 §7.6) --------------------------------------------------------- */

/* The RFC 5280 CRLReason codes that ACME subscribers may ask for. */
static const struct {
    const char *name;
    int code;
} revocation_reasons[] = {
    {"unspecified", 0},
    {"keyCompromise", 1},
    {"superseded", 4},
    {"cessationOfOperation", 5},
};

int acme_revocation_reason_parse(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < sizeof(revocation_reasons) / sizeof(revocation_reasons[0]);
         i++)
        if (strcmp(name, revocation_reasons[i].name) == 0)
            return revocation_reasons[i].code;
    return -1;
}

const char *acme_revocation_reason_name(int code)
{
    size_t i;

    for (i = 0; i < sizeof(revocation_reasons) / sizeof(revocation_reasons[0]); i++)
        if (revocation_reasons[i].code == code)
            return revocation_reasons[i].name;
    return NULL;
}

enum nacme_err acme_certificate_revoke(struct acme_client *c, const unsigned char *der,
                                       size_t len, int reason, EVP_PKEY *cert_key)
{
    struct http_response resp = {.retry_after = -1};
    json_t *p = NULL;
    char *cert64 = NULL, *payload = NULL;
    enum nacme_err r = NACME_E_NOMEM;

    if (c->dir.revoke_cert == NULL)
        return nacme_fail(c->ctx, NACME_E_PROTO, "%s offers no revokeCert", c->directory_url);
    if (cert_key == NULL && c->kid == NULL)
        return nacme_fail(c->ctx, NACME_E_INVALID, "no ACME account is set up for %s",
                          c->directory_url);
    if ((cert64 = b64url_encode_new(der, len)) == NULL ||
        (p = json_pack("{s:s}", "certificate", cert64)) == NULL ||
        (reason >= 0 && json_object_set_new(p, "reason", json_integer(reason)) != 0) ||
        (payload = json_dumps(p, JSON_COMPACT)) == NULL) {
        nacme_fail(c->ctx, r, "out of memory building revokeCert");
        goto out;
    }
    /* By the certificate's own key the JWS carries its jwk; by the account, the kid. */
    if (cert_key != NULL)
        r = post_signed(c, cert_key, NULL, c->dir.revoke_cert, payload, NULL, &resp);
    else
        r = acme_post(c, c->dir.revoke_cert, payload, NULL, &resp);
out:
    http_response_clear(&resp);
    json_decref(p);
    free(cert64);
    free(payload);
    return r;
}

/* ---- orders ----------------------------------------------------------------------------- */

void acme_order_free(struct acme_order *o)
{
    size_t i;

    if (o == NULL)
        return;
    free(o->url);
    free(o->status);
    for (i = 0; i < o->nauthzs; i++)
        free(o->authzs[i]);
    free(o->authzs);
    free(o->finalize);
    free(o->certificate);
    free(o->profile);
    acme_problem_free(o->error);
    free(o);
}

static bool order_status_known(const char *s)
{
    static const char *const known[] = {"pending", "ready", "processing", "valid", "invalid"};
    size_t i;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(s, known[i]) == 0)
            return true;
    return false;
}

/* Fill o from an order object; the URL comes from the caller. Replaces what o held. */
static enum nacme_err order_parse(struct nacme_ctx *ctx, const char *url, json_t *obj,
                                  struct acme_order *o)
{
    const char *status = NULL, *finalize = NULL;
    json_t *authzs = NULL, *e;
    size_t i;

    if (json_unpack(obj, "{s:s, s:o, s:s}", "status", &status, "authorizations", &authzs,
                    "finalize", &finalize) != 0 ||
        !json_is_array(authzs))
        return nacme_fail(ctx, NACME_E_PROTO,
                          "%s: order lacks status, authorizations or finalize", url);
    if (!order_status_known(status))
        return nacme_fail(ctx, NACME_E_PROTO, "%s: unknown order status", url);
    if (json_array_size(authzs) == 0 || json_array_size(authzs) > ACME_MAX_AUTHZS)
        return nacme_fail(ctx, NACME_E_PROTO, "%s: order has %zu authorizations", url,
                          json_array_size(authzs));
    for (i = 0; i < o->nauthzs; i++)
        free(o->authzs[i]);
    free(o->authzs);
    free(o->status);
    free(o->finalize);
    free(o->certificate);
    free(o->profile);
    o->profile = NULL;
    acme_problem_free(o->error);
    o->nauthzs = 0;
    o->error = NULL;
    o->status = nacme_strdup_new(status);
    o->finalize = nacme_strdup_new(finalize);
    o->authzs = calloc(json_array_size(authzs), sizeof(*o->authzs));
    if (o->status == NULL || o->finalize == NULL || o->authzs == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    json_array_foreach(authzs, i, e) {
        if (!json_is_string(e))
            return nacme_fail(ctx, NACME_E_PROTO, "%s: authorization URL is not a string", url);
        if ((o->authzs[o->nauthzs++] = nacme_strdup_new(json_string_value(e))) == NULL)
            return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    }
    if (opt_string(obj, "certificate", &o->certificate) != 0)
        return nacme_fail(ctx, NACME_E_PROTO, "%s: certificate URL is not a string", url);
    if (opt_string(obj, "profile", &o->profile) != 0)
        return nacme_fail(ctx, NACME_E_PROTO, "%s: the order's profile is not a string", url);
    o->error = acme_problem_from_json_new(json_object_get(obj, "error"));
    return NACME_OK;
}

enum nacme_err acme_order_parse(struct nacme_ctx *ctx, const char *url, const char *body,
                                size_t len, struct acme_order *o)
{
    json_t *obj = NULL;
    enum nacme_err r;

    if ((r = body_json_new(ctx, url, body, len, &obj)) == NACME_OK)
        r = order_parse(ctx, url, obj, o);
    json_decref(obj);
    return r;
}

/* POST payload to url and parse the answer as an order. */
static enum nacme_err order_exchange(struct acme_client *c, const char *url, const char *payload,
                                     struct acme_order *o, bool take_location)
{
    struct http_response resp = {.retry_after = -1};
    enum nacme_err r;

    if ((r = acme_post(c, url, payload, NULL, &resp)) != NACME_OK)
        goto out;
    if (take_location) {
        if (resp.location == NULL) {
            r = nacme_fail(c->ctx, NACME_E_PROTO, "%s: new order has no Location", url);
            goto out;
        }
        free(o->url);
        o->url = resp.location;
        resp.location = NULL;
    }
    o->retry_after = resp.retry_after;
    r = acme_order_parse(c->ctx, url, resp.body.data, resp.body.len, o);
out:
    http_response_clear(&resp);
    return r;
}

enum nacme_err acme_order_new(struct acme_client *c, const char *const *names, size_t nnames,
                              const char *replaces, const char *profile,
                              struct acme_order **out)
{
    struct acme_order *o = NULL;
    json_t *ids = NULL, *p = NULL;
    char *payload = NULL;
    enum nacme_err r = NACME_E_NOMEM;
    size_t i;

    *out = NULL;
    if ((o = calloc(1, sizeof(*o))) == NULL || (ids = json_array()) == NULL)
        goto out;
    for (i = 0; i < nnames; i++)
        if (json_array_append_new(ids, json_pack("{s:s, s:s}", "type",
                                                 names_identifier_type(names[i]), "value",
                                                 names[i])) != 0)
            goto out;
    if ((p = json_pack("{s:O, s:s*, s:s*}", "identifiers", ids, "replaces", replaces, "profile",
                       profile)) == NULL ||
        (payload = json_dumps(p, JSON_COMPACT)) == NULL)
        goto out;
    if ((r = order_exchange(c, c->dir.new_order, payload, o, true)) != NACME_OK)
        goto out;
    *out = o;
    o = NULL;
out:
    if (r == NACME_E_NOMEM)
        nacme_fail(c->ctx, r, "out of memory building newOrder");
    acme_order_free(o);
    json_decref(ids);
    json_decref(p);
    free(payload);
    return r;
}

enum nacme_err acme_order_refresh(struct acme_client *c, struct acme_order *o)
{
    return order_exchange(c, o->url, "", o, false);
}

enum nacme_err acme_order_finalize(struct acme_client *c, struct acme_order *o,
                                   const unsigned char *csr_der, size_t csr_len)
{
    char *csr64 = NULL, *payload = NULL;
    json_t *p = NULL;
    enum nacme_err r = NACME_E_NOMEM;

    if ((csr64 = b64url_encode_new(csr_der, csr_len)) == NULL ||
        (p = json_pack("{s:s}", "csr", csr64)) == NULL ||
        (payload = json_dumps(p, JSON_COMPACT)) == NULL) {
        nacme_fail(c->ctx, r, "out of memory building finalize");
        goto out;
    }
    r = order_exchange(c, o->finalize, payload, o, false);
out:
    free(csr64);
    json_decref(p);
    free(payload);
    return r;
}

/* ---- authorizations and challenges ------------------------------------------------------ */

static void chall_clear(struct acme_chall *ch)
{
    free(ch->url);
    free(ch->token);
    free(ch->status);
    acme_problem_free(ch->error);
}

void acme_authz_free(struct acme_authz *a)
{
    if (a == NULL)
        return;
    free(a->url);
    free(a->status);
    free(a->identifier);
    chall_clear(&a->http01);
    chall_clear(&a->dns01);
    free(a);
}

static enum nacme_err authz_take_chall(struct nacme_ctx *ctx, const char *url, json_t *chall,
                                       const char *type, struct acme_chall *ch)
{
    const char *curl_ = NULL, *status = NULL, *token = NULL;

    if (json_unpack(chall, "{s:s, s:s, s:s}", "url", &curl_, "status", &status, "token",
                    &token) != 0)
        return nacme_fail(ctx, NACME_E_PROTO, "%s: %s challenge lacks url, status or token", url,
                          type);
    /* The token becomes a file name or goes to a hook: only base64url gets near either. */
    if (!b64url_is_token(token, ACME_TOKEN_MAX))
        return nacme_fail(ctx, NACME_E_PROTO,
                          "%s: the token of the CA's %s challenge is not base64url; refusing to "
                          "use it",
                          url, type);
    if ((ch->url = nacme_strdup_new(curl_)) == NULL ||
        (ch->token = nacme_strdup_new(token)) == NULL ||
        (ch->status = nacme_strdup_new(status)) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    ch->error = acme_problem_from_json_new(json_object_get(chall, "error"));
    return NACME_OK;
}

static enum nacme_err authz_parse(struct nacme_ctx *ctx, const char *url, json_t *obj,
                                  struct acme_authz *a)
{
    static const char *const types[] = {"http-01", "dns-01"};
    struct acme_chall *const slots[] = {&a->http01, &a->dns01};
    const char *status = NULL, *type = NULL, *value = NULL, *ctype;
    json_t *challs = NULL, *e;
    size_t i, t;
    enum nacme_err r;

    if (json_unpack(obj, "{s:s, s:{s:s, s:s}, s:o}", "status", &status, "identifier", "type",
                    &type, "value", &value, "challenges", &challs) != 0 ||
        !json_is_array(challs))
        return nacme_fail(ctx, NACME_E_PROTO,
                          "%s: authorization lacks status, identifier or challenges", url);
    if ((a->status = nacme_strdup_new(status)) == NULL ||
        (a->identifier = nacme_strdup_new(value)) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    a->wildcard = json_is_true(json_object_get(obj, "wildcard"));
    /* One type after the other, whatever order the CA lists them in (Pebble shuffles them), so
     * that a refusal always names the same challenge. */
    for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        json_array_foreach(challs, i, e) {
            ctype = json_string_value(json_object_get(e, "type"));
            if (ctype != NULL && strcmp(ctype, types[t]) == 0 && slots[t]->url == NULL &&
                (r = authz_take_chall(ctx, url, e, ctype, slots[t])) != NACME_OK)
                return r;
        }
    }
    return NACME_OK;
}

enum nacme_err acme_authz_parse(struct nacme_ctx *ctx, const char *url, const char *body,
                                size_t len, struct acme_authz *a)
{
    json_t *obj = NULL;
    enum nacme_err r;

    if ((r = body_json_new(ctx, url, body, len, &obj)) == NACME_OK)
        r = authz_parse(ctx, url, obj, a);
    json_decref(obj);
    return r;
}

enum nacme_err acme_authz_get_new(struct acme_client *c, const char *url, struct acme_authz **out)
{
    struct http_response resp = {.retry_after = -1};
    struct acme_authz *a = NULL;
    enum nacme_err r;

    *out = NULL;
    if ((a = calloc(1, sizeof(*a))) == NULL || (a->url = nacme_strdup_new(url)) == NULL) {
        r = nacme_fail(c->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    if ((r = acme_post(c, url, "", NULL, &resp)) != NACME_OK ||
        (r = acme_authz_parse(c->ctx, url, resp.body.data, resp.body.len, a)) != NACME_OK)
        goto out;
    a->retry_after = resp.retry_after;
    *out = a;
    a = NULL;
out:
    http_response_clear(&resp);
    acme_authz_free(a);
    return r;
}

enum nacme_err acme_challenge_start(struct acme_client *c, const char *url)
{
    struct http_response resp = {.retry_after = -1};
    enum nacme_err r;

    r = acme_post(c, url, "{}", NULL, &resp);
    http_response_clear(&resp);
    return r;
}

enum nacme_err acme_key_authorization_new(struct acme_client *c, const char *token, char **out)
{
    *out = NULL;
    if (c->thumbprint == NULL)
        return nacme_fail(c->ctx, NACME_E_INVALID, "no account key for a key authorization");
    if ((*out = nacme_printf_new("%s.%s", token, c->thumbprint)) == NULL)
        return nacme_fail(c->ctx, NACME_E_NOMEM, "out of memory");
    return NACME_OK;
}

enum nacme_err acme_certificate_get_new(struct acme_client *c, const char *url, char **pem,
                                        size_t *len)
{
    return acme_certificate_alternates_get_new(c, url, pem, len, NULL, NULL);
}

void acme_urls_free(char **urls, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(urls[i]);
    free(urls);
}

/* Every Link rel="alternate" of resp (RFC 8555 §7.4.2), in the order the CA sent them. */
static enum nacme_err alternates_new(struct acme_client *c, const struct http_response *resp,
                                     char ***alts, size_t *nalts)
{
    char *u, **grown;

    while ((u = http_link_nth_new(resp, "alternate", *nalts)) != NULL) {
        if ((grown = realloc(*alts, (*nalts + 1) * sizeof(*grown))) == NULL) {
            free(u);
            return nacme_fail(c->ctx, NACME_E_NOMEM, "out of memory");
        }
        *alts = grown;
        (*alts)[(*nalts)++] = u;
    }
    return NACME_OK;
}

enum nacme_err acme_certificate_alternates_get_new(struct acme_client *c, const char *url,
                                                   char **pem, size_t *len, char ***alts,
                                                   size_t *nalts)
{
    struct http_response resp = {.retry_after = -1};
    enum nacme_err r;

    *pem = NULL;
    *len = 0;
    if (alts != NULL) {
        *alts = NULL;
        *nalts = 0;
    }
    if ((r = acme_post(c, url, "", "application/pem-certificate-chain", &resp)) != NACME_OK)
        goto out;
    if (resp.content_type == NULL ||
        strncasecmp(resp.content_type, "application/pem-certificate-chain", 33) != 0) {
        r = nacme_fail(c->ctx, NACME_E_PROTO,
                       "%s: expected application/pem-certificate-chain, got %s", url,
                       resp.content_type ? "another content type" : "no content type");
        goto out;
    }
    if (alts != NULL && (r = alternates_new(c, &resp, alts, nalts)) != NACME_OK) {
        acme_urls_free(*alts, *nalts);
        *alts = NULL;
        *nalts = 0;
        goto out;
    }
    *pem = resp.body.data;
    *len = resp.body.len;
    resp.body.data = NULL;
    resp.body.len = resp.body.cap = 0;
out:
    http_response_clear(&resp);
    return r;
}

/* ---- renewal information (RFC 9773) ----------------------------------------------------- */

void acme_renewal_info_clear(struct acme_renewal_info *ri)
{
    free(ri->explanation);
    memset(ri, 0, sizeof(*ri));
    ri->retry_after = -1;
}

/* https://, then 1..500 printable ASCII characters other than quotes and angle brackets. */
static bool url_printable(const char *u)
{
    size_t i;

    if (strncmp(u, "https://", 8) != 0 || strlen(u) > 508)
        return false;
    for (i = 8; u[i]; i++)
        if (u[i] <= ' ' || u[i] > '~' || u[i] == '"' || u[i] == '<' || u[i] == '>')
            return false;
    return i > 8;
}

/* Two base64url parts joined by one dot (RFC 9773 §4.1). */
static bool certid_valid(const char *id)
{
    const char *dot = strchr(id, '.');
    char first[256];
    size_t n;

    if (dot == NULL || (n = (size_t)(dot - id)) == 0 || n >= sizeof(first))
        return false;
    memcpy(first, id, n);
    first[n] = '\0';
    return b64url_is_token(first, sizeof(first) - 1) && b64url_is_token(dot + 1, 256);
}

static enum nacme_err renewal_info_parse(struct nacme_ctx *ctx, const char *url, json_t *obj,
                                         struct acme_renewal_info *ri)
{
    const char *start = NULL, *end = NULL, *expl = NULL;
    char why[64] = "";

    if (json_unpack(obj, "{s:{s:s, s:s}}", "suggestedWindow", "start", &start, "end", &end) != 0)
        snprintf(why, sizeof(why), "no suggestedWindow with start and end strings");
    else if (!rfc3339_parse(start, &ri->start) || !rfc3339_parse(end, &ri->end))
        snprintf(why, sizeof(why), "a window time is not RFC 3339");
    else if (ri->end <= ri->start)
        snprintf(why, sizeof(why), "the window ends before it starts");
    if (why[0])
        return nacme_fail(ctx, NACME_E_PROTO, "%s: renewal information refused: %s", url, why);
    /* explanationURL is for a person to read: only a plain https URL is kept. */
    if (json_unpack(obj, "{s:s}", "explanationURL", &expl) == 0 && url_printable(expl) &&
        (ri->explanation = nacme_strdup_new(expl)) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    return NACME_OK;
}

enum nacme_err acme_renewal_info_parse(struct nacme_ctx *ctx, const char *url, const char *body,
                                       size_t len, struct acme_renewal_info *ri)
{
    json_t *obj = NULL;
    enum nacme_err r;

    if ((r = body_json_new(ctx, url, body, len, &obj)) == NACME_OK)
        r = renewal_info_parse(ctx, url, obj, ri);
    json_decref(obj);
    return r;
}

enum nacme_err acme_renewal_info_get(struct acme_client *c, const char *certid,
                                     struct acme_renewal_info *out)
{
    struct http_response resp = {.retry_after = -1};
    char *url = NULL;
    enum nacme_err r;

    memset(out, 0, sizeof(*out));
    out->retry_after = -1;
    if (c->dir.renewal_info == NULL)
        return nacme_fail(c->ctx, NACME_E_NOTFOUND, "%s offers no renewal information",
                          c->directory_url);
    if (!certid_valid(certid))
        return nacme_fail(c->ctx, NACME_E_INVALID, "CertID %s is not two base64url parts",
                          certid);
    url = nacme_printf_new("%s%s%s", c->dir.renewal_info,
                           c->dir.renewal_info[strlen(c->dir.renewal_info) - 1] == '/' ? "" : "/",
                           certid);
    if (url == NULL)
        return nacme_fail(c->ctx, NACME_E_NOMEM, "out of memory");
    c->requests++;
    if ((r = http_request(c->ctx, c->http, "GET", url, NULL, NULL, "application/json", &resp)) !=
        NACME_OK)
        goto out;
    out->retry_after = resp.retry_after;
    if (resp.status != 200) {
        r = nacme_fail(c->ctx, NACME_E_PROTO, "%s: renewal information not available (HTTP %ld)",
                       url, resp.status);
        goto out;
    }
    r = acme_renewal_info_parse(c->ctx, url, resp.body.data, resp.body.len, out);
out:
    if (r != NACME_OK) {
        long ra = out->retry_after;
        acme_renewal_info_clear(out);
        out->retry_after = ra;
    }
    http_response_clear(&resp);
    free(url);
    return r;
}
