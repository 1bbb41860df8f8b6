/* http.c - libcurl behind a narrow interface: https only, verification on, no redirects, caps. */
#include "http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_LINKS 16

struct nacme_http {
    CURL *curl;
    size_t max_body;
    unsigned requests;
    bool allow_http;
};

/* What the callbacks see during one transfer. */
struct transfer {
    struct http_response *resp;
    size_t max_body;
    size_t nheaders;
    bool body_too_large;
    bool too_many_headers;
};

/* libcurl calls this about once a second and on every bit of progress: a pending termination
 * signal aborts the transfer so that the run can unwind and clean up. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)arg;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return nacme_interrupted() != 0;
}

enum nacme_err http_new(struct nacme_ctx *ctx, const struct http_options *opt,
                        struct nacme_http **out)
{
    struct nacme_http *h = NULL;
    enum nacme_err r = NACME_E_NOMEM;
    CURLcode c = CURLE_OK;

    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return nacme_fail(ctx, NACME_E_NET, "cannot initialise libcurl");
    if ((h = calloc(1, sizeof(*h))) == NULL || (h->curl = curl_easy_init()) == NULL)
        goto out;
    h->max_body = opt->max_body ? opt->max_body : 1024 * 1024;
    h->allow_http = opt->allow_http;
    c |= curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, opt->allow_http ? "https,http" : "https");
    c |= curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
    c |= curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    c |= curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    c |= curl_easy_setopt(h->curl, CURLOPT_USERAGENT, NACME_USER_AGENT);
    c |= curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    c |= curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    c |= curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L);
    c |= curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS,
                          opt->connect_timeout_ms ? opt->connect_timeout_ms : 10000L);
    c |= curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, opt->timeout_ms ? opt->timeout_ms : 30000L);
    c |= curl_easy_setopt(h->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_body);
    /* A CA that answers with gzip still gets its body capped after decoding. */
    c |= curl_easy_setopt(h->curl, CURLOPT_ACCEPT_ENCODING, "");
    if (opt->ca_bundle != NULL)
        c |= curl_easy_setopt(h->curl, CURLOPT_CAINFO, opt->ca_bundle);
    if (c != CURLE_OK) {
        r = nacme_fail(ctx, NACME_E_NET, "cannot configure libcurl");
        goto out;
    }
    *out = h;
    h = NULL;
    r = NACME_OK;
out:
    if (r == NACME_E_NOMEM)
        nacme_fail(ctx, r, "out of memory setting up HTTP");
    http_free(h);
    return r;
}

void http_free(struct nacme_http *h)
{
    if (h == NULL)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    free(h);
}

unsigned http_request_count(const struct nacme_http *h)
{
    return h->requests;
}

void http_response_clear(struct http_response *resp)
{
    size_t i;

    nacme_buf_clear(&resp->body);
    free(resp->content_type);
    free(resp->nonce);
    free(resp->location);
    for (i = 0; i < resp->nlinks; i++)
        free(resp->links[i]);
    free(resp->links);
    memset(resp, 0, sizeof(*resp));
    resp->retry_after = -1;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * n;

    if (t->resp->body.len + len > t->max_body) {
        t->body_too_large = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (nacme_buf_append(&t->resp->body, p, len) != 0)
        return 0;
    return len;
}

/* Trim a header value in place: it arrives with leading blanks and a trailing CRLF. */
static char *header_value_new(const char *v, size_t len)
{
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)v[len - 1]))
        len--;
    return nacme_strndup_new(v, len);
}

/* Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
static long parse_retry_after(const char *v)
{
    char *end;
    long secs;
    time_t when;

    if (*v >= '0' && *v <= '9') {
        secs = strtol(v, &end, 10);
        return (*end == '\0' && secs >= 0) ? secs : -1;
    }
    if ((when = curl_getdate(v, NULL)) < 0)
        return -1;
    secs = (long)(when - time(NULL));
    return secs < 0 ? 0 : secs;
}

static int store_header(struct http_response *resp, const char *name, size_t nlen, const char *v,
                        size_t vlen)
{
    char **slot = NULL, *val, **links;

    if (nlen == 12 && strncasecmp(name, "Replay-Nonce", 12) == 0)
        slot = &resp->nonce;
    else if (nlen == 8 && strncasecmp(name, "Location", 8) == 0)
        slot = &resp->location;
    else if (nlen == 12 && strncasecmp(name, "Content-Type", 12) == 0)
        slot = &resp->content_type;
    else if (!(nlen == 11 && strncasecmp(name, "Retry-After", 11) == 0) &&
             !(nlen == 4 && strncasecmp(name, "Link", 4) == 0))
        return 0;
    if ((val = header_value_new(v, vlen)) == NULL)
        return -1;
    if (slot != NULL) {
        free(*slot);
        *slot = val;
    } else if (nlen == 11) {
        resp->retry_after = parse_retry_after(val);
        free(val);
    } else if (resp->nlinks < HTTP_MAX_LINKS) {
        if ((links = realloc(resp->links, (resp->nlinks + 1) * sizeof(*links))) == NULL) {
            free(val);
            return -1;
        }
        resp->links = links;
        resp->links[resp->nlinks++] = val;
    } else {
        free(val);
    }
    return 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * n;
    const char *colon;

    /* A new status line (after a 100 Continue, say) starts a fresh header set. */
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        t->nheaders = 0;
        return len;
    }
    if (++t->nheaders > HTTP_MAX_HEADERS) {
        t->too_many_headers = true;
        return 0;
    }
    if ((colon = memchr(p, ':', len)) == NULL)
        return len;
    if (store_header(t->resp, p, (size_t)(colon - p), colon + 1, len - (size_t)(colon - p) - 1))
        return 0;
    return len;
}

static enum nacme_err map_curl_error(struct nacme_ctx *ctx, CURLcode c, const char *url,
                                     const char *errbuf, const struct transfer *t, size_t max)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(c);

    if (t->body_too_large || c == CURLE_FILESIZE_EXCEEDED)
        return nacme_fail(ctx, NACME_E_PROTO, "%s: response body exceeds %zu bytes; refusing it",
                          url, max);
    if (t->too_many_headers)
        return nacme_fail(ctx, NACME_E_PROTO, "%s: response has more than %d headers; refusing it",
                          url, HTTP_MAX_HEADERS);
    switch (c) {
    case CURLE_ABORTED_BY_CALLBACK:
        return nacme_fail(ctx, NACME_E_INTERRUPTED, "%s: interrupted by %s", url,
                          strsignal(nacme_interrupted()));
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return nacme_fail(ctx, NACME_E_TLS, "%s: cannot verify the server's certificate: %s", url,
                          why);
    case CURLE_OPERATION_TIMEDOUT:
        return nacme_fail(ctx, NACME_E_TIMEOUT, "%s: no answer in time: %s", url, why);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return nacme_fail(ctx, NACME_E_INVALID, "%s: only https:// URLs are allowed", url);
    case CURLE_URL_MALFORMAT:
        return nacme_fail(ctx, NACME_E_INVALID, "%s: malformed URL", url);
    default:
        return nacme_fail(ctx, NACME_E_NET, "%s: cannot reach the server: %s", url, why);
    }
}

enum nacme_err http_request(struct nacme_ctx *ctx, struct nacme_http *h, const char *method,
                            const char *url, const char *body, const char *content_type,
                            const char *accept, struct http_response *resp)
{
    struct transfer t = {.resp = resp, .max_body = h->max_body};
    struct curl_slist *hdrs = NULL, *tmp;
    char errbuf[CURL_ERROR_SIZE] = "", *hline = NULL;
    enum nacme_err r = NACME_E_NOMEM;
    CURLcode c;
    CURL *cu = h->curl;

    http_response_clear(resp);
    if (content_type != NULL) {
        if ((hline = nacme_printf_new("Content-Type: %s", content_type)) == NULL ||
            (tmp = curl_slist_append(hdrs, hline)) == NULL)
            goto out;
        hdrs = tmp;
        free(hline);
        hline = NULL;
    }
    if (accept != NULL) {
        if ((hline = nacme_printf_new("Accept: %s", accept)) == NULL ||
            (tmp = curl_slist_append(hdrs, hline)) == NULL)
            goto out;
        hdrs = tmp;
    }
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(cu, CURLOPT_HEADERDATA, &t);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(cu, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "POST") == 0 && body != NULL) {
        curl_easy_setopt(cu, CURLOPT_NOBODY, 0L);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else {
        curl_easy_setopt(cu, CURLOPT_HTTPGET, 1L);
    }
    h->requests++;
    c = curl_easy_perform(cu);
    if (c != CURLE_OK) {
        r = map_curl_error(ctx, c, url, errbuf, &t, h->max_body);
        http_response_clear(resp);
        goto out;
    }
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &resp->status);
    nacme_debug(ctx, "%s %s -> %ld (%zu bytes)", method, url, resp->status, resp->body.len);
    r = NACME_OK;
out:
    /* The handle outlives this call: drop pointers to our stack and heap before returning. */
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(hdrs);
    free(hline);
    if (r == NACME_E_NOMEM)
        nacme_fail(ctx, r, "out of memory preparing a request to %s", url);
    return r;
}

/* Link: <URL>;rel="up", <URL2>;rel="alternate" — one header value may hold several links. */
char *http_link_new(const struct http_response *resp, const char *rel)
{
    size_t i, rlen = strlen(rel);

    for (i = 0; i < resp->nlinks; i++) {
        const char *p = resp->links[i];
        while ((p = strchr(p, '<')) != NULL) {
            const char *end = strchr(p, '>'), *next, *r;
            if (end == NULL)
                break;
            next = strchr(end, '<');
            r = strstr(end, "rel=");
            if (r != NULL && (next == NULL || r < next)) {
                r += 4;
                if (*r == '"')
                    r++;
                if (strncmp(r, rel, rlen) == 0 && (r[rlen] == '"' || r[rlen] == ';' ||
                                                   r[rlen] == ',' || r[rlen] == '\0' ||
                                                   r[rlen] == ' '))
                    return nacme_strndup_new(p + 1, (size_t)(end - p - 1));
            }
            p = end;
        }
    }
    return NULL;
}
