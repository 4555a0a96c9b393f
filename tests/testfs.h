/* tests/testfs.h: test folders for the unit tests, without a shell: files written with their
 * parent folders, trees removed deepest first. Include after <cmocka.h> (it asserts). */
#ifndef KB_TESTS_TESTFS_H
#define KB_TESTS_TESTFS_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* mkdir -p of the folders of path (its last component is a file). */
static inline void testfs_make_parents(char *path)
{
    for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = 0;
        int rc = mkdir(path, 0755);
        *p = '/';
        assert_true(rc == 0 || errno == EEXIST);
    }
}

/* Write text to dir/rel, creating the folders it needs. */
static inline void testfs_write(const char *dir, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    testfs_make_parents(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static inline int testfs_remove_entry(const char *path, const struct stat *sb, int type,
                                      struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* rm -rf path; 0 on success. */
static inline int testfs_rm_rf(const char *path)
{
    return nftw(path, testfs_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
