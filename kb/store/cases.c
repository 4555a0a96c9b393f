/* kb/store/cases.c: cases (see cases.h).
 *
 *   cases(id, ref UNIQUE, year, number, status new|open|pending|solved|closed, subject, lang,
 *         name, email, phone, consent_at, consent_text, conversation_id, transcript JSON,
 *         articles JSON, created_at, updated_at, assignee_id -> users)  UNIQUE (year, number)
 *   case_inbox(id = cases.id, status, assignee_id, lang, text)   indexes (status, assignee_id),
 *         (assignee_id, status): the inbox's narrow copy of a case, written by the triggers
 *         cases_inbox_insert, _state, _text and _delete (store.c, migration 8); text is the
 *         reference, name, email, phone and subject, one per line
 *   case_inbox_search  FTS5, trigram tokenizer, external content (case_inbox.text), kept by
 *         the triggers case_inbox_insert, _delete and _text
 *
 * A case's delivery is derived from its outbox events (outbox.c): pending while one is due,
 * failed when one failed or its endpoint was disabled, delivered otherwise.
 *
 * The inbox (kb_store_cases_inbox) stays fast with 100,000 cases and more
 * (tests/bench/cases/run.sh): a case row carries its transcript (kilobytes), so the filters,
 * the search and the count run on case_inbox (about 150 bytes a case) and only the page's
 * cases are read. Without a search, SQLite answers from case_inbox's indexes; with one, from
 * the trigram index (a part of a word, 3 characters or more, case aside; shorter ones scan
 * case_inbox's text with LIKE), and a status or language filter is then checked on the
 * matches' rows (a unary + keeps SQLite from scanning the status index's range instead,
 * which was up to 3 times slower for a search that matches many cases); an assignee filter
 * keeps its index, whose range is short. The statements are assembled from constant
 * fragments, one per filter given (an "?1 IS NULL OR ..." form would keep SQLite from using
 * the indexes), and every value is bound. */
#include "kb/store/cases.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "kb/base/buf.h"
#include "kb/store/store_int.h"

#define CASE_DELIVERY                                                                         \
    "(CASE WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id AND o.state = 'due') "  \
    "THEN 'pending' WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id AND "          \
    "o.state IN ('failed', 'disabled')) THEN 'failed' ELSE 'delivered' END)"

#define CASE_COLUMNS                                                                          \
    "c.id AS id, c.ref, c.status, c.subject, c.lang, c.name, c.email, c.phone, "                   \
    "coalesce(c.consent_at, 0), c.consent_text, coalesce(c.conversation_id, 0), "             \
    "coalesce(v.public_id, ''), c.transcript, c.articles, " CASE_DELIVERY " AS delivery, "    \
    "c.created_at AS created_at, c.updated_at, coalesce(c.assignee_id, 0), u.login"

#define CASE_FROM                                                                             \
    " FROM cases c LEFT JOIN conversations v ON v.id = c.conversation_id "                    \
    "LEFT JOIN users u ON u.id = c.assignee_id "

static const char SQL_CASE_INSERT[] =
    "INSERT INTO cases(ref, year, number, status, subject, lang, name, email, phone, "
    "consent_at, consent_text, conversation_id, transcript, articles, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)";

static const char SQL_CASE_LAST[] = "SELECT coalesce(max(number), 0) FROM cases WHERE year = ?1";

static const char SQL_CASE_GET[] = "SELECT " CASE_COLUMNS CASE_FROM "WHERE c.ref = ?1";

static const char SQL_CASE_LIST[] =
    "SELECT * FROM (SELECT " CASE_COLUMNS CASE_FROM "WHERE (?1 IS NULL OR c.status = ?1)) "
    "WHERE (?2 IS NULL OR delivery = ?2) ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?4";

static const char SQL_CASE_STATUS[] =
    "UPDATE cases SET status = ?2, updated_at = ?3 WHERE id = ?1";

static const char SQL_CASE_ASSIGNEE[] =
    "UPDATE cases SET assignee_id = ?2, updated_at = ?3 WHERE id = ?1";

static void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

enum kb_err kb_store_case_insert(struct kb_store *st, const struct kb_case_in *c, int64_t *id)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CASE_INSERT);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, c->ref, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, c->year);
    sqlite3_bind_int64(s, 3, c->number);
    sqlite3_bind_text(s, 4, c->status, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, c->subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, c->lang, -1, SQLITE_STATIC);
    bind_opt(s, 7, c->name);
    bind_opt(s, 8, c->email);
    bind_opt(s, 9, c->phone);
    if (c->consent_at)
        sqlite3_bind_int64(s, 10, c->consent_at);
    bind_opt(s, 11, c->consent_text);
    if (c->conversation_id)
        sqlite3_bind_int64(s, 12, c->conversation_id);
    sqlite3_bind_text(s, 13, c->transcript, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 14, c->articles, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 15, c->now);
    int rc = sqlite3_step(s);
    enum kb_err err = rc == SQLITE_DONE ? KB_OK
                      : (rc & 0xff) == SQLITE_CONSTRAINT ? KB_EEXISTS
                                                          : kb_store_fail(st, "case");
    sqlite3_reset(s);
    if (!err)
        *id = sqlite3_last_insert_rowid(st->db);
    return err;
}

enum kb_err kb_store_case_last_number(struct kb_store *st, int year, int64_t *n)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CASE_LAST);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int(s, 1, year);
    enum kb_err err = KB_OK;
    if (sqlite3_step(s) == SQLITE_ROW)
        *n = sqlite3_column_int64(s, 0);
    else
        err = kb_store_fail(st, "case number");
    sqlite3_reset(s);
    return err;
}

void kb_case_row_free(struct kb_case_row *r)
{
    if (!r)
        return;
    free(r->ref);
    free(r->status);
    free(r->subject);
    free(r->lang);
    free(r->name);
    free(r->email);
    free(r->phone);
    free(r->consent_text);
    free(r->conversation_public_id);
    free(r->transcript);
    free(r->articles);
    free(r->delivery);
    free(r->assignee);
    free(r);
}

void kb_case_rows_free(struct kb_case_row **rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        kb_case_row_free(rows[i]);
    free(rows);
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

static struct kb_case_row *case_read(sqlite3_stmt *s)
{
    struct kb_case_row *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    bool oom = false;
    r->id = sqlite3_column_int64(s, 0);
    r->ref = kb_store_col_dup(s, 1);
    r->status = kb_store_col_dup(s, 2);
    r->subject = kb_store_col_dup(s, 3);
    r->lang = kb_store_col_dup(s, 4);
    r->name = opt_dup(s, 5, &oom);
    r->email = opt_dup(s, 6, &oom);
    r->phone = opt_dup(s, 7, &oom);
    r->consent_at = sqlite3_column_int64(s, 8);
    r->consent_text = opt_dup(s, 9, &oom);
    r->conversation_id = sqlite3_column_int64(s, 10);
    r->conversation_public_id = kb_store_col_dup(s, 11);
    r->transcript = kb_store_col_dup(s, 12);
    r->articles = kb_store_col_dup(s, 13);
    r->delivery = kb_store_col_dup(s, 14);
    r->created_at = sqlite3_column_int64(s, 15);
    r->updated_at = sqlite3_column_int64(s, 16);
    r->assignee_id = sqlite3_column_int64(s, 17);
    r->assignee = opt_dup(s, 18, &oom);
    if (oom || !r->ref || !r->status || !r->subject || !r->lang || !r->conversation_public_id ||
        !r->transcript || !r->articles || !r->delivery) {
        kb_case_row_free(r);
        return NULL;
    }
    return r;
}

enum kb_err kb_store_case_get(struct kb_store *st, const char *ref, struct kb_case_row **out)
{
    *out = NULL;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CASE_GET);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, ref, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    enum kb_err err = KB_OK;
    if (rc == SQLITE_ROW)
        err = (*out = case_read(s)) ? KB_OK : KB_ENOMEM;
    else
        err = rc == SQLITE_DONE ? KB_ENOTFOUND : kb_store_fail(st, "case");
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_cases_list(struct kb_store *st, const char *status, const char *delivery,
                                size_t limit, size_t offset, struct kb_case_row ***rows,
                                size_t *n)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CASE_LIST);
    if (!s)
        return KB_EDB;
    bind_opt(s, 1, status);
    bind_opt(s, 2, delivery);
    sqlite3_bind_int64(s, 3, limit ? (int64_t)limit : -1);
    sqlite3_bind_int64(s, 4, (int64_t)offset);
    enum kb_err err = KB_OK;
    struct kb_case_row **v = NULL;
    size_t k = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct kb_case_row **p = realloc(v, (k + 1) * sizeof *p);
        if (!p) {
            err = KB_ENOMEM;
            break;
        }
        v = p;
        if (!(v[k] = case_read(s))) {
            err = KB_ENOMEM;
            break;
        }
        k++;
    }
    if (!err && rc != SQLITE_DONE)
        err = kb_store_fail(st, "cases");
    sqlite3_reset(s);
    if (err) {
        kb_case_rows_free(v, k);
        return err;
    }
    *rows = v;
    *n = k;
    return KB_OK;
}

static enum kb_err step_change(struct kb_store *st, sqlite3_stmt *s, const char *what)
{
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, what);
    if (!err && sqlite3_changes(st->db) == 0)
        err = KB_ENOTFOUND;
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_case_set_status(struct kb_store *st, int64_t id, const char *status,
                                     int64_t now)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CASE_STATUS);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now);
    return step_change(st, s, "case status");
}

enum kb_err kb_store_case_set_assignee(struct kb_store *st, int64_t id, int64_t user_id,
                                       int64_t now)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CASE_ASSIGNEE);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    if (user_id)
        sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_int64(s, 3, now);
    return step_change(st, s, "case assignee");
}

/* ---- the inbox ----------------------------------------------------------------------- */

/* The fragments of the inbox's statements. Values: ?1 status, ?2 language, ?3 assignee,
 * ?4 the search (an FTS5 phrase, or a LIKE pattern under 3 characters), ?5 limit, ?6 offset.
 * Each filter has two forms: for SQLite's indexes, and (after a search) checked on rows. */
#define INBOX_COUNT "SELECT count(*) FROM case_inbox i WHERE 1"
#define INBOX_PAGE                                                                            \
    "SELECT c.id, c.ref, c.status, c.subject, c.lang, c.name, u.login, c.created_at "         \
    "FROM cases c LEFT JOIN users u ON u.id = c.assignee_id "                                 \
    "WHERE c.id IN (SELECT i.id FROM case_inbox i WHERE 1"
#define INBOX_PAGE_END " ORDER BY i.id DESC LIMIT ?5 OFFSET ?6) ORDER BY c.id DESC"
static const char *const inbox_status[2] = {" AND i.status = ?1", " AND +i.status = ?1"};
static const char *const inbox_lang[2] = {" AND i.lang = ?2", " AND +i.lang = ?2"};
static const char *const inbox_assigned[2] = {" AND i.assignee_id = ?3",
                                              " AND +i.assignee_id = ?3"};
static const char *const inbox_nobody[2] = {" AND i.assignee_id IS NULL",
                                            " AND +i.assignee_id IS NULL"};
#define INBOX_MATCH                                                                           \
    " AND i.id IN (SELECT rowid FROM case_inbox_search WHERE case_inbox_search MATCH ?4)"
#define INBOX_LIKE " AND i.text LIKE ?4 ESCAPE '\\'"

#define INBOX_SQL_MAX 2048

void kb_case_items_free(struct kb_case_item *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++) {
        free(items[i].ref);
        free(items[i].status);
        free(items[i].subject);
        free(items[i].lang);
        free(items[i].name);
        free(items[i].assignee);
    }
    free(items);
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* The search as the statement takes it: an FTS5 phrase ("..." with quotes doubled) for the
 * trigram index, or a LIKE pattern (%...% with %, _ and \ escaped) when it is shorter than
 * one trigram. */
static enum kb_err search_value(const char *q, bool *like, struct kb_buf *out)
{
    *like = utf8_chars(q) < 3;
    enum kb_err err = kb_buf_putc(out, *like ? '%' : '"');
    for (const char *p = q; *p && !err; p++) {
        if (!*like && *p == '"')
            err = kb_buf_puts(out, "\"\"");
        else if (*like && (*p == '%' || *p == '_' || *p == '\\'))
            err = kb_buf_putc(out, '\\');
        if (!err && (*like || *p != '"'))
            err = kb_buf_putc(out, *p);
    }
    return err ? err : kb_buf_putc(out, *like ? '%' : '"');
}

/* Prepare head + the filters of f (+ tail) and bind f's values into *out (finalize it). */
static enum kb_err inbox_stmt(struct kb_store *st, const char *head, const char *tail,
                              const struct kb_case_filter *f, const char *search, bool like,
                              sqlite3_stmt **out)
{
    struct kb_buf sql;
    kb_buf_init(&sql, INBOX_SQL_MAX);
    /* With a search, the trigram index drives and the filters are checked on its matches'
     * rows, unless the assignee is given: one agent's cases, or the unassigned ones, are few,
     * and their index range is the shorter way. */
    int rows = search && !like && f->assigned == KB_ASSIGNED_ANY;
    enum kb_err err = kb_buf_puts(&sql, head);
    if (!err && f->status)
        err = kb_buf_puts(&sql, inbox_status[rows]);
    if (!err && f->lang)
        err = kb_buf_puts(&sql, inbox_lang[rows]);
    if (!err && f->assigned == KB_ASSIGNED_TO)
        err = kb_buf_puts(&sql, inbox_assigned[rows]);
    if (!err && f->assigned == KB_ASSIGNED_NOBODY)
        err = kb_buf_puts(&sql, inbox_nobody[rows]);
    if (!err && search)
        err = kb_buf_puts(&sql, like ? INBOX_LIKE : INBOX_MATCH);
    if (!err && tail)
        err = kb_buf_puts(&sql, tail);
    *out = NULL;
    if (!err && sqlite3_prepare_v2(st->db, sql.data, -1, out, NULL) != SQLITE_OK)
        err = kb_store_fail(st, "inbox");
    kb_buf_release(&sql);
    if (err)
        return err;
    /* A parameter the statement does not hold answers SQLITE_RANGE: nothing to bind then. */
    if (f->status)
        sqlite3_bind_text(*out, 1, f->status, -1, SQLITE_STATIC);
    if (f->lang)
        sqlite3_bind_text(*out, 2, f->lang, -1, SQLITE_STATIC);
    if (f->assigned == KB_ASSIGNED_TO)
        sqlite3_bind_int64(*out, 3, f->assignee_id);
    if (search)
        sqlite3_bind_text(*out, 4, search, -1, SQLITE_STATIC);
    return KB_OK;
}

static bool item_read(sqlite3_stmt *s, struct kb_case_item *it)
{
    bool oom = false;
    it->id = sqlite3_column_int64(s, 0);
    it->ref = kb_store_col_dup(s, 1);
    it->status = kb_store_col_dup(s, 2);
    it->subject = kb_store_col_dup(s, 3);
    it->lang = kb_store_col_dup(s, 4);
    it->name = opt_dup(s, 5, &oom);
    it->assignee = opt_dup(s, 6, &oom);
    it->created_at = sqlite3_column_int64(s, 7);
    return !oom && it->ref && it->status && it->subject && it->lang;
}

enum kb_err kb_store_cases_inbox(struct kb_store *st, const struct kb_case_filter *f,
                                 size_t limit, size_t offset, struct kb_case_item **items,
                                 size_t *n, int64_t *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    if (limit < 1 || limit > 100 || offset > KB_CASES_OFFSET_MAX)
        return KB_EINVAL;
    struct kb_buf search;
    kb_buf_init(&search, 4096);
    bool like = false;
    sqlite3_stmt *count = NULL, *page = NULL;
    struct kb_case_item *v = NULL;
    size_t k = 0;
    enum kb_err err = f->q ? search_value(f->q, &like, &search) : KB_OK;
    const char *sv = f->q ? search.data : NULL;
    if (!err)
        err = inbox_stmt(st, INBOX_COUNT, NULL, f, sv, like, &count);
    if (!err) {
        if (sqlite3_step(count) == SQLITE_ROW)
            *total = sqlite3_column_int64(count, 0);
        else
            err = kb_store_fail(st, "inbox count");
    }
    if (!err)
        err = inbox_stmt(st, INBOX_PAGE, INBOX_PAGE_END, f, sv, like, &page);
    if (err)
        goto out;
    sqlite3_bind_int64(page, 5, (int64_t)limit);
    sqlite3_bind_int64(page, 6, (int64_t)offset);
    v = calloc(limit, sizeof *v);
    if (!v) {
        err = KB_ENOMEM;
        goto out;
    }
    int rc = SQLITE_DONE;
    while (k < limit && (rc = sqlite3_step(page)) == SQLITE_ROW) {
        bool ok = item_read(page, &v[k]);
        k++;
        if (!ok) {
            err = KB_ENOMEM;
            goto out;
        }
    }
    if (k < limit && rc != SQLITE_DONE)
        err = kb_store_fail(st, "inbox");
out:
    sqlite3_finalize(count);
    sqlite3_finalize(page);
    kb_buf_release(&search);
    if (err) {
        kb_case_items_free(v, k);
        *total = 0;
        return err;
    }
    *items = v;
    *n = k;
    return KB_OK;
}
