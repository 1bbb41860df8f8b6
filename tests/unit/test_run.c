/* test_run.c - how a configured command (hooks, nginx control) is split into words and run:
 * output, exit status, and a deadline that holds even when the command hangs silently. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "run.h"

#define MAXW 8

static void test_split_words(void **state)
{
    static const struct {
        const char *cmd;
        int rc;
        const char *words[MAXW]; /* NULL-terminated */
    } cases[] = {
        {"nginx -s reload", 0, {"nginx", "-s", "reload"}},
        {"  a \t b  ", 0, {"a", "b"}},
        {"sh -c 'echo hi; exit 3'", 0, {"sh", "-c", "echo hi; exit 3"}},
        {"echo \"a b\" c", 0, {"echo", "a b", "c"}},
        {"echo \"say \\\"hi\\\"\"", 0, {"echo", "say \"hi\""}},
        {"echo \"a\\\\b\" \"a\\nb\"", 0, {"echo", "a\\b", "a\\nb"}},
        {"echo 'a\\b'", 0, {"echo", "a\\b"}}, /* single quotes keep backslashes */
        {"echo a\\ b", 0, {"echo", "a b"}},
        {"echo ab'c d'e", 0, {"echo", "abc de"}},
        {"echo '' x", 0, {"echo", "", "x"}},
        {"echo $HOME *", 0, {"echo", "$HOME", "*"}}, /* nothing is expanded */
        {"", -1, {NULL}},
        {"   ", -1, {NULL}},
        {"echo 'open", -1, {NULL}},
        {"echo \"open", -1, {NULL}},
        {"a b c d e f g", 0, {"a", "b", "c", "d", "e", "f", "g"}},
        {"a b c d e f g h", -1, {NULL}}, /* MAXW - 1 words at most */
    };
    char buf[256], *argv[MAXW];
    size_t i, k;
    int rc;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "%s", cases[i].cmd);
        rc = run_split_words(buf, argv, MAXW);
        if (rc != cases[i].rc)
            fail_msg("case %zu \"%s\": rc %d, want %d", i, cases[i].cmd, rc, cases[i].rc);
        if (rc != 0)
            continue;
        for (k = 0; cases[i].words[k] != NULL; k++)
            if (argv[k] == NULL || strcmp(argv[k], cases[i].words[k]) != 0)
                fail_msg("case %zu \"%s\": word %zu is \"%s\", want \"%s\"", i, cases[i].cmd, k,
                         argv[k] ? argv[k] : "(none)", cases[i].words[k]);
        if (argv[k] != NULL)
            fail_msg("case %zu \"%s\": extra word \"%s\"", i, cases[i].cmd, argv[k]);
    }
}

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* cmd within timeout_s: the error, the exit status, the output and how long it took. */
static const struct {
    const char *cmd;
    int timeout_s;
    enum nacme_err err;
    int status;
    const char *output;
    double max_s;
} run_cases[] = {
    {"echo hello", 5, NACME_OK, 0, "hello\n", 2},
    {"sh -c 'echo out; echo err >&2; exit 3'", 5, NACME_OK, 3, "out\nerr\n", 2},
    /* silent and hanging: killed at the deadline, not when it chooses to end */
    {"sleep 30", 1, NACME_E_TIMEOUT, -1, NULL, 3},
    /* printing, then hanging */
    {"sh -c 'echo started; sleep 30'", 1, NACME_E_TIMEOUT, -1, NULL, 3},
    /* done, but a process it started keeps the pipe open: not ours to wait for */
    {"sh -c 'sleep 30 & echo started'", 5, NACME_OK, 0, "started\n", 2},
};

static void test_run_command(void **state)
{
    struct nacme_ctx ctx;
    char *output;
    int status;
    double t0, took;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(run_cases) / sizeof(run_cases[0]); i++) {
        nacme_ctx_init(&ctx);
        t0 = now_s();
        assert_int_equal(run_command_new(&ctx, run_cases[i].cmd, NULL, run_cases[i].timeout_s,
                                         &output, &status),
                         run_cases[i].err);
        took = now_s() - t0;
        if (took > run_cases[i].max_s)
            fail_msg("\"%s\" took %.1f s", run_cases[i].cmd, took);
        assert_int_equal(status, run_cases[i].status);
        if (run_cases[i].output != NULL)
            assert_string_equal(output, run_cases[i].output);
        else
            assert_null(output);
        free(output);
    }
}

/* A program that is not there: an error naming it, or (where posix_spawn cannot report a failed
 * exec, as under valgrind) the shell's 127. */
static void test_run_missing(void **state)
{
    struct nacme_ctx ctx;
    char *output = NULL;
    int status;
    enum nacme_err r;

    (void)state;
    nacme_ctx_init(&ctx);
    r = run_command_new(&ctx, "/nonexistent/program", NULL, 5, &output, &status);
    if (r == NACME_OK) {
        assert_int_equal(status, 127);
    } else {
        assert_int_equal(r, NACME_E_IO);
        assert_non_null(strstr(ctx.errmsg, "/nonexistent/program"));
        assert_null(output);
    }
    free(output);
}

/* Extra arguments (a hook's RECORD and VALUE) reach the program as they are: no splitting, no
 * quotes, no expansion; the raw wait status tells an exit from a signal. */
static void test_run_argv(void **state)
{
    static const char *const extra[] = {"add", "a b", "'q'", "$HOME *", NULL};
    const char *env_extra[] = {"NACME_DOMAIN=*.example.com", "PATH=/usr/bin:/bin"};
    struct nacme_ctx ctx;
    char *output = NULL, **env;
    int ws;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_int_equal(run_command_argv_new(&ctx, "sh -c 'printf \"%s|\" \"$@\"' sh", extra, NULL, 5,
                                          &output, &ws),
                     NACME_OK);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    assert_string_equal(output, "add|a b|'q'|$HOME *|");
    free(output);
    assert_int_equal(run_command_argv_new(&ctx, "sh -c 'exit 3'", NULL, NULL, 5, &output, &ws),
                     NACME_OK);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 3);
    free(output);
    assert_int_equal(run_command_argv_new(&ctx, "sh -c 'kill -9 $$'", NULL, NULL, 5, &output, &ws),
                     NACME_OK);
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == 9);
    free(output);
    /* the environment: nacme's, with the extra variables replacing any of the same name */
    assert_non_null(env = run_env_new((char *const *)env_extra, 2));
    assert_int_equal(run_command_argv_new(&ctx,
                                          "sh -c 'printf \"%s|%s\" \"$NACME_DOMAIN\" \"$PATH\"'",
                                          NULL, env, 5, &output, &ws),
                     NACME_OK);
    assert_string_equal(output, "*.example.com|/usr/bin:/bin");
    free(output);
    free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_words),
        cmocka_unit_test(test_run_command),
        cmocka_unit_test(test_run_missing),
        cmocka_unit_test(test_run_argv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
