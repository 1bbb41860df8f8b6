/* b64url.h - base64url without padding (RFC 4648 §5), as JWS and ACME use it. */
#ifndef NACME_B64URL_H
#define NACME_B64URL_H

#include <stdbool.h>
#include <stddef.h>

/* Encode len bytes; returns a NUL-terminated heap string or NULL on OOM. */
char *b64url_encode_new(const void *in, size_t len);
/* Decode; padding '=' is tolerated at the end. Returns 0 and a heap buffer (*out, *outlen; NUL-
 * terminated one past outlen for convenience) or -1 on bad input or OOM. */
int b64url_decode_new(const char *in, size_t inlen, unsigned char **out, size_t *outlen);
/* True when s is 1..maxlen characters of the base64url alphabet [A-Za-z0-9_-] and nothing else. */
bool b64url_is_token(const char *s, size_t maxlen);

#endif
