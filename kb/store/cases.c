/* kb/store/cases.c: cases (see cases.h).
 *
 *   cases(id, ref UNIQUE, year, number, status new|open|pending|solved|closed, subject, lang,
 *         name, email, phone, consent_at, consent_text, conversation_id, transcript JSON,
 *         articles JSON, created_at, updated_at)  UNIQUE (year, number)
 *
 * A case's delivery is derived from its outbox events (outbox.c): pending while one is due,
 * failed when one failed or its endpoint was disabled, delivered otherwise. */
#include "kb/store/cases.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "kb/store/store_int.h"

#define CASE_DELIVERY                                                                         \
    "(CASE WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id AND o.state = 'due') "  \
    "THEN 'pending' WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id AND "          \
    "o.state IN ('failed', 'disabled')) THEN 'failed' ELSE 'delivered' END)"

#define CASE_COLUMNS                                                                          \
    "c.id AS id, c.ref, c.status, c.subject, c.lang, c.name, c.email, c.phone, "                   \
    "coalesce(c.consent_at, 0), c.consent_text, coalesce(c.conversation_id, 0), "             \
    "coalesce(v.public_id, ''), c.transcript, c.articles, " CASE_DELIVERY " AS delivery, "    \
    "c.created_at AS created_at, c.updated_at"

static const char SQL_CASE_INSERT[] =
    "INSERT INTO cases(ref, year, number, status, subject, lang, name, email, phone, "
    "consent_at, consent_text, conversation_id, transcript, articles, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)";

static const char SQL_CASE_LAST[] = "SELECT coalesce(max(number), 0) FROM cases WHERE year = ?1";

static const char SQL_CASE_GET[] =
    "SELECT " CASE_COLUMNS " FROM cases c LEFT JOIN conversations v ON v.id = c.conversation_id "
    "WHERE c.ref = ?1";

static const char SQL_CASE_LIST[] =
    "SELECT * FROM (SELECT " CASE_COLUMNS " FROM cases c LEFT JOIN conversations v "
    "ON v.id = c.conversation_id WHERE (?1 IS NULL OR c.status = ?1)) "
    "WHERE (?2 IS NULL OR delivery = ?2) ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?4";

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
