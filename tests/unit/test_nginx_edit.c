/* test_nginx_edit.c - insertions into nginx files: where the include line goes and how it is
 * indented (spaces, tabs, comments kept, CRLF, a block on one line, an empty block), the HTTPS
 * server block made from an HTTP one, listen parsing, include detection, applying insertions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nginx_conf.h"
#include "nginx_edit.h"

#define INC "include /s/x.conf;"

/* text read as the only file of a configuration (through the `nginx -T` reader, so that no file
 * is needed); the offsets are the file's own. */
static struct nginx_conf *conf_new(const char *text)
{
    struct nacme_buf b = {0};
    struct nacme_ctx ctx;
    struct nginx_conf *c = NULL;
    const char *head = "# configuration file /t/nginx.conf:\n";
    static const char *const included[] = {"/s/x.conf", "/s/nacme-ssl-a.example.conf",
                                           "/t/snippets/nacme-acme-challenge.conf",
                                           "/x/nacme-ssl-a.conf"};
    size_t i;

    nacme_ctx_init(&ctx);
    nacme_buf_append(&b, head, strlen(head));
    nacme_buf_append(&b, text, strlen(text));
    /* the files the tests include, empty */
    for (i = 0; i < sizeof(included) / sizeof(included[0]); i++) {
        char more[256];
        snprintf(more, sizeof(more), "\n# configuration file %s:\n\n", included[i]);
        nacme_buf_append(&b, more, strlen(more));
    }
    if (nginx_conf_parse_dump_new(&ctx, b.data, b.len, "test", &c) != NACME_OK)
        fail_msg("%s: %s", text, ctx.errmsg);
    nacme_buf_clear(&b);
    return c;
}

/* The first server block of the first http block. */
static const struct nginx_dir *server_of(const struct nginx_conf *c)
{
    const struct nginx_dir *d, *s;

    for (d = nginx_conf_root(c)->child; d != NULL; d = d->next)
        if (strcmp(d->args[0], "http") == 0)
            for (s = d->child; s != NULL; s = s->next)
                if (strcmp(s->args[0], "server") == 0)
                    return s;
    fail_msg("no server block");
    return NULL;
}

static char *apply_one_new(const char *text, struct nginx_insert *ins)
{
    size_t n;
    char *out = nginx_edit_apply_new(text, strlen(text), ins, 1, &n);

    assert_non_null(out);
    assert_int_equal(strlen(out), n);
    free(ins->text);
    return out;
}

static const struct {
    const char *in, *want;
} include_cases[] = {
    /* after server_name, indented like the first directive */
    {"http {\n    server {\n        listen 80;\n        server_name a.example;\n"
     "        root /w;\n    }\n}\n",
     "http {\n    server {\n        listen 80;\n        server_name a.example;\n"
     "        " INC "\n        root /w;\n    }\n}\n"},
    /* tabs */
    {"http {\n\tserver {\n\t\tserver_name a.example;\n\t}\n}\n",
     "http {\n\tserver {\n\t\tserver_name a.example;\n\t\t" INC "\n\t}\n}\n"},
    /* a comment after server_name stays on its line */
    {"http {\n  server {\n    server_name a.example; # the site\n    listen 80;\n  }\n}\n",
     "http {\n  server {\n    server_name a.example; # the site\n    " INC "\n"
     "    listen 80;\n  }\n}\n"},
    /* server_name over two lines */
    {"http {\n server {\n   server_name a.example\n       b.example;\n }\n}\n",
     "http {\n server {\n   server_name a.example\n       b.example;\n   " INC "\n }\n}\n"},
    /* no server_name: after the "{" line, whose comment stays */
    {"http {\n    server { # default\n        listen 80;\n    }\n}\n",
     "http {\n    server { # default\n        " INC "\n        listen 80;\n    }\n}\n"},
    /* comments inside the block are kept where they are */
    {"http {\nserver {\n    # names\n    server_name a.example;\n    # root\n    root /w;\n}\n}\n",
     "http {\nserver {\n    # names\n    server_name a.example;\n    " INC "\n"
     "    # root\n    root /w;\n}\n}\n"},
    /* CRLF line endings */
    {"http {\r\n    server {\r\n        server_name a.example;\r\n    }\r\n}\r\n",
     "http {\r\n    server {\r\n        server_name a.example;\r\n        " INC "\r\n"
     "    }\r\n}\r\n"},
    /* a block on one line: the include joins that line */
    {"http {\n    server { listen 80; }\n}\n", "http {\n    server { " INC " listen 80; }\n}\n"},
    {"http { server { listen 80; server_name a.example; return 404; } }\n",
     "http { server { listen 80; server_name a.example; " INC " return 404; } }\n"},
    /* an empty block: one step deeper than the block */
    {"http {\n    server {\n    }\n}\n", "http {\n    server {\n        " INC "\n    }\n}\n"},
    {"http {\n\tserver {\n\t}\n}\n", "http {\n\tserver {\n\t\t" INC "\n\t}\n}\n"},
    /* the first directive on the "{" line does not set the indentation */
    {"http {\n  server { listen 80;\n    server_name a.example;\n  }\n}\n",
     "http {\n  server { listen 80;\n    server_name a.example;\n      " INC "\n  }\n}\n"},
};

static void test_include(void **state)
{
    struct nacme_ctx ctx;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(include_cases) / sizeof(include_cases[0]); i++) {
        struct nginx_conf *c = conf_new(include_cases[i].in);
        struct nginx_insert ins;
        char *out;

        nacme_ctx_init(&ctx);
        assert_int_equal(nginx_edit_include(&ctx, include_cases[i].in, strlen(include_cases[i].in),
                                            server_of(c), INC, &ins),
                         NACME_OK);
        out = apply_one_new(include_cases[i].in, &ins);
        if (strcmp(out, include_cases[i].want) != 0)
            fail_msg("case %zu:\n%s\nwant:\n%s", i, out, include_cases[i].want);
        /* the result is still nginx configuration, and the block now includes the snippet */
        nginx_conf_free(c);
        c = conf_new(out);
        assert_true(nginx_block_includes(server_of(c), "x.conf"));
        nginx_conf_free(c);
        free(out);
    }
}

static void test_include_stale_offsets(void **state)
{
    const char *text = "http {\n    server {\n        listen 80;\n    }\n}\n";
    struct nginx_conf *c = conf_new(text);
    struct nginx_insert ins;
    struct nacme_ctx ctx;

    (void)state;
    nacme_ctx_init(&ctx);
    /* the file shrank since it was read */
    assert_int_equal(nginx_edit_include(&ctx, text, 20, server_of(c), INC, &ins), NACME_E_INVALID);
    assert_non_null(strstr(ctx.errmsg, "changed"));
    assert_null(ins.text);
    nginx_conf_free(c);
}

#define TLS "include /s/nacme-ssl-a.example.conf;"
#define HEAD(ind, at)                                                                          \
    ind "# HTTPS for a.example, added by nacme nginx-setup --install: serves what "         \
    "the server block at " at " serves\n" ind "server {\n"

static const struct {
    const char *in, *want;
} https_cases[] = {
    /* body copied without listen and server_name; listen addresses kept, port 443 */
    {"http {\n    server {\n        listen 80 default_server;\n        listen [::]:80;\n"
     "        server_name a.example www.a.example;\n        root /var/www/a; # docs\n"
     "        location / {\n            listen_not = 1;\n        }\n    }\n}\n",
     "http {\n    server {\n        listen 80 default_server;\n        listen [::]:80;\n"
     "        server_name a.example www.a.example;\n        root /var/www/a; # docs\n"
     "        location / {\n            listen_not = 1;\n        }\n    }\n\n" HEAD("    ", "f:1")
     "        listen 443 ssl;\n        listen [::]:443 ssl;\n"
     "        server_name a.example www.a.example;\n        " TLS "\n"
     "        root /var/www/a; # docs\n        location / {\n            listen_not = 1;\n"
     "        }\n    }\n}\n"},
    /* an address with a port, a listen on another port left out, no blank line to copy */
    {"http {\nserver {\n\tlisten 127.0.0.1:80;\n\tlisten 8080;\n\tserver_name a.example;\n}\n}\n",
     "http {\nserver {\n\tlisten 127.0.0.1:80;\n\tlisten 8080;\n\tserver_name a.example;\n}\n\n"
     HEAD("", "f:1") "\tlisten 127.0.0.1:443 ssl;\n\tserver_name a.example www.a.example;\n\t" TLS
     "\n}\n}\n"},
    /* a comment ending a dropped line goes with it; the challenge include is not copied */
    {"http {\n  server {\n    listen 80;\n    server_name a.example; # the names\n"
     "    " INC "\n    root /w;\n  }\n}\n",
     "http {\n  server {\n    listen 80;\n    server_name a.example; # the names\n"
     "    " INC "\n    root /w;\n  }\n\n" HEAD("  ", "f:1") "    listen 443 ssl;\n"
     "    server_name a.example www.a.example;\n    " TLS "\n    root /w;\n  }\n}\n"},
    /* a block on one line, no listen (nginx's default *:80) */
    {"http { server { server_name a.example; return 404; } }",
     "http { server { server_name a.example; return 404; }\n\n" HEAD("", "f:1")
     "    listen 443 ssl;\n    server_name a.example www.a.example;\n    " TLS
     "\n return 404; } }"},
};

static void test_https_server(void **state)
{
    char *names[] = {"a.example", "www.a.example"};
    struct nacme_ctx ctx;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(https_cases) / sizeof(https_cases[0]); i++) {
        const char *in = https_cases[i].in;
        struct nginx_conf *c = conf_new(in);
        struct nginx_insert ins;
        char *out;

        nacme_ctx_init(&ctx);
        assert_int_equal(nginx_edit_https_server(&ctx, in, strlen(in), server_of(c), 80, 443,
                                                 names, 2, TLS, "f:1", "x.conf", &ins),
                         NACME_OK);
        out = apply_one_new(in, &ins);
        if (strcmp(out, https_cases[i].want) != 0)
            fail_msg("case %zu:\n%s\nwant:\n%s", i, out, https_cases[i].want);
        nginx_conf_free(c);
        nginx_conf_free(conf_new(out));
        free(out);
    }
}

/* An IPv6 address of the site goes into the new block's server_name in brackets, as the CA sends it
 * in Host; an IPv4 address as it is. */
static void test_https_server_addresses(void **state)
{
    static const char in[] = "http { server { server_name a.example; return 404; } }";
    char *names[] = {"a.example", "2001:db8::1", "192.0.2.7"};
    struct nacme_ctx ctx;
    struct nginx_conf *c = conf_new(in);
    struct nginx_insert ins;
    char *out;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_int_equal(nginx_edit_https_server(&ctx, in, strlen(in), server_of(c), 80, 443, names,
                                             3, TLS, "f:1", "x.conf", &ins),
                     NACME_OK);
    out = apply_one_new(in, &ins);
    if (strstr(out, "\n    server_name a.example [2001:db8::1] 192.0.2.7;\n") == NULL)
        fail_msg("no bracketed IPv6 server_name in:\n%s", out);
    nginx_conf_free(c);
    nginx_conf_free(conf_new(out)); /* and nginx's grammar still reads it */
    free(out);
}

static const struct {
    const char *line;
    bool ok;
    long port;
    bool ssl;
    const char *addr;
} listen_cases[] = {
    {"listen 80;", true, 80, false, ""},
    {"listen 443 ssl http2;", true, 443, true, ""},
    {"listen 127.0.0.1:8080 default_server;", true, 8080, false, "127.0.0.1"},
    {"listen 127.0.0.1;", true, 80, false, "127.0.0.1"},
    {"listen [::]:443 ssl ipv6only=on;", true, 443, true, "[::]"},
    {"listen [::1];", true, 80, false, "[::1]"},
    {"listen *:80;", true, 80, false, "*"},
    {"listen localhost:81;", true, 81, false, "localhost"},
    {"listen unix:/run/x.sock;", true, -1, false, ""},
    {"listen 1.2.3.4:http;", false, 0, false, ""},
    {"listen 70000;", false, 0, false, ""},
};

static void test_listen(void **state)
{
    struct nginx_listen l;
    char text[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(listen_cases) / sizeof(listen_cases[0]); i++) {
        snprintf(text, sizeof(text), "http { server { %s } }\n", listen_cases[i].line);
        struct nginx_conf *c = conf_new(text);
        bool ok = nginx_listen_parse(server_of(c)->child, &l);
        if (ok != listen_cases[i].ok)
            fail_msg("%s: %d", listen_cases[i].line, ok);
        if (ok) {
            assert_int_equal(l.port, listen_cases[i].port);
            assert_int_equal(l.ssl, listen_cases[i].ssl);
            assert_string_equal(l.addr, listen_cases[i].addr);
        }
        nginx_conf_free(c);
    }
}

static void test_block_includes(void **state)
{
    struct nginx_conf *c =
        conf_new("http { server { include snippets/nacme-acme-challenge.conf; "
                 "location / { include /x/nacme-ssl-a.conf; } } }\n");
    const struct nginx_dir *s = server_of(c);

    (void)state;
    assert_true(nginx_block_includes(s, "nacme-acme-challenge.conf"));
    assert_false(nginx_block_includes(s, "acme-challenge.conf")); /* whole names only */
    assert_false(nginx_block_includes(s, "nacme-ssl-a.conf"));    /* not the block's own */
    nginx_conf_free(c);
}

static void test_apply(void **state)
{
    struct nginx_insert ins[] = {{5, "B"}, {0, "A"}, {5, "C"}, {99, "Z"}};
    size_t n;
    char *out = nginx_edit_apply_new("01234567", 8, ins, 4, &n);

    (void)state;
    assert_string_equal(out, "A01234BC567Z");
    assert_int_equal(n, 12);
    free(out);
    out = nginx_edit_apply_new("x", 1, NULL, 0, &n);
    assert_string_equal(out, "x");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_include),   cmocka_unit_test(test_include_stale_offsets),
        cmocka_unit_test(test_https_server),
        cmocka_unit_test(test_https_server_addresses), cmocka_unit_test(test_listen),
        cmocka_unit_test(test_block_includes), cmocka_unit_test(test_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
