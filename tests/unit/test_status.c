/* test_status.c - what `nacme list` says about a lineage: days left, state, alarm at their
 * boundaries (the clock is an argument), the error split into file and reason, the JSON object's
 * fields and the table's lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "status.h"

#define DAY (24 * 3600L)
#define NA 1900000000L /* an arbitrary not_after */

static void test_days_left(void **state)
{
    static const struct {
        long left; /* not_after - now */
        long days;
    } cases[] = {
        {0, 0},         {1, 0},          {DAY - 1, 0},     {DAY, 1},
        {DAY + 1, 1},   {90 * DAY, 90},  {-1, -1},         {-DAY, -1},
        {-DAY - 1, -2}, {-90 * DAY, -90},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (status_days_left(NA, NA - cases[i].left) != cases[i].days)
            fail_msg("%ld s left: %ld days, want %ld", cases[i].left,
                     status_days_left(NA, NA - cases[i].left), cases[i].days);
}

/* An entry for a certificate of lifetime seconds ending at NA, with failures and its renewal
 * moment at renew_at. */
static void entry(struct status_entry *e, struct store_lineage *lin, long lifetime,
                  int failures, time_t renew_at)
{
    memset(e, 0, sizeof(*e));
    memset(lin, 0, sizeof(*lin));
    lin->renewal.not_before = NA - lifetime;
    lin->renewal.not_after = NA;
    lin->renewal.failures = failures;
    e->name = (char *)"a.example";
    e->lin = lin;
    e->dec.at = renew_at;
}

static void test_state_and_alarm(void **state)
{
    static const struct {
        long lifetime;
        int failures;
        long renew_before_na; /* the renewal moment, seconds before NA */
        long now_before_na;   /* now, seconds before NA */
        const char *state;
        bool alarm;
    } cases[] = {
        {90 * DAY, 0, 30 * DAY, 31 * DAY, "ok", false},
        {90 * DAY, 0, 30 * DAY, 30 * DAY, "due", false},
        {90 * DAY, 0, 30 * DAY, 7 * DAY, "due", false},      /* 7 days left: not yet */
        {90 * DAY, 0, 30 * DAY, 7 * DAY - 1, "due", true},   /* under 7 days */
        {90 * DAY, 2, 30 * DAY, 20 * DAY, "failing", false}, /* failing, far from expiry */
        {90 * DAY, 2, 30 * DAY, 7 * DAY - 1, "failing", true},
        {90 * DAY, 0, 30 * DAY, 0, "expired", true},
        {90 * DAY, 3, 30 * DAY, -5 * DAY, "expired", true},  /* expired outranks failing */
        /* Six-day certificates always have under 7 days: a third (2 days) is their margin. */
        {6 * DAY, 0, 3 * DAY, 5 * DAY, "ok", false},
        {6 * DAY, 0, 3 * DAY, 2 * DAY, "due", false},
        {6 * DAY, 0, 3 * DAY, 2 * DAY - 1, "due", true},
        {6 * DAY, 1, 3 * DAY, 5 * DAY, "failing", true},     /* and failing within 7 days */
        {21 * DAY, 0, 7 * DAY, 7 * DAY - 1, "due", true},    /* three weeks: 7 days again */
    };
    struct status_entry e;
    struct store_lineage lin;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        time_t now = NA - cases[i].now_before_na;
        entry(&e, &lin, cases[i].lifetime, cases[i].failures, NA - cases[i].renew_before_na);
        if (strcmp(status_state(&e, now), cases[i].state) != 0 ||
            status_alarm(&e, now) != cases[i].alarm)
            fail_msg("case %zu: %s/%d, want %s/%d", i, status_state(&e, now),
                     status_alarm(&e, now), cases[i].state, cases[i].alarm);
    }
    /* Unreadable: error, and always an alarm. */
    memset(&e, 0, sizeof(e));
    e.name = (char *)"x";
    assert_string_equal(status_state(&e, NA), "error");
    assert_true(status_alarm(&e, NA));
}

static void test_set_error(void **state)
{
    static const struct {
        const char *cause, *file, *reason;
    } cases[] = {
        {"/s/archive/x/lineage.json:1: '[' expected", "/s/archive/x/lineage.json",
         "lineage.json:1: '[' expected"},
        {"cannot read /s/live/x/cert.pem: No such file or directory", "/s/live/x/cert.pem",
         "cannot read cert.pem: No such file or directory"},
        {"certificate 0 in the chain does not parse", "/s/live/x/cert.pem",
         "certificate 0 in the chain does not parse"},
    };
    struct status_entry e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&e, 0, sizeof(e));
        assert_int_equal(status_set_error(&e, cases[i].cause, cases[i].file), NACME_OK);
        assert_string_equal(e.error, cases[i].cause);
        assert_string_equal(e.file, cases[i].file);
        assert_string_equal(e.reason, cases[i].reason);
        free(e.error);
        free(e.file);
        free(e.reason);
    }
}

static void test_json(void **state)
{
    struct status_entry e, bad;
    struct store_lineage lin;
    char *domains[2] = {(char *)"a.example", (char *)"www.a.example"};
    const char *key;
    json_t *o, *u, *v;

    (void)state;
    entry(&e, &lin, 90 * DAY, 1, NA - 30 * DAY);
    lin.domains = domains;
    lin.ndomains = 2;
    lin.key_type = (char *)"ec256";
    lin.server = (char *)"https://ca.example/dir";
    lin.webroot = (char *)"/var/www/nacme";
    lin.challenge = (char *)"dns-01";
    lin.version = 3;
    lin.profile = (char *)"tlsserver";
    lin.reuse_key = true;
    lin.preferred_chain = (char *)"Pebble Root CA 1";
    lin.renewal.last_failure = NA - 40 * DAY;
    lin.renewal.next_attempt = NA - 40 * DAY + 60;
    lin.renewal.last_error = (char *)"the CA said no";
    e.dec.source = RENEW_SRC_LIFETIME;
    e.installed = NA - 90 * DAY;
    assert_non_null(o = status_json_new(&e, NA - 40 * DAY));
    assert_string_equal(json_string_value(json_object_get(o, "status")), "failing");
    assert_string_equal(json_string_value(json_object_get(o, "challenge")), "dns-01");
    assert_string_equal(json_string_value(json_object_get(o, "not_after")),
                        "2030-03-17T17:46:40Z");
    assert_int_equal(json_integer_value(json_object_get(o, "not_after_epoch")), NA);
    assert_int_equal(json_integer_value(json_object_get(o, "next_renewal_epoch")), NA - 30 * DAY);
    assert_string_equal(json_string_value(json_object_get(o, "next_renewal_source")), "lifetime");
    assert_int_equal(json_integer_value(json_object_get(o, "days_left")), 40);
    assert_int_equal(json_integer_value(json_object_get(o, "failures")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "next_attempt_epoch")),
                     NA - 40 * DAY + 60);
    assert_string_equal(json_string_value(json_object_get(o, "last_error")), "the CA said no");
    assert_int_equal(json_integer_value(json_object_get(o, "last_success_epoch")), NA - 90 * DAY);
    assert_true(json_is_false(json_object_get(o, "due")));
    assert_true(json_is_null(json_object_get(o, "ari_window")));
    assert_true(json_is_null(json_object_get(o, "error")));
    assert_int_equal(json_array_size(json_object_get(o, "domains")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "profile")), "tlsserver");
    assert_true(json_is_true(json_object_get(o, "reuse_key")));
    assert_string_equal(json_string_value(json_object_get(o, "preferred_chain")),
                        "Pebble Root CA 1");
    /* Not recorded: false and null, never left out. */
    lin.reuse_key = false;
    lin.preferred_chain = NULL;
    assert_non_null(v = status_json_new(&e, NA - 40 * DAY));
    assert_true(json_is_false(json_object_get(v, "reuse_key")));
    assert_non_null(json_object_get(v, "preferred_chain"));
    assert_true(json_is_null(json_object_get(v, "preferred_chain")));
    json_decref(v);

    /* An unreadable lineage: the same keys, null but for name, status, alarm and the error. */
    memset(&bad, 0, sizeof(bad));
    bad.name = (char *)"b.example";
    assert_int_equal(status_set_error(&bad, "/s/archive/b.example/lineage.json: not a JSON object",
                                      "/s/archive/b.example/lineage.json"),
                     NACME_OK);
    assert_non_null(u = status_json_new(&bad, NA));
    assert_int_equal(json_object_size(u), json_object_size(o));
    json_object_foreach(o, key, v) {
        json_t *w = json_object_get(u, key);
        if (w == NULL)
            fail_msg("field %s missing for an unreadable lineage", key);
        if (strcmp(key, "name") != 0 && strcmp(key, "status") != 0 &&
            strcmp(key, "alarm") != 0 && strcmp(key, "error") != 0 && strcmp(key, "file") != 0 &&
            strcmp(key, "reason") != 0 && !json_is_null(w))
            fail_msg("field %s is not null for an unreadable lineage", key);
    }
    assert_string_equal(json_string_value(json_object_get(u, "reason")),
                        "lineage.json: not a JSON object");
    json_decref(o);
    json_decref(u);
    free(bad.error);
    free(bad.file);
    free(bad.reason);
}

static void test_table(void **state)
{
    struct status_entry e[2];
    struct store_lineage lin;
    struct status_list l = {.entries = e, .n = 2, .unreadable = 1};
    char *domains[2] = {(char *)"a.example", (char *)"www.a.example"};
    char *text = NULL;
    size_t size = 0;
    FILE *f;

    (void)state;
    entry(&e[0], &lin, 90 * DAY, 2, NA - 30 * DAY);
    lin.domains = domains;
    lin.ndomains = 2;
    lin.key_type = (char *)"ec256";
    lin.renewal.next_attempt = NA - 20 * DAY;
    lin.renewal.last_error = (char *)"the CA said no";
    lin.profile = (char *)"shortlived";
    memset(&e[1], 0, sizeof(e[1]));
    e[1].name = (char *)"long-name.example";
    e[1].file = (char *)"/s/archive/long-name.example/lineage.json";
    e[1].reason = (char *)"lineage.json: not a JSON object";
    assert_non_null(f = open_memstream(&text, &size));
    status_table_print(f, &l, NA - 25 * DAY);
    fclose(f);
    assert_string_equal(
        text,
        "NAME              KEY     NOT AFTER (UTC)   DAYS RENEWAL (UTC)    SOURCE            "
        "STATUS   DOMAINS\n"
        "a.example         ec256   2030-03-17 17:46    25 2030-02-15 17:46 lifetime          "
        "FAILING  a.example +1 profile shortlived -- 2 failures, next attempt 2030-02-25 17:46 "
        "UTC: the CA said no\n"
        "long-name.example -       -                    - -                -                 "
        "ERROR    - -- /s/archive/long-name.example/lineage.json: lineage.json: not a JSON "
        "object\n");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_left),
        cmocka_unit_test(test_state_and_alarm),
        cmocka_unit_test(test_set_error),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
