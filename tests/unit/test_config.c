/* test_config.c - nacme.conf: every key read, errors naming file:line, defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char *write_conf(const char *text)
{
    char *path = strdup("/tmp/nacme-test-conf.XXXXXX");
    int fd = mkstemp(path);
    FILE *f;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_every_key(void **state)
{
    char *path = write_conf("# nacme\n"
                            "server = \"https://ca.test/dir\"\n"
                            "ca_bundle = \"/etc/ca.pem\"\n"
                            "state_dir = \"/srv/nacme\"\n"
                            "webroot = \"/srv/www\"\n"
                            "email = \"admin@example.com\"\n"
                            "agree_tos = true\n"
                            "key_type = \"rsa3072\"\n"
                            "eab_kid = \"kid-1\"\n"
                            "eab_hmac_key = \"c2VjcmV0\"\n"
                            "nginx_http_port = 8080\n"
                            "preflight = false\n"
                            "nginx_conf = \"/srv/nginx/nginx.conf\"\n"
                            "http_timeout = 7\n"
                            "profile = \"shortlived\"\n"
                            "challenge = \"dns-01\"\n"
                            "dns_hook = \"/usr/local/sbin/hook --zone example.com\"\n"
                            "dns_resolver = \"[2001:db8::53]:5353\"\n"
                            "dns_hook_timeout = 30\n"
                            "dns_wait_timeout = 600\n");
    struct nacme_config cfg = {0};
    struct nacme_ctx ctx;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_int_equal(config_load(&ctx, path, true, &cfg), NACME_OK);
    assert_string_equal(cfg.server, "https://ca.test/dir");
    assert_string_equal(cfg.ca_bundle, "/etc/ca.pem");
    assert_string_equal(cfg.state_dir, "/srv/nacme");
    assert_string_equal(cfg.webroot, "/srv/www");
    assert_string_equal(cfg.email, "admin@example.com");
    assert_true(cfg.agree_tos);
    assert_string_equal(cfg.key_type, "rsa3072");
    assert_string_equal(cfg.eab_kid, "kid-1");
    assert_string_equal(cfg.eab_hmac_key, "c2VjcmV0");
    assert_int_equal(cfg.nginx_http_port, 8080);
    assert_true(cfg.preflight_off);
    assert_string_equal(cfg.nginx_conf, "/srv/nginx/nginx.conf");
    assert_int_equal(cfg.http_timeout, 7);
    assert_string_equal(cfg.profile, "shortlived");
    assert_string_equal(cfg.challenge, "dns-01");
    assert_string_equal(cfg.dns_hook, "/usr/local/sbin/hook --zone example.com");
    assert_string_equal(cfg.dns_resolver, "[2001:db8::53]:5353");
    assert_int_equal(cfg.dns_hook_timeout, 30);
    assert_int_equal(cfg.dns_wait_timeout, 600);
    config_clear(&cfg);
    unlink(path);
    free(path);
}

/* Each bad file fails with NACME_E_CONFIG and a message starting "PATH:LINE:" and naming why. */
static void test_errors_name_file_and_line(void **state)
{
    static const struct {
        const char *text;
        int line;
        const char *why;
    } cases[] = {
        {"server = \"x\"\n\nfrobnicate = 1\n", 3, "frobnicate"},
        {"server = \"x\"\nkey_type = \"dsa\"\n", 2, "dsa"},
        {"email = \"a@b\"\nagree_tos = maybe\n", 2, "agree_tos"},
        {"server = \"unterminated\n", 2, "end of file"}, /* reported where the file ends */
        {"server = \"x\"\nemail {\n", 2, ""},
        {"\"nacme ctx\" = \"x\"\n", 1, ""}, /* the hidden option cannot be set from a file */
        {"webroot = \"/w\"\nnginx_http_port = 0\n", 2, "nginx_http_port 0 is not a port"},
        {"webroot = \"/w\"\nprofile = \"short lived\"\n", 2,
         "profile \"short lived\" is not a profile name"},
        {"profile = \"\"\n", 1, "is not a profile name"},
        {"nginx_http_port = 65536\n", 1, "nginx_http_port 65536 is not a port"},
        {"nginx_https_port = -1\n", 1, "nginx_https_port -1 is not a port"},
        {"preflight = sometimes\n", 1, "preflight"},
        {"http_timeout = 0\n", 1, "http_timeout 0 is not a number of seconds (1-3600)"},
        {"\nhttp_timeout = 3601\n", 2, "http_timeout 3601 is not"},
        {"challenge = \"tls-alpn-01\"\n", 1, "challenge \"tls-alpn-01\" is not http-01 or dns-01"},
        {"\ndns_resolver = \"ns1.example.com\"\n", 2, "dns_resolver \"ns1.example.com\""},
        {"dns_resolver = \"127.0.0.1:0\"\n", 1, "dns_resolver"},
        {"dns_hook_timeout = 0\n", 1, "dns_hook_timeout 0 is not a number of seconds"},
        {"dns_wait_timeout = 3601\n", 1, "dns_wait_timeout 3601 is not a number of seconds"},
    };
    struct nacme_ctx ctx;
    char prefix[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nacme_config cfg = {0};
        char *path = write_conf(cases[i].text);
        nacme_ctx_init(&ctx);
        if (config_load(&ctx, path, true, &cfg) != NACME_E_CONFIG)
            fail_msg("case %zu: accepted %s", i, cases[i].text);
        snprintf(prefix, sizeof(prefix), "%s:%d:", path, cases[i].line);
        if (strncmp(ctx.errmsg, prefix, strlen(prefix)) != 0 ||
            strstr(ctx.errmsg, cases[i].why) == NULL)
            fail_msg("case %zu: \"%s\" should start with \"%s\" and name \"%s\"", i, ctx.errmsg,
                     prefix, cases[i].why);
        assert_null(strchr(ctx.errmsg, '\n'));
        config_clear(&cfg);
        unlink(path);
        free(path);
    }
}

/* A file that does not mention the preflight leaves it on, and the HTTP port to the defaults. */
static void test_preflight_on_unless_said(void **state)
{
    char *path = write_conf("webroot = \"/srv/www\"\n");
    struct nacme_config cfg = {0};
    struct nacme_ctx ctx;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_int_equal(config_load(&ctx, path, true, &cfg), NACME_OK);
    assert_false(cfg.preflight_off);
    assert_int_equal(cfg.nginx_http_port, 0);
    config_clear(&cfg);
    unlink(path);
    free(path);
}

static void test_missing_file(void **state)
{
    struct nacme_config cfg = {0};
    struct nacme_ctx ctx;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_int_equal(config_load(&ctx, "/nonexistent/nacme.conf", false, &cfg), NACME_OK);
    assert_null(cfg.server);
    assert_int_equal(config_load(&ctx, "/nonexistent/nacme.conf", true, &cfg), NACME_E_CONFIG);
    assert_non_null(strstr(ctx.errmsg, "/nonexistent/nacme.conf"));
}

static void test_defaults_fill_only_unset(void **state)
{
    struct nacme_config cfg = {0};
    struct nacme_ctx ctx;

    (void)state;
    nacme_ctx_init(&ctx);
    cfg.webroot = strdup("/mine");
    assert_int_equal(config_defaults(&ctx, &cfg), NACME_OK);
    assert_string_equal(cfg.webroot, "/mine");
    assert_string_equal(cfg.state_dir, NACME_DEFAULT_STATE_DIR);
    assert_string_equal(cfg.server, NACME_DEFAULT_SERVER);
    assert_string_equal(cfg.key_type, "ec256");
    assert_string_equal(cfg.nginx_conf, "/etc/nginx/nginx.conf");
    assert_null(cfg.email);
    assert_false(cfg.agree_tos);
    assert_int_equal(cfg.nginx_http_port, 80);
    assert_int_equal(cfg.nginx_https_port, 443);
    assert_false(cfg.preflight_off);
    assert_string_equal(cfg.challenge, "http-01");
    assert_null(cfg.dns_hook);
    assert_null(cfg.dns_resolver);
    assert_int_equal(cfg.dns_hook_timeout, 120);
    assert_int_equal(cfg.dns_wait_timeout, 120);
    config_clear(&cfg);
}

static void test_server_short_names(void **state)
{
    (void)state;
    assert_string_equal(config_server_url("letsencrypt"),
                        "https://acme-v02.api.letsencrypt.org/directory");
    assert_string_equal(config_server_url("letsencrypt-staging"),
                        "https://acme-staging-v02.api.letsencrypt.org/directory");
    assert_string_equal(config_server_url("https://ca.test/dir"), "https://ca.test/dir");
    assert_string_equal(config_server_url("LetsEncrypt"), "LetsEncrypt");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_preflight_on_unless_said),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_defaults_fill_only_unset),
        cmocka_unit_test(test_server_short_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
