/* nginx_ctl.c - running nginx's commands without a shell, and asking nginx what it serves. */
#include "nginx_ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cert.h"

extern char **environ;

#define RUN_OUTPUT_MAX (64 * 1024)
#define RUN_ARGS_MAX 32
#define TLS_TIMEOUT_S 5

/* Split cmd at blanks into argv (pointers into buf, a copy of cmd). 0, or -1 when it is empty or
 * has too many words. */
static int split_words(char *buf, char **argv, size_t max)
{
    size_t n = 0;
    char *p = buf;

    while (*p) {
        while (*p == ' ' || *p == '\t')
            *p++ = '\0';
        if (*p == '\0')
            break;
        if (n + 1 >= max)
            return -1;
        argv[n++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    argv[n] = NULL;
    return n > 0 ? 0 : -1;
}

static long ms_left(const struct timespec *deadline)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Collect the child's output until it closes the pipe or the deadline passes. */
static void read_output(int fd, struct nacme_buf *out, const struct timespec *deadline,
                        bool *timed_out)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char chunk[4096];
    ssize_t n;
    long left;

    *timed_out = false;
    for (;;) {
        if ((left = ms_left(deadline)) <= 0) {
            *timed_out = true;
            return;
        }
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            return;
        if ((n = read(fd, chunk, sizeof(chunk))) < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return;
        if (out->len < RUN_OUTPUT_MAX)
            nacme_buf_append(out, chunk, (size_t)n);
    }
}

static enum nacme_err spawn(struct nacme_ctx *ctx, const char *cmd, char **argv, int pipefd[2],
                            pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none;
    int e;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* nacme blocks termination signals for its own use; the child gets them back. */
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    e = posix_spawnp(pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (e != 0) {
        errno = e;
        return nacme_fail_errno(ctx, NACME_E_IO, "cannot run \"%s\"", cmd);
    }
    return NACME_OK;
}

enum nacme_err nginx_run_new(struct nacme_ctx *ctx, const char *cmd, int timeout_s, char **output,
                             int *status)
{
    struct nacme_buf out = {0};
    struct timespec deadline;
    char *buf = NULL, *argv[RUN_ARGS_MAX];
    int pipefd[2] = {-1, -1}, ws = 0;
    bool timed_out = false;
    pid_t pid = -1;
    enum nacme_err r;

    *output = NULL;
    *status = -1;
    if ((buf = nacme_strdup_new(cmd)) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    if (split_words(buf, argv, RUN_ARGS_MAX) != 0) {
        r = nacme_fail(ctx, NACME_E_CONFIG, "command \"%s\": give a program and at most %d words",
                       cmd, RUN_ARGS_MAX - 2);
        goto out;
    }
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot run \"%s\"", cmd);
        goto out;
    }
    if ((r = spawn(ctx, cmd, argv, pipefd, &pid)) != NACME_OK)
        goto out;
    close(pipefd[1]);
    pipefd[1] = -1;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_s;
    read_output(pipefd[0], &out, &deadline, &timed_out);
    if (timed_out)
        kill(pid, SIGKILL);
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        r = nacme_fail(ctx, NACME_E_TIMEOUT, "\"%s\" did not finish within %d s; killed", cmd,
                       timeout_s);
        goto out;
    }
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    *output = out.data ? out.data : nacme_strdup_new("");
    out.data = NULL;
    r = *output ? NACME_OK : nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
out:
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    nacme_buf_clear(&out);
    free(buf);
    return r;
}

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
    if ((r = nginx_run_new(ctx, cmd, 60, &text, &status)) != NACME_OK)
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

    if ((r = nginx_run_new(ctx, cmd, 60, &text, &status)) != NACME_OK)
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
    if (fseek(f, -(long)RUN_OUTPUT_MAX, SEEK_END) != 0)
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
