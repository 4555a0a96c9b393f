/* kb/store/casework.c: notes, history and linked articles of cases (see casework.h).
 *
 *   case_notes(id, case_id -> cases, author, text, at)                   index (case_id)
 *   case_history(id, case_id -> cases, at, actor, change created|status|assignee|note|article,
 *                from_value, to_value)                                   index (case_id)
 *   case_articles(case_id -> cases, article_id -> articles, linked_by, linked_at)
 *                PRIMARY KEY (case_id, article_id), index (article_id)
 *
 * Rows are never changed nor deleted: the history is the record of what happened to a case,
 * so it keeps the values as they were (logins, statuses, a note's text, an article's slug);
 * a linked article shows its current slug and title. Authors and actors are a user's login
 * or "token:NAME" for an integration. Reads are bounded (the last `max` rows). */
#include "kb/store/casework.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "kb/store/store_int.h"

static const char SQL_NOTE_ADD[] =
    "INSERT INTO case_notes(case_id, author, text, at) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_NOTE_COUNT[] = "SELECT count(*) FROM case_notes WHERE case_id = ?1";
static const char SQL_NOTES[] =
    "SELECT at, author, text FROM (SELECT id, at, author, text FROM case_notes "
    "WHERE case_id = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id";

static const char SQL_HISTORY_ADD[] =
    "INSERT INTO case_history(case_id, at, actor, change, from_value, to_value) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_HISTORY[] =
    "SELECT at, actor, change, from_value, to_value FROM (SELECT * FROM case_history "
    "WHERE case_id = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id";

static const char SQL_LINK[] =
    "INSERT OR IGNORE INTO case_articles(case_id, article_id, linked_by, linked_at) "
    "VALUES (?1, ?2, ?3, ?4)";
static const char SQL_LINK_COUNT[] = "SELECT count(*) FROM case_articles WHERE case_id = ?1";
static const char SQL_LINKS[] =
    "SELECT a.slug, a.title, l.linked_at FROM case_articles l JOIN articles a "
    "ON a.id = l.article_id WHERE l.case_id = ?1 ORDER BY l.linked_at, a.slug LIMIT ?2";
static const char SQL_ARTICLE_CASES[] =
    "SELECT count(*) FROM case_articles WHERE article_id = ?1";

static void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static enum kb_err step_done(struct kb_store *st, sqlite3_stmt *s, const char *what)
{
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, what);
    sqlite3_reset(s);
    return err;
}

/* A count(*) of one id. */
static enum kb_err count_of(struct kb_store *st, const char *sql, int64_t id, int64_t *n,
                            const char *what)
{
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st, sql);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    enum kb_err err = KB_OK;
    if (sqlite3_step(s) == SQLITE_ROW)
        *n = sqlite3_column_int64(s, 0);
    else
        err = kb_store_fail(st, what);
    sqlite3_reset(s);
    return err;
}

static char *opt_dup(sqlite3_stmt *s, int i, bool *oom)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return NULL;
    char *v = kb_store_col_dup(s, i);
    if (!v)
        *oom = true;
    return v;
}

/* Step s (bound: ?1 the case, ?2 the maximum) into an array of `size`-byte elements, read by
 * `read` (false when out of memory); freed by `release` on failure. */
typedef bool row_read_fn(sqlite3_stmt *s, void *elem);
typedef void rows_free_fn(void *v, size_t n);

static enum kb_err read_rows(struct kb_store *st, sqlite3_stmt *s, size_t max, size_t size,
                             row_read_fn *read, rows_free_fn *release, void **out, size_t *n,
                             const char *what)
{
    *out = NULL;
    *n = 0;
    char *v = max ? calloc(max, size) : NULL;
    if (max && !v) {
        sqlite3_reset(s);
        return KB_ENOMEM;
    }
    size_t k = 0;
    enum kb_err err = KB_OK;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        bool ok = read(s, v + k * size);
        k++;
        if (!ok) {
            err = KB_ENOMEM;
            break;
        }
    }
    if (!err && k < max && rc != SQLITE_DONE)
        err = kb_store_fail(st, what);
    sqlite3_reset(s);
    if (err) {
        release(v, k);
        return err;
    }
    *out = v;
    *n = k;
    return KB_OK;
}

/* ---- notes ------------------------------------------------------------------------- */

enum kb_err kb_store_case_note_add(struct kb_store *st, int64_t case_id, const char *author,
                                   const char *text, int64_t at)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_NOTE_ADD);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, case_id);
    sqlite3_bind_text(s, 2, author, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, at);
    return step_done(st, s, "case note");
}

enum kb_err kb_store_case_note_count(struct kb_store *st, int64_t case_id, int64_t *n)
{
    return count_of(st, SQL_NOTE_COUNT, case_id, n, "case notes");
}

void kb_case_notes_free(struct kb_case_note *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].author);
        free(v[i].text);
    }
    free(v);
}

static bool note_read(sqlite3_stmt *s, void *elem)
{
    struct kb_case_note *e = elem;
    e->at = sqlite3_column_int64(s, 0);
    e->author = kb_store_col_dup(s, 1);
    e->text = kb_store_col_dup(s, 2);
    return e->author && e->text;
}

static void notes_release(void *v, size_t n)
{
    kb_case_notes_free(v, n);
}

enum kb_err kb_store_case_notes(struct kb_store *st, int64_t case_id, size_t max,
                                struct kb_case_note **v, size_t *n)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_NOTES);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, case_id);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    void *out = NULL;
    enum kb_err err = read_rows(st, s, max, sizeof **v, note_read, notes_release, &out, n,
                                "case notes");
    *v = out;
    return err;
}

/* ---- history ----------------------------------------------------------------------- */

enum kb_err kb_store_case_history_add(struct kb_store *st, int64_t case_id, int64_t at,
                                      const char *actor, const char *change, const char *from,
                                      const char *to)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_HISTORY_ADD);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, case_id);
    sqlite3_bind_int64(s, 2, at);
    sqlite3_bind_text(s, 3, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, change, -1, SQLITE_STATIC);
    bind_opt(s, 5, from);
    bind_opt(s, 6, to);
    return step_done(st, s, "case history");
}

void kb_case_changes_free(struct kb_case_change *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].actor);
        free(v[i].change);
        free(v[i].from);
        free(v[i].to);
    }
    free(v);
}

static bool change_read(sqlite3_stmt *s, void *elem)
{
    struct kb_case_change *e = elem;
    bool oom = false;
    e->at = sqlite3_column_int64(s, 0);
    e->actor = kb_store_col_dup(s, 1);
    e->change = kb_store_col_dup(s, 2);
    e->from = opt_dup(s, 3, &oom);
    e->to = opt_dup(s, 4, &oom);
    return !oom && e->actor && e->change;
}

static void changes_release(void *v, size_t n)
{
    kb_case_changes_free(v, n);
}

enum kb_err kb_store_case_history(struct kb_store *st, int64_t case_id, size_t max,
                                  struct kb_case_change **v, size_t *n)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_HISTORY);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, case_id);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    void *out = NULL;
    enum kb_err err = read_rows(st, s, max, sizeof **v, change_read, changes_release, &out, n,
                                "case history");
    *v = out;
    return err;
}

/* ---- linked articles --------------------------------------------------------------- */

enum kb_err kb_store_case_article_link(struct kb_store *st, int64_t case_id, int64_t article_id,
                                       const char *by, int64_t at, bool *added)
{
    *added = false;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_LINK);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, case_id);
    sqlite3_bind_int64(s, 2, article_id);
    sqlite3_bind_text(s, 3, by, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, at);
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "case article");
    if (!err)
        *added = sqlite3_changes(st->db) > 0;
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_case_article_count(struct kb_store *st, int64_t case_id, int64_t *n)
{
    return count_of(st, SQL_LINK_COUNT, case_id, n, "case articles");
}

void kb_case_articles_free(struct kb_case_article *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].slug);
        free(v[i].title);
    }
    free(v);
}

static bool link_read(sqlite3_stmt *s, void *elem)
{
    struct kb_case_article *e = elem;
    e->slug = kb_store_col_dup(s, 0);
    e->title = kb_store_col_dup(s, 1);
    e->linked_at = sqlite3_column_int64(s, 2);
    return e->slug && e->title;
}

static void links_release(void *v, size_t n)
{
    kb_case_articles_free(v, n);
}

enum kb_err kb_store_case_articles(struct kb_store *st, int64_t case_id, size_t max,
                                   struct kb_case_article **v, size_t *n)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_LINKS);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, case_id);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    void *out = NULL;
    enum kb_err err = read_rows(st, s, max, sizeof **v, link_read, links_release, &out, n,
                                "case articles");
    *v = out;
    return err;
}

enum kb_err kb_store_article_case_count(struct kb_store *st, int64_t article_id, int64_t *n)
{
    return count_of(st, SQL_ARTICLE_CASES, article_id, n, "article cases");
}
