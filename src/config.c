/* config.c - nacme.conf through libconfuse. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <confuse.h>

#include "acme.h"
#include "dns01.h"
#include "keys.h"

/* libconfuse's error callback gets only the cfg_t; this hidden option (a name no configuration
 * file can spell) carries our context to it through its simple-value pointer. */
#define CTX_OPT "nacme ctx"

static const struct {
    const char *server;
    const char *url;
} short_servers[] = {
    {"letsencrypt", "https://acme-v02.api.letsencrypt.org/directory"},
    {"letsencrypt-staging", "https://acme-staging-v02.api.letsencrypt.org/directory"},
};

const char *config_server_url(const char *server)
{
    size_t i;

    for (i = 0; i < sizeof(short_servers) / sizeof(short_servers[0]); i++)
        if (strcmp(server, short_servers[i].server) == 0)
            return short_servers[i].url;
    return server;
}

static int reject_value(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    (void)opt;
    (void)value;
    (void)result;
    cfg_error(cfg, "unknown option");
    return -1;
}

__attribute__((format(printf, 2, 0))) static void on_error(cfg_t *cfg, const char *fmt,
                                                           va_list ap)
{
    cfg_opt_t *opt = cfg_getopt(cfg, CTX_OPT);
    struct nacme_ctx *ctx = opt ? (struct nacme_ctx *)(void *)opt->simple_value.ptr : NULL;
    char msg[512];

    if (ctx == NULL || ctx->err != NACME_OK) /* keep the first error: it is the cause */
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (cfg->filename != NULL)
        nacme_fail(ctx, NACME_E_CONFIG, "%s:%d: %s", cfg->filename, cfg->line, msg);
    else
        nacme_fail(ctx, NACME_E_CONFIG, "configuration: %s", msg);
}

static int validate_key_type(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    enum nacme_keytype t;

    if (v != NULL && keytype_parse(v, &t) != 0) {
        cfg_error(cfg, "key_type \"%s\" is not one of ec256, ec384, rsa2048, rsa3072, rsa4096", v);
        return -1;
    }
    return 0;
}

bool config_challenge_valid(const char *challenge)
{
    return strcmp(challenge, NACME_CHALLENGE_HTTP01) == 0 ||
           strcmp(challenge, NACME_CHALLENGE_DNS01) == 0;
}

static int validate_challenge(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);

    if (v != NULL && !config_challenge_valid(v)) {
        cfg_error(cfg, "challenge \"%s\" is not http-01 or dns-01", v);
        return -1;
    }
    return 0;
}

static int validate_resolver(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    struct dns01_resolver res;

    if (v != NULL && dns01_resolver_parse(v, &res) != 0) {
        cfg_error(cfg, "dns_resolver \"%s\" is not IP, IP:PORT, IPv6 or [IPv6]:PORT", v);
        return -1;
    }
    return 0;
}

static int validate_dns_timeout(cfg_t *cfg, cfg_opt_t *opt)
{
    long v = cfg_opt_getnint(opt, 0);

    if (v < 1 || v > 3600) {
        cfg_error(cfg, "%s %ld is not a number of seconds (1-3600)", cfg_opt_name(opt), v);
        return -1;
    }
    return 0;
}

static int validate_port(cfg_t *cfg, cfg_opt_t *opt)
{
    long v = cfg_opt_getnint(opt, 0);

    if (v < 1 || v > 65535) {
        cfg_error(cfg, "%s %ld is not a port (1-65535)", cfg_opt_name(opt), v);
        return -1;
    }
    return 0;
}

static int validate_renew_before_days(cfg_t *cfg, cfg_opt_t *opt)
{
    long v = cfg_opt_getnint(opt, 0);

    if (v < 1 || v > 365) {
        cfg_error(cfg, "renew_before_days %ld is not a number of days (1-365)", v);
        return -1;
    }
    return 0;
}

static int validate_http_timeout(cfg_t *cfg, cfg_opt_t *opt)
{
    long v = cfg_opt_getnint(opt, 0);

    if (v < 1 || v > 3600) {
        cfg_error(cfg, "http_timeout %ld is not a number of seconds (1-3600)", v);
        return -1;
    }
    return 0;
}

static int validate_lock_wait(cfg_t *cfg, cfg_opt_t *opt)
{
    long v = cfg_opt_getnint(opt, 0);

    if (v < 0 || v > 86400) {
        cfg_error(cfg, "lock_wait %ld is not a number of seconds (0-86400)", v);
        return -1;
    }
    return 0;
}

static int validate_profile(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);

    if (v != NULL && !acme_profile_name_valid(v)) {
        cfg_error(cfg, "profile \"%s\" is not a profile name (1-64 printable characters without "
                  "spaces)", v);
        return -1;
    }
    return 0;
}

/* Replace *dst with the file's value when the file set one. */
static int take_string(cfg_t *cfg, const char *key, char **dst)
{
    const char *v = cfg_getstr(cfg, key);
    char *copy;

    if (v == NULL)
        return 0;
    if ((copy = nacme_strdup_new(v)) == NULL)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

enum nacme_err config_load(struct nacme_ctx *ctx, const char *path, bool must_exist,
                           struct nacme_config *cfg)
{
    cfg_opt_t opts[] = {
        CFG_STR("server", NULL, CFGF_NODEFAULT),
        CFG_STR("ca_bundle", NULL, CFGF_NODEFAULT),
        CFG_STR("state_dir", NULL, CFGF_NODEFAULT),
        CFG_STR("webroot", NULL, CFGF_NODEFAULT),
        CFG_STR("email", NULL, CFGF_NODEFAULT),
        CFG_BOOL("agree_tos", cfg_false, CFGF_NONE),
        CFG_STR("key_type", NULL, CFGF_NODEFAULT),
        CFG_STR("eab_kid", NULL, CFGF_NODEFAULT),
        CFG_STR("eab_hmac_key", NULL, CFGF_NODEFAULT),
        CFG_STR("nginx_snippet_dir", NULL, CFGF_NODEFAULT),
        CFG_STR("nginx_conf", NULL, CFGF_NODEFAULT),
        CFG_STR("nginx_test", NULL, CFGF_NODEFAULT),
        CFG_STR("nginx_reload", NULL, CFGF_NODEFAULT),
        CFG_STR("nginx_pid_file", NULL, CFGF_NODEFAULT),
        CFG_STR("nginx_error_log", NULL, CFGF_NODEFAULT),
        CFG_INT("nginx_https_port", 0, CFGF_NODEFAULT),
        CFG_INT("nginx_http_port", 0, CFGF_NODEFAULT),
        CFG_BOOL("preflight", cfg_true, CFGF_NONE),
        CFG_INT("renew_before_days", 0, CFGF_NODEFAULT),
        CFG_STR("pre_hook", NULL, CFGF_NODEFAULT),
        CFG_STR("post_hook", NULL, CFGF_NODEFAULT),
        CFG_STR("deploy_hook", NULL, CFGF_NODEFAULT),
        CFG_INT("lock_wait", 0, CFGF_NODEFAULT),
        CFG_INT("http_timeout", 0, CFGF_NODEFAULT),
        CFG_BOOL("landlock", cfg_true, CFGF_NONE),
        CFG_STR("metrics_file", NULL, CFGF_NODEFAULT),
        CFG_STR("profile", NULL, CFGF_NODEFAULT),
        CFG_STR("challenge", NULL, CFGF_NODEFAULT),
        CFG_STR("dns_hook", NULL, CFGF_NODEFAULT),
        CFG_STR("dns_resolver", NULL, CFGF_NODEFAULT),
        CFG_INT("dns_hook_timeout", 0, CFGF_NODEFAULT),
        CFG_INT("dns_wait_timeout", 0, CFGF_NODEFAULT),
        __CFG_PTR(CTX_OPT, 0, CFGF_NODEFAULT, (void **)(void *)ctx, reject_value, 0),
        CFG_END(),
    };
    static const char *const strings[] = {"server",  "ca_bundle", "state_dir",    "webroot",
                                          "email",   "key_type",  "eab_kid",      "eab_hmac_key",
                                          "nginx_snippet_dir", "nginx_test", "nginx_reload",
                                          "nginx_pid_file", "nginx_error_log", "pre_hook",
                                          "post_hook", "deploy_hook", "nginx_conf",
                                          "metrics_file", "profile", "challenge", "dns_hook",
                                          "dns_resolver"};
    char **dsts[] = {&cfg->server,  &cfg->ca_bundle, &cfg->state_dir,    &cfg->webroot,
                     &cfg->email,   &cfg->key_type,  &cfg->eab_kid,      &cfg->eab_hmac_key,
                     &cfg->nginx_snippets, &cfg->nginx_test_cmd, &cfg->nginx_reload_cmd,
                     &cfg->nginx_pid_file, &cfg->nginx_error_log, &cfg->pre_hook,
                     &cfg->post_hook, &cfg->deploy_hook, &cfg->nginx_conf,
                     &cfg->metrics_file, &cfg->profile, &cfg->challenge, &cfg->dns_hook,
                     &cfg->dns_resolver};
    enum nacme_err r = NACME_OK;
    cfg_t *c = NULL;
    size_t i;
    int rc;

    if (access(path, F_OK) != 0 && errno == ENOENT && !must_exist)
        return NACME_OK;
    if ((c = cfg_init(opts, CFGF_NONE)) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory reading %s", path);
    cfg_set_error_function(c, on_error);
    cfg_set_validate_func(c, "key_type", validate_key_type);
    cfg_set_validate_func(c, "nginx_https_port", validate_port);
    cfg_set_validate_func(c, "nginx_http_port", validate_port);
    cfg_set_validate_func(c, "renew_before_days", validate_renew_before_days);
    cfg_set_validate_func(c, "lock_wait", validate_lock_wait);
    cfg_set_validate_func(c, "http_timeout", validate_http_timeout);
    cfg_set_validate_func(c, "profile", validate_profile);
    cfg_set_validate_func(c, "challenge", validate_challenge);
    cfg_set_validate_func(c, "dns_resolver", validate_resolver);
    cfg_set_validate_func(c, "dns_hook_timeout", validate_dns_timeout);
    cfg_set_validate_func(c, "dns_wait_timeout", validate_dns_timeout);
    ctx->err = NACME_OK;
    rc = cfg_parse(c, path);
    if (rc == CFG_FILE_ERROR) {
        r = nacme_fail_errno(ctx, NACME_E_CONFIG, "cannot read %s", path);
        goto out;
    }
    if (rc != CFG_SUCCESS) {
        r = ctx->err != NACME_OK ? ctx->err
                                 : nacme_fail(ctx, NACME_E_CONFIG, "%s: cannot parse", path);
        goto out;
    }
    for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        if (take_string(c, strings[i], dsts[i]) != 0) {
            r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
            goto out;
        }
    if (cfg_getbool(c, "agree_tos"))
        cfg->agree_tos = true;
    if (cfg_size(c, "nginx_https_port") > 0)
        cfg->nginx_https_port = cfg_getint(c, "nginx_https_port");
    if (cfg_size(c, "nginx_http_port") > 0)
        cfg->nginx_http_port = cfg_getint(c, "nginx_http_port");
    if (!cfg_getbool(c, "preflight"))
        cfg->preflight_off = true;
    if (cfg_size(c, "renew_before_days") > 0)
        cfg->renew_before_days = cfg_getint(c, "renew_before_days");
    if (!cfg_getbool(c, "landlock"))
        cfg->landlock_off = true;
    if (cfg_size(c, "http_timeout") > 0)
        cfg->http_timeout = cfg_getint(c, "http_timeout");
    if (cfg_size(c, "dns_hook_timeout") > 0)
        cfg->dns_hook_timeout = cfg_getint(c, "dns_hook_timeout");
    if (cfg_size(c, "dns_wait_timeout") > 0)
        cfg->dns_wait_timeout = cfg_getint(c, "dns_wait_timeout");
    if (cfg_size(c, "lock_wait") > 0) {
        cfg->lock_wait = cfg_getint(c, "lock_wait");
        cfg->lock_wait_set = true;
    }
out:
    cfg_free(c);
    return r;
}

static int default_string(char **dst, const char *def)
{
    if (*dst != NULL || def == NULL)
        return 0;
    return (*dst = nacme_strdup_new(def)) ? 0 : -1;
}

enum nacme_err config_defaults(struct nacme_ctx *ctx, struct nacme_config *cfg)
{
    if (default_string(&cfg->server, NACME_DEFAULT_SERVER) != 0 ||
        default_string(&cfg->state_dir, NACME_DEFAULT_STATE_DIR) != 0 ||
        default_string(&cfg->webroot, NACME_DEFAULT_WEBROOT) != 0 ||
        default_string(&cfg->key_type, "ec256") != 0 ||
        default_string(&cfg->nginx_snippets, NACME_DEFAULT_NGINX_SNIPPETS) != 0 ||
        default_string(&cfg->nginx_conf, NACME_DEFAULT_NGINX_CONF) != 0 ||
        default_string(&cfg->nginx_test_cmd, NACME_DEFAULT_NGINX_TEST) != 0 ||
        default_string(&cfg->nginx_reload_cmd, NACME_DEFAULT_NGINX_RELOAD) != 0 ||
        default_string(&cfg->nginx_pid_file, NACME_DEFAULT_NGINX_PID) != 0 ||
        default_string(&cfg->nginx_error_log, NACME_DEFAULT_NGINX_ERROR_LOG) != 0 ||
        default_string(&cfg->challenge, NACME_CHALLENGE_HTTP01) != 0)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    if (cfg->nginx_https_port == 0)
        cfg->nginx_https_port = 443;
    if (cfg->nginx_http_port == 0)
        cfg->nginx_http_port = 80;
    if (cfg->dns_hook_timeout == 0)
        cfg->dns_hook_timeout = DNS01_DEFAULT_HOOK_TIMEOUT;
    if (cfg->dns_wait_timeout == 0)
        cfg->dns_wait_timeout = DNS01_DEFAULT_WAIT_TIMEOUT;
    if (!cfg->lock_wait_set)
        cfg->lock_wait = NACME_DEFAULT_LOCK_WAIT;
    return NACME_OK;
}

void config_clear(struct nacme_config *cfg)
{
    free(cfg->server);
    free(cfg->ca_bundle);
    free(cfg->state_dir);
    free(cfg->webroot);
    free(cfg->email);
    free(cfg->key_type);
    free(cfg->eab_kid);
    free(cfg->nginx_snippets);
    free(cfg->nginx_conf);
    free(cfg->nginx_test_cmd);
    free(cfg->nginx_reload_cmd);
    free(cfg->nginx_pid_file);
    free(cfg->nginx_error_log);
    free(cfg->pre_hook);
    free(cfg->post_hook);
    free(cfg->deploy_hook);
    free(cfg->metrics_file);
    free(cfg->profile);
    free(cfg->challenge);
    free(cfg->dns_hook);
    free(cfg->dns_resolver);
    nacme_secret_free(cfg->eab_hmac_key, cfg->eab_hmac_key ? strlen(cfg->eab_hmac_key) : 0);
    memset(cfg, 0, sizeof(*cfg));
}
