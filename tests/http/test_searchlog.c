/* tests/kb/test_searchlog.c: the search log keeps every query and click although a large
 * kb import holds the database longer than the busy timeout (10 s): what editors read in the
 * zero-result report must not miss the searches made during an import. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "kb/http/searchlog.h"
#include "kb/store/searchlog.h"

static int64_t count(const char *db, const char *sql)
{
    sqlite3 *c = NULL;
    assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(c, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(c);
    return n;
}

static void searches_during_a_long_import_are_kept(void **state)
{
    (void)state;
    char dir[] = "/tmp/kb-test-searchlog-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char db[128];
    snprintf(db, sizeof db, "%s/kb.db", dir);
    struct kb_store *import = NULL;
    assert_int_equal(kb_store_open(db, false, &import), KB_OK);
    assert_int_equal(kb_searchlog_start(db), KB_OK);

    /* An import's transaction holds the database for 12 s. */
    assert_int_equal(kb_store_begin(import), KB_OK);
    int64_t id = kb_searchlog_new_id();
    kb_searchlog_query(id, "garentie prolongée", "fr", 0);
    kb_searchlog_click(id, "extension-garantie");
    kb_searchlog_query(kb_searchlog_new_id(), "recall", "en", 3);
    sleep(12);
    assert_int_equal(kb_store_commit(import), KB_OK);

    kb_searchlog_stop(); /* writes what is still held */
    assert_int_equal(kb_searchlog_dropped(), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM search_log"), 2);
    assert_int_equal(count(db, "SELECT count(*) FROM search_log WHERE results = 0 AND "
                               "query = 'garentie prolongée'"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM search_clicks WHERE "
                               "slug = 'extension-garantie'"), 1);
    kb_store_free(import);
    char path[160];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", db, suffix[i]);
        unlink(path);
    }
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(searches_during_a_long_import_are_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
