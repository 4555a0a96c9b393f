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

enum kb_err kb_store_log_searches(struct kb_store *st, const struct kb_search_log_entry *e,
                                  size_t n)
{
    enum kb_err err = kb_store_begin(st);
    if (err)
        return err;
    for (size_t i = 0; i < n && !err; i++) {
        sqlite3_stmt *s = kb_store_stmt(st, e[i].clicked_slug ? SQL_CLICK : SQL_LOG);
        if (!s) {
            err = KB_EDB;
            break;
        }
        sqlite3_bind_int64(s, 1, e[i].id);
        if (e[i].clicked_slug) {
            sqlite3_bind_text(s, 2, e[i].clicked_slug, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 3, e[i].at);
        } else {
            sqlite3_bind_int64(s, 2, e[i].at);
            sqlite3_bind_text(s, 3, e[i].query ? e[i].query : "", -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 4, e[i].lang ? e[i].lang : "", -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 5, e[i].results);
        }
        err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "search log");
        sqlite3_reset(s);
    }
    if (err) {
        kb_store_rollback(st);
        return err;
    }
    return kb_store_commit(st);
}

