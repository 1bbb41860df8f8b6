/* test_nginx_conf.c - nginx's grammar (every rule of ngx_conf_read_token), its error messages with
 * file:line, positions for editors, include (globs, hidden files, order, relative paths, cycles)
 * on disk and in `nginx -T` output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "nginx_conf.h"

#define MAIN "/t/nginx.conf"

/* ---- helpers ----------------------------------------------------------------------------- */

struct file {
    const char *path;
    const char *text;
};

/* An nginx -T dump of the files, as nginx 1.22 prints it. */
static char *dump_new(const struct file *files, size_t n, size_t *len)
{
    struct nacme_buf b = {0};
    size_t i;

    for (i = 0; i < n; i++) {
        char head[512];
        snprintf(head, sizeof(head), "# configuration file %s:\n", files[i].path);
        assert_int_equal(nacme_buf_append(&b, head, strlen(head)), 0);
        assert_int_equal(nacme_buf_append(&b, files[i].text, strlen(files[i].text)), 0);
        assert_int_equal(nacme_buf_append(&b, "\n", 1), 0);
    }
    *len = b.len;
    return b.data;
}

static enum nacme_err parse_files(struct nacme_ctx *ctx, const struct file *files, size_t n,
                                  struct nginx_conf **out)
{
    size_t len;
    char *d = dump_new(files, n, &len);
    enum nacme_err r = nginx_conf_parse_dump_new(ctx, d, len, "test dump", out);

    free(d);
    return r;
}

static enum nacme_err parse_one(struct nacme_ctx *ctx, const char *text, struct nginx_conf **out)
{
    struct file f = {MAIN, text};

    return parse_files(ctx, &f, 1, out);
}

/* The tree as text: every word in [], ";" after a simple directive, {...} around a block's
 * children, <...> around what an include brought in. */
static void show(struct nacme_buf *b, const struct nginx_dir *d)
{
    uint32_t i;

    for (; d != NULL; d = d->next) {
        for (i = 0; i < d->nargs; i++) {
            nacme_buf_append(b, "[", 1);
            nacme_buf_append(b, d->args[i], strlen(d->args[i]));
            nacme_buf_append(b, "]", 1);
        }
        if (d->kind == NGINX_DIR_BLOCK) {
            nacme_buf_append(b, "{", 1);
            show(b, d->child);
            nacme_buf_append(b, "}", 1);
        } else if (d->kind == NGINX_DIR_INCLUDE) {
            nacme_buf_append(b, "<", 1);
            show(b, d->child);
            nacme_buf_append(b, ">", 1);
        } else {
            nacme_buf_append(b, ";", 1);
        }
    }
}

static char *show_new(const struct nginx_conf *c)
{
    struct nacme_buf b = {0};

    nacme_buf_append(&b, "", 0);
    show(&b, nginx_conf_root(c)->child);
    return b.data;
}

static char *repeat_new(char ch, size_t n)
{
    char *s = malloc(n + 1);

    assert_non_null(s);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

/* ---- the tokenizer ----------------------------------------------------------------------- */

static void test_tokens(void **state)
{
    static const struct {
        const char *text;
        const char *tree;
    } cases[] = {
        {"", ""},
        {"# only a comment", ""},
        {"# one\n#two\n   \n", ""},
        {"a b;", "[a][b];"},
        {"a  b\t c\r\n;", "[a][b][c];"},
        {"a\n  b\n  c\n;", "[a][b][c];"},
        {"a {b c;}", "[a]{[b][c];}"},
        {"a{b;}", "[a]{[b];}"},
        {"a {}", "[a]{}"},
        {"a { b { c; } d; }", "[a]{[b]{[c];}[d];}"},
        /* '#' starts a comment only at a word's start */
        {"# x;\na b; # c;\n", "[a][b];"},
        {"a b#c;", "[a][b#c];"},
        {"a #c;\n b;", "[a][b];"},
        {"a#b c;", "[a#b][c];"},
        /* quotes */
        {"a \"b c\";", "[a][b c];"},
        {"a 'b c';", "[a][b c];"},
        {"a \"b;c{d}e#f\";", "[a][b;c{d}e#f];"},
        {"a \"\";", "[a][];"},
        {"a '' \"\";", "[a][][];"},
        {"\"a\" b;", "[a][b];"},
        {"a \"b\" ;", "[a][b];"},
        {"a \"b\"{c;}", "[a][b]{[c];}"},
        {"a \"b\"\n;", "[a][b];"},
        {"a \"it's\" 'say \"hi\"';", "[a][it's][say \"hi\"];"},
        {"a \"line1\nline2\";", "[a][line1\nline2];"},
        /* after a closing quote, ')' is allowed and starts the next word */
        {"if ($a = \"b\") {c;}", "[if][($a][=][b][)]{[c];}"},
        /* a quote inside a word is part of the word */
        {"a b\"c;", "[a][b\"c];"},
        {"a b'c d';", "[a][b'c][d'];"},
        {"a it's;", "[a][it's];"},
        /* escapes decoded inside quotes: \" \' \\ \t \r \n; others keep the backslash */
        {"a \"x\\\"y\\'z\\\\w\";", "[a][x\"y'z\\w];"},
        {"a \"\\t\\r\\n\";", "[a][\t\r\n];"},
        {"a \"\\q\\$\\;\";", "[a][\\q\\$\\;];"},
        {"a 'it\\'s';", "[a][it's];"},
        /* outside quotes a backslash escapes the next character (decoded the same way) */
        {"a b\\ c;", "[a][b\\ c];"},
        {"a b\\;c;", "[a][b\\;c];"},
        {"a b\\\"c;", "[a][b\"c];"},
        {"a b\\tc;", "[a][b\tc];"},
        {"a \\\"b;", "[a][\"b];"},
        {"a \\{ \\};", "[a][\\{][\\}];"},
        {"a b\\\nc;", "[a][b\\\nc];"},
        {"a \\#b;", "[a][\\#b];"},
        /* ${ keeps the brace in the word, at a word's start too */
        {"a ${b}c;", "[a][${b}c];"},
        {"a x${b};", "[a][x${b}];"},
        {"a ${b} {c;}", "[a][${b}]{[c];}"},
        {"a $b{c;}", "[a][$b]{[c];}"},
        {"a $${b;", "[a][$${b];"},
        {"a \"${b}\";", "[a][${b}];"},
        /* a '}' inside a word is part of it */
        {"a b};", "[a][b}];"},
        /* include with nothing matching is kept, empty */
        {"include /none/*.conf;", "[include][/none/*.conf]<>"},
    };
    struct nacme_ctx ctx;
    size_t i;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nginx_conf *c = NULL;
        char *tree;
        if (parse_one(&ctx, cases[i].text, &c) != NACME_OK)
            fail_msg("case %zu \"%s\": %s", i, cases[i].text, ctx.errmsg);
        tree = show_new(c);
        if (strcmp(tree, cases[i].tree) != 0)
            fail_msg("case %zu \"%s\": got %s, want %s", i, cases[i].text, tree, cases[i].tree);
        free(tree);
        nginx_conf_free(c);
    }
}

static void test_errors(void **state)
{
    static const struct {
        const char *text;
        const char *error; /* after "/t/nginx.conf:" */
    } cases[] = {
        {"a b;\n}", "2: unexpected \"}\""},
        {"a {\n b;\n", "3: unexpected end of file, expecting \"}\""},
        {"a { b { c; }", "1: unexpected end of file, expecting \"}\""},
        {"a b", "1: unexpected end of file, expecting \";\" or \"}\""},
        {"a b\n", "2: unexpected end of file, expecting \";\" or \"}\""},
        {"a b # c;\n", "2: unexpected end of file, expecting \";\" or \"}\""},
        {"a {\n b\n}", "3: unexpected \"}\""},
        {";", "1: unexpected \";\""},
        {"{", "1: unexpected \"{\""},
        {"a {\n\n  {", "3: unexpected \"{\""},
        {"a b;;", "1: unexpected \";\""},
        {"a \"b\"c;", "1: unexpected \"c\""},
        {"a 'b'\"c\";", "1: unexpected \"\"\""},
        {"a \"b\"'c';", "1: unexpected \"'\""},
        {"a \"b\"#c;", "1: unexpected \"#\""},
        {"a \"b\"\x01;", "1: unexpected \"\\x01\""},
        {"a \"b", "1: unexpected end of file, expecting \";\" or \"}\""},
        {"a \"b\n\n", "3: unexpected end of file, expecting \";\" or \"}\""},
        {"a 'b", "1: unexpected end of file, expecting \";\" or \"}\""},
        {"a \\", "1: unexpected end of file, expecting \";\" or \"}\""},
        {"a \"b\"", "1: unexpected end of file, expecting \";\" or \"}\""},
        {"a ${b\n}", "2: unexpected \"}\""},
        /* directives nacme relies on, checked as nginx does */
        {"include;", "1: invalid number of arguments in \"include\" directive"},
        {"include a b;", "1: invalid number of arguments in \"include\" directive"},
        {"include a {}", "1: directive \"include\" is not terminated by \";\""},
        {"http;", "1: directive \"http\" has no opening \"{\""},
        {"http x {}", "1: invalid number of arguments in \"http\" directive"},
        {"http {\n server;\n}", "2: directive \"server\" has no opening \"{\""},
        {"http { server { listen 80 {} } }",
         "1: directive \"listen\" is not terminated by \";\""},
        {"http { server {\n server_name\n; } }",
         "3: invalid number of arguments in \"server_name\" directive"},
        {"http { server { listen; } }", "1: invalid number of arguments in \"listen\" directive"},
        {"include missing.conf;",
         "1: open() \"/t/missing.conf\" failed: not in the nginx -T output"},
    };
    struct nacme_ctx ctx;
    char want[512];
    size_t i;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nginx_conf *c = NULL;
        enum nacme_err r = parse_one(&ctx, cases[i].text, &c);
        snprintf(want, sizeof(want), MAIN ":%s", cases[i].error);
        if (r != NACME_E_CONFIG)
            fail_msg("case %zu \"%s\": accepted (%d), want %s", i, cases[i].text, r, want);
        assert_null(c);
        if (strcmp(ctx.errmsg, want) != 0)
            fail_msg("case %zu \"%s\": got %s, want %s", i, cases[i].text, ctx.errmsg, want);
    }
}

/* Directives nginx accepts although their names are also checked elsewhere. */
static void test_contexts(void **state)
{
    static const char *const ok[] = {
        "http { upstream u { server 127.0.0.1; } }",
        "stream { server { listen 53; } }",
        "http { server { location / { } } }",
    };
    struct nacme_ctx ctx;
    size_t i;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct nginx_conf *c = NULL;
        if (parse_one(&ctx, ok[i], &c) != NACME_OK)
            fail_msg("\"%s\": %s", ok[i], ctx.errmsg);
        nginx_conf_free(c);
    }
}

/* nginx reads through a 4096-byte buffer: a token (a word with what precedes it since the last
 * space, or a comment) that would not fit is an error at the line where it started. */
static void test_long_tokens(void **state)
{
    static const struct {
        char fill;
        size_t n;
        const char *before, *after;
        const char *error; /* NULL: accepted */
    } cases[] = {
        {'x', 4000, "a ", ";", NULL},
        /* the exact limits, as nginx 1.22 draws them */
        {'x', 4095, "a ", ";", NULL},
        {'x', 4096, "a ", ";", "1: too long parameter \"xxxxxxxxxx...\" started"},
        {'x', 4094, "a \"", "\";", NULL},
        /* the ';' after the closing quote must still fit: the word is what does not */
        {'x', 4095, "a \"", "\";", "1: too long parameter \"xxxxxxxxxx...\" started"},
        {'x', 4096, "a \"", "\";", "1: too long parameter, probably missing terminating \"\"\" "
                                   "character"},
        /* a comment must fit with its newline */
        {'x', 4093, "# ", "\na b;", NULL},
        {'x', 4094, "# ", "\na b;", "1: too long parameter \"# xxxxxxxx...\" started"},
        {'x', 5000, "a ", ";", "1: too long parameter \"xxxxxxxxxx...\" started"},
        {'x', 5000, "a b;\n\na ", ";", "3: too long parameter \"xxxxxxxxxx...\" started"},
        {'x', 5000, "a \"", "\";", "1: too long parameter, probably missing terminating \"\"\" "
                                   "character"},
        {'x', 5000, "a '", "';", "1: too long parameter, probably missing terminating \"'\" "
                                 "character"},
        {'x', 5000, "a \"", "", "1: too long parameter, probably missing terminating \"\"\" "
                                "character"},
        {'x', 5000, "a b;\n# ", "\n", "2: too long parameter \"# xxxxxxxx...\" started"},
        {'x', 4000, "# ", "\na b;", NULL},
        {' ', 10000, "a ", "b;", NULL},
        {'\n', 10000, "a ", "b;", NULL},
        {' ', 10000, "a \"b\"", ";", NULL},
    };
    struct nacme_ctx ctx;
    char want[512];
    size_t i;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nginx_conf *c = NULL;
        char *fill = repeat_new(cases[i].fill, cases[i].n);
        char *text = nacme_printf_new("%s%s%s", cases[i].before, fill, cases[i].after);
        enum nacme_err r = parse_one(&ctx, text, &c);
        if (cases[i].error == NULL && r != NACME_OK)
            fail_msg("case %zu: %s", i, ctx.errmsg);
        if (cases[i].error != NULL) {
            snprintf(want, sizeof(want), MAIN ":%s", cases[i].error);
            if (r != NACME_E_CONFIG || strcmp(ctx.errmsg, want) != 0)
                fail_msg("case %zu: got %d %s, want %s", i, r, ctx.errmsg, want);
        }
        nginx_conf_free(c);
        free(text);
        free(fill);
    }
}

/* Where each directive is: line of its first character, offsets of its start, body and end. */
static void test_positions(void **state)
{
    static const char text[] = "a b;\n"
                               "block x {\n"
                               "  c \"d\"\n"
                               "    e;\n"
                               "}\n"
                               "  # comment\n"
                               "  \"q\" r;";
    struct nacme_ctx ctx;
    struct nginx_conf *c = NULL;
    const struct nginx_dir *a, *blk, *cd, *q;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_int_equal(parse_one(&ctx, text, &c), NACME_OK);
    a = nginx_conf_root(c)->child;
    blk = a->next;
    cd = blk->child;
    q = blk->next;
    assert_int_equal(a->line, 1);
    assert_int_equal(a->start, 0);
    assert_int_equal(a->end, 4);
    assert_int_equal(blk->line, 2);
    assert_int_equal(blk->start, 5);
    assert_memory_equal(text + blk->start, "block x {", 9);
    assert_int_equal(blk->body, blk->start + 9);
    assert_int_equal(text[blk->end - 1], '}');
    assert_int_equal(blk->end, strlen("a b;\nblock x {\n  c \"d\"\n    e;\n}"));
    assert_int_equal(cd->line, 3);
    assert_memory_equal(text + cd->start, "c \"d\"\n    e;", cd->end - cd->start);
    assert_ptr_equal(cd->parent, blk);
    assert_int_equal(q->line, 7);
    assert_memory_equal(text + q->start, "\"q\" r;", q->end - q->start);
    assert_string_equal(nginx_conf_file_path(c, q->file), MAIN);
    assert_int_equal(nginx_conf_root(c)->end, strlen(text));
    assert_int_equal(nginx_conf_ndirs(c), 4);
    /* found again by file:line, as sites report them */
    assert_ptr_equal(nginx_conf_find(c, MAIN, 3), cd);
    assert_ptr_equal(nginx_conf_find(c, MAIN, 2), blk);
    assert_ptr_equal(nginx_conf_find(c, MAIN, 7), q);
    assert_null(nginx_conf_find(c, MAIN, 5));
    assert_null(nginx_conf_find(c, "/t/other.conf", 1));
    nginx_conf_free(c);
}

/* ---- nginx -T output ----------------------------------------------------------------------- */

static void test_dump(void **state)
{
    static const char dump[] =
        "nginx: the configuration file /d/nginx.conf syntax is ok\n"
        "nginx: configuration file /d/nginx.conf test is successful\n"
        "# configuration file /d/nginx.conf:\n"
        "events {}\n"
        "http {\n"
        "    include conf.d/*.conf;\n"
        "    include /d/extra;\n"
        "}\n"
        "\n"
        "# configuration file /d/conf.d/b.conf:\n"
        "b;\n"
        "\n"
        "# configuration file /d/conf.d/a.conf:\n"
        "# no newline at the end\n"
        "a  1;\n"
        "# configuration file /d/conf.d/.hidden.conf:\n"
        "hidden;\n"
        "# configuration file /d/extra:\n"
        "x;\n";
    struct nacme_ctx ctx;
    struct nginx_conf *c = NULL;
    const struct nginx_dir *http, *inc, *a;
    char *tree;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_int_equal(nginx_conf_parse_dump_new(&ctx, dump, strlen(dump), "d", &c), NACME_OK);
    tree = show_new(c);
    assert_string_equal(tree, "[events]{}[http]{[include][conf.d/*.conf]<[a][1];[b];>"
                              "[include][/d/extra]<[x];>}");
    free(tree);
    http = nginx_conf_root(c)->child->next;
    inc = http->child;
    a = inc->child;
    assert_string_equal(nginx_conf_file_path(c, a->file), "/d/conf.d/a.conf");
    assert_int_equal(a->line, 2);
    assert_int_equal(a->start, strlen("# no newline at the end\n"));
    assert_int_equal(a->end, a->start + strlen("a  1;"));
    assert_string_equal(nginx_conf_file_path(c, a->next->file), "/d/conf.d/b.conf");
    assert_ptr_equal(nginx_conf_find(c, "/d/conf.d/a.conf", 2), a);
    assert_ptr_equal(nginx_conf_find(c, "/d/extra", 1), inc->next->child);
    assert_ptr_equal(nginx_conf_find(c, "/d/nginx.conf", 3), inc);
    assert_string_equal(nginx_conf_file_path(c, 0), "/d/nginx.conf");
    assert_int_equal(nginx_conf_nfiles(c), 4);
    nginx_conf_free(c);

    /* no header at all */
    assert_int_equal(nginx_conf_parse_dump_new(&ctx, "events {}\n", 10, "x.txt", &c),
                     NACME_E_CONFIG);
    assert_string_equal(ctx.errmsg,
                        "x.txt: not the output of nginx -T (no \"# configuration file\" line)");
    assert_null(c);
}

static void test_dump_errors(void **state)
{
    static const struct {
        struct file files[3];
        const char *error;
    } cases[] = {
        {{{"/d/nginx.conf", "http {\n include x.conf;\n}"}, {"/d/x.conf", "a {"}},
         "/d/x.conf:1: unexpected end of file, expecting \"}\""},
        {{{"/d/nginx.conf", "http {\n include x.conf;\n}"}, {"/d/x.conf", "}"}},
         "/d/x.conf:1: unexpected \"}\""},
        {{{"/d/nginx.conf", "include a.conf;"}, {"/d/a.conf", "\ninclude b.conf;"},
          {"/d/b.conf", "include a.conf;"}},
         "/d/b.conf:1: include of \"/d/a.conf\" makes a cycle: /d/a.conf:2 -> /d/b.conf:1 -> "
         "/d/a.conf"},
        {{{"/d/nginx.conf", "\n\ninclude nginx.conf;"}},
         "/d/nginx.conf:3: include of \"/d/nginx.conf\" makes a cycle: /d/nginx.conf:3 -> "
         "/d/nginx.conf"},
        {{{"/d/nginx.conf", "include *.conf;"}},
         "/d/nginx.conf:1: include of \"/d/nginx.conf\" makes a cycle: /d/nginx.conf:1 -> "
         "/d/nginx.conf"},
    };
    struct nacme_ctx ctx;
    size_t i, n;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nginx_conf *c = NULL;
        for (n = 0; n < 3 && cases[i].files[n].path != NULL; n++)
            ;
        if (parse_files(&ctx, cases[i].files, n, &c) != NACME_E_CONFIG)
            fail_msg("case %zu accepted", i);
        if (strcmp(ctx.errmsg, cases[i].error) != 0)
            fail_msg("case %zu: got %s, want %s", i, ctx.errmsg, cases[i].error);
        assert_null(c);
    }
}

/* The same file included twice is read twice: that is no cycle. */
static void test_dump_twice(void **state)
{
    static const struct file files[] = {
        {"/d/nginx.conf", "include a.conf;\ninclude a.conf;"},
        {"/d/a.conf", "a;"},
    };
    struct nacme_ctx ctx;
    struct nginx_conf *c = NULL;
    char *tree;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_int_equal(parse_files(&ctx, files, 2, &c), NACME_OK);
    tree = show_new(c);
    assert_string_equal(tree, "[include][a.conf]<[a];>[include][a.conf]<[a];>");
    free(tree);
    nginx_conf_free(c);
}

static void test_dump_file(void **state)
{
    char dir[] = "/tmp/nacme-test-dump.XXXXXX", path[600];
    static const char text[] = "# configuration file /d/nginx.conf:\nevents {}\n\n";
    struct nacme_ctx ctx;
    struct nginx_conf *c = NULL;
    FILE *f;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/dump", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
    assert_int_equal(nginx_conf_read_dump_new(&ctx, path, &c), NACME_OK);
    assert_string_equal(nginx_conf_root(c)->child->args[0], "events");
    nginx_conf_free(c);
    unlink(path);
    assert_int_equal(nginx_conf_read_dump_new(&ctx, path, &c), NACME_E_CONFIG);
    assert_non_null(strstr(ctx.errmsg, path));
    rmdir(dir);
}

/* ---- includes on disk -------------------------------------------------------------------- */

struct tree {
    char dir[64];
};

static void put(const struct tree *t, const char *rel, const char *text)
{
    char path[600], *slash;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
    for (slash = strchr(path + strlen(t->dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(path, 0755);
        *slash = '/';
    }
    assert_non_null(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
}

static void tree_remove(const struct tree *t)
{
    char *cmd = nacme_printf_new("rm -rf -- '%s'", t->dir);
    /* test code: the shell is the simplest way to remove a scratch tree */
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
    free(cmd);
}

static enum nacme_err read_tree(struct nacme_ctx *ctx, const struct tree *t, const char *main,
                                struct nginx_conf **c)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/%s", t->dir, main);
    return nginx_conf_read_new(ctx, path, c);
}

static void test_include_disk(void **state)
{
    struct tree t = {"/tmp/nacme-test-inc.XXXXXX"};
    struct nacme_ctx ctx;
    struct nginx_conf *c = NULL;
    char *tree, want[1200];

    (void)state;
    nacme_ctx_init(&ctx);
    assert_non_null(mkdtemp(t.dir));
    put(&t, "nginx.conf", "main;\n"
                          "include d/*.conf;\n"
                          "include sub/one.conf;\n"
                          "include nothing/*.conf;\n"
                          "include d/.h*.conf;\n"
                          "include */deep.conf;\n");
    /* C-locale order, as nginx gets from glob(3): digits, upper case, lower case */
    put(&t, "d/b.conf", "b;");
    put(&t, "d/a.conf", "a;");
    put(&t, "d/B.conf", "B;");
    put(&t, "d/10.conf", "ten;");
    put(&t, "d/9.conf", "nine;");
    put(&t, "d/.hidden.conf", "hidden;");
    put(&t, "d/x.txt", "txt;");
    /* nested relative includes are taken against the main file's directory */
    put(&t, "sub/one.conf", "one;\ninclude two.conf;");
    put(&t, "sub/two.conf", "two_in_sub;");
    put(&t, "two.conf", "two_in_main_dir;");
    put(&t, "sub/deep.conf", "deep;");
    assert_int_equal(read_tree(&ctx, &t, "nginx.conf", &c), NACME_OK);
    tree = show_new(c);
    assert_string_equal(tree, "[main];"
                              "[include][d/*.conf]<[ten];[nine];[B];[a];[b];>"
                              "[include][sub/one.conf]<[one];"
                              "[include][two.conf]<[two_in_main_dir];>>"
                              "[include][nothing/*.conf]<>"
                              "[include][d/.h*.conf]<[hidden];>"
                              "[include][*/deep.conf]<[deep];>");
    free(tree);
    {
        const struct nginx_dir *inc = nginx_conf_root(c)->child->next, *d;
        snprintf(want, sizeof(want), "%s/d/10.conf", t.dir);
        assert_string_equal(nginx_conf_file_path(c, inc->child->file), want);
        /* nginx_dir_first/next walk through includes as nginx does */
        tree = NULL;
        {
            struct nacme_buf b = {0};
            nacme_buf_append(&b, "", 0);
            for (d = nginx_dir_first(nginx_conf_root(c)); d; d = nginx_dir_next(d)) {
                nacme_buf_append(&b, d->args[0], strlen(d->args[0]));
                nacme_buf_append(&b, " ", 1);
            }
            assert_string_equal(b.data, "main ten nine B a b one two_in_main_dir hidden deep ");
            nacme_buf_clear(&b);
        }
    }
    nginx_conf_free(c);

    /* the same through a relative main path: file names come out absolute */
    {
        char cwd[512];
        assert_non_null(getcwd(cwd, sizeof(cwd)));
        assert_int_equal(chdir(t.dir), 0);
        assert_int_equal(nginx_conf_read_new(&ctx, "nginx.conf", &c), NACME_OK);
        assert_int_equal(chdir(cwd), 0);
        snprintf(want, sizeof(want), "%s/nginx.conf", t.dir);
        assert_string_equal(nginx_conf_file_path(c, 0), want);
        nginx_conf_free(c);
    }
    tree_remove(&t);
}

/* pattern with every '@' replaced by dir */
static void with_dir(char *out, size_t outsz, const char *pattern, const char *dir)
{
    size_t n = 0;

    for (; *pattern && n + 1 < outsz; pattern++)
        if (*pattern == '@')
            n += (size_t)snprintf(out + n, outsz - n, "%s", dir);
        else
            out[n++] = *pattern;
    out[n < outsz ? n : outsz - 1] = '\0';
}

static void test_include_disk_errors(void **state)
{
    static const struct {
        const char *files[3][2];
        const char *error; /* @: the directory */
    } cases[] = {
        {{{"nginx.conf", "a;\ninclude missing.conf;"}},
         "@/nginx.conf:2: open() \"@/missing.conf\" failed (2: No such file or directory)"},
        {{{"nginx.conf", "include sub;"}, {"sub/x", "x;"}},
         "@/nginx.conf:1: pread() \"@/sub\" failed (21: Is a directory)"},
        {{{"nginx.conf", "include a.conf;"}, {"a.conf", "\ninclude b.conf;"},
          {"b.conf", "include a.conf;"}},
         "@/b.conf:1: include of \"@/a.conf\" makes a cycle: @/a.conf:2 -> @/b.conf:1 -> "
         "@/a.conf"},
        {{{"nginx.conf", "include ./nginx.conf;"}},
         "@/nginx.conf:1: include of \"@/./nginx.conf\" makes a cycle: @/nginx.conf:1 -> "
         "@/./nginx.conf"},
        {{{"nginx.conf", "http {\n include a.conf;\n}"}, {"a.conf", "server {\n\n"}},
         "@/a.conf:3: unexpected end of file, expecting \"}\""},
    };
    struct nacme_ctx ctx;
    char want[1500];
    size_t i, j;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tree t = {"/tmp/nacme-test-inc.XXXXXX"};
        struct nginx_conf *c = NULL;
        assert_non_null(mkdtemp(t.dir));
        for (j = 0; j < 3 && cases[i].files[j][0] != NULL; j++)
            put(&t, cases[i].files[j][0], cases[i].files[j][1]);
        if (read_tree(&ctx, &t, "nginx.conf", &c) != NACME_E_CONFIG)
            fail_msg("case %zu accepted", i);
        with_dir(want, sizeof(want), cases[i].error, t.dir);
        if (strcmp(ctx.errmsg, want) != 0)
            fail_msg("case %zu: got %s, want %s", i, ctx.errmsg, want);
        assert_null(c);
        tree_remove(&t);
    }
    /* the main file itself */
    {
        struct nginx_conf *c = NULL;
        assert_int_equal(nginx_conf_read_new(&ctx, "/nonexistent/nginx.conf", &c), NACME_E_CONFIG);
        assert_null(c);
    }
    assert_string_equal(ctx.errmsg,
                        "open() \"/nonexistent/nginx.conf\" failed (2: No such file or directory)");
}

/* ---- the corpus -------------------------------------------------------------------------- */

static char *corpus_path_new(const char *rel)
{
    const char *data = getenv("NACME_TEST_DATA");

    assert_non_null(data);
    return nacme_printf_new("%s/nginx/%s", data, rel);
}

static char *slurp_new(const char *path)
{
    struct nacme_buf b = {0};
    char chunk[4096];
    size_t n;
    FILE *f = fopen(path, "r");

    if (f == NULL)
        fail_msg("cannot read %s", path);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        nacme_buf_append(&b, chunk, n);
    fclose(f);
    nacme_buf_append(&b, "", 0);
    return b.data;
}

/* Debian's default configuration, read as `nginx -T` shows it (its includes are absolute). */
static void test_corpus_debian(void **state)
{
    char *p1 = corpus_path_new("debian/nginx.conf"), *p2 = corpus_path_new("debian/mime.types"),
         *p3 = corpus_path_new("debian/sites-enabled/default");
    char *t1 = slurp_new(p1), *t2 = slurp_new(p2), *t3 = slurp_new(p3);
    struct file files[] = {
        {"/etc/nginx/nginx.conf", t1},
        {"/etc/nginx/mime.types", t2},
        {"/etc/nginx/sites-enabled/default", t3},
    };
    struct nacme_ctx ctx;
    struct nginx_conf *c = NULL;
    const struct nginx_dir *d, *http = NULL, *server = NULL;
    size_t types = 0;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_int_equal(parse_files(&ctx, files, 3, &c), NACME_OK);
    for (d = nginx_dir_first(nginx_conf_root(c)); d; d = nginx_dir_next(d))
        if (strcmp(d->args[0], "http") == 0)
            http = d;
    assert_non_null(http);
    assert_int_equal(http->line, 12);
    for (d = nginx_dir_first(http); d; d = nginx_dir_next(d)) {
        if (strcmp(d->args[0], "types") == 0) {
            const struct nginx_dir *t;
            for (t = nginx_dir_first(d); t; t = nginx_dir_next(t))
                types++;
            assert_string_equal(nginx_conf_file_path(c, d->file), "/etc/nginx/mime.types");
        }
        if (strcmp(d->args[0], "server") == 0)
            server = d;
    }
    assert_true(types > 50);
    assert_non_null(server);
    assert_string_equal(nginx_conf_file_path(c, server->file), "/etc/nginx/sites-enabled/default");
    assert_int_equal(server->line, 21);
    nginx_conf_free(c);
    free(t1);
    free(t2);
    free(t3);
    free(p1);
    free(p2);
    free(p3);
}

/* The edge-case files: ok-* are accepted, bad-* refused with nginx's message (checked against
 * nginx itself by tests/integration/t_nginx_conf.sh). */
static void test_corpus_edge(void **state)
{
    static const struct {
        const char *file;
        const char *error; /* after "PATH:"; NULL: accepted */
    } cases[] = {
        {"ok-quotes.conf", NULL},
        {"ok-comments.conf", NULL},
        {"ok-escapes.conf", NULL},
        {"ok-crlf-tabs.conf", NULL},
        {"ok-names.conf", NULL},
        {"bad-after-quote.conf", "4: unexpected \"y\""},
        {"bad-close.conf", "7: unexpected \"}\""},
        {"bad-dollar-brace.conf", "5: unexpected \"}\""},
        {"bad-eof.conf", "6: unexpected end of file, expecting \"}\""},
        {"bad-lone-semicolon.conf", "3: unexpected \";\""},
        {"bad-long-comment.conf", "2: too long parameter \"# xxxxxxxx...\" started"},
        {"bad-missing-semicolon.conf", "5: unexpected \"}\""},
        {"bad-quote-quote.conf", "4: unexpected \"\"\""},
        {"bad-unterminated-quote.conf", "7: unexpected end of file, expecting \";\" or \"}\""},
    };
    struct nacme_ctx ctx;
    char want[1200];
    size_t i;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *rel = nacme_printf_new("edge/%s", cases[i].file), *path = corpus_path_new(rel);
        struct nginx_conf *c = NULL;
        enum nacme_err r = nginx_conf_read_new(&ctx, path, &c);
        if (cases[i].error == NULL && r != NACME_OK)
            fail_msg("%s: %s", cases[i].file, ctx.errmsg);
        if (cases[i].error != NULL) {
            snprintf(want, sizeof(want), "%s:%s", path, cases[i].error);
            if (r == NACME_OK || strcmp(ctx.errmsg, want) != 0)
                fail_msg("%s: got %s, want %s", cases[i].file, r ? ctx.errmsg : "accepted",
                         want);
        }
        nginx_conf_free(c);
        free(path);
        free(rel);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_contexts),
        cmocka_unit_test(test_long_tokens),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_dump_errors),
        cmocka_unit_test(test_dump_twice),
        cmocka_unit_test(test_dump_file),
        cmocka_unit_test(test_include_disk),
        cmocka_unit_test(test_include_disk_errors),
        cmocka_unit_test(test_corpus_debian),
        cmocka_unit_test(test_corpus_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
