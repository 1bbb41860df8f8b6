/* problem.c - parse and print ACME problem documents. */
#include "problem.h"

#include <stdlib.h>
#include <string.h>

#define ACME_ERROR_NS "urn:ietf:params:acme:error:"
#define PROBLEM_MAX_SUB 20
#define PROBLEM_TEXT_CAP 400

static char *json_string_dup_new(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s ? nacme_strdup_new(s) : NULL;
}

/* "dns:example.com" from {"type": "dns", "value": "example.com"}. */
static char *identifier_new(json_t *id)
{
    const char *type = NULL, *value = NULL;

    if (json_unpack(id, "{s:s, s:s}", "type", &type, "value", &value) != 0)
        return NULL;
    return nacme_printf_new("%s:%s", type, value);
}

static int parse_subproblems(struct acme_problem *p, json_t *arr)
{
    size_t i, n = json_array_size(arr);
    json_t *e;

    if (n > PROBLEM_MAX_SUB)
        n = PROBLEM_MAX_SUB;
    if (n == 0)
        return 0;
    if ((p->sub = calloc(n, sizeof(*p->sub))) == NULL)
        return -1;
    json_array_foreach(arr, i, e) {
        if (i >= n)
            break;
        if (!json_is_object(e))
            continue;
        p->sub[p->nsub].type = json_string_dup_new(e, "type");
        p->sub[p->nsub].detail = json_string_dup_new(e, "detail");
        p->sub[p->nsub].identifier = identifier_new(json_object_get(e, "identifier"));
        p->nsub++;
    }
    return 0;
}

struct acme_problem *acme_problem_from_json_new(json_t *obj)
{
    struct acme_problem *p;
    json_t *st;

    if (!json_is_object(obj) || (p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    p->type = json_string_dup_new(obj, "type");
    p->detail = json_string_dup_new(obj, "detail");
    p->instance = json_string_dup_new(obj, "instance");
    if (json_is_integer(st = json_object_get(obj, "status")))
        p->status = (long)json_integer_value(st);
    if (parse_subproblems(p, json_object_get(obj, "subproblems")) != 0) {
        acme_problem_free(p);
        return NULL;
    }
    return p;
}

struct acme_problem *acme_problem_from_body_new(const char *body, size_t len, long status)
{
    struct acme_problem *p = NULL;
    char excerpt[PROBLEM_TEXT_CAP];
    json_t *obj;

    obj = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(obj) && json_is_string(json_object_get(obj, "type"))) {
        p = acme_problem_from_json_new(obj);
        if (p != NULL)
            p->status = status;
    } else if ((p = calloc(1, sizeof(*p))) != NULL) {
        p->status = status;
        nacme_sanitize(excerpt, sizeof(excerpt), body, len < 200 ? len : 200);
        p->detail = nacme_strdup_new(excerpt[0] ? excerpt : "(empty body)");
    }
    json_decref(obj);
    return p;
}

void acme_problem_free(struct acme_problem *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->nsub; i++) {
        free(p->sub[i].type);
        free(p->sub[i].detail);
        free(p->sub[i].identifier);
    }
    free(p->sub);
    free(p->type);
    free(p->detail);
    free(p->instance);
    free(p);
}

bool acme_problem_is(const struct acme_problem *p, const char *name)
{
    size_t ns = strlen(ACME_ERROR_NS);

    return p != NULL && p->type != NULL && strncmp(p->type, ACME_ERROR_NS, ns) == 0 &&
           strcmp(p->type + ns, name) == 0;
}

/* Append to buf at *off, never overflowing; untrusted text is sanitized on the way. */
static void append(char *buf, size_t size, size_t *off, const char *text, bool untrusted)
{
    char clean[PROBLEM_TEXT_CAP];
    int n;

    if (*off >= size)
        return;
    if (untrusted) {
        nacme_sanitize(clean, sizeof(clean), text, sizeof(clean) - 1);
        text = clean;
    }
    n = snprintf(buf + *off, size - *off, "%s", text);
    if (n > 0)
        *off += (size_t)n < size - *off ? (size_t)n : size - *off - 1;
}

void acme_problem_format(const struct acme_problem *p, char *buf, size_t size)
{
    char status[32];
    size_t off = 0, i;

    if (size == 0)
        return;
    buf[0] = '\0';
    if (p->status > 0) {
        snprintf(status, sizeof(status), "HTTP %ld ", p->status);
        append(buf, size, &off, status, false);
    }
    append(buf, size, &off, p->type ? p->type : "(not a problem document)", true);
    if (p->detail != NULL) {
        append(buf, size, &off, ": ", false);
        append(buf, size, &off, p->detail, true);
    }
    for (i = 0; i < p->nsub; i++) {
        append(buf, size, &off, i == 0 ? " [" : "; ", false);
        if (p->sub[i].identifier) {
            append(buf, size, &off, p->sub[i].identifier, true);
            append(buf, size, &off, ": ", false);
        }
        append(buf, size, &off, p->sub[i].type ? p->sub[i].type : "?", true);
        if (p->sub[i].detail) {
            append(buf, size, &off, ": ", false);
            append(buf, size, &off, p->sub[i].detail, true);
        }
        if (i + 1 == p->nsub)
            append(buf, size, &off, "]", false);
    }
}
