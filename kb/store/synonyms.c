/* kb/store/synonyms.c: synonym files as last imported (see synonyms.h).
 *
 *   synonyms(lang PRIMARY KEY, body, updated_at) */
#include "kb/store/synonyms.h"

#include <time.h>

#include <sqlite3.h>

#include "kb/store/store_int.h"

static const char SQL_SYN_PUT[] =
    "INSERT INTO synonyms(lang, body, updated_at) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(lang) DO UPDATE SET body = excluded.body, "
    "updated_at = excluded.updated_at WHERE body <> excluded.body";

static const char SQL_SYN_LIST[] =
    "SELECT lang, body FROM synonyms ORDER BY lang";

enum kb_err kb_store_synonyms_put(struct kb_store *st, const char *lang, const char *body,
                                  bool *changed)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_SYN_PUT);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, lang, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "synonyms");
    sqlite3_reset(s);
    *changed = !err && sqlite3_changes(st->db) > 0;
    return err;
}

enum kb_err kb_store_synonyms_each(struct kb_store *st,
                                   enum kb_err (*fn)(void *ud, const char *lang,
                                                     const char *body),
                                   void *ud)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_SYN_LIST);
    if (!s)
        return KB_EDB;
    enum kb_err err = KB_OK;
    int rc;
    while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW)
        err = fn(ud, (const char *)sqlite3_column_text(s, 0),
                 (const char *)sqlite3_column_text(s, 1));
    sqlite3_reset(s);
    return err;
}
