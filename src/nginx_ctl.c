/* nginx_ctl.c - running nginx's commands without a shell, and asking nginx what it serves. */
#include "nginx_ctl.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* The master's pid from pid_file, or 0. */
static pid_t master_pid(const char *pid_file)
{
    char buf[32];
    ssize_t n;
    long pid;
    int fd;

    if (pid_file == NULL || (fd = open(pid_file, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    pid = strtol(buf, NULL, 10);
    return pid > 1 && pid <= INT_MAX ? (pid_t)pid : 0;
}

bool nginx_running(const char *pid_file)
{
    pid_t pid = master_pid(pid_file);

    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* The parent of pid (field 4 of /proc/PID/stat), or 0. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512], *p;
    ssize_t n;
    int fd;
    long ppid;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* the name in parentheses may hold anything: skip to its last ')' */
    if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %*c %ld", &ppid) != 1)
        return 0;
    return (pid_t)ppid;
}

/* The master's worker processes (its children), at most max; their number. */
static size_t workers_of(pid_t master, pid_t *out, size_t max)
{
    struct dirent *de;
    DIR *d;
    char *end;
    long pid;
    size_t n = 0;

    if ((d = opendir("/proc")) == NULL)
        return 0;
    while (n < max && (de = readdir(d)) != NULL) {
        pid = strtol(de->d_name, &end, 10);
        if (*end == '\0' && pid > 0 && parent_of((pid_t)pid) == master)
            out[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

/* Whether worker pid of master no longer takes connections: gone, or retitled by nginx as
 * "worker process is shutting down", which it does in the same step as closing its listening
 * sockets. */
static bool worker_retired(pid_t master, pid_t pid)
{
    char path[64], title[256];
    ssize_t n;
    int fd;

    if (parent_of(pid) != master)
        return true;
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return true;
    n = read(fd, title, sizeof(title) - 1);
    close(fd);
    if (n <= 0)
        return true;
    title[n] = '\0';
    return strstr(title, "shutting down") != NULL;
}

enum nacme_err nginx_reload(struct nacme_ctx *ctx, const char *cmd, const char *pid_file)
{
    pid_t master = master_pid(pid_file), old[NGINX_WORKERS_MAX];
    size_t nold = 0, i, waited;
    char *text = NULL, line[512];
    int status;
    enum nacme_err r;

    if (master > 0)
        nold = workers_of(master, old, NGINX_WORKERS_MAX);
    if ((r = run_command_new(ctx, cmd, NULL, 60, &text, &status)) != NACME_OK)
        return r;
    if (status != 0) {
        pick_line(text, line, sizeof(line));
        r = nacme_fail(ctx, NACME_E_IO, "\"%s\" fails (exit %d): %s", cmd, status, line);
        goto out;
    }
    /* nginx -s reload only signals the master. Until each old worker has closed its listening
     * sockets it may still take a connection and answer with the old configuration: what is
     * checked or asked of nginx next (a challenge, a certificate) must meet the new one. */
    for (waited = 0, i = 0; i < nold && waited < NGINX_SETTLE_MS; waited += 20) {
        while (i < nold && worker_retired(master, old[i]))
            i++;
        if (i < nold && nacme_sleep_ms(20) != 0)
            break;
    }
    if (i < nold)
        nacme_verbose(ctx, "nginx's old worker %ld still takes connections after %d ms",
                      (long)old[i], NGINX_SETTLE_MS);
out:
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

long nginx_error_log_size(const char *error_log)
{
    struct stat sb;

    return stat(error_log, &sb) == 0 && S_ISREG(sb.st_mode) ? (long)sb.st_size : 0;
}

char *nginx_last_emerg_new(const char *error_log, long since)
{
    char line[1024], *last = NULL;
    FILE *f = fopen(error_log, "re");
    long end;

    if (f == NULL)
        return NULL;
    /* Only what this reload wrote, and of that only the tail: a busy server's log is large.
     * A log that shrank was rotated: all of it is new. */
    if (fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0)
        end = 0;
    if (since > end)
        since = 0;
    if (end - since > (long)LOG_TAIL_MAX)
        since = end - (long)LOG_TAIL_MAX;
    if (fseek(f, since, SEEK_SET) != 0)
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

void nginx_output_show(const struct nacme_ctx *ctx, const char *output)
{
    char line[512];
    const char *p = output, *nl;

    while (p && *p) {
        nl = strchr(p, '\n');
        nacme_sanitize(line, sizeof(line), p, nl ? (size_t)(nl - p) : strlen(p));
        if (line[0])
            nacme_log(ctx, NACME_LOG_ERROR, "    | %s", line);
        p = nl ? nl + 1 : NULL;
    }
}
