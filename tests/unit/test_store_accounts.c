/* test_store_accounts.c - the store's parts for account management and revocation: the pending
 * key of a rollover (saved 0600, then taken or dropped with the account URL untouched) and the
 * removal of a lineage, which never follows a symbolic link. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

#define CA_URL "https://acme.example/directory"
#define ACC "state/accounts/acme.example_directory"

struct fixture {
    char dir[64]; /* mkdtemp directory, removed by teardown */
    char state[128];
    struct nacme_ctx ctx;
    struct nacme_store *st;
};

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/nacme-test-accounts-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
    nacme_ctx_init(&f->ctx);
    assert_int_equal(store_open_new(&f->ctx, f->state, &f->st), NACME_OK);
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;

    store_free(f->st);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static const char *at(const struct fixture *f, char *buf, size_t size, const char *rel)
{
    int n = snprintf(buf, size, "%s/%s", f->dir, rel);

    assert_true(n > 0 && (size_t)n < size);
    return buf;
}

static bool exists(const struct fixture *f, const char *rel)
{
    char path[512];
    struct stat sb;

    return lstat(at(f, path, sizeof(path), rel), &sb) == 0;
}

static mode_t mode_of(const struct fixture *f, const char *rel)
{
    char path[512];
    struct stat sb;

    assert_int_equal(lstat(at(f, path, sizeof(path), rel), &sb), 0);
    return sb.st_mode & 07777;
}

static void put_file(const struct fixture *f, const char *rel, const char *text)
{
    char path[512];
    FILE *fp = fopen(at(f, path, sizeof(path), rel), "w");

    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

/* The account key and URL as the store loads them. */
static void assert_account(struct fixture *f, const char *key, const char *url)
{
    char *pem = NULL, *u = NULL;
    size_t len = 0;

    assert_int_equal(store_account_load_new(&f->ctx, f->st, CA_URL, &pem, &len, &u), NACME_OK);
    assert_string_equal(pem, key);
    assert_string_equal(u, url);
    nacme_secret_free(pem, len);
    free(u);
}

static void test_pending_key(void **state)
{
    static const struct {
        bool take_new;
        const char *key_after;
    } cases[] = {{true, "NEW KEY"}, {false, "OLD KEY"}};
    struct fixture *f = *state;
    char *pem = NULL;
    size_t i, len = 0;

    /* No account yet: nothing to roll over. */
    assert_int_equal(store_account_key_pending_save(&f->ctx, f->st, CA_URL, "NEW KEY", 7),
                     NACME_E_NOTFOUND);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(store_account_save(&f->ctx, f->st, CA_URL, "OLD KEY", 7,
                                            "https://acme.example/acct/1"),
                         NACME_OK);
        assert_int_equal(store_account_key_pending_load_new(&f->ctx, f->st, CA_URL, &pem, &len),
                         NACME_E_NOTFOUND);
        assert_null(pem);
        umask(0); /* the mode must not come from the umask */
        assert_int_equal(store_account_key_pending_save(&f->ctx, f->st, CA_URL, "NEW KEY", 7),
                         NACME_OK);
        umask(022);
        assert_int_equal(mode_of(f, ACC "/account.key.new"), 0600);
        assert_int_equal(store_account_key_pending_load_new(&f->ctx, f->st, CA_URL, &pem, &len),
                         NACME_OK);
        assert_int_equal(len, 7);
        assert_string_equal(pem, "NEW KEY");
        nacme_secret_free(pem, len);
        pem = NULL;
        /* Until it is settled, the old key is the account's. */
        assert_account(f, "OLD KEY", "https://acme.example/acct/1");
        assert_int_equal(
            store_account_key_pending_settle(&f->ctx, f->st, CA_URL, cases[i].take_new), NACME_OK);
        assert_false(exists(f, ACC "/account.key.new"));
        assert_account(f, cases[i].key_after, "https://acme.example/acct/1");
        assert_int_equal(mode_of(f, ACC "/account.key"), 0600);
        /* Settling twice is an error naming the file, not a silent success. */
        assert_int_equal(
            store_account_key_pending_settle(&f->ctx, f->st, CA_URL, cases[i].take_new),
            NACME_E_IO);
        assert_non_null(strstr(f->ctx.errmsg, ACC "/account.key.new: No such file"));
    }
}

/* A lineage of two versions with a live link, as the store installs it. */
static void make_lineage(struct fixture *f, const char *name)
{
    static const char *const domains[] = {"example.com"};
    struct store_lineage lin = {
        .name = (char *)name,
        .domains = (char **)domains,
        .ndomains = 1,
        .key_type = (char *)"ec256",
        .server = (char *)CA_URL,
        .challenge = (char *)"http-01",
        .webroot = (char *)"/var/www/acme",
    };
    int v;

    for (v = 0; v < 2; v++)
        assert_int_equal(store_lineage_install(&f->ctx, f->st, &lin, "CERT\n", "CHAIN\n",
                                               "CERT\nCHAIN\n", "KEY\n", 4),
                         NACME_OK);
}

static void test_lineage_remove(void **state)
{
    struct fixture *f = *state;
    char path[512], target[512];

    make_lineage(f, "a.example");
    make_lineage(f, "b.example");
    /* Links planted inside point out of the state dir. */
    assert_int_equal(mkdir(at(f, path, sizeof(path), "outside"), 0700), 0);
    put_file(f, "outside/file", "keep");
    assert_int_equal(symlink(at(f, target, sizeof(target), "outside"),
                             at(f, path, sizeof(path), "state/archive/a.example/evil-dir")),
                     0);
    assert_int_equal(symlink(at(f, target, sizeof(target), "outside/file"),
                             at(f, path, sizeof(path), "state/archive/a.example/1/evil-file")),
                     0);
    assert_int_equal(store_lineage_remove(&f->ctx, f->st, "a.example"), NACME_OK);
    assert_false(exists(f, "state/live/a.example"));
    assert_false(exists(f, "state/archive/a.example"));
    assert_true(exists(f, "outside/file"));
    assert_true(exists(f, "state/live/b.example"));
    assert_true(exists(f, "state/archive/b.example/2/cert.pem"));
    /* Gone is gone. */
    assert_int_equal(store_lineage_remove(&f->ctx, f->st, "a.example"), NACME_E_NOTFOUND);
    assert_non_null(strstr(f->ctx.errmsg, "no certificate named a.example"));
    /* Names are checked like everywhere in the store. */
    assert_int_not_equal(store_lineage_remove(&f->ctx, f->st, "../b.example"), NACME_OK);
    assert_int_not_equal(store_lineage_remove(&f->ctx, f->st, ""), NACME_OK);
    assert_true(exists(f, "state/archive/b.example/2/cert.pem"));
}

static void test_lineage_remove_refusals(void **state)
{
    struct fixture *f = *state;
    char path[512], target[512];

    /* live/NAME that is a directory is not ours: nothing is removed. */
    make_lineage(f, "c.example");
    assert_int_equal(unlink(at(f, path, sizeof(path), "state/live/c.example")), 0);
    assert_int_equal(mkdir(at(f, path, sizeof(path), "state/live/c.example"), 0700), 0);
    assert_int_equal(store_lineage_remove(&f->ctx, f->st, "c.example"), NACME_E_INVALID);
    assert_non_null(strstr(f->ctx.errmsg, "live/c.example is not a symbolic link; not removed"));
    assert_true(exists(f, "state/archive/c.example/1/cert.pem"));

    /* archive/NAME that is a link: the link goes, its target stays. */
    assert_int_equal(mkdir(at(f, path, sizeof(path), "elsewhere"), 0700), 0);
    put_file(f, "elsewhere/keep", "keep");
    assert_int_equal(symlink(at(f, target, sizeof(target), "elsewhere"),
                             at(f, path, sizeof(path), "state/archive/d.example")),
                     0);
    assert_int_equal(store_lineage_remove(&f->ctx, f->st, "d.example"), NACME_OK);
    assert_false(exists(f, "state/archive/d.example"));
    assert_true(exists(f, "elsewhere/keep"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pending_key, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lineage_remove, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lineage_remove_refusals, fixture_setup,
                                        fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
