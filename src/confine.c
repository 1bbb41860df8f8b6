/* confine.c - Landlock rulesets (see confine.h). */
#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>

/* Every file system right of Landlock's first ABI, and REFER (renaming or linking across
 * directories) where the kernel knows it. TRUNCATE (ABI 3) is left out: Debian 12's headers
 * predate it, and without WRITE_FILE nothing can be opened for truncating anyway. */
#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_ALL                                                                                     \
    (FS_READ | LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |                        \
     LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |                              \
     LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |    \
     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |                                 \
     LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

/* Allow reading below path; a missing path is not an error (no /lib64, no systemd-resolved). */
static int allow_read(int ruleset, const char *path)
{
    struct landlock_path_beneath_attr rule = {.allowed_access = FS_READ};
    int fd = open(path, O_PATH | O_CLOEXEC), rc, saved;

    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR || errno == EACCES ? 0 : -1;
    rule.parent_fd = fd;
    rc = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    if (rc != 0 && errno == EINVAL) {
        /* A regular file takes only file rights, not READ_DIR. */
        rule.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE;
        rc = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    }
    saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

enum confine_result confine_files(const char *const *read_only, size_t n)
{
    struct landlock_ruleset_attr attr = {.handled_access_fs = FS_ALL};
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    enum confine_result res = CONFINE_FAILED;
    int ruleset, saved;
    size_t i;

    if (abi < 1)
        return CONFINE_UNSUPPORTED;
#ifdef LANDLOCK_ACCESS_FS_REFER
    if (abi >= 2)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
#endif
    if ((ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0)) < 0)
        return CONFINE_FAILED;
    for (i = 0; i < n; i++)
        if (read_only[i] != NULL && allow_read(ruleset, read_only[i]) != 0)
            goto out;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
        goto out;
    res = CONFINE_APPLIED;
out:
    saved = errno;
    close(ruleset);
    errno = saved;
    return res;
}
