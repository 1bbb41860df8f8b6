/* test_nginx_sites.c - sites from server blocks: eligible names, every skip reason, merging of
 * blocks that share names, listen values, file:line; Debian's default and the layout corpus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nginx_conf.h"
#include "nginx_sites.h"

#define MAIN "/t/nginx.conf"

struct file {
    const char *path;
    const char *text;
};

static struct nginx_conf *conf_new(const struct file *files, size_t n)
{
    struct nacme_buf b = {0};
    struct nacme_ctx ctx;
    struct nginx_conf *c = NULL;
    size_t i;

    nacme_ctx_init(&ctx);
    for (i = 0; i < n; i++) {
        char head[512];
        snprintf(head, sizeof(head), "# configuration file %s:\n", files[i].path);
        nacme_buf_append(&b, head, strlen(head));
        nacme_buf_append(&b, files[i].text, strlen(files[i].text));
        nacme_buf_append(&b, "\n", 1);
    }
    if (nginx_conf_parse_dump_new(&ctx, b.data, b.len, "test", &c) != NACME_OK)
        fail_msg("%s", ctx.errmsg);
    nacme_buf_clear(&b);
    return c;
}

static void join(struct nacme_buf *b, char *const *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (i > 0)
            nacme_buf_append(b, ",", 1);
        nacme_buf_append(b, v[i], strlen(v[i]));
    }
}

/* "names|files|listen" per site, one per line, then "-name|reason|file" per skipped name. */
static char *sites_show_new(const struct nginx_sites *s)
{
    struct nacme_buf b = {0};
    size_t i;

    nacme_buf_append(&b, "", 0);
    for (i = 0; i < s->nsites; i++) {
        join(&b, s->sites[i].names, s->sites[i].nnames);
        nacme_buf_append(&b, "|", 1);
        join(&b, s->sites[i].files, s->sites[i].nfiles);
        nacme_buf_append(&b, "|", 1);
        join(&b, s->sites[i].listen, s->sites[i].nlisten);
        nacme_buf_append(&b, "\n", 1);
    }
    for (i = 0; i < s->nskipped; i++) {
        char line[1024];
        snprintf(line, sizeof(line), "-%s|%s|%s\n", s->skipped[i].name, s->skipped[i].reason,
                 s->skipped[i].file);
        nacme_buf_append(&b, line, strlen(line));
    }
    return b.data;
}

static char *sites_of_new(const struct file *files, size_t n)
{
    struct nacme_ctx ctx;
    struct nginx_conf *c = conf_new(files, n);
    struct nginx_sites *s = NULL;
    char *shown;

    nacme_ctx_init(&ctx);
    assert_int_equal(nginx_sites_new(&ctx, c, &s), NACME_OK);
    shown = sites_show_new(s);
    nginx_sites_free(s);
    nginx_conf_free(c);
    return shown;
}

static void test_skip_reasons(void **state)
{
    static const struct {
        const char *name;
        const char *reason; /* NULL: eligible */
    } cases[] = {
        {"example.com", NULL},
        {"www.example.com", NULL},
        {"xn--bcher-kva.example", NULL},
        {"", "empty name"},
        {"_", "catch-all placeholder, not a host name"},
        {"~^www\\d+\\.example\\.com$", "regular expression"},
        {"~*.example.com", "regular expression"},
        {"$hostname", "contains a variable"},
        {"www.$host", "contains a variable"},
        {"*.example.com", "wildcard (needs a dns-01 challenge)"},
        {"www.example.*", "wildcard (needs a dns-01 challenge)"},
        {"localhost", "localhost"},
        {"app.localhost", "localhost"},
        /* addresses are RFC 8738 identifiers, written as the CA sends them in Host */
        {"127.0.0.1", NULL},
        {"192.0.2.10", NULL},
        {"[::1]", NULL},
        {"[2001:db8::1]", NULL},
        {"::1", "IPv6 address without brackets (no Host header matches it)"},
        {"2001:db8::1", "IPv6 address without brackets (no Host header matches it)"},
        {"[0:0::1]", "IPv6 address not in RFC 5952 form (the CA's Host header would not match)"},
        {"[2001:db8:0:0:0:0:0:1]",
         "IPv6 address not in RFC 5952 form (the CA's Host header would not match)"},
        {"[::ffff:127.0.0.1]", "IPv4-mapped IPv6 address (write the IPv4 address)"},
        {"::ffff:127.0.0.1", "IPv6 address without brackets (no Host header matches it)"},
        {"[127.0.0.1]", "not a valid host name"},
        {"[fe80::1%eth0]", "not a valid host name"},
        {"[]", "not a valid host name"},
        {"[::1", "not a valid host name"},
        {"01.2.3.4", "not a valid host name"},
        {"1.2.3", "not a valid host name"},
        {"intranet", "not a valid host name"},
        {"bad_name.example", "not a valid host name"},
        {"a..example", "not a valid host name"},
        {"example.com.", "not a valid host name"},
        {"-a.example", "not a valid host name"},
        {"a\\.example", "not a valid host name"},
        {"it's.example", "not a valid host name"},
        {"a/b.example", "not a valid host name"},
        {"\xc3\xa9.example", "not a valid host name"},
        {"1.2.3.4.5", "not a valid host name"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = nginx_name_skip_reason(cases[i].name);
        if ((got == NULL) != (cases[i].reason == NULL) ||
            (got != NULL && strcmp(got, cases[i].reason) != 0))
            fail_msg("\"%s\": got %s, want %s", cases[i].name, got ? got : "eligible",
                     cases[i].reason ? cases[i].reason : "eligible");
    }
}

static void test_sites(void **state)
{
    static const struct {
        const char *conf;
        const char *want;
    } cases[] = {
        /* one block; names lower-cased, in order */
        {"http {\nserver {\n listen 80;\n server_name A.Example www.a.example;\n}\n}",
         "a.example,www.a.example|" MAIN ":2|80\n"},
        /* port 80 and 443 blocks of one site merge; the first block's first name leads, the
           others are sorted */
        {"http {\n"
         "server { listen 80; listen [::]:80; server_name www.b.example b.example; }\n"
         "server { listen 443 ssl http2; listen [::]:443 ssl; server_name b.example "
         "www.b.example; }\n"
         "}",
         "www.b.example,b.example|" MAIN ":2," MAIN ":3|80,[::]:80,443 ssl http2,[::]:443 ssl\n"},
        /* merging is transitive: x~y, y~z */
        {"http {\nserver { server_name x.example y.example; listen 1; }\n"
         "server { server_name z.example; listen 3; }\n"
         "server { server_name y.example z.example; listen 2; }\n}",
         "x.example,y.example,z.example|" MAIN ":2," MAIN ":3," MAIN ":4|1,3,2\n"},
        /* unrelated blocks are separate sites, in configuration order */
        {"http {\nserver { server_name d.example; }\nserver { server_name c.example; }\n}",
         "d.example|" MAIN ":2|*:80\nc.example|" MAIN ":3|*:80\n"},
        /* the same listen twice is listed once; names repeated within a block once */
        {"http {\nserver { listen 80; server_name e.example e.example E.EXAMPLE; }\n"
         "server { listen 80; server_name e.example; }\n}",
         "e.example|" MAIN ":2," MAIN ":3|80\n"},
        /* ".example" is the name plus its wildcard */
        {"http {\nserver {\n server_name .f.example;\n}\n}",
         "f.example|" MAIN ":2|*:80\n-*.f.example|wildcard (needs a dns-01 challenge)|" MAIN
         ":3\n"},
        /* a block with nothing eligible is no site; each skipped name says where */
        {"http {\nserver {\n listen 80 default_server;\n server_name _;\n}\n"
         "server {\n server_name localhost\n  \"\" ~^x$ *.g.example $host;\n}\n}",
         "-_|catch-all placeholder, not a host name|" MAIN ":4\n"
         "-localhost|localhost|" MAIN ":7\n"
         "-|empty name|" MAIN ":7\n"
         "-~^x$|regular expression|" MAIN ":7\n"
         "-*.g.example|wildcard (needs a dns-01 challenge)|" MAIN ":7\n"
         "-$host|contains a variable|" MAIN ":7\n"},
        /* a block without server_name: nginx's default name is "" */
        {"http {\n server { listen 8080; }\n}",
         "-|no server_name: nginx's default, the empty name|" MAIN ":2\n"},
        /* server blocks outside http, and upstream's server lines, are not sites */
        {"stream { server { listen 53; } }\nmail { server { server_name m.example; } }\n"
         "http { upstream u { server 127.0.0.1:8080; } }",
         ""},
        /* server_name and listen inside includes, inside the server block; several http */
        {"http { server { include /t/names; listen 80; } }\nhttp { server { server_name "
         "i2.example; } }",
         "i.example|" MAIN ":1|80\ni2.example|" MAIN ":2|*:80\n"},
        /* addresses are sites too (RFC 8738 "ip" identifiers): an IPv4 site is named after the
           address; IPv6 is named without brackets, lower case, never first (no lineage name) */
        {"http {\nserver { listen 80; server_name 127.0.0.1; }\n"
         "server { listen [::]:80; server_name [2001:DB8::1] v6.example 192.0.2.7 [::1]; }\n}",
         "127.0.0.1|" MAIN ":2|80\n"
         "v6.example,192.0.2.7,2001:db8::1,::1|" MAIN ":3|[::]:80\n"},
        /* an address joins blocks like a name; a site of IPv6 addresses only has no name: its
           addresses are skipped, at its first block; addresses not as the CA writes them too */
        {"http {\nserver { listen [::]:80; server_name [::1]; }\n"
         "server { listen [::]:443 ssl; server_name [::1] [::2]; }\n"
         "server { server_name [0:0::3] ::4 [::ffff:10.0.0.1] 010.0.0.1; }\n}",
         "-[0:0::3]|IPv6 address not in RFC 5952 form (the CA's Host header would not match)|"
         MAIN ":4\n"
         "-::4|IPv6 address without brackets (no Host header matches it)|" MAIN ":4\n"
         "-[::ffff:10.0.0.1]|IPv4-mapped IPv6 address (write the IPv4 address)|" MAIN ":4\n"
         "-010.0.0.1|not a valid host name|" MAIN ":4\n"
         "-[::1]|IPv6 addresses only: no name for the certificate (nacme issue -d ADDR "
         "--cert-name NAME)|" MAIN ":2\n"
         "-[::2]|IPv6 addresses only: no name for the certificate (nacme issue -d ADDR "
         "--cert-name NAME)|" MAIN ":2\n"},
        /* a regular expression keeps its case */
        {"http { server { server_name ~^(?<X>.+)\\.Example$ h.example; } }",
         "h.example|" MAIN ":1|*:80\n-~^(?<X>.+)\\.Example$|regular expression|" MAIN ":1\n"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct file files[] = {{MAIN, cases[i].conf}, {"/t/names", "server_name I.example;"}};
        char *got = sites_of_new(files, 2);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu:\n--- got\n%s--- want\n%s", i, got, cases[i].want);
        free(got);
    }
}

/* Server blocks spread over included files: where each one is, and merging across files. */
static void test_sites_files(void **state)
{
    static const struct file files[] = {
        {"/etc/nginx/nginx.conf", "http {\n    include sites/*;\n}"},
        {"/etc/nginx/sites/a", "\n\nserver {\n  listen 80;\n  server_name a.example;\n}"},
        {"/etc/nginx/sites/b", "server {\n  listen 443 ssl;\n  server_name a.example;\n}"},
    };
    char *got = sites_of_new(files, 3);

    (void)state;
    assert_string_equal(got, "a.example|/etc/nginx/sites/a:3,/etc/nginx/sites/b:1|80,443 ssl\n");
    free(got);
}

/* Many blocks: every pair (port 80 and 443) is one site. */
static void test_sites_many(void **state)
{
    struct nacme_buf b = {0};
    struct nacme_ctx ctx;
    struct nginx_conf *c = NULL;
    struct nginx_sites *s = NULL;
    const size_t n = 3000;
    size_t i;

    (void)state;
    nacme_ctx_init(&ctx);
    nacme_buf_append(&b, "# configuration file /t/nginx.conf:\nhttp {\n", 43);
    for (i = 0; i < 2 * n; i++) {
        char line[200];
        snprintf(line, sizeof(line),
                 "server { listen %d; server_name s%zu.example www.s%zu.example; }\n",
                 i < n ? 80 : 443, i % n, i % n);
        nacme_buf_append(&b, line, strlen(line));
    }
    nacme_buf_append(&b, "}\n", 2);
    assert_int_equal(nginx_conf_parse_dump_new(&ctx, b.data, b.len, "many", &c), NACME_OK);
    assert_int_equal(nginx_sites_new(&ctx, c, &s), NACME_OK);
    assert_int_equal(s->nsites, n);
    assert_int_equal(s->nskipped, 0);
    for (i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "s%zu.example", i);
        assert_string_equal(s->sites[i].names[0], want);
        assert_int_equal(s->sites[i].nnames, 2);
        assert_int_equal(s->sites[i].nfiles, 2);
        assert_int_equal(s->sites[i].nlisten, 2);
    }
    nginx_sites_free(s);
    nginx_conf_free(c);
    nacme_buf_clear(&b);
}

static char *corpus_path_new(const char *rel)
{
    const char *data = getenv("NACME_TEST_DATA");

    assert_non_null(data);
    return nacme_printf_new("%s/nginx/%s", data, rel);
}

static char *slurp_new(const char *rel)
{
    struct nacme_buf b = {0};
    char chunk[4096], *path = corpus_path_new(rel);
    size_t n;
    FILE *f = fopen(path, "r");

    if (f == NULL)
        fail_msg("cannot read %s", path);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        nacme_buf_append(&b, chunk, n);
    fclose(f);
    free(path);
    nacme_buf_append(&b, "", 0);
    return b.data;
}

/* Debian's defaults, as nginx -T shows them: nothing to certify, "_" skipped. */
static void test_debian(void **state)
{
    char *t1 = slurp_new("debian/nginx.conf"), *t2 = slurp_new("debian/mime.types"),
         *t3 = slurp_new("debian/sites-enabled/default");
    struct file files[] = {
        {"/etc/nginx/nginx.conf", t1},
        {"/etc/nginx/mime.types", t2},
        {"/etc/nginx/sites-enabled/default", t3},
    };
    char *got = sites_of_new(files, 3);

    (void)state;
    assert_string_equal(got, "-_|catch-all placeholder, not a host name|"
                             "/etc/nginx/sites-enabled/default:46\n");
    free(got);
    free(t1);
    free(t2);
    free(t3);
}

/* The layout corpus from disk: relative includes, sorted globs, hidden files left out. */
static void test_layout(void **state)
{
    char *path = corpus_path_new("layout/nginx.conf"), *dir = corpus_path_new("layout"), *got,
         *want;
    struct nacme_ctx ctx;
    struct nginx_conf *c = NULL;
    struct nginx_sites *s = NULL;

    (void)state;
    nacme_ctx_init(&ctx);
    if (nginx_conf_read_new(&ctx, path, &c) != NACME_OK)
        fail_msg("%s", ctx.errmsg);
    assert_int_equal(nginx_sites_new(&ctx, c, &s), NACME_OK);
    got = sites_show_new(s);
    want = nacme_printf_new("a.example,www.a.example|%s/conf.d/10-a.conf:1,%s/sites-enabled/a-ssl:1"
                            "|80,443\n"
                            "b.example|%s/conf.d/2-b.conf:1|80\n"
                            "c.example|%s/sites-enabled/c:1|8080\n",
                            dir, dir, dir, dir);
    assert_string_equal(got, want);
    free(got);
    free(want);
    nginx_sites_free(s);
    nginx_conf_free(c);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skip_reasons), cmocka_unit_test(test_sites),
        cmocka_unit_test(test_sites_files),  cmocka_unit_test(test_sites_many),
        cmocka_unit_test(test_debian),       cmocka_unit_test(test_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
