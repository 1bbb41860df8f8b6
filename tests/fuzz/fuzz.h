/* fuzz.h - what every libFuzzer target of tests/fuzz shares. */
#ifndef NACME_FUZZ_H
#define NACME_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nacme.h"

/* libFuzzer's entry point: called once per input; a crash, a sanitizer report or a leak is a
 * finding. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A quiet context: the parsers' one-line failures are expected by the thousand. */
static inline void fuzz_ctx_init(struct nacme_ctx *ctx)
{
    nacme_ctx_init(ctx);
    ctx->loglevel = NACME_LOG_ERROR;
}

/* The input as a NUL-terminated heap string (it may hold NULs of its own); NULL on OOM. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s != NULL) {
        if (size > 0)
            memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

/* The input in a heap buffer of exactly size bytes, without a NUL after it, so that ASan sees
 * any read past the end (a body from the network is not a C string). NULL on OOM or when empty. */
static inline char *fuzz_exact_copy(const uint8_t *data, size_t size)
{
    char *s = size > 0 ? malloc(size) : NULL;

    if (s != NULL)
        memcpy(s, data, size);
    return s;
}

#endif
