/* nginx_ctl.c - running nginx's commands without a shell, and asking nginx what it serves. */
#include "nginx_ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cert.h"
#include "run.h"

#define LOG_TAIL_MAX (64 * 1024)
#define TLS_TIMEOUT_S 5

/* The line that says why: the first "[emerg]" one, else the last non-empty line. */
static void pick_line(const char *output, char *buf, size_t size)
{
    const char *p = strstr(output, "[emerg]"), *end;
    size_t len;

    if (p != NULL) {
        while (p > output && p[-1] != '\n')
            p--;
    } else {
        end = output + strlen(output);
        while (end > output && (end[-1] == '\n' || end[-1] == ' '))
            end--;
        p = end;
        while (p > output && p[-1] != '\n')
            p--;
    }
    end = strchr(p, '\n');
    len = end ? (size_t)(end - p) : strlen(p);
    nacme_sanitize(buf, size, p, len);
}

enum nacme_err nginx_test(struct nacme_ctx *ctx, const char *cmd, char **output)
{
    char *text = NULL, line[512];
    int status;
    enum nacme_err r;

    if (output != NULL)
        *output = NULL;
    if ((r = run_command_new(ctx, cmd, NULL, 60, &text, &status)) != NACME_OK)
        return r;
    if (status != 0) {
        pick_line(text, line, sizeof(line));
        r = nacme_fail(ctx, NACME_E_INVALID, "\"%s\" fails (exit %d): %s", cmd, status, line);
    }
    if (output != NULL)
        *output = text;
    else
        free(text);
    return r;
}

bool nginx_running(const char *pid_file)
{
    char buf[32];
    ssize_t n;
    long pid;
    int fd;

    if ((fd = open(pid_file, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    pid = strtol(buf, NULL, 10);
    return pid > 1 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

enum nacme_err nginx_reload(struct nacme_ctx *ctx, const char *cmd)
{
    char *text = NULL, line[512];
    int status;
    enum nacme_err r;

    if ((r = run_command_new(ctx, cmd, NULL, 60, &text, &status)) != NACME_OK)
        return r;
    if (status != 0) {
        pick_line(text, line, sizeof(line));
        r = nacme_fail(ctx, NACME_E_IO, "\"%s\" fails (exit %d): %s", cmd, status, line);
    }
    free(text);
    return r;
}

/* A local nginx that accepts and then says nothing must not hang the run. */
static int set_timeouts(BIO *bio)
{
    struct timeval tv = {.tv_sec = TLS_TIMEOUT_S};
    int fd = -1;

    if (BIO_get_fd(bio, &fd) < 0 || fd < 0)
        return -1;
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) |
           setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

enum nacme_err nginx_served_serial_new(struct nacme_ctx *ctx, const char *host, int port,
                                       const char *sni, char **serial)
{
    char target[300];
    SSL_CTX *sctx = NULL;
    BIO *bio = NULL;
    SSL *ssl = NULL;
    X509 *leaf = NULL;
    enum nacme_err r;

    *serial = NULL;
    snprintf(target, sizeof(target), "%s:%d", host, port);
    if ((sctx = SSL_CTX_new(TLS_client_method())) == NULL ||
        (bio = BIO_new_ssl_connect(sctx)) == NULL) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "cannot set up TLS to %s", target);
        goto out;
    }
    /* Our own nginx, asked only which certificate it presents: nothing is sent over it. */
    SSL_CTX_set_verify(sctx, SSL_VERIFY_NONE, NULL);
    BIO_get_ssl(bio, &ssl);
    BIO_set_conn_hostname(bio, target);
    if (ssl == NULL || SSL_set_tlsext_host_name(ssl, sni) != 1 || BIO_do_connect(bio) <= 0 ||
        set_timeouts(bio) != 0 || BIO_do_handshake(bio) <= 0) {
        r = nacme_fail_ssl(ctx, NACME_E_NET, "TLS handshake with nginx at %s for %s failed",
                           target, sni);
        goto out;
    }
    if ((leaf = SSL_get1_peer_certificate(ssl)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NET, "nginx at %s presents no certificate for %s", target, sni);
        goto out;
    }
    *serial = cert_serial_hex_new(leaf);
    r = *serial ? NACME_OK : nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
out:
    X509_free(leaf);
    BIO_free_all(bio);
    SSL_CTX_free(sctx);
    return r;
}

char *nginx_last_emerg_new(const char *error_log)
{
    char line[1024], *last = NULL;
    FILE *f = fopen(error_log, "re");

    if (f == NULL)
        return NULL;
    /* Only the tail: a busy server's log is large, and the reload just happened. */
    if (fseek(f, -(long)LOG_TAIL_MAX, SEEK_END) != 0)
        rewind(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, "[emerg]") != NULL) {
            free(last);
            line[strcspn(line, "\n")] = '\0';
            last = nacme_strdup_new(line);
        }
    fclose(f);
    return last;
}
