/*
 * signer.c - the account key in a process of its own (see signer.h).
 *
 * Messages on the SOCK_SEQPACKET pair, one record each, first byte the kind:
 *   signer -> main   'K' DER SubjectPublicKeyInfo      once, after the key is read
 *                    'E' one-line error                instead of 'K', or instead of a 'G'
 *   main -> signer   'S' JWS signing input
 *   signer -> main   'G' signature (EVP_DigestSign's)
 * The main process serialises its requests (one mutex), so a reply always answers the request
 * just sent.
 */
#include "signer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "confine.h"
#include "jws.h"
#include "keys.h"

#define SIGNER_KEY_FD 3
#define SIGNER_SOCK_FD 4
#define SIGNER_MSG_MAX (64 * 1024) /* a JWS signing input: a CSR or a certificate at most */
#define SIGNER_KEY_MAX (64 * 1024)

extern char **environ;

struct signer {
    pthread_mutex_t lock; /* one request on the socket at a time */
    int fd;
    pid_t pid;
    char *what;
};

/* ---- the main process's side ------------------------------------------------------------ */

/* The signer rides on the public key as OpenSSL ex_data, so that every holder of the account key
 * (each order of a batch, each CA of a renewal) signs through it without being told, and the key's
 * last EVP_PKEY_free ends the process. The index is registered once per process with OpenSSL,
 * which keeps such registrations process-wide itself. */
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;
static int ex_index = -1;

static void signer_free(struct signer *s)
{
    int status;

    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd); /* the signer reads end-of-file and exits */
    if (s->pid > 0)
        while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
            ;
    pthread_mutex_destroy(&s->lock);
    free(s->what);
    free(s);
}

static void ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    signer_free(ptr);
}

static void ex_register(void)
{
    ex_index = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_EVP_PKEY, 0, NULL, NULL, NULL, ex_free);
}

struct signer *signer_of(EVP_PKEY *key)
{
    if (pthread_once(&ex_once, ex_register) != 0 || ex_index < 0)
        return NULL;
    return EVP_PKEY_get_ex_data(key, ex_index);
}

/* Why the signer is gone, for the one line that says so. */
static enum nacme_err signer_gone(struct nacme_ctx *ctx, struct signer *s)
{
    int status;
    pid_t pid = s->pid;

    s->pid = -1;
    if (pid > 0 && waitpid(pid, &status, 0) == pid) {
        if (WIFSIGNALED(status))
            return nacme_fail(ctx, NACME_E_CRYPTO,
                              "%s: the account key's signer process was killed by %s", s->what,
                              sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status))
                                                             : "a signal");
        return nacme_fail(ctx, NACME_E_CRYPTO,
                          "%s: the account key's signer process exited with status %d", s->what,
                          WEXITSTATUS(status));
    }
    return nacme_fail(ctx, NACME_E_CRYPTO, "%s: the account key's signer process is gone",
                      s->what);
}

/* One record from the signer into buf (SIGNER_MSG_MAX bytes); its length, or -1 at its end. */
static ssize_t recv_record(int fd, unsigned char *buf)
{
    ssize_t n;

    do
        n = recv(fd, buf, SIGNER_MSG_MAX, 0);
    while (n < 0 && errno == EINTR);
    return n <= 0 ? -1 : n;
}

/* Its 'E' record as the one-line error, or a complaint about an unexpected record. */
static enum nacme_err signer_said(struct nacme_ctx *ctx, struct signer *s,
                                  const unsigned char *buf, ssize_t n)
{
    if (n >= 1 && buf[0] == 'E')
        return nacme_fail(ctx, NACME_E_CRYPTO, "%.*s", (int)(n - 1), (const char *)buf + 1);
    return nacme_fail(ctx, NACME_E_CRYPTO, "%s: the signer process answered nonsense", s->what);
}

static enum nacme_err spawn(struct nacme_ctx *ctx, struct signer *s, int key_fd, int sock_fd)
{
    posix_spawn_file_actions_t fa;
    char exe[PATH_MAX];
    char *argv[] = {exe, "--signer", s->what, NULL};
    ssize_t n;
    int err;

    /* nacme itself, whatever name it was started by; valgrind answers with its client's path. */
    if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0)
        return nacme_fail_errno(ctx, NACME_E_IO, "cannot find nacme's own executable to start "
                                                 "the signer process (/proc/self/exe)");
    exe[n] = '\0';
    if ((err = posix_spawn_file_actions_init(&fa)) != 0)
        goto fail;
    /* dup2 leaves the copies without O_CLOEXEC: they are all the signer inherits. */
    if ((err = posix_spawn_file_actions_adddup2(&fa, key_fd, SIGNER_KEY_FD)) == 0 &&
        (err = posix_spawn_file_actions_adddup2(&fa, sock_fd, SIGNER_SOCK_FD)) == 0)
        err = posix_spawn(&s->pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err == 0)
        return NACME_OK;
fail:
    s->pid = -1;
    errno = err;
    return nacme_fail_errno(ctx, NACME_E_IO, "cannot start the signer process %s", exe);
}

enum nacme_err signer_key_new(struct nacme_ctx *ctx, int key_fd, const char *what, EVP_PKEY **pub)
{
    struct signer *s = NULL;
    unsigned char *buf = NULL;
    const unsigned char *p;
    EVP_PKEY *k = NULL;
    int sv[2] = {-1, -1};
    ssize_t n;
    enum nacme_err r = NACME_E_NOMEM;

    *pub = NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL || (s->what = nacme_strdup_new(what)) == NULL ||
        (buf = malloc(SIGNER_MSG_MAX)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory starting the signer process");
        goto out;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->fd = -1;
    s->pid = -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot make a socket for the signer process");
        goto out;
    }
    if ((r = spawn(ctx, s, key_fd, sv[1])) != NACME_OK)
        goto out;
    close(sv[1]);
    sv[1] = -1;
    s->fd = sv[0];
    sv[0] = -1;
    if ((n = recv_record(s->fd, buf)) < 0) {
        r = signer_gone(ctx, s);
        goto out;
    }
    p = buf + 1;
    if (buf[0] != 'K' || (k = d2i_PUBKEY(NULL, &p, n - 1)) == NULL) {
        r = signer_said(ctx, s, buf, n);
        goto out;
    }
    if (pthread_once(&ex_once, ex_register) != 0 || ex_index < 0 ||
        EVP_PKEY_set_ex_data(k, ex_index, s) != 1) {
        r = nacme_fail_ssl(ctx, NACME_E_CRYPTO, "cannot bind the signer process to the key");
        goto out;
    }
    s = NULL; /* the key owns it now */
    *pub = k;
    k = NULL;
    r = NACME_OK;
out:
    if (key_fd >= 0)
        close(key_fd);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    EVP_PKEY_free(k);
    signer_free(s);
    free(buf);
    return r;
}

enum nacme_err signer_sign(struct nacme_ctx *ctx, struct signer *s, const char *input, size_t len,
                           unsigned char **sig, size_t *siglen)
{
    unsigned char *buf = NULL;
    ssize_t n;
    enum nacme_err r;

    *sig = NULL;
    *siglen = 0;
    if (len + 1 > SIGNER_MSG_MAX)
        return nacme_fail(ctx, NACME_E_INVALID, "a request of %zu bytes is too large to sign",
                          len);
    if ((buf = malloc(SIGNER_MSG_MAX)) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory signing a request");
    buf[0] = 'S';
    memcpy(buf + 1, input, len);
    pthread_mutex_lock(&s->lock);
    if (s->pid < 0) {
        r = nacme_fail(ctx, NACME_E_CRYPTO, "%s: the account key's signer process is gone",
                       s->what);
    } else if (send(s->fd, buf, len + 1, MSG_NOSIGNAL) != (ssize_t)(len + 1) ||
               (n = recv_record(s->fd, buf)) < 0) {
        r = signer_gone(ctx, s);
    } else if (buf[0] != 'G' || n < 2) {
        r = signer_said(ctx, s, buf, n);
    } else if ((*sig = malloc((size_t)n - 1)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory signing a request");
    } else {
        memcpy(*sig, buf + 1, (size_t)n - 1);
        *siglen = (size_t)n - 1;
        r = NACME_OK;
    }
    pthread_mutex_unlock(&s->lock);
    free(buf);
    return r;
}

/* ---- the signer process ----------------------------------------------------------------- */

static void send_error(const struct nacme_ctx *ctx)
{
    char msg[1 + sizeof(ctx->errmsg)];
    size_t len = strlen(ctx->errmsg);

    msg[0] = 'E';
    memcpy(msg + 1, ctx->errmsg, len);
    (void)send(SIGNER_SOCK_FD, msg, len + 1, MSG_NOSIGNAL);
}

static enum nacme_err read_key(struct nacme_ctx *ctx, const char *what, EVP_PKEY **key)
{
    char *pem = malloc(SIGNER_KEY_MAX + 1);
    size_t got = 0;
    ssize_t n;
    enum nacme_err r;

    if (pem == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "%s: out of memory", what);
    while (got < SIGNER_KEY_MAX && (n = read(SIGNER_KEY_FD, pem + got, SIGNER_KEY_MAX - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = nacme_fail_errno(ctx, NACME_E_IO, "cannot read %s", what);
            goto out;
        }
        got += (size_t)n;
    }
    pem[got] = '\0';
    r = key_from_pem_new(ctx, pem, got, what, key);
out:
    close(SIGNER_KEY_FD);
    nacme_secret_free(pem, SIGNER_KEY_MAX + 1);
    return r;
}

#if defined(__x86_64__)
#define SIGNER_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SIGNER_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define ALLOW(nr)                                                                                  \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

/* seccomp: what signing and answering need (the socket, memory, randomness for ECDSA, time),
 * nothing else; any other system call kills the process, which the main process then reports. */
static int allow_only_signing(void)
{
#ifdef SIGNER_AUDIT_ARCH
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SIGNER_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        ALLOW(__NR_read),
        ALLOW(__NR_write),
        ALLOW(__NR_recvfrom),
        ALLOW(__NR_sendto),
        ALLOW(__NR_recvmsg),
        ALLOW(__NR_sendmsg),
        ALLOW(__NR_close),
        ALLOW(__NR_getrandom),
        ALLOW(__NR_brk),
        ALLOW(__NR_mmap),
        ALLOW(__NR_munmap),
        ALLOW(__NR_mremap),
        ALLOW(__NR_madvise),
        ALLOW(__NR_mprotect),
        ALLOW(__NR_futex),
        ALLOW(__NR_clock_gettime),
        ALLOW(__NR_gettimeofday),
        ALLOW(__NR_getpid),
        ALLOW(__NR_gettid),
        ALLOW(__NR_sched_yield),
        ALLOW(__NR_rt_sigreturn),
        ALLOW(__NR_rt_sigprocmask),
        ALLOW(__NR_exit),
        ALLOW(__NR_exit_group),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    };
    struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};

    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
#else
    return 0; /* an architecture this filter was not written for: Landlock and the rest remain */
#endif
}

static int confine(struct nacme_ctx *ctx)
{
    /* Landlock where the kernel has it: no file system access at all. Without it, the seccomp
     * filter below still keeps open(2) and execve(2) out. */
    if (confine_files(NULL, 0) == CONFINE_FAILED) {
        nacme_fail_errno(ctx, NACME_E_IO, "signer: cannot give up file system access (Landlock)");
        return -1;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        nacme_fail_errno(ctx, NACME_E_IO, "signer: cannot drop privileges (no_new_privs)");
        return -1;
    }
    if (allow_only_signing() != 0) {
        nacme_fail_errno(ctx, NACME_E_IO, "signer: cannot install its seccomp filter");
        return -1;
    }
    return 0;
}

/* Answer 'S' records until the main process closes its end. */
static int serve(struct nacme_ctx *ctx, EVP_PKEY *key, unsigned char *buf)
{
    unsigned char *sig;
    size_t siglen;
    ssize_t n;

    for (;;) {
        if ((n = recv(SIGNER_SOCK_FD, buf, SIGNER_MSG_MAX, 0)) < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? 0 : 1;
        if (buf[0] != 'S') {
            nacme_fail(ctx, NACME_E_INVALID, "signer: unknown request %d", buf[0]);
            send_error(ctx);
            continue;
        }
        if (jws_raw_sign_new(ctx, key, (const char *)buf + 1, (size_t)n - 1, &sig, &siglen) !=
                NACME_OK ||
            siglen + 1 > SIGNER_MSG_MAX) {
            send_error(ctx);
            free(sig);
            continue;
        }
        buf[0] = 'G';
        memcpy(buf + 1, sig, siglen);
        free(sig);
        (void)send(SIGNER_SOCK_FD, buf, siglen + 1, MSG_NOSIGNAL);
    }
}

int signer_main(const char *what)
{
    struct nacme_ctx ctx;
    unsigned char *buf = NULL, *der = NULL, *sig = NULL;
    EVP_PKEY *key = NULL;
    size_t siglen;
    int len, status = 1;

    nacme_ctx_init(&ctx);
    /* Only the key file and the socket: nothing else of the main process's reaches this one. */
    close_range(SIGNER_SOCK_FD + 1, ~0U, 0);
    if ((buf = malloc(SIGNER_MSG_MAX)) == NULL) {
        nacme_fail(&ctx, NACME_E_NOMEM, "signer: out of memory");
        goto fail;
    }
    if (read_key(&ctx, what, &key) != NACME_OK)
        goto fail;
    /* One signature before confinement: OpenSSL seeds its random generator and loads what it
     * loads lazily (from files it could not open afterwards). */
    if (jws_raw_sign_new(&ctx, key, "", 0, &sig, &siglen) != NACME_OK)
        goto fail;
    if ((len = i2d_PUBKEY(key, &der)) <= 0 || len + 1 > SIGNER_MSG_MAX) {
        nacme_fail_ssl(&ctx, NACME_E_CRYPTO, "%s: cannot encode the public key", what);
        goto fail;
    }
    if (confine(&ctx) != 0)
        goto fail;
    buf[0] = 'K';
    memcpy(buf + 1, der, (size_t)len);
    if (send(SIGNER_SOCK_FD, buf, (size_t)len + 1, MSG_NOSIGNAL) != len + 1)
        goto out;
    status = serve(&ctx, key, buf);
    goto out;
fail:
    send_error(&ctx);
out:
    OPENSSL_free(der);
    free(sig);
    free(buf);
    EVP_PKEY_free(key);
    /* _exit: no atexit handlers, which would want system calls the filter does not allow. */
    _exit(status);
}
