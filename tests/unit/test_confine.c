/* test_confine.c - a thread confined with confine_files reads what it was given and nothing else,
 * writes nothing, and leaves the other threads of the process as they were. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

#include "confine.h"

struct probe {
    char dir[64];
    enum confine_result res;
    int read_allowed, read_file_given, read_outside, write_allowed, create_allowed, exec_errno;
};

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* 0 when open(path, flags) succeeds, else its errno. */
static int try_open(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0600);

    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static void *confined(void *arg)
{
    struct probe *p = arg;
    char allowed[128], given[128], outside[128], created[128];
    const char *paths[2];

    snprintf(allowed, sizeof(allowed), "%s/allowed", p->dir);
    snprintf(given, sizeof(given), "%s/given.txt", p->dir);
    snprintf(outside, sizeof(outside), "%s/secret.txt", p->dir);
    snprintf(created, sizeof(created), "%s/allowed/new.txt", p->dir);
    paths[0] = allowed;
    paths[1] = given;
    if ((p->res = confine_files(paths, 2)) != CONFINE_APPLIED)
        return NULL;
    strncat(allowed, "/file.txt", sizeof(allowed) - strlen(allowed) - 1);
    p->read_allowed = try_open(allowed, O_RDONLY);
    p->read_file_given = try_open(given, O_RDONLY);
    p->read_outside = try_open(outside, O_RDONLY);
    p->write_allowed = try_open(allowed, O_WRONLY);
    p->create_allowed = try_open(created, O_WRONLY | O_CREAT);
    return NULL;
}

static void test_thread_confined_process_not(void **state)
{
    struct probe p = {.dir = "/tmp/nacme-confine.XXXXXX"};
    char path[128];
    pthread_t t;

    (void)state;
    assert_non_null(mkdtemp(p.dir));
    snprintf(path, sizeof(path), "%s/allowed", p.dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/allowed/file.txt", p.dir);
    put(path, "readable\n");
    snprintf(path, sizeof(path), "%s/given.txt", p.dir);
    put(path, "a file given by name\n");
    snprintf(path, sizeof(path), "%s/secret.txt", p.dir);
    put(path, "not for the confined thread\n");

    assert_int_equal(pthread_create(&t, NULL, confined, &p), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    if (p.res == CONFINE_UNSUPPORTED) {
        skip(); /* a kernel without Landlock: nothing to test */
    }
    assert_int_equal(p.res, CONFINE_APPLIED);
    assert_int_equal(p.read_allowed, 0);
    assert_int_equal(p.read_file_given, 0);
    assert_int_equal(p.read_outside, EACCES);
    assert_int_equal(p.write_allowed, EACCES);
    assert_int_equal(p.create_allowed, EACCES);
    /* This thread was not confined. */
    assert_int_equal(try_open(path, O_RDONLY), 0);
    assert_int_equal(try_open(path, O_WRONLY), 0);

    assert_int_equal(unlink(path), 0); /* secret.txt */
    snprintf(path, sizeof(path), "%s/given.txt", p.dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/allowed/file.txt", p.dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/allowed", p.dir);
    rmdir(path);
    rmdir(p.dir);
}

static void *nothing_at_all(void *arg)
{
    int *err = arg;

    if (confine_files(NULL, 0) != CONFINE_APPLIED) {
        *err = -1;
        return NULL;
    }
    *err = try_open("/etc/hosts", O_RDONLY);
    return NULL;
}

static void test_no_paths_no_access(void **state)
{
    pthread_t t;
    int err = 0;

    (void)state;
    assert_int_equal(pthread_create(&t, NULL, nothing_at_all, &err), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    if (err == -1)
        skip();
    assert_int_equal(err, EACCES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_confined_process_not),
        cmocka_unit_test(test_no_paths_no_access),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
