/*
 * nginx_ctl.h - the running nginx: test its configuration, reload it, and check what it serves.
 * Commands are split at blanks and run without a shell (a user who wants one writes "sh -c ...").
 */
#ifndef NACME_NGINX_CTL_H
#define NACME_NGINX_CTL_H

#include <stdbool.h>

#include "nacme.h"

#define NGINX_DEFAULT_TEST_CMD "nginx -t"
#define NGINX_DEFAULT_RELOAD_CMD "nginx -s reload"
#define NGINX_DEFAULT_PID_FILE "/run/nginx.pid"

/* The configuration test (nginx -t): NACME_OK, or NACME_E_INVALID naming the command and nginx's
 * first [emerg] line (or its last line). *output (may be NULL) gets everything it printed. */
enum nacme_err nginx_test(struct nacme_ctx *ctx, const char *cmd, char **output);

/* Whether the nginx master of pid_file runs. */
bool nginx_running(const char *pid_file);

#define NGINX_WORKERS_MAX 1024
#define NGINX_SETTLE_MS 10000

/* The reload command: NACME_OK when it exited 0, else NACME_E_IO naming it and its output. Then,
 * when pid_file names a running master, wait (up to NGINX_SETTLE_MS) until every worker it had
 * before has stopped taking connections, so that nginx answers with the new configuration only. */
enum nacme_err nginx_reload(struct nacme_ctx *ctx, const char *cmd, const char *pid_file);

/* The serial (upper-case hex) of the certificate nginx presents at host:port for the SNI name.
 * No verification: it is our own nginx, and the point is to compare with what we installed. */
enum nacme_err nginx_served_serial_new(struct nacme_ctx *ctx, const char *host, int port,
                                       const char *sni, char **serial);

/* What nginx printed, line by line (sanitised), indented under the error line that follows, so
 * that the admin sees what nginx said. */
void nginx_output_show(const struct nacme_ctx *ctx, const char *output);

/* The error log's size now (0 when it cannot be read): where a later look starts. */
long nginx_error_log_size(const char *error_log);
/* The last line holding "[emerg]" that was written to the error log after it had `since` bytes
 * (an older one is about an earlier reload, not this one), or NULL. */
char *nginx_last_emerg_new(const char *error_log, long since);

#endif
