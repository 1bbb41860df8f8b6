/* run.c - running a configured command (nginx's test and reload, hooks) without a shell. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RUN_OUTPUT_MAX (64 * 1024)
#define RUN_ARGS_MAX 32
#define RUN_EXTRA_MAX 8 /* arguments appended by run_command_argv_new */

/*
 * Split buf in place into argv (at most max - 1 words, NULL-terminated), the way a person reading
 * a configuration file expects and no further: blanks separate words; '...' keeps everything
 * literally; "..." keeps blanks, with \" and \\ decoded; outside quotes a backslash keeps the next
 * character. No variables, globs or other expansion: who wants a shell writes sh -c '...'.
 */
int run_split_words(char *buf, char **argv, size_t max)
{
    char *p = buf, *w;
    size_t n = 0;
    char quote;

    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        if (n + 1 >= max)
            return -1;
        argv[n++] = w = p;
        quote = 0;
        while (*p != '\0' && (quote || (*p != ' ' && *p != '\t'))) {
            if (quote == '\'' && *p == '\'') {
                quote = 0;
                p++;
            } else if (quote == '\'') {
                *w++ = *p++;
            } else if (*p == '\\' && (quote == 0 ? p[1] != '\0' : (p[1] == '"' || p[1] == '\\'))) {
                *w++ = p[1];
                p += 2;
            } else if (*p == '"') {
                quote = quote ? 0 : '"';
                p++;
            } else if (quote == 0 && *p == '\'') {
                quote = '\'';
                p++;
            } else {
                *w++ = *p++;
            }
        }
        if (quote)
            return -1;
        /* The terminator may overwrite the blank that ended the word: p moves on first. */
        if (*p != '\0')
            p++;
        *w = '\0';
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
/* Collect the child's output until it closes the pipe, or exits (a process it started in the
 * background may keep the pipe open: that is not ours to wait for), or the deadline passes.
 * *reaped says whether the child was waited for here (status in *ws). */
static void read_output(int fd, pid_t pid, struct nacme_buf *out,
                        const struct timespec *deadline, bool *timed_out, bool *reaped, int *ws)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char chunk[4096];
    ssize_t n;
    long left;
    int ready;

    *timed_out = false;
    *reaped = false;
    for (;;) {
        if ((left = ms_left(deadline)) <= 0) {
            *timed_out = true;
            return;
        }
        /* wake at least every 100 ms to see whether the child is gone */
        ready = poll(&pfd, 1, left < 100 ? (int)left : 100);
        if (ready < 0 && errno != EINTR)
            return;
        if (ready > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
            if ((n = read(fd, chunk, sizeof(chunk))) < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0)
                return;
            if (out->len < RUN_OUTPUT_MAX)
                nacme_buf_append(out, chunk, (size_t)n);
            continue;
        }
        /* nothing to read now: done if the child has exited */
        if (waitpid(pid, ws, WNOHANG) == pid) {
            *reaped = true;
            /* what it wrote just before it exited (the pipe is non-blocking) */
            while ((n = read(fd, chunk, sizeof(chunk))) > 0)
                if (out->len < RUN_OUTPUT_MAX)
                    nacme_buf_append(out, chunk, (size_t)n);
            return;
        }
    }
}

static enum nacme_err spawn(struct nacme_ctx *ctx, const char *cmd, char **argv, char *const *env,
                            int pipefd[2], pid_t *pid)
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
    /* its own process group, so that a timeout kills whatever it started too */
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    e = posix_spawnp(pid, argv[0], &fa, &attr, argv, env ? env : environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (e != 0) {
        errno = e;
        return nacme_fail_errno(ctx, NACME_E_IO, "cannot run \"%s\"", cmd);
    }
    return NACME_OK;
}

enum nacme_err run_command_argv_new(struct nacme_ctx *ctx, const char *cmd,
                                    const char *const *extra, char *const *env, int timeout_s,
                                    char **output, int *wstatus)
{
    struct nacme_buf out = {0};
    struct timespec deadline;
    char *buf = NULL, *argv[RUN_ARGS_MAX + RUN_EXTRA_MAX];
    int pipefd[2] = {-1, -1}, ws = 0;
    bool timed_out = false, reaped = false;
    size_t n = 0, i;
    pid_t pid = -1;
    enum nacme_err r;

    *output = NULL;
    *wstatus = -1;
    if ((buf = nacme_strdup_new(cmd)) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    if (run_split_words(buf, argv, RUN_ARGS_MAX) != 0) {
        r = nacme_fail(ctx, NACME_E_CONFIG,
                       "command \"%s\": give a program and at most %d words, quotes closed", cmd,
                       RUN_ARGS_MAX - 2);
        goto out;
    }
    /* the extra arguments go as they are: they are data (a record name, a TXT value), never
     * split or expanded */
    while (argv[n] != NULL)
        n++;
    for (i = 0; extra != NULL && extra[i] != NULL; i++) {
        if (i >= RUN_EXTRA_MAX) {
            r = nacme_fail(ctx, NACME_E_INVALID, "command \"%s\": too many arguments", cmd);
            goto out;
        }
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    if (pipe2(pipefd, O_CLOEXEC) != 0 || fcntl(pipefd[0], F_SETFL, O_NONBLOCK) != 0) {
        r = nacme_fail_errno(ctx, NACME_E_IO, "cannot run \"%s\"", cmd);
        goto out;
    }
    if ((r = spawn(ctx, cmd, argv, env, pipefd, &pid)) != NACME_OK)
        goto out;
    close(pipefd[1]);
    pipefd[1] = -1;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_s;
    read_output(pipefd[0], pid, &out, &deadline, &timed_out, &reaped, &ws);
    if (timed_out)
        kill(-pid, SIGKILL);
    while (!reaped && waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        r = nacme_fail(ctx, NACME_E_TIMEOUT, "\"%s\" did not finish within %d s; killed", cmd,
                       timeout_s);
        goto out;
    }
    *wstatus = ws;
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

enum nacme_err run_command_new(struct nacme_ctx *ctx, const char *cmd, char *const *env,
                               int timeout_s, char **output, int *status)
{
    enum nacme_err r;
    int ws = -1;

    *status = -1;
    if ((r = run_command_argv_new(ctx, cmd, NULL, env, timeout_s, output, &ws)) == NACME_OK)
        *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return r;
}

/* Whether the NAME of "NAME=value" is that of one of vars. */
static bool env_named_in(const char *entry, char *const *vars, size_t nvars)
{
    size_t i, len = strcspn(entry, "=");

    for (i = 0; i < nvars; i++)
        if (strncmp(entry, vars[i], len) == 0 && vars[i][len] == '=')
            return true;
    return false;
}

char **run_env_new(char *const *extra, size_t nextra)
{
    size_t n = 0, k = 0, i;
    char **env;

    while (environ[n] != NULL)
        n++;
    if ((env = calloc(n + nextra + 1, sizeof(*env))) == NULL)
        return NULL;
    /* our own NACME_CERT_NAME... (a nacme run from another's hook) must not shadow the new ones:
     * getenv finds the first */
    for (i = 0; i < n; i++)
        if (!env_named_in(environ[i], extra, nextra))
            env[k++] = environ[i];
    for (i = 0; i < nextra; i++)
        env[k++] = extra[i];
    return env;
}
