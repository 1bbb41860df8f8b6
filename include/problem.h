/* problem.h - ACME problem documents (RFC 8555 §6.7, RFC 7807) turned into one line for a person. */
#ifndef NACME_PROBLEM_H
#define NACME_PROBLEM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "nacme.h"

struct acme_subproblem {
    char *type;
    char *detail;
    char *identifier; /* "dns:example.com", or NULL */
};

struct acme_problem {
    long status; /* the HTTP status, or the document's "status" when embedded in a challenge */
    char *type;  /* NULL when the body was not a problem document */
    char *detail;
    char *instance; /* RFC 7807 "instance": where a person acts (userActionRequired), or NULL */
    struct acme_subproblem *sub;
    size_t nsub;
};

/* Parse a problem from an HTTP error body. Never fails on a malformed body: the result then has
 * type NULL and a sanitized excerpt of the body as detail. NULL only on OOM. */
struct acme_problem *acme_problem_from_body_new(const char *body, size_t len, long status);
/* Parse a problem embedded in an object (a challenge's "error"). NULL on OOM or when obj is not an
 * object. */
struct acme_problem *acme_problem_from_json_new(json_t *obj);
void acme_problem_free(struct acme_problem *p);

/* True when the problem's type is the ACME error `name` ("badNonce" matches
 * "urn:ietf:params:acme:error:badNonce"). */
bool acme_problem_is(const struct acme_problem *p, const char *name);

/* "HTTP 403 urn:ietf:params:acme:error:unauthorized: DETAIL [dns:a.example: TYPE: DETAIL; ...]",
 * every server-supplied part sanitized to printable ASCII and capped. */
void acme_problem_format(const struct acme_problem *p, char *buf, size_t size);

#endif
