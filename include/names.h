/* names.h - checking the identifiers a user asks for before the CA sees them. */
#ifndef NACME_NAMES_H
#define NACME_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "nacme.h"

/* A DNS host name as ACME accepts it: 1..253 characters, labels of 1..63 [a-z0-9-] not starting
 * or ending with '-', at least two labels, no trailing dot. Expects lower case. */
bool dns_name_valid(const char *name);

/* Lower-case every name in place, refuse invalid ones (NACME_E_USAGE naming the name) and drop
 * duplicates (keeping the first, freeing the others: names are heap strings). *n is updated. */
enum nacme_err names_normalize(struct nacme_ctx *ctx, char **names, size_t *n);

/* True when the two lists hold the same set of names. */
bool names_same_set(const char *const *a, size_t na, const char *const *b, size_t nb);

#endif
