/* b64url.c - base64url (RFC 4648 §5) without padding. */
#include "b64url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *b64url_encode_new(const void *in, size_t len)
{
    const unsigned char *p = in;
    size_t i, o = 0;
    char *out;

    if (len > (SIZE_MAX - 4) / 4 * 3)
        return NULL;
    if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int b64url_decode_new(const char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
    unsigned char *buf;
    unsigned acc = 0;
    size_t i, o = 0;
    int bits = 0, v;

    *out = NULL;
    *outlen = 0;
    while (inlen > 0 && in[inlen - 1] == '=')
        inlen--;
    if (inlen % 4 == 1)
        return -1;
    if ((buf = malloc(inlen / 4 * 3 + 3)) == NULL)
        return -1;
    for (i = 0; i < inlen; i++) {
        if ((v = b64url_value(in[i])) < 0) {
            free(buf);
            return -1;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    return 0;
}

bool b64url_is_token(const char *s, size_t maxlen)
{
    size_t i;

    if (s == NULL || *s == '\0')
        return false;
    for (i = 0; s[i]; i++)
        if (i >= maxlen || b64url_value(s[i]) < 0)
            return false;
    return true;
}
