/*
 * dns01.h - dns-01 answers (RFC 8555 §8.4) through an administrator's hook: the TXT record
 * _acme-challenge.NAME holding base64url(SHA-256(key authorization)), put there by
 * `HOOK add RECORD VALUE` and taken away by `HOOK remove RECORD VALUE`; and, when a resolver is
 * configured, waiting until that resolver answers the value before the CA is asked to look.
 *
 * nacme knows no DNS provider: the hook is the administrator's program (nsupdate, a provider's
 * API through curl...). Every record added is remembered and removed by dns01_hook_free, whatever
 * happened in between, as challenge.c does with token files.
 */
#ifndef NACME_DNS01_H
#define NACME_DNS01_H

#include <netinet/in.h>
#include <stddef.h>

#include "nacme.h"

#define DNS01_DEFAULT_HOOK_TIMEOUT 120 /* s a hook may take (a provider's API can be slow) */
#define DNS01_DEFAULT_WAIT_TIMEOUT 120 /* s to wait for the resolver to answer the value */

/* The record's name for an identifier: "_acme-challenge." and the name, a wildcard's "*."
 * dropped (*.example.com and example.com share _acme-challenge.example.com). NULL on OOM. */
char *dns01_record_name_new(const char *identifier);

/* The TXT value for a key authorization: base64url(SHA-256(keyauth)), 43 characters. */
enum nacme_err dns01_txt_value_new(struct nacme_ctx *ctx, const char *keyauth, char **out);

/* A resolver to ask: IPv4, IPv4:PORT, IPv6, [IPv6] or [IPv6]:PORT (port 53 when none). */
struct dns01_resolver {
    int family; /* AF_INET or AF_INET6 */
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    char text[INET6_ADDRSTRLEN + 16]; /* "ADDR:PORT" or "[ADDR]:PORT", for messages */
};
/* 0, or -1 when s is none of the forms above (or the port is not 1-65535). */
int dns01_resolver_parse(const char *s, struct dns01_resolver *out);

/* One TXT query for name at res, answered from the resolver's own view (no local cache): the
 * values found, each record's strings joined, as a NULL-terminated heap array (*values, free with
 * dns01_values_free), or NULL with *seen saying what came instead ("NXDOMAIN", "no TXT record",
 * "no answer"...). NACME_E_NOMEM or NACME_E_NET only when the query could not be made at all. */
enum nacme_err dns01_txt_lookup(struct nacme_ctx *ctx, const struct dns01_resolver *res,
                                const char *name, char ***values, char *seen, size_t seensz);
void dns01_values_free(char **values);

/* The records one order added through the hook. */
struct dns01_hook;

/* cmd: the hook (split into words like every configured command; RECORD and VALUE are appended
 * as separate arguments, never through a shell); each call may take timeout_s. */
enum nacme_err dns01_hook_new(struct nacme_ctx *ctx, const char *cmd, int timeout_s,
                              struct dns01_hook **out);
/* `cmd add RECORD VALUE` with NACME_DOMAIN=domain (the identifier as ordered, "*.example.com" for
 * a wildcard) in its environment. The record is remembered before the hook runs, so that a hook
 * that fails half way gets its remove too. A failing hook (exit status other than 0, a signal,
 * the time limit) is NACME_E_INVALID with one line naming the domain, the hook and how it ended,
 * and what it wrote on stderr. */
enum nacme_err dns01_hook_add(struct nacme_ctx *ctx, struct dns01_hook *h, const char *domain,
                              const char *record, const char *value);
/* Ask res every second until every record added shows its value, for at most timeout_s:
 * NACME_E_TIMEOUT naming the record, the resolver and what it answered; NACME_E_INTERRUPTED on a
 * termination signal. */
enum nacme_err dns01_hook_wait(struct nacme_ctx *ctx, const struct dns01_hook *h,
                               const struct dns01_resolver *res, int timeout_s);
/* `cmd remove RECORD VALUE` for every record added (a failure is a warning: the certificate does
 * not depend on it), then free. NULL is a no-op. */
void dns01_hook_free(struct nacme_ctx *ctx, struct dns01_hook *h);

#endif
