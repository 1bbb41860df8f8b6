/* names.h - checking the identifiers a user asks for before the CA sees them. */
#ifndef NACME_NAMES_H
#define NACME_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "nacme.h"

/* A DNS host name as ACME accepts it: 1..253 characters, labels of 1..63 [a-z0-9-] not starting
 * or ending with '-', at least two labels, no trailing dot. Expects lower case. */
bool dns_name_valid(const char *name);

/* What ip_addr_canonical found. */
enum ip_parse { IP_NONE, IP_V4, IP_V6, IP_MAPPED };

/* When in is an IPv4 address (strict dotted quad) or an IPv6 address (no zone), writes its
 * canonical text (IPv6: RFC 5952, as RFC 8738 §3 asks) to out (INET6_ADDRSTRLEN bytes suffice).
 * IP_MAPPED for ::ffff:a.b.c.d, with out left unset. */
enum ip_parse ip_addr_canonical(const char *in, char *out, size_t outsz);

/* True when name is an IP address already in canonical form: an RFC 8738 "ip" identifier. */
bool ip_addr_is(const char *name);

/* The ACME identifier type of a normalized name: "ip" or "dns". */
const char *names_identifier_type(const char *name);

/* True when name is a wildcard "*.NAME" (what follows the "*." is checked by names_normalize). */
bool names_is_wildcard(const char *name);

/* Lower-case every name in place, write IP addresses in canonical form (replacing the string),
 * refuse invalid ones (NACME_E_USAGE naming the name; a wildcard "*." and a valid DNS name
 * is valid) and drop duplicates (keeping the first,
 * freeing the others: names are heap strings). *n is updated. */
enum nacme_err names_normalize(struct nacme_ctx *ctx, char **names, size_t *n);

/* True when the two lists hold the same set of names. */
bool names_same_set(const char *const *a, size_t na, const char *const *b, size_t nb);

#endif
