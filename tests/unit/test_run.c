/* test_run.c - how a configured command (hooks, nginx control) is split into words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
