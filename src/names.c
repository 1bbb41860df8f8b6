/* names.c - DNS name checks. */
#include "names.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

bool dns_name_valid(const char *name)
{
    size_t len = strlen(name), label = 0, labels = 1, i;

    if (len == 0 || len > 253)
        return false;
    for (i = 0; i < len; i++) {
        if (name[i] == '.') {
            if (label == 0 || name[i - 1] == '-')
                return false;
            label = 0;
            labels++;
            continue;
        }
        if (!label_char(name[i]) || (label == 0 && name[i] == '-') || ++label > 63)
            return false;
    }
    /* The last label: not empty (no trailing dot), not ending with '-', not all digits (an IPv4
     * address is not a DNS name). */
    if (label == 0 || name[len - 1] == '-' || labels < 2)
        return false;
    for (i = len - label; i < len; i++)
        if (!isdigit((unsigned char)name[i]))
            return true;
    return false;
}

enum nacme_err names_normalize(struct nacme_ctx *ctx, char **names, size_t *n)
{
    size_t i, j, out = 0;
    char *p;

    for (i = 0; i < *n; i++) {
        for (p = names[i]; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (!dns_name_valid(names[i])) {
            char shown[80];
            nacme_sanitize(shown, sizeof(shown), names[i], 70);
            return nacme_fail(ctx, NACME_E_USAGE,
                              "\"%s\" is not a valid DNS name for a certificate", shown);
        }
    }
    for (i = 0; i < *n; i++) {
        for (j = 0; j < out; j++)
            if (strcmp(names[j], names[i]) == 0)
                break;
        if (j < out) {
            free(names[i]);
            continue;
        }
        names[out++] = names[i];
    }
    *n = out;
    return NACME_OK;
}

static bool contains(const char *const *set, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcasecmp(set[i], name) == 0)
            return true;
    return false;
}

bool names_same_set(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    size_t i;

    for (i = 0; i < na; i++)
        if (!contains(b, nb, a[i]))
            return false;
    for (i = 0; i < nb; i++)
        if (!contains(a, na, b[i]))
            return false;
    return true;
}
