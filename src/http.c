/*
 * http.c - libcurl behind a narrow interface: https only, verification on, no redirects, caps.
 *
 * One network thread drives one libcurl multi handle for the whole run. Callers (one per order in
 * a batch) hand it a transfer and sleep until it is done, so every request of every order shares
 * one connection to the CA (HTTP/2 streams when the CA offers HTTP/2, kept-alive HTTP/1.1
 * connections otherwise), one TLS session and one load of the CA's trust anchors.
 */
#include "http.h"

#include "confine.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_LINKS 16
#define HTTP_MAX_HOST_CONNECTIONS 4 /* HTTP/1.1 only: HTTP/2 multiplexes over one */
#define HTTP_POLL_MS 250            /* how often a pending signal is noticed mid-transfer */
#define HTTP_IDLE_MAX 64            /* easy handles kept for reuse */

/* What the callbacks see during one transfer. */
struct transfer {
    struct http_response *resp;
    size_t max_body;
    size_t nheaders;
    bool body_too_large;
    bool too_many_headers;
};

/* One request handed to the network thread. */
struct http_xfer {
    CURL *easy;
    struct transfer t;
    CURLcode result;
    bool done;
    pthread_cond_t cond; /* its own, so that a completion wakes only the thread waiting for it */
    struct http_xfer *next;
};

struct nacme_http {
    CURLM *multi;
    CURLSH *share;
    char *ca_bundle;
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_body;
    bool allow_http;
    bool no_landlock;
    pthread_mutex_t lock; /* guards everything below and each queued transfer's done */
    struct http_xfer *queue;
    bool stopping;
    bool thread_started;
    pthread_t thread;
    unsigned requests;
    struct timespec last_answer; /* CLOCK_MONOTONIC: when a transfer last completed */
    bool unanswering;            /* a request ran out of time with nothing answered meanwhile */
    CURL *idle[HTTP_IDLE_MAX];
    size_t nidle;
};

/* libcurl calls this several times a second while a transfer runs: a pending termination signal
 * aborts the transfer so that the run can unwind and clean up. */
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

/* ---- the network thread ----------------------------------------------------------------- */

static void xfer_complete(struct nacme_http *h, CURL *easy, CURLcode result)
{
    struct http_xfer *x = NULL;

    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    curl_multi_remove_handle(h->multi, easy);
    pthread_mutex_lock(&h->lock);
    if (result == CURLE_OK)
        clock_gettime(CLOCK_MONOTONIC, &h->last_answer);
    x->result = result;
    x->done = true;
    pthread_cond_signal(&x->cond);
    pthread_mutex_unlock(&h->lock);
}

/* What the network thread may read once it runs: trust anchors, the resolver's files and the
 * libraries name resolution may load. Not the state dir (keys), not the rest of /etc (nginx's and
 * other services' keys), and nothing may be written anywhere. */
static void net_confine(const struct nacme_http *h)
{
    const char *const paths[] = {
        "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/usr/lib/ssl", "/usr/share/ca-certificates",
        "/usr/local/share/ca-certificates", "/etc/ca-certificates", "/etc/pki/tls",
        "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/host.conf",
        "/etc/gai.conf", "/etc/services", "/etc/ld.so.cache", "/run/systemd/resolve",
        "/etc/localtime", "/usr/share/zoneinfo",
        "/lib", "/lib64", "/usr/lib", "/usr/lib64", h->ca_bundle,
    };

    if (!h->no_landlock)
        (void)confine_files(paths, sizeof(paths) / sizeof(paths[0]));
}

static void *net_main(void *arg)
{
    struct nacme_http *h = arg;
    struct http_xfer *x;
    CURLMsg *msg;
    int running, left;
    size_t inflight = 0;
    bool stop;

    net_confine(h);

    for (;;) {
        pthread_mutex_lock(&h->lock);
        while ((x = h->queue) != NULL) {
            h->queue = x->next;
            if (curl_multi_add_handle(h->multi, x->easy) == CURLM_OK) {
                inflight++;
            } else {
                x->result = CURLE_OUT_OF_MEMORY;
                x->done = true;
                pthread_cond_signal(&x->cond);
            }
        }
        stop = h->stopping;
        pthread_mutex_unlock(&h->lock);
        if (stop && inflight == 0)
            break;
        curl_multi_perform(h->multi, &running);
        while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            xfer_complete(h, msg->easy_handle, msg->data.result);
            inflight--;
        }
        curl_multi_poll(h->multi, NULL, 0, HTTP_POLL_MS, NULL);
    }
    return NULL;
}

/* ---- set-up ----------------------------------------------------------------------------- */

static CURL *easy_new(struct nacme_http *h)
{
    CURL *e = curl_easy_init();
    CURLcode c = CURLE_OK;

    if (e == NULL)
        return NULL;
    c |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, h->allow_http ? "https,http" : "https");
    c |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    c |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    c |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    c |= curl_easy_setopt(e, CURLOPT_USERAGENT, NACME_USER_AGENT);
    c |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    c |= curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    c |= curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    c |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    c |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    c |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_body);
    /* A CA that answers with gzip still gets its body capped after decoding. */
    c |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    c |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Wait for the connection in progress rather than open another: it may multiplex. */
    c |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    c |= curl_easy_setopt(e, CURLOPT_SHARE, h->share);
    if (h->ca_bundle != NULL)
        c |= curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_bundle);
    if (c != CURLE_OK) {
        curl_easy_cleanup(e);
        return NULL;
    }
    return e;
}

/* An easy handle from the idle list, or a new one. */
static CURL *easy_get(struct nacme_http *h)
{
    CURL *e = NULL;

    pthread_mutex_lock(&h->lock);
    if (h->nidle > 0)
        e = h->idle[--h->nidle];
    pthread_mutex_unlock(&h->lock);
    return e != NULL ? e : easy_new(h);
}

static void easy_put(struct nacme_http *h, CURL *e)
{
    pthread_mutex_lock(&h->lock);
    if (h->nidle < HTTP_IDLE_MAX) {
        h->idle[h->nidle++] = e;
        e = NULL;
    }
    pthread_mutex_unlock(&h->lock);
    if (e != NULL)
        curl_easy_cleanup(e);
}

enum nacme_err http_new(struct nacme_ctx *ctx, const struct http_options *opt,
                        struct nacme_http **out)
{
    struct nacme_http *h = NULL;
    CURLMcode mc = CURLM_OK;
    CURLSHcode sc = CURLSHE_OK;
    enum nacme_err r = NACME_E_NOMEM;
    int err;

    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return nacme_fail(ctx, NACME_E_NET, "cannot initialise libcurl");
    if ((h = calloc(1, sizeof(*h))) == NULL)
        goto out;
    pthread_mutex_init(&h->lock, NULL);
    h->max_body = opt->max_body ? opt->max_body : 1024 * 1024;
    h->allow_http = opt->allow_http;
    h->no_landlock = opt->no_landlock;
    h->connect_timeout_ms = opt->connect_timeout_ms ? opt->connect_timeout_ms : 10000L;
    h->timeout_ms = opt->timeout_ms ? opt->timeout_ms : 30000L;
    if ((opt->ca_bundle != NULL && (h->ca_bundle = nacme_strdup_new(opt->ca_bundle)) == NULL) ||
        (h->multi = curl_multi_init()) == NULL || (h->share = curl_share_init()) == NULL)
        goto out;
    /* Only the network thread runs transfers, so the share needs no lock callbacks. */
    sc |= curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    sc |= curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    mc |= curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    mc |= curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                            (long)HTTP_MAX_HOST_CONNECTIONS);
    if (sc != CURLSHE_OK || mc != CURLM_OK) {
        r = nacme_fail(ctx, NACME_E_NET, "cannot configure libcurl");
        goto out;
    }
    if ((err = pthread_create(&h->thread, NULL, net_main, h)) != 0) {
        errno = err;
        r = nacme_fail_errno(ctx, NACME_E_NOMEM, "cannot start the network thread");
        goto out;
    }
    h->thread_started = true;
    *out = h;
    h = NULL;
    r = NACME_OK;
out:
    if (r == NACME_E_NOMEM && ctx->err == NACME_OK)
        nacme_fail(ctx, r, "out of memory setting up HTTP");
    http_free(h);
    return r;
}

void http_free(struct nacme_http *h)
{
    size_t i;

    if (h == NULL)
        return;
    if (h->thread_started) {
        pthread_mutex_lock(&h->lock);
        h->stopping = true;
        pthread_mutex_unlock(&h->lock);
        curl_multi_wakeup(h->multi);
        pthread_join(h->thread, NULL);
    }
    for (i = 0; i < h->nidle; i++)
        curl_easy_cleanup(h->idle[i]);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    if (h->share)
        curl_share_cleanup(h->share);
    pthread_mutex_destroy(&h->lock);
    free(h->ca_bundle);
    free(h);
}

unsigned http_request_count(struct nacme_http *h)
{
    unsigned n;

    pthread_mutex_lock(&h->lock);
    n = h->requests;
    pthread_mutex_unlock(&h->lock);
    return n;
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
long http_retry_after_parse(const char *v, time_t now)
{
    char *end;
    long secs;
    time_t when;

    if (*v >= '0' && *v <= '9') {
        errno = 0;
        secs = strtol(v, &end, 10);
        return (*end == '\0' && errno == 0) ? secs : -1; /* "1.5", 30 digits: not a value */
    }
    if ((when = curl_getdate(v, NULL)) < 0)
        return -1;
    secs = (long)(when - now);
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
        resp->retry_after = http_retry_after_parse(val, time(NULL));
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

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* A request ran out of time. When nothing else was answered since it started, the server (or
 * the one connection every request shares) has stopped answering, and then every order of a
 * batch would wait out its own timeout, one group of --parallel after another. A CA that
 * deadlocks does that: Pebble 2.4 and 2.6 do now and then under a batch's concurrent newOrders
 * and authorization fetches (their authorization handler and newOrder take two locks in opposite
 * orders; tests/lab/lab.sh, cmd_deadlock, shows it from Pebble's goroutines). */
static void note_timeout(struct nacme_http *h, const struct timespec *started)
{
    pthread_mutex_lock(&h->lock);
    if (ts_before(&h->last_answer, started))
        h->unanswering = true;
    pthread_mutex_unlock(&h->lock);
}

static bool is_unanswering(struct nacme_http *h)
{
    bool u;

    pthread_mutex_lock(&h->lock);
    u = h->unanswering;
    pthread_mutex_unlock(&h->lock);
    return u;
}

/* Hand x to the network thread and sleep until it is done. */
static CURLcode run_transfer(struct nacme_http *h, struct http_xfer *x)
{
    pthread_cond_init(&x->cond, NULL);
    pthread_mutex_lock(&h->lock);
    h->requests++;
    x->next = h->queue;
    h->queue = x;
    pthread_mutex_unlock(&h->lock);
    curl_multi_wakeup(h->multi);
    pthread_mutex_lock(&h->lock);
    while (!x->done)
        pthread_cond_wait(&x->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    pthread_cond_destroy(&x->cond);
    return x->result;
}

static enum nacme_err headers_new(const char *content_type, const char *accept,
                                  struct curl_slist **out)
{
    const char *names[] = {"Content-Type", "Accept"}, *values[] = {content_type, accept};
    struct curl_slist *hdrs = NULL, *tmp;
    char *line;
    size_t i;

    *out = NULL;
    for (i = 0; i < 2; i++) {
        if (values[i] == NULL)
            continue;
        if ((line = nacme_printf_new("%s: %s", names[i], values[i])) == NULL)
            goto fail;
        tmp = curl_slist_append(hdrs, line);
        free(line);
        if (tmp == NULL)
            goto fail;
        hdrs = tmp;
    }
    *out = hdrs;
    return NACME_OK;
fail:
    curl_slist_free_all(hdrs);
    return NACME_E_NOMEM;
}

static void set_method(CURL *e, const char *method, const char *body)
{
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "POST") == 0 && body != NULL) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
}

enum nacme_err http_request(struct nacme_ctx *ctx, struct nacme_http *h, const char *method,
                            const char *url, const char *body, const char *content_type,
                            const char *accept, struct http_response *resp)
{
    struct http_xfer x = {.t = {.resp = resp, .max_body = h->max_body}};
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    enum nacme_err r = NACME_E_NOMEM;
    struct timespec started;
    CURLcode c;

    http_response_clear(resp);
    if (is_unanswering(h))
        return nacme_fail(ctx, NACME_E_TIMEOUT,
                          "%s: not sent: the server has stopped answering (no request answered "
                          "in %ld s)", url, h->timeout_ms / 1000);
    if ((r = headers_new(content_type, accept, &hdrs)) != NACME_OK ||
        (x.easy = easy_get(h)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory preparing a request to %s", url);
        goto out;
    }
    curl_easy_setopt(x.easy, CURLOPT_URL, url);
    curl_easy_setopt(x.easy, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(x.easy, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(x.easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x.easy, CURLOPT_WRITEDATA, &x.t);
    curl_easy_setopt(x.easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x.easy, CURLOPT_HEADERDATA, &x.t);
    curl_easy_setopt(x.easy, CURLOPT_PRIVATE, (char *)&x);
    set_method(x.easy, method, body);
    clock_gettime(CLOCK_MONOTONIC, &started);
    if ((c = run_transfer(h, &x)) != CURLE_OK) {
        if (c == CURLE_OPERATION_TIMEDOUT)
            note_timeout(h, &started);
        r = map_curl_error(ctx, c, url, errbuf, &x.t, h->max_body);
        http_response_clear(resp);
        goto out;
    }
    curl_easy_getinfo(x.easy, CURLINFO_RESPONSE_CODE, &resp->status);
    nacme_debug(ctx, "%s %s -> %ld (%zu bytes)", method, url, resp->status, resp->body.len);
    r = NACME_OK;
out:
    if (x.easy != NULL) {
        /* The handle outlives this call: drop pointers to our stack and heap first. */
        curl_easy_setopt(x.easy, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(x.easy, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(x.easy, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(x.easy, CURLOPT_WRITEDATA, NULL);
        curl_easy_setopt(x.easy, CURLOPT_HEADERDATA, NULL);
        curl_easy_setopt(x.easy, CURLOPT_PRIVATE, NULL);
        easy_put(h, x.easy);
    }
    curl_slist_free_all(hdrs);
    return r;
}

char *http_link_new(const struct http_response *resp, const char *rel)
{
    return http_link_nth_new(resp, rel, 0);
}

/* Link: <URL>;rel="up", <URL2>;rel="alternate" — one header value may hold several links. */
char *http_link_nth_new(const struct http_response *resp, const char *rel, size_t nth)
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
                                                   r[rlen] == ' ') &&
                    nth-- == 0)
                    return nacme_strndup_new(p + 1, (size_t)(end - p - 1));
            }
            p = end;
        }
    }
    return NULL;
}
