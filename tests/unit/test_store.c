/* test_store.c - the state directory: layout and modes, accounts, lineages and the live switch. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "store.h"

#define CA_URL "https://acme.example/directory"

struct fixture {
    char dir[64];    /* mkdtemp directory, removed by teardown */
    char state[128]; /* dir/state */
    mode_t umask_before;
    struct nacme_ctx ctx;
    struct nacme_store *st;
};

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/nacme-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
    f->umask_before = umask(022);
    nacme_ctx_init(&f->ctx);
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

    umask(f->umask_before);
    store_free(f->st);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* f->dir/rel, in a buffer of the caller's. */
static const char *at(const struct fixture *f, char *buf, size_t size, const char *rel)
{
    int n = snprintf(buf, size, "%s/%s", f->dir, rel);

    assert_true(n > 0 && (size_t)n < size);
    return buf;
}

static mode_t mode_of(const struct fixture *f, const char *rel)
{
    char path[512];
    struct stat sb;

    assert_int_equal(lstat(at(f, path, sizeof(path), rel), &sb), 0);
    return sb.st_mode & 07777;
}

static bool exists(const struct fixture *f, const char *rel)
{
    char path[512];
    struct stat sb;

    return lstat(at(f, path, sizeof(path), rel), &sb) == 0;
}

static void put_file(const struct fixture *f, const char *rel, const char *text)
{
    char path[512];
    FILE *fp = fopen(at(f, path, sizeof(path), rel), "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static char *get_file(const struct fixture *f, const char *rel)
{
    char path[512], *text = calloc(1, 65536);
    FILE *fp = fopen(at(f, path, sizeof(path), rel), "r");

    assert_non_null(text);
    assert_non_null(fp);
    assert_true(fread(text, 1, 65535, fp) < 65535);
    fclose(fp);
    return text;
}

static void assert_link(const struct fixture *f, const char *rel, const char *target)
{
    char path[512], got[512];
    ssize_t n;

    n = readlink(at(f, path, sizeof(path), rel), got, sizeof(got) - 1);
    assert_true(n > 0);
    got[n] = '\0';
    assert_string_equal(got, target);
}

/* Entries starting with '.' anywhere below path: temp files or links left behind. */
static int dot_entries(const char *path)
{
    char sub[1024];
    struct dirent *de;
    DIR *d = opendir(path);
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (de->d_name[0] == '.')
            n++;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        if (de->d_type == DT_DIR)
            n += dot_entries(sub);
    }
    closedir(d);
    return n;
}

static void open_store(struct fixture *f)
{
    assert_int_equal(store_open_new(&f->ctx, f->state, &f->st), NACME_OK);
    assert_non_null(f->st);
}

/* ---- layout -------------------------------------------------------------------------------- */

static void test_open_layout(void **state)
{
    static const mode_t umasks[] = {0, 077, 0777};
    static const struct {
        const char *rel;
        mode_t mode;
    } layout[] = {
        {"a", 0755},           {"a/b", 0755},          {"a/b/state", 0700},
        {"a/b/state/accounts", 0700}, {"a/b/state/archive", 0700}, {"a/b/state/live", 0755},
    };
    struct fixture *f = *state;
    struct nacme_store *st;
    char path[512], rel[32];
    size_t u, i;

    for (u = 0; u < sizeof(umasks) / sizeof(umasks[0]); u++) {
        umask(umasks[u]);
        snprintf(rel, sizeof(rel), "u%zu", u);
        assert_int_equal(mkdir(at(f, path, sizeof(path), rel), 0755), 0);
        /* Doubled and trailing slashes must not change what is made or how it is opened. */
        snprintf(rel, sizeof(rel), "u%zu//a/./b//state//", u);
        st = (struct nacme_store *)(uintptr_t)1;
        assert_int_equal(store_open_new(&f->ctx, at(f, path, sizeof(path), rel), &st), NACME_OK);
        assert_non_null(st);
        for (i = 0; i < sizeof(layout) / sizeof(layout[0]); i++) {
            snprintf(rel, sizeof(rel), "u%zu/%s", u, layout[i].rel);
            assert_int_equal(mode_of(f, rel), layout[i].mode);
        }
        store_free(st);
    }
}

/* An existing state directory is reopened; its mode and its subdirectories' are put right. */
static void test_open_existing(void **state)
{
    struct fixture *f = *state;
    char path[512];

    assert_int_equal(mkdir(f->state, 0755), 0);
    assert_int_equal(chmod(f->state, 0755), 0);
    assert_int_equal(mkdir(at(f, path, sizeof(path), "state/live"), 0700), 0);
    open_store(f);
    assert_int_equal(mode_of(f, "state"), 0700);
    assert_int_equal(mode_of(f, "state/live"), 0755);
    assert_int_equal(mode_of(f, "state/archive"), 0700);
    /* The parent existed: its mode is the administrator's business, not ours. */
    assert_int_equal(chmod(f->dir, 0751), 0);
    store_free(f->st);
    f->st = NULL;
    open_store(f);
    assert_int_equal(mode_of(f, "."), 0751);
}

/* A state directory (or accounts/, archive/, live/) that someone else owns or may write to is
 * refused with the reason, and left as it was: what another user planted would stay. */
static void test_open_untrusted(void **state)
{
    static const struct {
        const char *dir;  /* under the fixture's directory */
        mode_t mode;
        bool chown_nobody;
        const char *msg; /* after "DIR/" */
    } cases[] = {
        {"state", 0770, false, "state is writable by its group (mode 0770); refusing to use it: "
                               "another user may have put files in it"},
        {"state", 0707, false, "state is writable by everyone (mode 0707); refusing to use it: "
                               "another user may have put files in it"},
        {"state", 01777, false, "state is writable by everyone (mode 1777); refusing to use it: "
                                "another user may have put files in it"},
        {"state/archive", 0720, false, "state/archive is writable by its group (mode 0720); "
                                       "refusing to use it: another user may have put files in it"},
        {"state/accounts", 0702, false, "state/accounts is writable by everyone (mode 0702); "
                                        "refusing to use it: another user may have put files in "
                                        "it"},
        {"state", 0700, true, "state is owned by uid 65534, not by uid 0 that runs nacme; "
                              "refusing to use it"},
        {"state/live", 0755, true, "state/live is owned by uid 65534, not by uid 0 that runs "
                                   "nacme; refusing to use it"},
    };
    struct fixture *f = *state;
    struct nacme_store *st;
    char path[512], expect[512];
    struct stat sb;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].chown_nobody && geteuid() != 0)
            continue; /* only root can give a directory away */
        nftw(f->state, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        open_store(f);
        store_free(f->st);
        f->st = NULL;
        assert_int_equal(chmod(at(f, path, sizeof(path), cases[i].dir), cases[i].mode), 0);
        if (cases[i].chown_nobody)
            assert_int_equal(chown(path, 65534, 65534), 0);
        st = (struct nacme_store *)(uintptr_t)1;
        assert_int_equal(store_open_new(&f->ctx, f->state, &st), NACME_E_INVALID);
        assert_null(st);
        snprintf(expect, sizeof(expect), "%s/%s", f->dir, cases[i].msg);
        assert_string_equal(f->ctx.errmsg, expect);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_mode & 07777, cases[i].mode);
        if (cases[i].chown_nobody)
            assert_int_equal(chown(path, geteuid(), getegid()), 0);
    }
    /* put right: the directory is ours and nobody else may write to it */
    assert_int_equal(chmod(f->state, 0755), 0);
    open_store(f);
    assert_int_equal(mode_of(f, "state"), 0700);
}

static void test_open_refusals(void **state)
{
    static const struct {
        const char *setup; /* "link": state is a symlink to a directory; "file": a file */
        enum nacme_err err;
        const char *msg; /* after "DIR/" */
    } cases[] = {
        {"link", NACME_E_INVALID, "state is a symbolic link; refusing to follow it"},
        {"file", NACME_E_IO, "state exists and is not a directory"},
        {"sub", NACME_E_IO, "state/live exists and is not a directory"},
        {"sublink", NACME_E_INVALID, "state/archive is a symbolic link; refusing to follow it"},
    };
    struct fixture *f = *state;
    struct nacme_store *st;
    char path[512], expect[512];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nftw(f->state, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        remove(at(f, path, sizeof(path), "real"));
        if (strcmp(cases[i].setup, "link") == 0) {
            assert_int_equal(mkdir(at(f, path, sizeof(path), "real"), 0700), 0);
            assert_int_equal(symlink("real", f->state), 0);
        } else if (strcmp(cases[i].setup, "file") == 0) {
            put_file(f, "state", "");
        } else if (strcmp(cases[i].setup, "sub") == 0) {
            assert_int_equal(mkdir(f->state, 0700), 0);
            put_file(f, "state/live", "");
        } else {
            assert_int_equal(mkdir(at(f, path, sizeof(path), "real"), 0700), 0);
            assert_int_equal(mkdir(f->state, 0700), 0);
            assert_int_equal(symlink("../real", at(f, path, sizeof(path), "state/archive")), 0);
        }
        st = (struct nacme_store *)(uintptr_t)1;
        assert_int_equal(store_open_new(&f->ctx, f->state, &st), cases[i].err);
        assert_null(st);
        snprintf(expect, sizeof(expect), "%s/%s", f->dir, cases[i].msg);
        assert_string_equal(f->ctx.errmsg, expect);
    }
    assert_int_equal(store_open_new(&f->ctx, "", &st), NACME_E_CONFIG);
    assert_null(st);
    assert_int_equal(chmod(f->dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/x/..", f->dir);
    assert_int_equal(store_open_new(&f->ctx, path, &st), NACME_E_CONFIG);
    assert_null(st);
    assert_int_equal(mode_of(f, "."), 0755);
    assert_false(exists(f, "x"));
    assert_int_equal(store_open_new(&f->ctx, "/", &st), NACME_E_CONFIG);
    assert_string_equal(f->ctx.errmsg, "the state directory / must end in a name");
}

/* A relative path is taken from the working directory, one component or several. */
static void test_open_relative(void **state)
{
    static const char *const paths[] = {"state", "rel/a/state"};
    struct fixture *f = *state;
    char cwd[512], rel[64];
    size_t i;

    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(f->dir), 0);
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        assert_int_equal(store_open_new(&f->ctx, paths[i], &f->st), NACME_OK);
        store_free(f->st);
        f->st = NULL;
        snprintf(rel, sizeof(rel), "%s/live", paths[i]);
        assert_int_equal(mode_of(f, paths[i]), 0700);
        assert_int_equal(mode_of(f, rel), 0755);
    }
    assert_int_equal(mode_of(f, "rel/a"), 0755);
    assert_int_equal(chdir(cwd), 0);
}

/* ---- names --------------------------------------------------------------------------------- */

static void test_ca_id(void **state)
{
    static const struct {
        const char *url;
        const char *id;
    } cases[] = {
        {"https://acme-v02.api.letsencrypt.org/directory",
         "acme-v02.api.letsencrypt.org_directory"},
        {"https://localhost:14000/dir", "localhost_14000_dir"},
        {"http://a.example/x?y=1&z", "a.example_x_y_1_z"},
        {"HTTPS://UP.example/Dir", "UP.example_Dir"},
        {"https://", "_"},
        {"https://..", "_."},
        {"https://../../etc", "_._.._etc"},
        {"https://.hidden/", "_hidden_"},
        {"no-scheme/path", "no-scheme_path"},
        {"x/y://z", "x_y___z"},
        {"https://caf\xc3\xa9.example/", "caf__.example_"},
        {"https://a b\n/c", "a_b__c"},
        {"", "_"},
    };
    size_t i;
    char *id;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        id = store_ca_id_new(cases[i].url);
        assert_non_null(id);
        assert_string_equal(id, cases[i].id);
        free(id);
    }
    assert_null(store_ca_id_new(NULL));
}

static void test_name_valid(void **state)
{
    static const struct {
        const char *name;
        bool ok;
    } cases[] = {
        {"example.com", true},
        {"www.example.com", true},
        {"a", true},
        {"A-b_c.9", true},
        {"x-", true},
        {"x..y", true},
        {"", false},
        {".", false},
        {"..", false},
        {".hidden", false},
        {"-flag", false},
        {"a/b", false},
        {"../x", false},
        {"a b", false},
        {"*.example.com", false},
        {"caf\xc3\xa9", false},
        {"a\n", false},
        {"a:b", false},
    };
    char name[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(store_name_valid(cases[i].name), cases[i].ok);
    assert_false(store_name_valid(NULL));
    memset(name, 'a', sizeof(name));
    name[200] = '\0';
    assert_true(store_name_valid(name));
    name[200] = 'a';
    name[201] = '\0';
    assert_false(store_name_valid(name));
}

/* ---- accounts ------------------------------------------------------------------------------ */

static void test_account_roundtrip(void **state)
{
    static const char key[] = "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n";
    struct fixture *f = *state;
    char *pem = NULL, *url = NULL, *text;
    const char *dir = NULL, *u = NULL;
    size_t len = 0;
    json_t *rec;

    umask(0);
    open_store(f);
    assert_int_equal(store_account_load_new(&f->ctx, f->st, CA_URL, &pem, &len, &url),
                     NACME_E_NOTFOUND);
    assert_null(pem);
    assert_null(url);

    /* A new key, saved before the CA knows of it. */
    assert_int_equal(store_account_save(&f->ctx, f->st, CA_URL, key, strlen(key), NULL), NACME_OK);
    assert_int_equal(mode_of(f, "state/accounts/acme.example_directory"), 0700);
    assert_int_equal(mode_of(f, "state/accounts/acme.example_directory/account.key"), 0600);
    assert_int_equal(mode_of(f, "state/accounts/acme.example_directory/account.json"), 0600);
    assert_int_equal(store_account_load_new(&f->ctx, f->st, CA_URL, &pem, &len, &url), NACME_OK);
    assert_int_equal(len, strlen(key));
    assert_string_equal(pem, key);
    assert_null(url);
    nacme_secret_free(pem, len);

    /* Then the account URL, without touching the key. */
    assert_int_equal(
        store_account_save(&f->ctx, f->st, CA_URL, NULL, 0, "https://acme.example/a/1"), NACME_OK);
    assert_int_equal(store_account_load_new(&f->ctx, f->st, CA_URL, &pem, &len, &url), NACME_OK);
    assert_string_equal(pem, key);
    assert_string_equal(url, "https://acme.example/a/1");
    nacme_secret_free(pem, len);
    free(url);

    text = get_file(f, "state/accounts/acme.example_directory/account.json");
    assert_non_null(rec = json_loads(text, 0, NULL));
    assert_int_equal(json_unpack(rec, "{s:s, s:s}", "directory", &dir, "url", &u), 0);
    assert_string_equal(dir, CA_URL);
    assert_string_equal(u, "https://acme.example/a/1");
    assert_int_equal(json_object_size(rec), 2);
    json_decref(rec);
    free(text);

    /* A new key drops the URL of the account the old key had. */
    assert_int_equal(store_account_save(&f->ctx, f->st, CA_URL, "k2", 2, NULL), NACME_OK);
    assert_int_equal(store_account_load_new(&f->ctx, f->st, CA_URL, &pem, &len, &url), NACME_OK);
    assert_string_equal(pem, "k2");
    assert_null(url);
    nacme_secret_free(pem, len);
}

static void test_account_refusals(void **state)
{
    static const struct {
        const char *json;
        const char *msg; /* after "DIR/state/accounts/acme.example_directory/account.json" */
    } cases[] = {
        {"{\"url\": \"u\"}", ": field directory missing or not a string"},
        {"{\"directory\": 7}", ": field directory missing or not a string"},
        {"{\"directory\": \"" CA_URL "\", \"url\": 7}", ": field url not a string"},
        {"[]", ": not a JSON object"},
        {"{", ":1: string or '}' expected near end of file"},
        /* Another CA with the same id must not get this CA's key. */
        {"{\"directory\": \"https://acme.example_directory\"}",
         " belongs to https://acme.example_directory, not to " CA_URL},
    };
    struct fixture *f = *state;
    char *pem = NULL, *url = NULL, expect[512];
    size_t i, len = 0;

    open_store(f);
    assert_int_equal(store_account_save(&f->ctx, f->st, CA_URL, "key", 3, NULL), NACME_OK);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        put_file(f, "state/accounts/acme.example_directory/account.json", cases[i].json);
        assert_int_equal(store_account_load_new(&f->ctx, f->st, CA_URL, &pem, &len, &url),
                         NACME_E_INVALID);
        assert_null(pem);
        assert_int_equal(len, 0);
        assert_null(url);
        snprintf(expect, sizeof(expect), "%s/state/accounts/acme.example_directory/account.json%s",
                 f->dir, cases[i].msg);
        assert_string_equal(f->ctx.errmsg, expect);
    }
}

/* ---- lineages ------------------------------------------------------------------------------ */

static const char *const test_domains[] = {"example.com", "www.example.com"};

static void lineage_init(struct store_lineage *lin, const char *name)
{
    memset(lin, 0, sizeof(*lin));
    lin->name = (char *)name;
    lin->domains = (char **)test_domains;
    lin->ndomains = 2;
    lin->key_type = (char *)"ec256";
    lin->server = (char *)CA_URL;
    lin->challenge = (char *)"http-01";
    lin->webroot = (char *)"/var/www/acme";
}

static void install(struct fixture *f, struct store_lineage *lin, const char *tag)
{
    char cert[64], chain[64], full[128], key[64];

    snprintf(cert, sizeof(cert), "CERT %s\n", tag);
    snprintf(chain, sizeof(chain), "CHAIN %s\n", tag);
    snprintf(full, sizeof(full), "%s%s", cert, chain);
    snprintf(key, sizeof(key), "KEY %s\n", tag);
    assert_int_equal(store_lineage_install(&f->ctx, f->st, lin, cert, chain, full, key,
                                           strlen(key)),
                     NACME_OK);
}

static void assert_live_cert(struct fixture *f, const char *name, const char *expect)
{
    char *pem = NULL;

    assert_int_equal(store_live_cert_new(&f->ctx, f->st, name, &pem), NACME_OK);
    assert_string_equal(pem, expect);
    free(pem);
}

static void assert_loaded_version(struct fixture *f, const char *name, int version)
{
    struct store_lineage *got = NULL;

    assert_int_equal(store_lineage_load_new(&f->ctx, f->st, name, &got), NACME_OK);
    assert_int_equal(got->version, version);
    store_lineage_free(got);
}

static void test_install_modes(void **state)
{
    static const mode_t umasks[] = {0, 077};
    static const struct {
        const char *rel; /* after "state/" */
        mode_t mode;
    } modes[] = {
        {"archive/NAME", 0700},
        {"archive/NAME/1", 0700},
        {"archive/NAME/1/privkey.pem", 0600},
        {"archive/NAME/1/cert.pem", 0644},
        {"archive/NAME/1/chain.pem", 0644},
        {"archive/NAME/1/fullchain.pem", 0644},
        {"archive/NAME/lineage.json", 0600},
        {"live", 0755},
    };
    struct fixture *f = *state;
    struct store_lineage lin, *got = NULL;
    char name[32], rel[128], target[64];
    const char *p;
    size_t u, i;
    char *text;

    open_store(f);
    for (u = 0; u < sizeof(umasks) / sizeof(umasks[0]); u++) {
        umask(umasks[u]);
        snprintf(name, sizeof(name), "site%zu.example", u);
        lineage_init(&lin, name);
        install(f, &lin, "one");
        assert_int_equal(lin.version, 1);
        for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
            p = strstr(modes[i].rel, "NAME");
            if (p != NULL)
                snprintf(rel, sizeof(rel), "state/%.*s%s%s", (int)(p - modes[i].rel),
                         modes[i].rel, name, p + 4);
            else
                snprintf(rel, sizeof(rel), "state/%s", modes[i].rel);
            assert_int_equal(mode_of(f, rel), modes[i].mode);
        }
        snprintf(rel, sizeof(rel), "state/live/%s", name);
        snprintf(target, sizeof(target), "../archive/%s/1", name);
        assert_link(f, rel, target);
        snprintf(rel, sizeof(rel), "state/archive/%s/1/fullchain.pem", name);
        text = get_file(f, rel);
        assert_string_equal(text, "CERT one\nCHAIN one\n");
        free(text);
        snprintf(rel, sizeof(rel), "state/archive/%s/1/privkey.pem", name);
        text = get_file(f, rel);
        assert_string_equal(text, "KEY one\n");
        free(text);
        assert_live_cert(f, name, "CERT one\n");

        assert_int_equal(store_lineage_load_new(&f->ctx, f->st, name, &got), NACME_OK);
        assert_string_equal(got->name, name);
        assert_int_equal(got->ndomains, 2);
        assert_string_equal(got->domains[0], "example.com");
        assert_string_equal(got->domains[1], "www.example.com");
        assert_string_equal(got->key_type, "ec256");
        assert_string_equal(got->server, CA_URL);
        assert_string_equal(got->challenge, "http-01");
        assert_string_equal(got->webroot, "/var/www/acme");
        assert_int_equal(got->version, 1);
        store_lineage_free(got);
        got = NULL;
    }
    assert_int_equal(dot_entries(f->state), 0);
}

static void test_install_second(void **state)
{
    struct fixture *f = *state;
    struct store_lineage lin, *none;
    char *text;

    open_store(f);
    assert_int_equal(store_live_cert_new(&f->ctx, f->st, "example.com", &text), NACME_E_NOTFOUND);
    assert_null(text);
    assert_int_equal(store_lineage_load_new(&f->ctx, f->st, "example.com", &none),
                     NACME_E_NOTFOUND);
    assert_null(none);
    lineage_init(&lin, "example.com");
    install(f, &lin, "one");
    install(f, &lin, "two");
    assert_int_equal(lin.version, 2);
    assert_link(f, "state/live/example.com", "../archive/example.com/2");
    assert_live_cert(f, "example.com", "CERT two\n");
    assert_loaded_version(f, "example.com", 2);
    /* The first version stays, as it was. */
    text = get_file(f, "state/archive/example.com/1/cert.pem");
    assert_string_equal(text, "CERT one\n");
    free(text);
    text = get_file(f, "state/archive/example.com/1/privkey.pem");
    assert_string_equal(text, "KEY one\n");
    free(text);
    assert_int_equal(dot_entries(f->state), 0);
}

/* A version directory left by a crash is skipped, never written into. */
static void test_install_skips_leftover(void **state)
{
    struct fixture *f = *state;
    struct store_lineage lin;
    char path[512], *text;

    open_store(f);
    lineage_init(&lin, "example.com");
    install(f, &lin, "one");
    assert_int_equal(mkdir(at(f, path, sizeof(path), "state/archive/example.com/2"), 0700), 0);
    put_file(f, "state/archive/example.com/2/privkey.pem", "HALF A KEY");
    put_file(f, "state/archive/example.com/3", "a file in the way");
    install(f, &lin, "two");
    assert_int_equal(lin.version, 4);
    assert_link(f, "state/live/example.com", "../archive/example.com/4");
    text = get_file(f, "state/archive/example.com/2/privkey.pem");
    assert_string_equal(text, "HALF A KEY");
    free(text);
    assert_false(exists(f, "state/archive/example.com/2/cert.pem"));
    assert_live_cert(f, "example.com", "CERT two\n");
    assert_loaded_version(f, "example.com", 4);
}

/* The state after a failed second install: version 1 live and recorded, no trace of version 2. */
static void assert_still_one(struct fixture *f, struct store_lineage *lin)
{
    assert_int_equal(lin->version, 1);
    assert_link(f, "state/live/example.com", "../archive/example.com/1");
    assert_false(exists(f, "state/archive/example.com/2"));
    assert_live_cert(f, "example.com", "CERT one\n");
    assert_loaded_version(f, "example.com", 1);
    assert_int_equal(dot_entries(f->state), 0);
}

/* fullchain.pem fails half-way through its write (past RLIMIT_FSIZE, as on a full disk). */
static void test_install_fails_midway(void **state)
{
    struct fixture *f = *state;
    struct rlimit old, small = {.rlim_cur = 4096};
    struct store_lineage lin;
    char *full = malloc(8193), expect[512];
    void (*old_handler)(int);
    enum nacme_err r;

    assert_non_null(full);
    memset(full, 'F', 8192);
    full[8192] = '\0';
    open_store(f);
    lineage_init(&lin, "example.com");
    install(f, &lin, "one");

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    r = store_lineage_install(&f->ctx, f->st, &lin, "CERT two\n", "CHAIN two\n", full, "KEY two\n",
                              8);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(r, NACME_E_IO);
    snprintf(expect, sizeof(expect),
             "cannot write %s/state/archive/example.com/2/fullchain.pem: File too large", f->dir);
    assert_string_equal(f->ctx.errmsg, expect);
    assert_still_one(f, &lin);
    free(full);
}

/* The switch itself fails (a directory where the new link should go in live/). */
static void test_install_fails_at_switch(void **state)
{
    struct fixture *f = *state;
    struct store_lineage lin;
    char path[512], expect[512];

    open_store(f);
    lineage_init(&lin, "example.com");
    install(f, &lin, "one");
    /* Make live/example.com a directory holding the old link, so the rename cannot replace it. */
    assert_int_equal(rename(at(f, path, sizeof(path), "state/live/example.com"),
                            at(f, expect, sizeof(expect), "state/live/keep")),
                     0);
    assert_int_equal(mkdir(at(f, path, sizeof(path), "state/live/example.com"), 0755), 0);
    assert_int_equal(rename(at(f, path, sizeof(path), "state/live/keep"),
                            at(f, expect, sizeof(expect), "state/live/example.com/x")),
                     0);
    assert_int_equal(store_lineage_install(&f->ctx, f->st, &lin, "C", "H", "CH", "K", 1),
                     NACME_E_IO);
    snprintf(expect, sizeof(expect), "cannot point %s/state/live/example.com at ../archive/",
             f->dir);
    assert_non_null(strstr(f->ctx.errmsg, expect));
    assert_int_equal(lin.version, 1);
    assert_false(exists(f, "state/archive/example.com/2"));
    assert_int_equal(dot_entries(f->state), 0);
}

/* Refused before anything is made: no version directory appears. */
static void test_install_refusals(void **state)
{
    struct fixture *f = *state;
    struct store_lineage lin;
    char *bad_domains[] = {(char *)"ok.example", (char *)"caf\xe9"};

    open_store(f);
    lineage_init(&lin, "example.com");
    install(f, &lin, "one");

    lin.webroot = NULL;
    assert_int_equal(store_lineage_install(&f->ctx, f->st, &lin, "C", "H", "CH", "K", 1),
                     NACME_E_INVALID);
    lineage_init(&lin, "example.com");
    lin.version = 1;
    lin.domains = bad_domains;
    assert_int_equal(store_lineage_install(&f->ctx, f->st, &lin, "C", "H", "CH", "K", 1),
                     NACME_E_INVALID);
    lin.domains = (char **)test_domains;
    assert_int_equal(store_lineage_install(&f->ctx, f->st, &lin, NULL, "H", "CH", "K", 1),
                     NACME_E_INVALID);
    assert_still_one(f, &lin);

    lineage_init(&lin, "../evil");
    assert_int_equal(store_lineage_install(&f->ctx, f->st, &lin, "C", "H", "CH", "K", 1),
                     NACME_E_INVALID);
    assert_non_null(strstr(f->ctx.errmsg, "certificate name \"../evil\""));
    assert_false(exists(f, "state/evil"));
}

/* lineage.json cannot be written after the switch: the install stands, with a warning. */
static void test_install_json_fails_after_switch(void **state)
{
    struct fixture *f = *state;
    struct rlimit old, small = {.rlim_cur = 4096};
    struct store_lineage lin;
    char *webroot = malloc(8193), *log = NULL, *text;
    size_t loglen = 0;
    void (*old_handler)(int);
    enum nacme_err r;

    assert_non_null(webroot);
    open_store(f);
    lineage_init(&lin, "example.com");
    install(f, &lin, "one");
    memset(webroot, 'w', 8192);
    webroot[8192] = '\0';
    lin.webroot = webroot;
    assert_non_null(f->ctx.logf = open_memstream(&log, &loglen));

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    r = store_lineage_install(&f->ctx, f->st, &lin, "CERT two\n", "H", "CH", "K", 1);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    fclose(f->ctx.logf);
    f->ctx.logf = NULL;

    assert_int_equal(r, NACME_OK);
    assert_int_equal(f->ctx.err, NACME_OK);
    assert_int_equal(lin.version, 2);
    assert_non_null(strstr(log, "warning: cannot write "));
    assert_non_null(strstr(log, "lineage.json: File too large (version 2 is live all the same)"));
    assert_link(f, "state/live/example.com", "../archive/example.com/2");
    assert_live_cert(f, "example.com", "CERT two\n");
    /* lineage.json still says 1; the link wins. */
    text = get_file(f, "state/archive/example.com/lineage.json");
    assert_non_null(strstr(text, "\"version\": 1"));
    free(text);
    assert_loaded_version(f, "example.com", 2);
    assert_int_equal(dot_entries(f->state), 0);
    free(log);
    free(webroot);
}

static void test_lineage_refusals(void **state)
{
    static const struct {
        const char *json;
        const char *msg; /* after "DIR/state/archive/example.com/lineage.json" */
    } cases[] = {
        {"{\"domains\": [\"a\"], \"key_type\": \"ec256\", \"server\": \"s\", \"challenge\": "
         "\"http-01\", \"webroot\": \"/w\", \"version\": 1}",
         ": field name missing or not a string"},
        {"{\"name\": 5, \"domains\": [\"a\"], \"key_type\": \"ec256\", \"server\": \"s\", "
         "\"challenge\": \"http-01\", \"webroot\": \"/w\", \"version\": 1}",
         ": field name missing or not a string"},
        {"{\"name\": \"example.com\", \"domains\": [\"a\"], \"key_type\": [], \"server\": \"s\", "
         "\"challenge\": \"http-01\", \"webroot\": \"/w\", \"version\": 1}",
         ": field key_type missing or not a string"},
        {"{\"name\": \"example.com\", \"domains\": [\"a\"], \"key_type\": \"ec256\", \"server\": "
         "\"s\", \"challenge\": \"http-01\", \"webroot\": null, \"version\": 1}",
         ": field webroot missing or not a string"},
        {"{\"name\": \"other.com\", \"domains\": [\"a\"], \"key_type\": \"ec256\", \"server\": "
         "\"s\", \"challenge\": \"http-01\", \"webroot\": \"/w\", \"version\": 1}",
         ": field name is not \"example.com\""},
        {"{\"name\": \"example.com\", \"domains\": \"a\", \"key_type\": \"ec256\", \"server\": "
         "\"s\", \"challenge\": \"http-01\", \"webroot\": \"/w\", \"version\": 1}",
         ": field domains missing or not a non-empty array"},
        {"{\"name\": \"example.com\", \"domains\": [], \"key_type\": \"ec256\", \"server\": "
         "\"s\", \"challenge\": \"http-01\", \"webroot\": \"/w\", \"version\": 1}",
         ": field domains missing or not a non-empty array"},
        {"{\"name\": \"example.com\", \"domains\": [\"a\", 2], \"key_type\": \"ec256\", "
         "\"server\": \"s\", \"challenge\": \"http-01\", \"webroot\": \"/w\", \"version\": 1}",
         ": domains[1] is not a string"},
        {"{\"name\": \"example.com\", \"domains\": [\"a\"], \"key_type\": \"ec256\", \"server\": "
         "\"s\", \"challenge\": \"http-01\", \"webroot\": \"/w\", \"version\": \"1\"}",
         ": field version missing or not an integer"},
        {"{\"name\": \"example.com\", \"domains\": [\"a\"], \"key_type\": \"ec256\", \"server\": "
         "\"s\", \"challenge\": \"http-01\", \"webroot\": \"/w\", \"version\": 1.5}",
         ": field version missing or not an integer"},
        {"{\"name\": \"example.com\", \"domains\": [\"a\"], \"key_type\": \"ec256\", \"server\": "
         "\"s\", \"challenge\": \"http-01\", \"webroot\": \"/w\", \"version\": -1}",
         ": version -1 is out of range"},
        {"{\"name\": \"example.com\", \"domains\": [\"a\"], \"key_type\": \"ec256\", \"server\": "
         "\"s\", \"challenge\": \"http-01\", \"webroot\": \"/w\", \"version\": 1, "
         "\"reuse_key\": \"yes\"}",
         ": field reuse_key is not true or false"},
        {"{\"name\": \"example.com\", \"domains\": [\"a\"], \"key_type\": \"ec256\", \"server\": "
         "\"s\", \"challenge\": \"http-01\", \"webroot\": \"/w\", \"version\": 1, "
         "\"preferred_chain\": 1}",
         ": field preferred_chain is not a string"},
        {"{\"name\": \"example.com\", \"domains\": [\"example.com\"], \"key_type\": \"ec256\", "
         "\"server\": \"https://ca.example/dir\", \"challenge\": \"http-01\", \"webroot\": \"/w\", "
         "\"version\": 1, \"profile\": [\"shortlived\"]}",
         ": field profile is not a string"},
        {"{\"name\": \"example.com\", \"domains\": [\"a\"], \"key_type\": \"ec256\", \"server\": "
         "\"s\", \"challenge\": \"dns-01\", \"webroot\": \"/w\", \"version\": 1, "
         "\"dns_hook\": [\"/bin/hook\"]}",
         ": field dns_hook is not a string"},
        {"{\"name\": \"example.com\", \"name\": \"example.com\"}",
         ":1: duplicate object key near '\"name\"'"},
        {"[1]", ": not a JSON object"},
        {"", ":1: '[' or '{' expected near end of file"},
    };
    struct fixture *f = *state;
    struct store_lineage lin, *got;
    char expect[512];
    size_t i;

    open_store(f);
    lineage_init(&lin, "example.com");
    install(f, &lin, "one");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        put_file(f, "state/archive/example.com/lineage.json", cases[i].json);
        got = (struct store_lineage *)(uintptr_t)1;
        assert_int_equal(store_lineage_load_new(&f->ctx, f->st, "example.com", &got),
                         NACME_E_INVALID);
        assert_null(got);
        snprintf(expect, sizeof(expect), "%s/state/archive/example.com/lineage.json%s", f->dir,
                 cases[i].msg);
        assert_string_equal(f->ctx.errmsg, expect);
    }
}

/* reuse_key, preferred_chain, profile, the challenge and dns-01's hook and resolver round-trip
 * through lineage.json (the optional ones absent when false or NULL), and the live key is the one
 * of the version live/ points at. */
static void test_reuse_key_record(void **state)
{
    static const bool reuse[] = {false, true, false};
    static const char *const pref[] = {"Root X1", NULL, "R\xc3\xa9seau Root"};
    static const char *const profile[] = {NULL, "shortlived", "tlsserver"};
    static const char *const challenge[] = {"http-01", "dns-01", "dns-01"};
    static const char *const hook[] = {NULL, "/usr/local/sbin/hook --zone x", "/bin/h"};
    static const char *const resolver[] = {NULL, NULL, "[2001:db8::53]:53"};
    struct fixture *f = *state;
    struct store_lineage lin, *got = NULL;
    char *key = NULL, *json;
    size_t len = 0, i;

    open_store(f);
    assert_int_equal(store_live_key_new(&f->ctx, f->st, "example.com", &key, &len),
                     NACME_E_NOTFOUND);
    assert_null(key);
    lineage_init(&lin, "example.com");
    for (i = 0; i < sizeof(reuse) / sizeof(reuse[0]); i++) {
        lin.reuse_key = reuse[i];
        lin.preferred_chain = (char *)pref[i];
        lin.profile = (char *)profile[i];
        lin.challenge = (char *)challenge[i];
        lin.dns_hook = (char *)hook[i];
        lin.dns_resolver = (char *)resolver[i];
        install(f, &lin, i == 0 ? "one" : i == 1 ? "two" : "three");
        assert_int_equal(store_lineage_load_new(&f->ctx, f->st, "example.com", &got), NACME_OK);
        assert_int_equal(got->reuse_key, reuse[i]);
        if (pref[i] == NULL)
            assert_null(got->preferred_chain);
        else
            assert_string_equal(got->preferred_chain, pref[i]);
        if (profile[i] == NULL)
            assert_null(got->profile);
        else
            assert_string_equal(got->profile, profile[i]);
        assert_string_equal(got->challenge, challenge[i]);
        if (hook[i] == NULL)
            assert_null(got->dns_hook);
        else
            assert_string_equal(got->dns_hook, hook[i]);
        if (resolver[i] == NULL)
            assert_null(got->dns_resolver);
        else
            assert_string_equal(got->dns_resolver, resolver[i]);
        store_lineage_free(got);
        json = get_file(f, "state/archive/example.com/lineage.json");
        assert_int_equal(strstr(json, "\"reuse_key\": true") != NULL, reuse[i]);
        assert_null(strstr(json, "\"reuse_key\": false"));
        assert_int_equal(strstr(json, "preferred_chain") != NULL, pref[i] != NULL);
        assert_int_equal(strstr(json, "\"profile\"") != NULL, profile[i] != NULL);
        assert_int_equal(strstr(json, "dns_hook") != NULL, hook[i] != NULL);
        assert_int_equal(strstr(json, "dns_resolver") != NULL, resolver[i] != NULL);
        free(json);
    }
    assert_int_equal(store_live_key_new(&f->ctx, f->st, "example.com", &key, &len), NACME_OK);
    assert_string_equal(key, "KEY three\n");
    assert_int_equal(len, strlen("KEY three\n"));
    free(key);
}

/* Symlinks planted where the store expects its own files and directories are not followed. */
static void test_symlink_refusals(void **state)
{
    static const struct {
        const char *link; /* made a symlink, under state/ */
        const char *target;
        const char *msg; /* after "DIR/state/" */
        bool cert;       /* store_live_cert_new refuses too */
    } cases[] = {
        {"live/example.com", "/etc", "live/example.com points at /etc, not at "
                                     "../archive/example.com/N", true},
        {"live/example.com", "../archive/example.com/01",
         "live/example.com points at ../archive/example.com/01, not at ../archive/example.com/N",
         true},
        {"live/example.com", "../archive/other.com/1",
         "live/example.com points at ../archive/other.com/1, not at ../archive/example.com/N",
         true},
        {"archive/example.com/lineage.json", "../../x.json",
         "archive/example.com/lineage.json is a symbolic link; refusing to follow it", false},
        {"archive/example.com/1/cert.pem", "/etc/passwd",
         "live/example.com/cert.pem is a symbolic link; refusing to follow it", true},
    };
    struct fixture *f = *state;
    struct store_lineage lin, *got = NULL;
    char path[512], expect[512], *pem = NULL;
    size_t i;

    open_store(f);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nftw(f->state, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        store_free(f->st);
        f->st = NULL;
        open_store(f);
        lineage_init(&lin, "example.com");
        install(f, &lin, "one");
        snprintf(expect, sizeof(expect), "state/%s", cases[i].link);
        assert_int_equal(unlink(at(f, path, sizeof(path), expect)), 0);
        assert_int_equal(symlink(cases[i].target, path), 0);
        snprintf(expect, sizeof(expect), "%s/state/%s", f->dir, cases[i].msg);
        if (cases[i].cert) {
            assert_int_equal(store_live_cert_new(&f->ctx, f->st, "example.com", &pem),
                             NACME_E_INVALID);
            assert_null(pem);
            assert_string_equal(f->ctx.errmsg, expect);
        }
        if (strncmp(cases[i].link, "live/", 5) == 0 || !cases[i].cert) {
            assert_int_equal(store_lineage_load_new(&f->ctx, f->st, "example.com", &got),
                             NACME_E_INVALID);
            assert_null(got);
            assert_string_equal(f->ctx.errmsg, expect);
        }
    }
}

/* ---- renew's record and the lock ------------------------------------------------------------ */

static void test_renewal_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct store_lineage lin;
    struct store_lineage *got = NULL;
    char *text;

    open_store(f);
    lineage_init(&lin, "example.com");
    install(f, &lin, "one");
    assert_int_equal(store_lineage_load_new(&f->ctx, f->st, "example.com", &got), NACME_OK);
    assert_int_equal(got->renewal.cert_version, 0); /* nothing recorded yet */
    got->renewal.cert_version = 1;
    got->renewal.not_before = 1800000000;
    got->renewal.not_after = 1807776000;
    got->renewal.certid = strdup("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    got->renewal.ari_start = 1805000000;
    got->renewal.ari_end = 1805100000;
    got->renewal.ari_moment = 1805012345;
    got->renewal.ari_next_poll = 1800021600;
    got->renewal.ari_explanation = strdup("https://ca.example/why");
    got->renewal.next_renewal = 1805012345;
    got->renewal.next_source = strdup("ari");
    got->renewal.failures = 2;
    got->renewal.last_failure = 1805012400;
    got->renewal.last_error = strdup("HTTP 503 serverInternal: \"down\"");
    got->renewal.retry_after = 7200;
    got->renewal.next_attempt = 1805019600;
    assert_int_equal(store_lineage_save(&f->ctx, f->st, got), NACME_OK);
    store_lineage_free(got);
    got = NULL;
    assert_int_equal(store_lineage_load_new(&f->ctx, f->st, "example.com", &got), NACME_OK);
    assert_int_equal(got->version, 1);
    assert_int_equal(got->renewal.cert_version, 1);
    assert_int_equal(got->renewal.not_before, 1800000000);
    assert_int_equal(got->renewal.not_after, 1807776000);
    assert_string_equal(got->renewal.certid, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    assert_int_equal(got->renewal.ari_start, 1805000000);
    assert_int_equal(got->renewal.ari_end, 1805100000);
    assert_int_equal(got->renewal.ari_moment, 1805012345);
    assert_int_equal(got->renewal.ari_next_poll, 1800021600);
    assert_string_equal(got->renewal.ari_explanation, "https://ca.example/why");
    assert_int_equal(got->renewal.next_renewal, 1805012345);
    assert_string_equal(got->renewal.next_source, "ari");
    assert_int_equal(got->renewal.failures, 2);
    assert_int_equal(got->renewal.last_failure, 1805012400);
    assert_string_equal(got->renewal.last_error, "HTTP 503 serverInternal: \"down\"");
    assert_int_equal(got->renewal.retry_after, 7200);
    assert_int_equal(got->renewal.next_attempt, 1805019600);
    store_lineage_free(got);
    got = NULL;
    /* A new version starts without the record of the old certificate. */
    install(f, &lin, "two");
    assert_int_equal(store_lineage_load_new(&f->ctx, f->st, "example.com", &got), NACME_OK);
    assert_int_equal(got->version, 2);
    assert_int_equal(got->renewal.failures, 0);
    assert_null(got->renewal.certid);
    store_lineage_free(got);
    /* A malformed record is dropped, not fatal: it is only a cache and a schedule. */
    text = get_file(f, "state/archive/example.com/lineage.json");
    assert_non_null(strstr(text, "\"version\": 2"));
    free(text);
    put_file(f, "state/archive/example.com/lineage.json",
             "{\"name\": \"example.com\", \"domains\": [\"example.com\"], \"key_type\": \"ec256\", "
             "\"server\": \"" CA_URL "\", \"challenge\": \"http-01\", \"webroot\": \"/w\", "
             "\"version\": 2, \"renewal\": {\"not_after\": \"soon\", \"failures\": 3}}");
    got = NULL;
    assert_int_equal(store_lineage_load_new(&f->ctx, f->st, "example.com", &got), NACME_OK);
    assert_int_equal(got->renewal.not_after, 0);
    assert_int_equal(got->renewal.failures, 0);
    store_lineage_free(got);
}

static void test_lock(void **state)
{
    struct fixture *f = *state;
    struct nacme_store *other = NULL;
    char want[300], *text;

    open_store(f);
    assert_int_equal(store_lock(&f->ctx, f->st, 0), NACME_OK);
    assert_int_equal(mode_of(f, "state/lock"), 0600);
    text = get_file(f, "state/lock");
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    assert_string_equal(text, want);
    free(text);
    assert_int_equal(store_lock(&f->ctx, f->st, 0), NACME_OK); /* already held: no-op */
    /* Another open file description of the lock file is another holder, even in one process. */
    assert_int_equal(store_open_new(&f->ctx, f->state, &other), NACME_OK);
    assert_int_equal(store_lock(&f->ctx, other, 0), NACME_E_TIMEOUT);
    snprintf(want, sizeof(want), "%s/lock is held by another nacme (pid %ld); gave up after 0 s",
             f->state, (long)getpid());
    assert_string_equal(f->ctx.errmsg, want);
    store_unlock(f->st);
    assert_int_equal(store_lock(&f->ctx, other, 0), NACME_OK);
    store_free(other);
    /* store_free released it */
    assert_int_equal(store_lock(&f->ctx, f->st, 0), NACME_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_layout, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_open_existing, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_open_refusals, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_open_relative, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_ca_id),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test_setup_teardown(test_account_roundtrip, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_account_refusals, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_install_modes, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_install_second, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reuse_key_record, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_install_skips_leftover, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_install_fails_midway, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_install_fails_at_switch, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_install_refusals, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_install_json_fails_after_switch, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lineage_refusals, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_symlink_refusals, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_open_untrusted, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_renewal_roundtrip, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lock, fixture_setup, fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
