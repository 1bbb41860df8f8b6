/* preflight.c - the local nginx's answer to an http-01 challenge, checked before the CA asks. */
#include "preflight.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "acme.h"
#include "b64url.h"
#include "names.h"

#define SHOWN_BODY_MAX 100  /* of a wrong body, in the message: a whole key authorization */
#define SHOWN_URL_MAX 320   /* of a URL, in the message (one with a 43-character token: ~100) */

/* What one GET brought back. */
struct fetch {
    char body[PREFLIGHT_MAX_BODY + 1];
    size_t len;
    bool too_large;
    CURLcode result;
    long status;
    long os_errno;
    char *location; /* the redirect target, absolute, or NULL */
    char errbuf[CURL_ERROR_SIZE];
};

/* ---- rules ------------------------------------------------------------------------------ */

bool preflight_body_matches(const char *body, size_t len, const char *keyauth)
{
    size_t klen = strlen(keyauth);

    while (len > 0 && (body[len - 1] == ' ' || body[len - 1] == '\t' || body[len - 1] == '\r' ||
                       body[len - 1] == '\n'))
        len--;
    return len == klen && memcmp(body, keyauth, klen) == 0;
}

/* The rule of preflight_redirect_followable; with next != NULL also the URL to fetch next, on
 * DOMAIN as we spell it (the connect-to mapping is keyed by it). */
static bool redirect_target(const char *domain, const char *location, bool *https, char **next)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
    bool ok = false;

    *https = false;
    if (next != NULL)
        *next = NULL;
    if (u == NULL || curl_url_set(u, CURLUPART_URL, location, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    /* a user name would be sent to a host we pretend to be: not ours to follow */
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
        goto out;
    if (strcasecmp(host, domain) != 0)
        goto out;
    if (strcasecmp(scheme, "https") == 0 && strcmp(port, "443") == 0)
        *https = true;
    else if (!(strcasecmp(scheme, "http") == 0 && strcmp(port, "80") == 0))
        goto out;
    ok = true;
    if (next != NULL && (curl_url_set(u, CURLUPART_HOST, domain, 0) != CURLUE_OK ||
                         curl_url_set(u, CURLUPART_PORT, NULL, 0) != CURLUE_OK ||
                         curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
                         curl_url_get(u, CURLUPART_URL, next, 0) != CURLUE_OK))
        ok = false;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_url_cleanup(u);
    return ok;
}

bool preflight_redirect_followable(const char *domain, const char *location, bool *https)
{
    return redirect_target(domain, location, https, NULL);
}

/* ---- fetching --------------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct fetch *f = arg;
    size_t len = size * n;

    if (len > PREFLIGHT_MAX_BODY - f->len) {
        f->too_large = true;
        return 0; /* ends the transfer (CURLE_WRITE_ERROR): the rest is of no interest */
    }
    memcpy(f->body + f->len, p, len);
    f->len += len;
    f->body[f->len] = '\0';
    return len;
}

/* One GET of url. connect_to sends DOMAIN:80 and DOMAIN:443 to the local nginx, so that the
 * request line, Host and (for https) SNI are what the CA sends, whatever DOMAIN resolves to. */
static enum nacme_err fetch_once(struct nacme_ctx *ctx, struct curl_slist *connect_to,
                                 const char *url, long connect_ms, long timeout_ms,
                                 struct fetch *f)
{
    CURL *e;
    CURLcode c = CURLE_OK;
    char *loc = NULL;

    free(f->location);
    memset(f, 0, sizeof(*f));
    if ((e = curl_easy_init()) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    c |= curl_easy_setopt(e, CURLOPT_URL, url);
    c |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    c |= curl_easy_setopt(e, CURLOPT_CONNECT_TO, connect_to);
    c |= curl_easy_setopt(e, CURLOPT_PROXY, ""); /* the local nginx, never an http_proxy */
    c |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    c |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    /* As the CA: a certificate is what we are about to get, so there may be none worth checking */
    c |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    c |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    c |= curl_easy_setopt(e, CURLOPT_USERAGENT, NACME_USER_AGENT " (preflight)");
    c |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    c |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    c |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    c |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    c |= curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    c |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
    if (c != CURLE_OK) {
        curl_easy_cleanup(e);
        return nacme_fail(ctx, NACME_E_NOMEM, "preflight: cannot set up libcurl for %s", url);
    }
    f->result = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &f->status);
    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &f->os_errno);
    if (curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc != NULL &&
        (f->location = nacme_strdup_new(loc)) == NULL) {
        curl_easy_cleanup(e);
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    }
    curl_easy_cleanup(e);
    return NACME_OK;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static bool is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Where a check stands: the URL asked now, the one first asked, nginx's address for it. */
struct where {
    const char *domain;
    const char *first;
    const char *url;
    const char *host;
    int port;
};

/* The one line of a failed check: DOMAIN, what was asked of whom, what came back, and what to do
 * when nginx is not on this machine. */
__attribute__((format(printf, 4, 5))) static enum nacme_err
fail(struct nacme_ctx *ctx, enum nacme_err e, const struct where *w, const char *fmt, ...)
{
    char what[512], url[SHOWN_URL_MAX + 1], from[SHOWN_URL_MAX + 32] = "";
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    /* after a redirect, the URL is the server's */
    nacme_sanitize(url, sizeof(url), w->url, SHOWN_URL_MAX);
    if (w->url != w->first)
        snprintf(from, sizeof(from), " (redirected from %s)", w->first);
    return nacme_fail(ctx, e,
                      "%s: preflight: %s%s through nginx at %s:%d: %s; the CA was not asked to "
                      "validate (nginx on another machine, e.g. behind a load balancer? "
                      "--no-preflight or preflight = false)",
                      w->domain, url, from, w->host, w->port, what);
}

/* A transfer that brought no HTTP answer. */
static enum nacme_err fail_transport(struct nacme_ctx *ctx, const struct fetch *f,
                                     const struct where *w, bool https, long timeout_ms)
{
    if (f->result == CURLE_OPERATION_TIMEDOUT)
        return fail(ctx, NACME_E_TIMEOUT, w, "no answer within %ld ms", timeout_ms);
    if (f->result == CURLE_COULDNT_CONNECT && f->os_errno != 0)
        return fail(ctx, NACME_E_NET, w, "cannot connect: %s (is nginx listening there? %s)",
                    strerror((int)f->os_errno),
                    https ? "nginx_https_port" : "--http-port or nginx_http_port");
    char why[CURL_ERROR_SIZE];

    /* libcurl's words may quote what the server sent */
    nacme_sanitize(why, sizeof(why), f->errbuf[0] ? f->errbuf : curl_easy_strerror(f->result),
                   sizeof(why) - 1);
    return fail(ctx, NACME_E_NET, w, "%s", why);
}

enum nacme_err preflight_check(struct nacme_ctx *ctx, const struct preflight_opts *o,
                               const char *domain, const char *token, const char *keyauth)
{
    long connect_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                                : PREFLIGHT_CONNECT_TIMEOUT_MS;
    long timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : PREFLIGHT_TIMEOUT_MS, left;
    struct curl_slist *connect_to = NULL, *l;
    struct fetch *f = NULL;
    char *first = NULL, *next = NULL, *target, *map80 = NULL, *map443 = NULL, *hostpart = NULL;
    char shown[SHOWN_URL_MAX + 1];
    struct where w = {.domain = domain, .host = o->host, .port = o->http_port};
    struct timespec t0;
    int hops;
    bool https = false, to_https, v6;
    enum nacme_err r = NACME_OK;

    /* Both go into a URL and a connect-to rule: the names were checked, the token too, but this
     * module does not rely on its callers for what it puts on the wire. An IPv6 address is the
     * one name with ':' in it; it goes in brackets, as in the CA's request (an RFC 8738 "ip"
     * identifier is fetched at the address itself; RFC 3986 §3.2.2 brackets an IPv6 literal). */
    v6 = strchr(domain, ':') != NULL && ip_addr_is(domain);
    if (!b64url_is_token(token, ACME_TOKEN_MAX) || domain[0] == '\0' ||
        strpbrk(domain, v6 ? "/?#@[] \t\r\n" : ":/?#@[] \t\r\n") != NULL)
        return nacme_fail(ctx, NACME_E_INVALID, "preflight: refusing to fetch token \"%.64s\" "
                          "for \"%.255s\"", token, domain);
    if ((hostpart = nacme_printf_new(v6 ? "[%s]" : "%s", domain)) == NULL ||
        (first = nacme_printf_new("http://%s/.well-known/acme-challenge/%s", hostpart, token)) ==
            NULL ||
        (map80 = nacme_printf_new("%s:80:%s:%d", hostpart, o->host, o->http_port)) == NULL ||
        (map443 = nacme_printf_new("%s:443:%s:%d", hostpart, o->host, o->https_port)) == NULL ||
        (l = curl_slist_append(NULL, map80)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    connect_to = l;
    if ((l = curl_slist_append(connect_to, map443)) == NULL ||
        (f = calloc(1, sizeof(*f))) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    connect_to = l;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    w.first = w.url = first;
    for (hops = 0;; hops++) {
        if ((left = timeout_ms - ms_since(&t0)) <= 0) {
            r = fail(ctx, NACME_E_TIMEOUT, &w, "no answer within %ld ms", timeout_ms);
            goto out;
        }
        if ((r = fetch_once(ctx, connect_to, w.url, connect_ms, left, f)) != NACME_OK)
            goto out;
        if (f->result != CURLE_OK && !f->too_large) {
            r = fail_transport(ctx, f, &w, https, timeout_ms);
            goto out;
        }
        if (!is_redirect(f->status) || f->location == NULL)
            break;
        nacme_sanitize(shown, sizeof(shown), f->location, SHOWN_URL_MAX);
        /* w.url may be next: it names the failure, so next is replaced only once followed */
        if (!redirect_target(hostpart, f->location, &to_https, &target)) {
            r = fail(ctx, NACME_E_INVALID, &w,
                     "HTTP %ld redirects to %s, which is not %s on http (port 80) or https "
                     "(port 443): only this machine's nginx is asked",
                     f->status, shown, domain);
            goto out;
        }
        if (hops == PREFLIGHT_MAX_REDIRECTS) {
            free(target);
            r = fail(ctx, NACME_E_INVALID, &w, "more than %d redirects, the last to %s",
                     PREFLIGHT_MAX_REDIRECTS, shown);
            goto out;
        }
        nacme_verbose(ctx, "%s: preflight: HTTP %ld redirects to %s", domain, f->status, shown);
        free(next);
        next = target;
        https = to_https;
        w.port = https ? o->https_port : o->http_port;
        w.url = next;
    }
    if (f->status != 200) {
        r = fail(ctx, NACME_E_INVALID, &w, "HTTP %ld, not the key authorization", f->status);
    } else if (f->too_large) {
        r = fail(ctx, NACME_E_INVALID, &w,
                 "HTTP 200 with a body over %d bytes, not the key authorization",
                 PREFLIGHT_MAX_BODY);
    } else if (!preflight_body_matches(f->body, f->len, keyauth)) {
        char body[SHOWN_BODY_MAX + 1];
        nacme_sanitize(body, sizeof(body), f->body, SHOWN_BODY_MAX);
        r = fail(ctx, NACME_E_INVALID, &w,
                 "HTTP 200 with \"%s%s\" (%zu bytes), not the key authorization", body,
                 f->len > SHOWN_BODY_MAX ? "..." : "", f->len);
    } else {
        nacme_verbose(ctx, "%s: preflight: nginx at %s:%d serves the key authorization", domain,
                      o->host, w.port);
    }
out:
    if (f != NULL)
        free(f->location);
    free(f);
    curl_slist_free_all(connect_to);
    free(first);
    free(next);
    free(map80);
    free(map443);
    free(hostpart);
    return r;
}
