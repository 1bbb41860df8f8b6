/*
 * http.h - the only code that talks to the network. One struct nacme_http per CA, shared by every
 * order of a run: http_request may be called from several threads at once, and all of them share
 * one connection (HTTP/2 when the CA offers it), one TLS session and one load of the trust anchors.
 * Everything the server controls is capped.
 */
#ifndef NACME_HTTP_H
#define NACME_HTTP_H

#include <stddef.h>
#include <time.h>

#include "nacme.h"

struct http_options {
    const char *ca_bundle;   /* PEM file of trust anchors for the CA's HTTPS; NULL: the system's */
    long connect_timeout_ms; /* 0: 10 s */
    long timeout_ms;         /* per request, 0: 30 s */
    size_t max_body;         /* 0: 1 MiB */
    bool allow_http;         /* plain http:// URLs; never set outside tests of the refusal */
    bool no_landlock;        /* the network thread runs without its Landlock domain */
};

struct http_response {
    long status;
    struct nacme_buf body;
    char *content_type;
    char *nonce;       /* Replay-Nonce */
    char *location;    /* Location */
    long retry_after;  /* seconds; -1 when absent or unparseable */
    char **links;      /* raw Link header values */
    size_t nlinks;
};

struct nacme_http;

enum nacme_err http_new(struct nacme_ctx *ctx, const struct http_options *opt,
                        struct nacme_http **out);
void http_free(struct nacme_http *h);

/* One request, blocking the calling thread until it is done. body may be NULL (then no body is sent; a POST with NULL body is not allowed);
 * accept may be NULL. On transport failure returns NACME_E_NET/TLS/TIMEOUT/PROTO naming the URL;
 * any HTTP status is a success here: the caller judges it. The response is reset first. */
enum nacme_err http_request(struct nacme_ctx *ctx, struct nacme_http *h, const char *method,
                            const char *url, const char *body, const char *content_type,
                            const char *accept, struct http_response *resp);
void http_response_clear(struct http_response *resp);
/* Number of requests sent through h so far (for -v and the benchmark). */
unsigned http_request_count(struct nacme_http *h);

/* A Retry-After value (RFC 9110 §10.2.3, already trimmed) as seconds from now: delta-seconds as
 * written, an HTTP-date as the time left until then (0 once it has passed); -1 for anything else
 * ("-1", "1.5", more digits than a long holds). */
long http_retry_after_parse(const char *v, time_t now);

/* The URL of the first Link header with the given rel (e.g. "up", "alternate"); NULL if none. */
char *http_link_new(const struct http_response *resp, const char *rel);
/* The same for the nth (from 0) Link with that rel: every "alternate" chain (RFC 8555 §7.4.2). At
 * most HTTP_MAX_LINKS Link header values are kept per response. */
char *http_link_nth_new(const struct http_response *resp, const char *rel, size_t nth);

#endif
