/* test_safefile.c - the write/read/mkdir patterns of safefile.c, their modes and their refusals. */
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

#include "safefile.h"

struct fixture {
    char dir[64]; /* mkdtemp directory, removed by teardown */
    int dirfd;
    mode_t umask_before;
    struct nacme_ctx ctx;
};

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/nacme-test-safefile-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->dirfd >= 0);
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
    close(f->dirfd);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static mode_t mode_at(int dirfd, const char *name)
{
    struct stat sb;

    assert_int_equal(fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW), 0);
    return sb.st_mode & 07777;
}

static void put_file(int dirfd, const char *name, const char *text)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);
}

/* Entries starting with '.' in dirfd: leftovers of a temp file. */
static int dot_entries(int dirfd)
{
    struct dirent *de;
    DIR *d;
    int n = 0, fd = dup(dirfd);

    assert_true(fd >= 0);
    assert_non_null(d = fdopendir(fd));
    rewinddir(d);
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* The content of dirfd/name read back through safefile_read_new. */
static void assert_content(struct fixture *f, const char *name, const void *data, size_t len)
{
    const size_t max = 4 << 20;
    char *got = NULL;
    size_t got_len = 0;

    assert_int_equal(safefile_read_new(&f->ctx, f->dirfd, name, max, &got, &got_len, name),
                     NACME_OK);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, data, len);
    assert_int_equal(got[len], '\0');
    free(got);
}

/* Content and exact mode whatever the umask, including data with NULs and an empty file. */
static void test_write_roundtrip(void **state)
{
    static const mode_t umasks[] = {0, 022, 077, 0777};
    static const struct {
        const char *name;
        const char *data;
        size_t len;
        mode_t mode;
    } cases[] = {
        {"privkey.pem", "-----BEGIN PRIVATE KEY-----\n", 28, 0600},
        {"cert.pem", "-----BEGIN CERTIFICATE-----\n", 28, 0644},
        {"empty", "", 0, 0644},
        {"binary", "a\0b\0\n\xff", 6, 0400},
        {"world", "x", 1, 0666},
    };
    struct fixture *f = *state;
    size_t i, u;

    for (u = 0; u < sizeof(umasks) / sizeof(umasks[0]); u++) {
        umask(umasks[u]);
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            assert_int_equal(safefile_write(&f->ctx, f->dirfd, cases[i].name, cases[i].data,
                                            cases[i].len, cases[i].mode, cases[i].name),
                             NACME_OK);
            assert_int_equal(mode_at(f->dirfd, cases[i].name), cases[i].mode);
            assert_content(f, cases[i].name, cases[i].data, cases[i].len);
        }
    }
    assert_int_equal(dot_entries(f->dirfd), 0);
}

/* A file bigger than one write(2) typically takes on a pipe-sized buffer. */
static void test_write_large(void **state)
{
    struct fixture *f = *state;
    size_t i, len = 3 * 1024 * 1024 + 7;
    char *data = malloc(len);

    assert_non_null(data);
    for (i = 0; i < len; i++)
        data[i] = (char)(i * 31 + 7);
    assert_int_equal(safefile_write(&f->ctx, f->dirfd, "big", data, len, 0600, "big"), NACME_OK);
    assert_content(f, "big", data, len);
    free(data);
}

static void test_write_replaces(void **state)
{
    struct fixture *f = *state;

    put_file(f->dirfd, "conf", "old content that is longer");
    assert_int_equal(safefile_write(&f->ctx, f->dirfd, "conf", "new", 3, 0644, "conf"), NACME_OK);
    assert_content(f, "conf", "new", 3);
    assert_int_equal(dot_entries(f->dirfd), 0);
}

/* A symlink at the destination is replaced itself; the file it pointed at is not touched. */
static void test_write_replaces_symlink(void **state)
{
    struct fixture *f = *state;
    char target[128];
    struct stat sb;
    int sub;

    assert_int_equal(mkdirat(f->dirfd, "elsewhere", 0700), 0);
    assert_true((sub = openat(f->dirfd, "elsewhere", O_RDONLY | O_DIRECTORY)) >= 0);
    put_file(sub, "victim", "keep me");
    snprintf(target, sizeof(target), "%s/elsewhere/victim", f->dir);
    assert_int_equal(symlinkat(target, f->dirfd, "cert.pem"), 0);

    assert_int_equal(safefile_write(&f->ctx, f->dirfd, "cert.pem", "mine", 4, 0644, "cert.pem"),
                     NACME_OK);
    assert_int_equal(fstatat(f->dirfd, "cert.pem", &sb, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_content(f, "cert.pem", "mine", 4);
    assert_int_equal(fstatat(sub, "victim", &sb, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(sb.st_size, 7);
    assert_int_equal(mode_at(sub, "victim"), 0644);
    close(sub);
}

/* Failures at rename and at write: an error naming the file, no temp file, the old file intact. */
static void test_write_failures(void **state)
{
    struct fixture *f = *state;
    struct rlimit old, small = {.rlim_cur = 4096, .rlim_max = 0};
    char *big = calloc(1, 8192);
    void (*old_handler)(int);

    assert_non_null(big);
    /* rename(2) cannot put a file over a directory. */
    assert_int_equal(mkdirat(f->dirfd, "taken", 0700), 0);
    put_file(f->dirfd, "taken/inside", "x");
    assert_int_equal(safefile_write(&f->ctx, f->dirfd, "taken", "data", 4, 0644, "/x/taken"),
                     NACME_E_IO);
    assert_int_equal(f->ctx.err, NACME_E_IO);
    assert_non_null(strstr(f->ctx.errmsg, "cannot write /x/taken: "));
    assert_int_equal(dot_entries(f->dirfd), 0);

    /* A write that fails half-way (EFBIG past RLIMIT_FSIZE), as on a full disk. */
    put_file(f->dirfd, "keep", "previous");
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    assert_int_equal(safefile_write(&f->ctx, f->dirfd, "keep", big, 8192, 0644, "/x/keep"),
                     NACME_E_IO);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_string_equal(f->ctx.errmsg, "cannot write /x/keep: File too large");
    assert_content(f, "keep", "previous", 8);
    assert_int_equal(dot_entries(f->dirfd), 0);

    /* A directory that does not exist any more: openat fails before anything is made. */
    assert_int_equal(safefile_write(&f->ctx, -1, "x", "d", 1, 0644, "/x/bad"), NACME_E_IO);
    assert_non_null(strstr(f->ctx.errmsg, "cannot write /x/bad: "));
    free(big);
}

static void test_read_refusals(void **state)
{
    static const struct {
        const char *name;
        size_t max;
        enum nacme_err err;
        const char *msg;
    } cases[] = {
        {"regular", 10, NACME_OK, ""},
        {"regular", 9, NACME_E_INVALID, "WHAT is larger than 9 bytes"},
        {"regular", 0, NACME_E_INVALID, "WHAT is larger than 0 bytes"},
        {"link", 100, NACME_E_INVALID, "WHAT is a symbolic link; refusing to follow it"},
        {"missing", 100, NACME_E_NOTFOUND, "cannot read WHAT: No such file or directory"},
        {"dir", 100, NACME_E_INVALID, "WHAT is not a regular file"},
        {"fifo", 100, NACME_E_INVALID, "WHAT is not a regular file"},
        {"dangling", 100, NACME_E_INVALID, "WHAT is a symbolic link; refusing to follow it"},
        /* several components: none followed if a link, none leading out */
        {"dir/inner", 100, NACME_OK, ""},
        {"dirlink/inner", 100, NACME_E_INVALID, "WHAT is a symbolic link; refusing to follow it"},
        {"dir/link", 100, NACME_E_INVALID, "WHAT is a symbolic link; refusing to follow it"},
        {"dir/../regular", 100, NACME_E_INVALID, "WHAT: a path component is empty, \".\" or \"..\""},
        {"dir//inner", 100, NACME_E_INVALID, "WHAT: a path component is empty, \".\" or \"..\""},
        {"dir/missing", 100, NACME_E_NOTFOUND, "cannot read WHAT: No such file or directory"},
        {"regular/inner", 100, NACME_E_IO, "cannot read WHAT: Not a directory"},
    };
    struct fixture *f = *state;
    char *data;
    size_t i, len;

    put_file(f->dirfd, "regular", "0123456789");
    assert_int_equal(symlinkat("regular", f->dirfd, "link"), 0);
    assert_int_equal(symlinkat("nowhere", f->dirfd, "dangling"), 0);
    assert_int_equal(mkdirat(f->dirfd, "dir", 0700), 0);
    assert_int_equal(mkfifoat(f->dirfd, "fifo", 0600), 0);
    put_file(f->dirfd, "dir/inner", "0123456789");
    assert_int_equal(symlinkat("dir", f->dirfd, "dirlink"), 0);
    assert_int_equal(symlinkat("inner", f->dirfd, "dir/link"), 0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        data = (char *)"not touched";
        len = 99;
        nacme_ctx_init(&f->ctx);
        assert_int_equal(safefile_read_beneath_new(&f->ctx, f->dirfd, cases[i].name,
                                                   cases[i].max, &data, &len, "WHAT"),
                         cases[i].err);
        assert_string_equal(f->ctx.errmsg, cases[i].msg);
        if (cases[i].err == NACME_OK) {
            assert_int_equal(len, 10);
            assert_string_equal(data, "0123456789");
            free(data);
        } else {
            assert_null(data);
            assert_int_equal(len, 0);
        }
    }
}

static void test_mkdir_open(void **state)
{
    static const struct {
        mode_t umask;
        mode_t mode;
    } cases[] = {
        {0, 0700}, {077, 0700}, {077, 0755}, {0777, 0755}, {0, 0711},
    };
    struct fixture *f = *state;
    char name[32], probe[48];
    size_t i;
    int fd;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        umask(cases[i].umask);
        snprintf(name, sizeof(name), "d%zu", i);
        assert_int_equal(safefile_mkdir_open(&f->ctx, f->dirfd, name, cases[i].mode, &fd, name),
                         NACME_OK);
        assert_true(fd >= 0);
        assert_int_equal(mode_at(f->dirfd, name), cases[i].mode);
        /* The fd is the directory: a file made through it appears under the name. */
        put_file(fd, "probe", "p");
        snprintf(probe, sizeof(probe), "%s/probe", name);
        assert_int_equal(faccessat(f->dirfd, probe, F_OK, 0), 0);
        close(fd);
    }
    /* An existing directory gets exactly the mode asked for, looser or stricter. */
    assert_int_equal(fchmodat(f->dirfd, "d0", 0777, 0), 0);
    assert_int_equal(safefile_mkdir_open(&f->ctx, f->dirfd, "d0", 0700, &fd, "d0"), NACME_OK);
    assert_int_equal(mode_at(f->dirfd, "d0"), 0700);
    close(fd);
}

static void test_mkdir_open_refusals(void **state)
{
    struct fixture *f = *state;
    int fd = 1234;

    assert_int_equal(mkdirat(f->dirfd, "real", 0755), 0);
    assert_int_equal(symlinkat("real", f->dirfd, "link"), 0);
    assert_int_equal(safefile_mkdir_open(&f->ctx, f->dirfd, "link", 0700, &fd, "/s/link"),
                     NACME_E_INVALID);
    assert_int_equal(fd, -1);
    assert_string_equal(f->ctx.errmsg, "/s/link is a symbolic link; refusing to follow it");
    /* The directory behind the link keeps its mode. */
    assert_int_equal(mode_at(f->dirfd, "real"), 0755);

    put_file(f->dirfd, "file", "x");
    assert_int_equal(safefile_mkdir_open(&f->ctx, f->dirfd, "file", 0700, &fd, "/s/file"),
                     NACME_E_IO);
    assert_string_equal(f->ctx.errmsg, "/s/file exists and is not a directory");
    assert_int_equal(mode_at(f->dirfd, "file"), 0644);

    assert_int_equal(safefile_mkdir_open(&f->ctx, f->dirfd, "no/such", 0700, &fd, "/s/no/such"),
                     NACME_E_IO);
    assert_string_equal(f->ctx.errmsg,
                        "cannot create directory /s/no/such: No such file or directory");
}

static void test_symlink_switch(void **state)
{
    static const char *const targets[] = {"../archive/a/1", "../archive/a/2", "../archive/a/10"};
    struct fixture *f = *state;
    char got[64];
    ssize_t n;
    size_t i;

    for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        assert_int_equal(safefile_symlink(&f->ctx, f->dirfd, targets[i], "a", "live/a"),
                         NACME_OK);
        assert_true((n = readlinkat(f->dirfd, "a", got, sizeof(got) - 1)) > 0);
        got[n] = '\0';
        assert_string_equal(got, targets[i]);
    }
    assert_int_equal(dot_entries(f->dirfd), 0);

    /* A directory in the way: refused, and the temp link does not stay behind. */
    assert_int_equal(mkdirat(f->dirfd, "b", 0700), 0);
    put_file(f->dirfd, "b/x", "x");
    assert_int_equal(safefile_symlink(&f->ctx, f->dirfd, "../archive/b/1", "b", "live/b"),
                     NACME_E_IO);
    assert_non_null(strstr(f->ctx.errmsg, "cannot point live/b at ../archive/b/1: "));
    assert_int_equal(dot_entries(f->dirfd), 0);
}

static void test_fsync_dir(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(safefile_fsync_dir(&f->ctx, f->dirfd, "dir"), NACME_OK);
    assert_int_equal(safefile_fsync_dir(&f->ctx, -1, "/gone"), NACME_E_IO);
    assert_string_equal(f->ctx.errmsg, "cannot sync directory of /gone: Bad file descriptor");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_roundtrip, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_write_large, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_write_replaces, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_write_replaces_symlink, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_write_failures, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_read_refusals, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_open, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_open_refusals, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_symlink_switch, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fsync_dir, fixture_setup, fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
