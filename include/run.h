/* run.h - running a configured command: split at blanks, no shell, output captured, bounded. */
#ifndef NACME_RUN_H
#define NACME_RUN_H

#include "nacme.h"

#include <stddef.h>

/* Split buf in place into argv, at most max - 1 words and a NULL: blanks separate words, '...'
 * is literal, "..." keeps blanks (\" and \\ decoded), a backslash outside quotes keeps the next
 * character; nothing is expanded. 0, or -1 when there is no word, too many, or an open quote. */
int run_split_words(char *buf, char **argv, size_t max);

/* Run cmd (split by run_split_words into at most 30 words; who wants a shell writes "sh -c ...")
 * with stdin from /dev/null and env as its environment (NULL: nacme's own), collecting stdout and
 * stderr (capped at 64 KiB) into *output and its exit status into *status (128+N when killed by
 * signal N); killed after timeout_s. Termination signals, which nacme blocks for itself, are
 * unblocked in the child. NACME_E_IO naming the command when it cannot be started. */
enum nacme_err run_command_new(struct nacme_ctx *ctx, const char *cmd, char *const *env,
                               int timeout_s, char **output, int *status);

/* As run_command_new, with the words of extra (NULL-terminated, at most 8; NULL for none)
 * appended to cmd's as they are, never split or expanded, and the raw wait(2) status in *wstatus
 * (WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG), which tells an exit from a signal. */
enum nacme_err run_command_argv_new(struct nacme_ctx *ctx, const char *cmd,
                                    const char *const *extra, char *const *env, int timeout_s,
                                    char **output, int *wstatus);

/* nacme's environment with the "NAME=value" strings of extra (borrowed) added, replacing any
 * variable of the same NAME, for a hook; free the array (not the strings) with free(). NULL on
 * OOM. */
char **run_env_new(char *const *extra, size_t nextra);

#endif
