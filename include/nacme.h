/*
 * nacme.h - the context passed down through every module, the error enum and logging.
 *
 * There are no globals in nacme: everything a module needs to report (log level, log stream,
 * the one-line cause of the last failure) travels in struct nacme_ctx.
 */
#ifndef NACME_H
#define NACME_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define NACME_VERSION "0.1.0"
#define NACME_USER_AGENT "nacme/" NACME_VERSION

/* Every fallible function returns one of these; NACME_OK is 0 so `if ((r = f()) != 0) goto out;`. */
enum nacme_err {
    NACME_OK = 0,
    NACME_E_NOMEM,    /* out of memory */
    NACME_E_USAGE,    /* bad command line */
    NACME_E_CONFIG,   /* bad configuration file */
    NACME_E_IO,       /* local file system */
    NACME_E_CRYPTO,   /* key, signature, CSR or certificate operation */
    NACME_E_NET,      /* the server could not be reached */
    NACME_E_TLS,      /* the server's certificate could not be verified */
    NACME_E_PROTO,    /* the server answered something RFC 8555 does not allow */
    NACME_E_ACME,     /* the CA answered with a problem document */
    NACME_E_TIMEOUT,  /* a deadline passed */
    NACME_E_INVALID,  /* invalid input: a name, a token, a certificate that does not match */
    NACME_E_NOTFOUND, /* a file or record that does not exist */
    NACME_E_INTERRUPTED, /* SIGINT, SIGTERM or SIGHUP arrived; the run was wound down cleanly */
    NACME_E_MAX
};

enum nacme_loglevel {
    NACME_LOG_ERROR = 0, /* -q: only the failure line */
    NACME_LOG_INFO = 1,  /* default: one line per step a person cares about */
    NACME_LOG_VERBOSE = 2,
    NACME_LOG_DEBUG = 3,
};

struct nacme_ctx {
    int loglevel;      /* enum nacme_loglevel */
    FILE *logf;        /* where messages go; stderr when NULL */
    enum nacme_err err;
    char errmsg[1024]; /* one line naming the thing that failed; set where the failure happens */
};

void nacme_ctx_init(struct nacme_ctx *ctx);

/* Termination signals are blocked for the whole run (nacme_signals_block) so that no handler and
 * no global flag is needed: long waits ask nacme_interrupted(), or sleep with nacme_sleep_ms(), and
 * a pending signal unwinds the run through the normal cleanup paths (tokens removed, temp files
 * unlinked, the previous certificate left live). */
void nacme_signals_block(void);
/* The pending termination signal, or 0. */
int nacme_interrupted(void);
/* Sleep ms milliseconds unless a termination signal arrives first; returns that signal or 0. */
int nacme_sleep_ms(long ms);
const char *nacme_strerror(enum nacme_err e);
/* The documented exit status for an error: 0 success, 2 usage/configuration, 1 anything else. */
int nacme_exit_status(enum nacme_err e);

/* Record the cause of a failure (one line, newlines flattened) and return e for `return nacme_fail()`. */
enum nacme_err nacme_fail(struct nacme_ctx *ctx, enum nacme_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepend context ("issuing example.com: ") to the recorded cause; returns ctx->err. */
enum nacme_err nacme_fail_prefix(struct nacme_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* nacme_fail with ": strerror(errno)" appended. */
enum nacme_err nacme_fail_errno(struct nacme_ctx *ctx, enum nacme_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* nacme_fail with the first queued OpenSSL error appended; clears OpenSSL's error queue. */
enum nacme_err nacme_fail_ssl(struct nacme_ctx *ctx, enum nacme_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void nacme_log(const struct nacme_ctx *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define nacme_info(ctx, ...) nacme_log((ctx), NACME_LOG_INFO, __VA_ARGS__)
#define nacme_verbose(ctx, ...) nacme_log((ctx), NACME_LOG_VERBOSE, __VA_ARGS__)
#define nacme_debug(ctx, ...) nacme_log((ctx), NACME_LOG_DEBUG, __VA_ARGS__)

/* Copy at most max bytes of untrusted text into dst (size dstsz), replacing control and non-ASCII
 * bytes with '?', so that a server's body can be shown on one terminal line. */
void nacme_sanitize(char *dst, size_t dstsz, const char *src, size_t max);

/* Heap helpers that die on nothing: they return NULL on OOM and callers report NACME_E_NOMEM. */
char *nacme_strdup_new(const char *s);
char *nacme_strndup_new(const char *s, size_t n);
char *nacme_printf_new(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer, always NUL-terminated so text bodies can be used as strings. */
struct nacme_buf {
    char *data;
    size_t len;
    size_t cap;
};
int nacme_buf_append(struct nacme_buf *b, const void *p, size_t n); /* 0 or -1 on OOM */
void nacme_buf_clear(struct nacme_buf *b);                          /* frees data */
void nacme_buf_clear_secret(struct nacme_buf *b);                   /* cleanses, then frees */

/* Wipe and free a secret held in a heap buffer of len bytes. No-op for NULL. */
void nacme_secret_free(void *p, size_t len);

#endif
