/* kb/store/desk.c: the agents' desks in the console (see desk.h).
 *
 *   agent_recent(user_id, article_id, at)  -- PRIMARY KEY (user_id, article_id): viewing an
 *               article again moves it to the top; at most KB_DESK_RECENT_MAX rows a user
 *   agent_pins(user_id, article_id, at)    -- at most KB_DESK_PINS_MAX rows a user
 *   at: unix milliseconds, and strictly increasing per user (at least the user's latest + 1):
 *   the lists' order is the order of the agent's actions, even within one millisecond.
 *
 * Both are read joined with articles and filtered by the reader's scope, so that a list
 * never names an article its reader may no longer see. */
#include "kb/store/desk.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "kb/store/store_int.h"

static const char SQL_VIEWED[] =
    "INSERT INTO agent_recent(user_id, article_id, at) VALUES (?1, ?2, max(?3, "
    "(SELECT coalesce(max(at), 0) + 1 FROM agent_recent WHERE user_id = ?1))) "
    "ON CONFLICT (user_id, article_id) DO UPDATE SET at = excluded.at";
/* Keep the newest. */
static const char SQL_TRIM[] =
    "DELETE FROM agent_recent WHERE user_id = ?1 AND article_id NOT IN ("
    "SELECT article_id FROM agent_recent WHERE user_id = ?1 ORDER BY at DESC LIMIT ?2)";
/* The user's pins, and whether article ?2 is one of them. */
static const char SQL_PIN_COUNT[] =
    "SELECT count(*), count(*) FILTER (WHERE article_id = ?2) FROM agent_pins "
    "WHERE user_id = ?1";
static const char SQL_PIN[] =
    "INSERT OR IGNORE INTO agent_pins(user_id, article_id, at) VALUES (?1, ?2, max(?3, "
    "(SELECT coalesce(max(at), 0) + 1 FROM agent_pins WHERE user_id = ?1)))";
static const char SQL_UNPIN[] = "DELETE FROM agent_pins WHERE user_id = ?1 AND article_id = ?2";

#define DESK_COLUMNS "a.id, a.slug, a.title, a.lang, a.audience, a.status, d.at"
/* ?2: the scope, as articles.c's SCOPE_SQL (0 public, 1 internal, 2 all). */
#define DESK_SCOPE                                                                         \
    "(?2 = 2 OR (a.status = 'published' AND (a.audience = 'public' OR ?2 = 1)))"
static const char SQL_RECENT[] =
    "SELECT " DESK_COLUMNS " FROM agent_recent d JOIN articles a ON a.id = d.article_id "
    "WHERE d.user_id = ?1 AND " DESK_SCOPE " ORDER BY d.at DESC";
static const char SQL_PINS[] =
    "SELECT " DESK_COLUMNS " FROM agent_pins d JOIN articles a ON a.id = d.article_id "
    "WHERE d.user_id = ?1 AND " DESK_SCOPE " ORDER BY d.at DESC";

void kb_desk_items_free(struct kb_desk_item *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++) {
        free(items[i].slug);
        free(items[i].title);
        free(items[i].lang);
        free(items[i].audience);
        free(items[i].status);
    }
    free(items);
}

/* Step s (user_id, article_id and more bound) to its end. */
static enum kb_err step_done(struct kb_store *st, sqlite3_stmt *s, const char *what)
{
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, what);
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_desk_viewed(struct kb_store *st, int64_t user_id, int64_t article_id,
                                 int64_t at)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_VIEWED);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, article_id);
    sqlite3_bind_int64(s, 3, at);
    enum kb_err err = step_done(st, s, "recent");
    if (err)
        return err;
    if (!(s = kb_store_stmt(st, SQL_TRIM)))
        return KB_EDB;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, KB_DESK_RECENT_MAX);
    return step_done(st, s, "recent trim");
}

enum kb_err kb_store_desk_pin(struct kb_store *st, int64_t user_id, int64_t article_id,
                              int64_t at, bool *added)
{
    *added = false;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_PIN_COUNT);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, article_id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        enum kb_err err = kb_store_fail(st, "pins");
        sqlite3_reset(s);
        return err;
    }
    int64_t count = sqlite3_column_int64(s, 0), pinned = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    if (pinned)
        return KB_OK;
    if (count >= KB_DESK_PINS_MAX)
        return KB_ETOOBIG;
    if (!(s = kb_store_stmt(st, SQL_PIN)))
        return KB_EDB;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, article_id);
    sqlite3_bind_int64(s, 3, at);
    enum kb_err err = step_done(st, s, "pin");
    *added = !err && sqlite3_changes(st->db) > 0;
    return err;
}

enum kb_err kb_store_desk_unpin(struct kb_store *st, int64_t user_id, int64_t article_id,
                                bool *removed)
{
    *removed = false;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_UNPIN);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, article_id);
    enum kb_err err = step_done(st, s, "unpin");
    *removed = !err && sqlite3_changes(st->db) > 0;
    return err;
}

static enum kb_err list(struct kb_store *st, const char *sql, int64_t user_id,
                        enum kb_store_scope scope, struct kb_desk_item **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st, sql);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int(s, 2, (int)scope);
    struct kb_desk_item *v = NULL;
    size_t k = 0;
    enum kb_err err = KB_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct kb_desk_item *p = realloc(v, (k + 1) * sizeof *p);
        if (!p) {
            err = KB_ENOMEM;
            break;
        }
        v = p;
        struct kb_desk_item *it = &v[k++];
        it->article_id = sqlite3_column_int64(s, 0);
        it->slug = kb_store_col_dup(s, 1);
        it->title = kb_store_col_dup(s, 2);
        it->lang = kb_store_col_dup(s, 3);
        it->audience = kb_store_col_dup(s, 4);
        it->status = kb_store_col_dup(s, 5);
        it->at = sqlite3_column_int64(s, 6);
        if (!it->slug || !it->title || !it->lang || !it->audience || !it->status) {
            err = KB_ENOMEM;
            break;
        }
    }
    if (!err && rc != SQLITE_DONE)
        err = kb_store_fail(st, "desk");
    sqlite3_reset(s);
    if (err) {
        kb_desk_items_free(v, k);
        return err;
    }
    *items = v;
    *n = k;
    return KB_OK;
}

enum kb_err kb_store_desk_recent(struct kb_store *st, int64_t user_id, enum kb_store_scope scope,
                                 struct kb_desk_item **items, size_t *n)
{
    return list(st, SQL_RECENT, user_id, scope, items, n);
}

enum kb_err kb_store_desk_pins(struct kb_store *st, int64_t user_id, enum kb_store_scope scope,
                               struct kb_desk_item **items, size_t *n)
{
    return list(st, SQL_PINS, user_id, scope, items, n);
}
