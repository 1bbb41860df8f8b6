/* nacme.c - context, errors, logging and the few heap helpers every module uses. */
#include "nacme.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

static void termination_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

void nacme_signals_block(void)
{
    sigset_t set;

    termination_signals(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

int nacme_interrupted(void)
{
    sigset_t pending;

    if (sigpending(&pending) != 0)
        return 0;
    if (sigismember(&pending, SIGINT) == 1)
        return SIGINT;
    if (sigismember(&pending, SIGTERM) == 1)
        return SIGTERM;
    if (sigismember(&pending, SIGHUP) == 1)
        return SIGHUP;
    return 0;
}

int nacme_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    sigset_t set;
    int sig;

    if ((sig = nacme_interrupted()) != 0)
        return sig;
    termination_signals(&set);
    /* sigtimedwait consumes the signal; it stays "interrupted" for our caller through the return
     * value, and we raise it again so that later checks see it too. */
    sig = sigtimedwait(&set, NULL, &ts);
    if (sig > 0) {
        raise(sig);
        return sig;
    }
    return 0;
}

static const char *const err_names[NACME_E_MAX] = {
    [NACME_OK] = "success",
    [NACME_E_NOMEM] = "out of memory",
    [NACME_E_USAGE] = "usage error",
    [NACME_E_CONFIG] = "configuration error",
    [NACME_E_IO] = "file system error",
    [NACME_E_CRYPTO] = "cryptographic error",
    [NACME_E_NET] = "network error",
    [NACME_E_TLS] = "TLS verification error",
    [NACME_E_PROTO] = "protocol error",
    [NACME_E_ACME] = "the CA refused",
    [NACME_E_TIMEOUT] = "timed out",
    [NACME_E_INVALID] = "invalid input",
    [NACME_E_NOTFOUND] = "not found",
    [NACME_E_INTERRUPTED] = "interrupted",
};

void nacme_ctx_init(struct nacme_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->loglevel = NACME_LOG_INFO;
}

const char *nacme_strerror(enum nacme_err e)
{
    if ((int)e < 0 || e >= NACME_E_MAX)
        return "unknown error";
    return err_names[e];
}

int nacme_exit_status(enum nacme_err e)
{
    switch (e) {
    case NACME_OK:
        return 0;
    case NACME_E_USAGE:
    case NACME_E_CONFIG:
        return 2;
    default:
        return 1;
    }
}

/* Keep the message on one line: a newline in a server's detail must not forge a second line. */
static void flatten(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r' || *s == '\t')
            *s = ' ';
}

__attribute__((format(printf, 3, 0))) static void set_msg(struct nacme_ctx *ctx, enum nacme_err e,
                                                            const char *fmt, va_list ap)
{
    ctx->err = e;
    vsnprintf(ctx->errmsg, sizeof(ctx->errmsg), fmt, ap);
    flatten(ctx->errmsg);
}

enum nacme_err nacme_fail(struct nacme_ctx *ctx, enum nacme_err e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    set_msg(ctx, e, fmt, ap);
    va_end(ap);
    return e;
}

enum nacme_err nacme_fail_prefix(struct nacme_ctx *ctx, const char *fmt, ...)
{
    char prefix[256], old[sizeof(ctx->errmsg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, ctx->errmsg, sizeof(old));
    /* A cause too long for one line is cut, which is what we want. */
    if (snprintf(ctx->errmsg, sizeof(ctx->errmsg), "%s: %s", prefix, old) < 0)
        ctx->errmsg[0] = '\0';
    flatten(ctx->errmsg);
    return ctx->err;
}

enum nacme_err nacme_fail_errno(struct nacme_ctx *ctx, enum nacme_err e, const char *fmt, ...)
{
    int saved = errno;
    size_t n;
    va_list ap;

    va_start(ap, fmt);
    set_msg(ctx, e, fmt, ap);
    va_end(ap);
    n = strlen(ctx->errmsg);
    snprintf(ctx->errmsg + n, sizeof(ctx->errmsg) - n, ": %s", strerror(saved));
    return e;
}

enum nacme_err nacme_fail_ssl(struct nacme_ctx *ctx, enum nacme_err e, const char *fmt, ...)
{
    unsigned long code = ERR_peek_last_error();
    char reason[256];
    size_t n;
    va_list ap;

    va_start(ap, fmt);
    set_msg(ctx, e, fmt, ap);
    va_end(ap);
    if (code != 0) {
        ERR_error_string_n(code, reason, sizeof(reason));
        n = strlen(ctx->errmsg);
        snprintf(ctx->errmsg + n, sizeof(ctx->errmsg) - n, " (%s)", reason);
    }
    ERR_clear_error();
    return e;
}

void nacme_log(const struct nacme_ctx *ctx, int level, const char *fmt, ...)
{
    FILE *f = ctx->logf ? ctx->logf : stderr;
    va_list ap;

    if (level > ctx->loglevel)
        return;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}

void nacme_sanitize(char *dst, size_t dstsz, const char *src, size_t max)
{
    size_t i, o = 0;

    if (dstsz == 0)
        return;
    /* i < max first: src need not hold a NUL right after its max bytes (a body of len bytes) */
    for (i = 0; src && i < max && src[i] && o + 1 < dstsz; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : (c == '\n' || c == '\t' ? ' ' : '?');
    }
    dst[o] = '\0';
}

char *nacme_strdup_new(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *nacme_strndup_new(const char *s, size_t n)
{
    return s ? strndup(s, n) : NULL;
}

char *nacme_printf_new(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

int nacme_buf_append(struct nacme_buf *b, const void *p, size_t n)
{
    size_t need = b->len + n + 1, cap;
    char *d;

    if (need < b->len)
        return -1;
    if (need > b->cap) {
        cap = b->cap ? b->cap : 256;
        while (cap < need)
            cap *= 2;
        if ((d = realloc(b->data, cap)) == NULL)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void nacme_buf_clear(struct nacme_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void nacme_buf_clear_secret(struct nacme_buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->cap);
    nacme_buf_clear(b);
}

void nacme_secret_free(void *p, size_t len)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}
