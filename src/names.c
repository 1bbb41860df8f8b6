/* names.c - DNS name and IP address checks. */
#include "names.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
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

enum ip_parse ip_addr_canonical(const char *in, char *out, size_t outsz)
{
    unsigned char a[16];
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    /* inet_pton, not inet_aton: only four decimal parts, no octal or hex, no leading zeros, so
     * "1.2.3" and "01.2.3.4" are refused rather than read as some other address. */
    if (inet_pton(AF_INET, in, a) == 1)
        return inet_ntop(AF_INET, a, out, (socklen_t)outsz) ? IP_V4 : IP_NONE;
    if (strchr(in, ':') == NULL || inet_pton(AF_INET6, in, a) != 1)
        return IP_NONE;
    /* An IPv4-mapped address names an IPv4 host: the CA would validate (and certify) it under a
     * form no client connects to. */
    if (memcmp(a, mapped, sizeof(mapped)) == 0)
        return IP_MAPPED;
    /* glibc's inet_ntop writes RFC 5952 form: lower case, no leading zeros, the longest run (the
     * first of equals) of two or more zero groups as "::". */
    return inet_ntop(AF_INET6, a, out, (socklen_t)outsz) ? IP_V6 : IP_NONE;
}

bool ip_addr_is(const char *name)
{
    char buf[INET6_ADDRSTRLEN];
    enum ip_parse k = ip_addr_canonical(name, buf, sizeof(buf));

    return (k == IP_V4 || k == IP_V6) && strcmp(buf, name) == 0;
}

const char *names_identifier_type(const char *name)
{
    return ip_addr_is(name) ? "ip" : "dns";
}

/* One name in canonical form, in place or (for an address written differently) replaced. */
static enum nacme_err name_normalize(struct nacme_ctx *ctx, char **name)
{
    char buf[INET6_ADDRSTRLEN], shown[80], *p, *c;
    enum ip_parse k;

    for (p = *name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    k = ip_addr_canonical(*name, buf, sizeof(buf));
    if (k == IP_V4 || k == IP_V6) {
        if (strcmp(buf, *name) != 0) {
            if ((c = nacme_strdup_new(buf)) == NULL)
                return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
            free(*name);
            *name = c;
        }
        return NACME_OK;
    }
    nacme_sanitize(shown, sizeof(shown), *name, 70);
    if (k == IP_MAPPED)
        return nacme_fail(ctx, NACME_E_USAGE, "\"%s\" is an IPv4-mapped IPv6 address: give the "
                          "IPv4 address instead", shown);
    /* "*." and a name of its own: the CA decides the rest (RFC 8555 §7.1.3), and cmd_issue
     * that it needs dns-01 */
    if (names_is_wildcard(*name) && !dns_name_valid(*name + 2))
        return nacme_fail(ctx, NACME_E_USAGE,
                          "\"%s\" is not a valid wildcard: \"*.\" and a DNS name of two labels or "
                          "more",
                          shown);
    if (!names_is_wildcard(*name) && !dns_name_valid(*name))
        return nacme_fail(ctx, NACME_E_USAGE,
                          "\"%s\" is not a valid DNS name or IP address for a certificate", shown);
    return NACME_OK;
}

bool names_is_wildcard(const char *name)
{
    return strncmp(name, "*.", 2) == 0;
}

enum nacme_err names_normalize(struct nacme_ctx *ctx, char **names, size_t *n)
{
    size_t i, j, out = 0;
    enum nacme_err r;

    for (i = 0; i < *n; i++)
        if ((r = name_normalize(ctx, &names[i])) != NACME_OK)
            return r;
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
