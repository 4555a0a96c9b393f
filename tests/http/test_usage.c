/* tests/http/test_usage.c: what readers do reaches the search log and the counters through the
 * writer thread: a search made while a large import holds the database for longer than the
 * busy timeout is kept (editors' zero-result report must not miss it); a click is credited
 * only with its search's token (not with a guessed id); the log is purged after its period. */
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

#include "kb/http/usage.h"
#include "kb/store/searchlog.h"
#include "kb/store/writer.h"
#include "tests/testfs.h"

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
    char dir[] = "/tmp/kb-test-usage-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char db[128];
    snprintf(db, sizeof db, "%s/kb.db", dir);
    struct kb_store *import = NULL;
    struct kb_store_writer *w = NULL;
    assert_int_equal(kb_store_open(db, false, &import), KB_OK);
    assert_int_equal(kb_store_writer_start(db, 1000, &w), KB_OK);
    assert_int_equal(kb_usage_start(w, 90), KB_OK);

    /* An import's transaction holds the database for 12 s. */
    assert_int_equal(kb_store_begin(import), KB_OK);
    char token[KB_USAGE_TOKEN_MAX], other[KB_USAGE_TOKEN_MAX];
    int64_t id = kb_usage_search("garentie prolongée", "fr", 0, true, token);
    assert_true(id > 0);
    kb_usage_click(token, "extension-garantie");
    kb_usage_search("recall", "en", 3, true, other);
    kb_usage_search("not logged: over the address's rate", "en", 3, false, other);
    /* A guessed id (the next one), or a token with a wrong MAC, is not credited. */
    char guessed[64];
    snprintf(guessed, sizeof guessed, "%lld.0000000000000000", (long long)(id + 1));
    kb_usage_click(guessed, "forged");
    snprintf(guessed, sizeof guessed, "%lld", (long long)id);
    kb_usage_click(guessed, "forged");
    kb_usage_click("", "forged");
    kb_usage_click(NULL, "forged");
    sleep(12);
    assert_int_equal(kb_store_commit(import), KB_OK);

    kb_usage_stop();
    kb_store_writer_stop(w); /* runs what is queued */
    assert_int_equal(kb_usage_dropped(), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM search_log"), 2);
    assert_int_equal(count(db, "SELECT count(*) FROM search_log WHERE results = 0 AND "
                               "query = 'garentie prolongée'"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM search_clicks WHERE "
                               "slug = 'extension-garantie'"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM search_clicks WHERE slug = 'forged'"), 0);

    /* Retention: rows older than the period go. */
    size_t removed = 0;
    assert_int_equal(kb_store_begin(import), KB_OK);
    assert_int_equal(kb_store_searchlog_purge(import, (id >> 12) / 1000 + 1, 100, &removed), KB_OK);
    assert_int_equal(kb_store_commit(import), KB_OK);
    assert_int_equal(removed, 3); /* two queries and a click */
    assert_int_equal(count(db, "SELECT count(*) FROM search_log"), 0);
    kb_store_free(import);
    assert_int_equal(testfs_rm_rf(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(searches_during_a_long_import_are_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
