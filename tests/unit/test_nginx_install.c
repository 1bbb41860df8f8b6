/* test_nginx_install.c - an install whose files changed after the plan read them writes nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nginx_conf.h"
#include "nginx_install.h"
#include "nginx_sites.h"

#define SITE "server {\n    listen 80;\n    server_name a.example;\n}\n"

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* plan, then change = 0: nothing; 1: another tool saves the same size, a new mtime; 2: appends. */
static void plan_then_install(int change)
{
    char dir[] = "/tmp/nacme-install.XXXXXX", conf_path[128], site_path[128], snippets[128],
         cmd[160], *lineages[] = {"a.example"};
    struct nginx_install_opts opt = {.snippet_dir = snippets, .http_port = 80, .https_port = 443,
                                     .lineages = lineages, .nlineages = 1};
    struct nginx_conf *conf = NULL;
    struct nginx_sites *sites = NULL;
    struct nginx_plan *plan = NULL;
    struct nacme_ctx ctx;
    struct timespec later[2];
    const char *changed = change == 2 ? SITE "# saved by someone else\n" : SITE;
    enum nacme_err r;

    nacme_ctx_init(&ctx);
    assert_non_null(mkdtemp(dir));
    snprintf(conf_path, sizeof(conf_path), "%s/nginx.conf", dir);
    snprintf(site_path, sizeof(site_path), "%s/site.conf", dir);
    snprintf(snippets, sizeof(snippets), "%s/snippets", dir);
    put(conf_path, "events {}\nhttp {\n    include site.conf;\n}\n");
    put(site_path, SITE);
    opt.conf_path = conf_path;
    assert_int_equal(nginx_conf_read_new(&ctx, conf_path, &conf), NACME_OK);
    assert_int_equal(nginx_sites_new(&ctx, conf, &sites), NACME_OK);
    assert_int_equal(nginx_plan_new(&ctx, conf, sites, &opt, &plan), NACME_OK);
    assert_true(plan->nfiles > 0);
    if (change) {
        put(site_path, changed);
        /* A coarse clock could give the rewrite the mtime of the original: set one apart. */
        clock_gettime(CLOCK_REALTIME, &later[0]);
        later[0].tv_sec += 5;
        later[1] = later[0];
        assert_int_equal(utimensat(AT_FDCWD, site_path, later, 0), 0);
    }
    r = nginx_plan_install(&ctx, plan, "true", time(NULL), NULL);
    if (change) {
        assert_int_equal(r, NACME_E_INVALID);
        assert_non_null(strstr(ctx.errmsg, "site.conf changed while nacme was planning"));
        assert_string_equal(slurp(site_path), changed); /* the other tool's text stays */
        assert_int_equal(entries(dir), 2);               /* no backup was written */
    } else {
        assert_int_equal(r, NACME_OK);
        assert_non_null(strstr(slurp(site_path), "include"));
        assert_int_equal(entries(dir), 3); /* nginx.conf, site.conf and site.conf's backup */
    }
    nginx_plan_free(plan);
    nginx_sites_free(sites);
    nginx_conf_free(conf);
    snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_unchanged_file_is_edited(void **state)
{
    (void)state;
    plan_then_install(0);
}

static void test_file_saved_meanwhile_same_size(void **state)
{
    (void)state;
    plan_then_install(1);
}

static void test_file_grown_meanwhile(void **state)
{
    (void)state;
    plan_then_install(2);
}

/* Two server blocks on one line: each gets its own include, not both the first. */
static void test_two_blocks_on_one_line(void **state)
{
    char dir[] = "/tmp/nacme-install.XXXXXX", conf_path[128], snippets[128], cmd[160],
         *lineages[] = {"a.example", "b.example"};
    struct nginx_install_opts opt = {.snippet_dir = snippets, .http_port = 80, .https_port = 443,
                                     .lineages = lineages, .nlineages = 2};
    struct nginx_conf *conf = NULL;
    struct nginx_sites *sites = NULL;
    struct nginx_plan *plan = NULL;
    struct nacme_ctx ctx;
    const char *text, *second;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_non_null(mkdtemp(dir));
    snprintf(conf_path, sizeof(conf_path), "%s/nginx.conf", dir);
    snprintf(snippets, sizeof(snippets), "%s/snippets", dir);
    put(conf_path, "events {}\nhttp {\n    server { listen 80; server_name a.example; } "
                   "server { listen 80; server_name b.example; }\n}\n");
    opt.conf_path = conf_path;
    assert_int_equal(nginx_conf_read_new(&ctx, conf_path, &conf), NACME_OK);
    assert_int_equal(nginx_sites_new(&ctx, conf, &sites), NACME_OK);
    assert_int_equal(sites->nsites, 2);
    assert_int_equal(nginx_plan_new(&ctx, conf, sites, &opt, &plan), NACME_OK);
    assert_int_equal(nginx_plan_install(&ctx, plan, "true", time(NULL), NULL), NACME_OK);
    text = slurp(conf_path);
    second = strstr(text, "server_name b.example");
    assert_non_null(second);
    /* one include between the first block's name and the second's, and one after */
    assert_non_null(strstr(text, "include"));
    assert_true(strstr(text, "include") < second);
    assert_non_null(strstr(second, "include"));
    nginx_plan_free(plan);
    nginx_sites_free(sites);
    nginx_conf_free(conf);
    snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unchanged_file_is_edited),
        cmocka_unit_test(test_file_saved_meanwhile_same_size),
        cmocka_unit_test(test_file_grown_meanwhile),
        cmocka_unit_test(test_two_blocks_on_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
