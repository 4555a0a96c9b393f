/* kb/store/searchlog.c: the search log (see searchlog.h).
 *
 *   search_log(id, at, query, lang, results)   -- id chosen by the caller
 *   search_clicks(search_id, slug, at) */
#include "kb/store/searchlog.h"

#include <sqlite3.h>

#include "kb/store/store_int.h"

static const char SQL_LOG[] =
    "INSERT OR IGNORE INTO search_log(id, at, query, lang, results) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";

static const char SQL_CLICK[] =
    "INSERT INTO search_clicks(search_id, slug, at) VALUES (?1, ?2, ?3)";

/* Search ids grow with time (kb/http/usage.c: milliseconds << 12): the oldest rows are the
 * smallest ids, found through the primary key and the clicks' index. */
static const char SQL_PURGE_LOG[] =
    "DELETE FROM search_log WHERE id IN (SELECT id FROM search_log WHERE id < ?1 ORDER BY id "
    "LIMIT ?2)";

static const char SQL_PURGE_CLICKS[] =
    "DELETE FROM search_clicks WHERE rowid IN (SELECT rowid FROM search_clicks "
    "WHERE search_id < ?1 LIMIT ?2)";

enum kb_err kb_store_log_search(struct kb_store *st, const struct kb_search_log_entry *e)
{
    sqlite3_stmt *s = kb_store_stmt(st, e->clicked_slug ? SQL_CLICK : SQL_LOG);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, e->id);
    if (e->clicked_slug) {
        sqlite3_bind_text(s, 2, e->clicked_slug, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, e->at);
    } else {
        sqlite3_bind_int64(s, 2, e->at);
        sqlite3_bind_text(s, 3, e->query ? e->query : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, e->lang ? e->lang : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, e->results);
    }
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "search log");
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_searchlog_purge(struct kb_store *st, int64_t before, size_t max,
                                     size_t *removed)
{
    *removed = 0;
    const char *const sqls[] = {SQL_PURGE_LOG, SQL_PURGE_CLICKS};
    for (size_t i = 0; i < 2; i++) {
        sqlite3_stmt *s = kb_store_stmt(st, sqls[i]);
        if (!s)
            return KB_EDB;
        sqlite3_bind_int64(s, 1, (before * 1000) << 12);
        sqlite3_bind_int64(s, 2, (int64_t)max);
        enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "purge");
        if (!err)
            *removed += (size_t)sqlite3_changes(st->db);
        sqlite3_reset(s);
        if (err)
            return err;
    }
    return KB_OK;
}
