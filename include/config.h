/*
 * config.h - settings from /etc/nacme/nacme.conf (libconfuse), overlaid by the command line.
 * Every global command-line option has a key here; nacme.conf(5) documents them.
 */
#ifndef NACME_CONFIG_H
#define NACME_CONFIG_H

#include <stdbool.h>

#include "nacme.h"

#define NACME_DEFAULT_CONFIG "/etc/nacme/nacme.conf"
#define NACME_DEFAULT_STATE_DIR "/var/lib/nacme"
#define NACME_DEFAULT_WEBROOT "/var/www/nacme"
#define NACME_DEFAULT_SERVER "letsencrypt"
#define NACME_DEFAULT_NGINX_SNIPPETS "/etc/nginx/snippets"
#define NACME_DEFAULT_NGINX_CONF "/etc/nginx/nginx.conf"
#define NACME_DEFAULT_NGINX_TEST "nginx -t"
#define NACME_DEFAULT_NGINX_RELOAD "nginx -s reload"
#define NACME_DEFAULT_NGINX_PID "/run/nginx.pid"
#define NACME_DEFAULT_NGINX_ERROR_LOG "/var/log/nginx/error.log"
#define NACME_DEFAULT_LOCK_WAIT 60

struct nacme_config {
    char *server;       /* directory URL, or a short name (letsencrypt, letsencrypt-staging) */
    char *ca_bundle;    /* trust for the ACME server's HTTPS; NULL: the system's */
    char *state_dir;
    char *webroot;
    char *email;
    bool agree_tos;
    char *key_type;     /* for new certificates */
    char *eab_kid;
    char *eab_hmac_key;
    char *nginx_snippets; /* nginx's snippet directory, for nginx-setup */
    char *nginx_conf;     /* nginx's main configuration file, read by nginx-setup --list */
    char *nginx_test_cmd;   /* "nginx -t" */
    char *nginx_reload_cmd; /* "nginx -s reload" */
    char *nginx_pid_file;   /* "/run/nginx.pid" */
    char *nginx_error_log;  /* "/var/log/nginx/error.log" */
    long nginx_https_port;  /* where the local nginx serves HTTPS (443); 0 before defaults */
    long nginx_http_port;   /* where the local nginx serves the CA's port 80 (80); 0 before
                             * defaults */
    bool preflight_off;     /* preflight = false or --no-preflight: nginx is not on this machine,
                             * so the token is not fetched locally before the CA is asked */
    long renew_before_days; /* renew this many days before expiry at the latest; 0: lifetime rule */
    char *pre_hook;         /* commands around a renew run that renews anything, or NULL */
    char *post_hook;
    char *deploy_hook;      /* once per renewed lineage */
    bool landlock_off;      /* landlock = false: the network thread runs unconfined */
    long http_timeout;      /* seconds one request to the CA may take; 0: the default, 30 */
    long lock_wait;         /* seconds to wait for another nacme's lock (default 60) */
    bool lock_wait_set;     /* lock_wait was configured (0 is a valid setting: do not wait) */
    char *metrics_file;     /* Prometheus textfile written after issue, renew and list, or NULL */
    char *profile;          /* the CA's certificate profile for new certificates (and lineages
                             * that record none), or NULL: the CA's default */
    char *challenge;        /* for new certificates: "http-01" (default) or "dns-01" */
    char *dns_hook;         /* dns-01: the program that adds and removes TXT records, or NULL */
    char *dns_resolver;     /* dns-01: wait until this resolver answers the record, or NULL */
    long dns_hook_timeout;  /* s one hook call may take; 0 before defaults */
    long dns_wait_timeout;  /* s to wait for the resolver; 0 before defaults */
};

/* The challenge types nacme answers (config_challenge_valid says whether a name is one). */
#define NACME_CHALLENGE_HTTP01 "http-01"
#define NACME_CHALLENGE_DNS01 "dns-01"
bool config_challenge_valid(const char *challenge);

/* Read path into cfg (fields the file sets replace what cfg held). A missing file is an error only
 * when must_exist (an explicit --config). Errors are NACME_E_CONFIG naming file:line. */
enum nacme_err config_load(struct nacme_ctx *ctx, const char *path, bool must_exist,
                           struct nacme_config *cfg);
/* Fill every unset field with its built-in default. */
enum nacme_err config_defaults(struct nacme_ctx *ctx, struct nacme_config *cfg);
void config_clear(struct nacme_config *cfg);

/* The directory URL for a server setting: short names expanded, anything else returned as is.
 * Static string or cfg's own; never NULL for a non-NULL input. */
const char *config_server_url(const char *server);

#endif
