/* test_metrics.c - the Prometheus textfile: label escaping, the families and their order, the
 * runs kept from a previous file, and the file itself (mode, atomic replacement). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>

#include "metrics.h"

static void test_label_escape(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a.example", "a.example"},
        {"", ""},
        {"a\\b", "a\\\\b"},
        {"a\"b", "a\\\"b"},
        {"a\nb", "a\\nb"},
        {"\\\"\n", "\\\\\\\"\\n"},
        {"tab\tstays", "tab\tstays"}, /* only the three the format names are escaped */
        {"\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nacme_buf b = {0};
        assert_int_equal(metrics_label_escape(&b, cases[i].in), 0);
        if (strcmp(b.data ? b.data : "", cases[i].out) != 0)
            fail_msg("escape(\"%s\") = \"%s\", want \"%s\"", cases[i].in, b.data,
                     cases[i].out);
        nacme_buf_clear(&b);
    }
}

/* A readable lineage with these facts, and an unreadable one. */
static void fixture_list(struct status_list *l, struct status_entry *e, struct store_lineage *lin,
                         char **domains)
{
    memset(l, 0, sizeof(*l));
    memset(e, 0, 2 * sizeof(*e));
    memset(lin, 0, sizeof(*lin));
    domains[0] = (char *)"a.example";
    lin->name = (char *)"a\"b";
    lin->domains = domains;
    lin->ndomains = 1;
    lin->renewal.not_before = 1000;
    lin->renewal.not_after = 7000000;
    lin->renewal.failures = 3;
    lin->renewal.last_failure = 5000;
    e[0].name = (char *)"a\"b";
    e[0].lin = lin;
    e[0].dec.at = 6000000;
    e[0].installed = 1001;
    e[1].name = (char *)"c.example";
    e[1].file = (char *)"/s\\t/archive/c.example/lineage.json";
    l->entries = e;
    l->n = 2;
    l->unreadable = 1;
}

static void test_format(void **state)
{
    static const char *const want[] = {
        "# HELP nacme_certificate_not_after_timestamp_seconds ",
        "# TYPE nacme_certificate_not_after_timestamp_seconds gauge\n"
        "nacme_certificate_not_after_timestamp_seconds{name=\"a\\\"b\"} 7000000\n"
        "# HELP nacme_certificate_next_renewal_timestamp_seconds ",
        "# TYPE nacme_certificate_next_renewal_timestamp_seconds gauge\n"
        "nacme_certificate_next_renewal_timestamp_seconds{name=\"a\\\"b\"} 6000000\n",
        "nacme_certificate_last_success_timestamp_seconds{name=\"a\\\"b\"} 1001\n",
        "nacme_certificate_last_failure_timestamp_seconds{name=\"a\\\"b\"} 5000\n",
        "# TYPE nacme_certificate_consecutive_failures gauge\n"
        "nacme_certificate_consecutive_failures{name=\"a\\\"b\"} 3\n",
        "# TYPE nacme_certificate_read_error gauge\n"
        "nacme_certificate_read_error{name=\"c.example\","
        "file=\"/s\\\\t/archive/c.example/lineage.json\"} 1\n",
        "# TYPE nacme_last_run_timestamp_seconds gauge\n"
        "nacme_last_run_timestamp_seconds{command=\"renew\"} 1800000000\n"
        "nacme_last_run_timestamp_seconds{command=\"list\"} 1800000001\n",
        "# TYPE nacme_last_run_success gauge\n"
        "nacme_last_run_success{command=\"renew\"} 1\n"
        "nacme_last_run_success{command=\"list\"} 0\n",
    };
    struct metrics_run runs[2] = {{"renew", 1800000000, true}, {"list", 1800000001, false}};
    struct status_list l;
    struct status_entry e[2];
    struct store_lineage lin;
    char *domains[1];
    struct nacme_buf b = {0};
    const char *p, *at, *line;
    size_t i;

    (void)state;
    fixture_list(&l, e, &lin, domains);
    assert_int_equal(metrics_format(&b, &l, runs, 2), 0);
    /* Each piece present, in this order. */
    for (i = 0, p = b.data; i < sizeof(want) / sizeof(want[0]); i++) {
        if ((at = strstr(p, want[i])) == NULL)
            fail_msg("missing or out of order: %s\n--- in ---\n%s", want[i], b.data);
        p = at + strlen(want[i]);
    }
    assert_int_equal(b.data[b.len - 1], '\n');
    /* The unreadable lineage has no other series; no line has a timestamp (a third field). */
    for (line = b.data; *line; line = strchr(line, '\n') + 1) {
        const char *nl = strchr(line, '\n'), *sp;
        if (line[0] == '#')
            continue;
        if (strstr(line, "c.example") != NULL && strstr(line, "read_error") == NULL &&
            strstr(line, "c.example") < nl)
            fail_msg("c.example in another family: %.*s", (int)(nl - line), line);
        sp = memchr(strchr(line, '}'), ' ', (size_t)(nl - strchr(line, '}')));
        assert_non_null(sp);
        assert_null(memchr(sp + 1, ' ', (size_t)(nl - sp - 1)));
    }
    nacme_buf_clear(&b);

    /* No lineages (no state directory yet): the families are still declared, and the runs. */
    assert_int_equal(metrics_format(&b, NULL, runs, 1), 0);
    assert_non_null(strstr(b.data, "# TYPE nacme_certificate_not_after_timestamp_seconds gauge\n"
                                   "# HELP nacme_certificate_next_renewal"));
    assert_non_null(strstr(b.data, "nacme_last_run_success{command=\"renew\"} 1\n"));
    assert_null(strstr(b.data, "command=\"list\""));
    nacme_buf_clear(&b);
}

static void test_runs_parse(void **state)
{
    static const char text[] =
        "# HELP nacme_last_run_timestamp_seconds x\n"
        "nacme_last_run_timestamp_seconds{command=\"renew\"} 1800000000\n"
        "nacme_last_run_timestamp_seconds{command=\"issue\"} 1700000000\n"
        "nacme_last_run_success{command=\"renew\"} 1\n"
        "nacme_last_run_success{command=\"issue\"} 0\n"
        "nacme_last_run_timestamp_seconds{command=\"Bad\"} 5\n"      /* not [a-z] */
        "nacme_last_run_timestamp_seconds{command=\"neg\"} -5\n"     /* negative */
        "nacme_last_run_timestamp_seconds{command=\"junk\"} 5 6\n"   /* trailing */
        "nacme_last_run_timestamp_seconds{command=\"\"} 5\n"         /* empty */
        "nacme_last_run_timestamp_seconds{command=\"waytoolongcommandname\"} 5\n"
        "nacme_certificate_consecutive_failures{name=\"renew\"} 9\n" /* another family */
        "nacme_last_run_success{command=\"list\"} 1";                /* no final newline */
    struct metrics_run runs[METRICS_MAX_RUNS];
    size_t n;

    (void)state;
    n = metrics_runs_parse(text, runs, METRICS_MAX_RUNS);
    assert_int_equal(n, 3);
    assert_string_equal(runs[0].command, "renew");
    assert_int_equal(runs[0].time, 1800000000);
    assert_true(runs[0].success);
    assert_string_equal(runs[1].command, "issue");
    assert_int_equal(runs[1].time, 1700000000);
    assert_false(runs[1].success);
    assert_string_equal(runs[2].command, "list");
    assert_int_equal(runs[2].time, 0);
    assert_true(runs[2].success);
    /* Room for two only: the third command is dropped, not written past the end. */
    assert_int_equal(metrics_runs_parse(text, runs, 2), 2);
    assert_int_equal(metrics_runs_parse("", runs, 2), 0);
}

static void test_write(void **state)
{
    char dir[] = "/tmp/test_metrics.XXXXXX", path[256], *text = NULL;
    struct metrics_run renew = {"renew", 1800000000, true}, list = {"list", 1800000100, false};
    struct nacme_ctx ctx;
    struct stat sb;
    struct dirent *d;
    DIR *dh;
    FILE *f;
    long size;
    mode_t old;

    (void)state;
    nacme_ctx_init(&ctx);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/nacme.prom", dir);
    old = umask(077); /* the file is for node_exporter, another user: 0644 whatever the umask */
    assert_int_equal(metrics_write(&ctx, path, NULL, &renew), NACME_OK);
    renew.time++;
    assert_int_equal(metrics_write(&ctx, path, NULL, &list), NACME_OK);
    umask(old);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0644);
    assert_non_null(f = fopen(path, "r"));
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    assert_non_null(text = calloc(1, (size_t)size + 1));
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    /* renew's run survived list's write; list's is there too. */
    assert_non_null(strstr(text, "nacme_last_run_timestamp_seconds{command=\"renew\"} 1800000000\n"));
    assert_non_null(strstr(text, "nacme_last_run_success{command=\"renew\"} 1\n"));
    assert_non_null(strstr(text, "nacme_last_run_timestamp_seconds{command=\"list\"} 1800000100\n"));
    assert_non_null(strstr(text, "nacme_last_run_success{command=\"list\"} 0\n"));
    free(text);
    /* Nothing else in the directory: the temp file was renamed, not left. */
    assert_non_null(dh = opendir(dir));
    while ((d = readdir(dh)) != NULL)
        if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
            assert_string_equal(d->d_name, "nacme.prom");
    closedir(dh);
    unlink(path);
    /* A missing directory and a path without a file name are refused, naming the path. */
    snprintf(path, sizeof(path), "%s/nope/x.prom", dir);
    assert_int_equal(metrics_write(&ctx, path, NULL, &renew), NACME_E_IO);
    assert_non_null(strstr(ctx.errmsg, path));
    snprintf(path, sizeof(path), "%s/", dir);
    assert_int_equal(metrics_write(&ctx, path, NULL, &renew), NACME_E_USAGE);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_escape),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_runs_parse),
        cmocka_unit_test(test_write),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
