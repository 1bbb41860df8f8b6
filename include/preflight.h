/*
 * preflight.h - before the CA is asked to validate an http-01 challenge, fetch the token through
 * the local nginx the way the CA will (GET http://DOMAIN/.well-known/acme-challenge/TOKEN with
 * Host: DOMAIN, but connected to 127.0.0.1 at nginx's HTTP port) and compare the answer with the
 * key authorization. A validation the CA attempts and fails counts against its rate limits and
 * leaves an invalid authorization behind; one local request avoids that.
 *
 * Redirects: RFC 8555 §8.3 lets the CA follow them, and a port-80 server that sends everything to
 * https://$host is common. A redirect to the same name on http (port 80) or https (port 443) is
 * followed here too, to the local nginx's HTTP or HTTPS port (without verifying its certificate:
 * the CA does not either, since this is how a first certificate gets made), at most
 * PREFLIGHT_MAX_REDIRECTS times. A redirect anywhere else is reported as such: what another
 * machine answers is not for this check to guess.
 */
#ifndef NACME_PREFLIGHT_H
#define NACME_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>

#include "nacme.h"

#define PREFLIGHT_MAX_BODY 4096       /* a key authorization is ~90 bytes */
#define PREFLIGHT_MAX_REDIRECTS 3
#define PREFLIGHT_CONNECT_TIMEOUT_MS 2000
#define PREFLIGHT_TIMEOUT_MS 5000     /* for the whole check, redirects included */

struct preflight_opts {
    const char *host; /* where nginx listens: "127.0.0.1" */
    int http_port;    /* nginx_http_port: what the CA reaches as port 80 */
    int https_port;   /* nginx_https_port: what a redirect to https reaches as port 443 */
    long connect_timeout_ms; /* 0: PREFLIGHT_CONNECT_TIMEOUT_MS */
    long timeout_ms;         /* 0: PREFLIGHT_TIMEOUT_MS */
};

/* Fetch TOKEN for DOMAIN through the local nginx and compare it with keyauth. NACME_OK when nginx
 * serves exactly the key authorization; otherwise one line naming the domain and what nginx did
 * (refused the connection, an HTTP status, a redirect elsewhere, another body): NACME_E_NET,
 * NACME_E_TIMEOUT or NACME_E_INVALID. Safe to call from several threads at once (each call has its
 * own libcurl handle); libcurl must have been initialised (http_new does it). */
enum nacme_err preflight_check(struct nacme_ctx *ctx, const struct preflight_opts *o,
                               const char *domain, const char *token, const char *keyauth);

/* RFC 8555 §8.3: the body is the key authorization; whitespace at its end (SP, HTAB, CR, LF) is
 * ignored, as the CA ignores it. Nothing else is: not leading whitespace, not a NUL, not case. */
bool preflight_body_matches(const char *body, size_t len, const char *keyauth);

/* Whether the absolute URL location, a redirect met while fetching DOMAIN's token, stays on DOMAIN
 * (any letter case) on http at port 80 or https at port 443, so that the local nginx can answer
 * it. *https says which. */
bool preflight_redirect_followable(const char *domain, const char *location, bool *https);

#endif
