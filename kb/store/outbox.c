/* kb/store/outbox.c: the CRM outbox (see outbox.h).
 *
 *   outbox(id, event_id UNIQUE, type, case_id, payload, state due|delivered|failed|disabled,
 *          attempts, next_at, created_at, delivered_at, last_status, last_error)
 *   outbox_attempts(event_id, attempt, url, started_at, finished_at, status, error)
 *   crm_endpoints(url, disabled_at, reason)   -- answered 410 Gone
 *
 * The payload is the exact body sent, fixed when the event is created: every attempt signs
 * and sends the same bytes under the same event id. */
#include "kb/store/outbox.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "kb/store/store_int.h"

#define OUTBOX_COLUMNS                                                                        \
    "id, event_id, type, payload, state, coalesce(case_id, 0), attempts, next_at, "           \
    "created_at, coalesce(delivered_at, 0), coalesce(last_status, 0), last_error"

static const char SQL_OUTBOX_ADD[] =
    "INSERT INTO outbox(event_id, type, case_id, payload, state, next_at, created_at) "
    "VALUES (?1, ?2, ?3, ?4, 'due', ?5, ?5)";

static const char SQL_OUTBOX_NEXT[] =
    "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE state = 'due' AND next_at <= ?1 "
    "ORDER BY next_at, id LIMIT 1";

static const char SQL_OUTBOX_NEXT_TIME[] =
    "SELECT min(next_at) FROM outbox WHERE state = 'due'";

static const char SQL_ATTEMPT_BEGIN[] =
    "INSERT OR REPLACE INTO outbox_attempts(event_id, attempt, url, started_at) "
    "VALUES (?1, ?2, ?3, ?4)";

static const char SQL_ATTEMPT_COUNT[] = "UPDATE outbox SET attempts = ?2 WHERE event_id = ?1";

static const char SQL_ATTEMPT_END[] =
    "UPDATE outbox_attempts SET finished_at = ?3, status = ?4, error = ?5 "
    "WHERE event_id = ?1 AND attempt = ?2";

static const char SQL_OUTBOX_AFTER[] =
    "UPDATE outbox SET state = ?2, next_at = ?3, last_status = ?4, last_error = ?5, "
    "delivered_at = CASE WHEN ?2 = 'delivered' THEN ?6 ELSE delivered_at END "
    "WHERE event_id = ?1";

static const char SQL_OUTBOX_CASE[] =
    "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE case_id = ?1 ORDER BY id";

static const char SQL_ATTEMPTS[] =
    "SELECT attempt, url, started_at, coalesce(finished_at, 0), coalesce(status, 0), error "
    "FROM outbox_attempts WHERE event_id = ?1 ORDER BY attempt";

static const char SQL_REDELIVER[] =
    "UPDATE outbox SET attempts = CASE WHEN state = 'due' THEN attempts ELSE 0 END, "
    "state = 'due', next_at = ?2 WHERE case_id = ?1 AND state IN ('failed', 'disabled', 'due')";

static const char SQL_ENDPOINT_GET[] = "SELECT 1 FROM crm_endpoints WHERE url = ?1";

static const char SQL_ENDPOINT_DISABLE[] =
    "INSERT OR REPLACE INTO crm_endpoints(url, disabled_at, reason) VALUES (?1, ?2, ?3)";

static const char SQL_ENDPOINT_ENABLE[] = "DELETE FROM crm_endpoints WHERE url = ?1";

static const char SQL_ENDPOINTS_CLEAR[] = "DELETE FROM crm_endpoints";

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

enum kb_err kb_store_outbox_add(struct kb_store *st, const char *event_id, const char *type,
                                int64_t case_id, const char *payload, int64_t now_ms)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_OUTBOX_ADD);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
    if (case_id)
        sqlite3_bind_int64(s, 3, case_id);
    sqlite3_bind_text(s, 4, payload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, now_ms);
    return step_done(st, s, "outbox");
}

void kb_outbox_row_free(struct kb_outbox_row *r)
{
    if (!r)
        return;
    free(r->event_id);
    free(r->type);
    free(r->payload);
    free(r->state);
    free(r->last_error);
    free(r);
}

void kb_outbox_rows_free(struct kb_outbox_row **rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        kb_outbox_row_free(rows[i]);
    free(rows);
}

static struct kb_outbox_row *outbox_read(sqlite3_stmt *s)
{
    struct kb_outbox_row *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->id = sqlite3_column_int64(s, 0);
    r->event_id = kb_store_col_dup(s, 1);
    r->type = kb_store_col_dup(s, 2);
    r->payload = kb_store_col_dup(s, 3);
    r->state = kb_store_col_dup(s, 4);
    r->case_id = sqlite3_column_int64(s, 5);
    r->attempts = sqlite3_column_int(s, 6);
    r->next_at = sqlite3_column_int64(s, 7);
    r->created_at = sqlite3_column_int64(s, 8);
    r->delivered_at = sqlite3_column_int64(s, 9);
    r->last_status = sqlite3_column_int(s, 10);
    bool has_error = sqlite3_column_type(s, 11) != SQLITE_NULL;
    r->last_error = has_error ? kb_store_col_dup(s, 11) : NULL;
    if (!r->event_id || !r->type || !r->payload || !r->state || (has_error && !r->last_error)) {
        kb_outbox_row_free(r);
        return NULL;
    }
    return r;
}

enum kb_err kb_store_outbox_next(struct kb_store *st, int64_t now_ms, struct kb_outbox_row **out)
{
    *out = NULL;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_OUTBOX_NEXT);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, now_ms);
    int rc = sqlite3_step(s);
    enum kb_err err = KB_OK;
    if (rc == SQLITE_ROW)
        err = (*out = outbox_read(s)) ? KB_OK : KB_ENOMEM;
    else
        err = rc == SQLITE_DONE ? KB_ENOTFOUND : kb_store_fail(st, "outbox");
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_outbox_next_time(struct kb_store *st, int64_t *at_ms)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_OUTBOX_NEXT_TIME);
    if (!s)
        return KB_EDB;
    enum kb_err err = KB_OK;
    if (sqlite3_step(s) != SQLITE_ROW)
        err = kb_store_fail(st, "outbox");
    else if (sqlite3_column_type(s, 0) == SQLITE_NULL)
        err = KB_ENOTFOUND;
    else
        *at_ms = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_outbox_attempt_begin(struct kb_store *st, const char *event_id, int attempt,
                                          const char *url, int64_t now_ms)
{
    enum kb_err err = kb_store_begin(st);
    if (err)
        return err;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_ATTEMPT_BEGIN);
    if (!s) {
        err = KB_EDB;
        goto out;
    }
    sqlite3_bind_text(s, 1, event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, attempt);
    sqlite3_bind_text(s, 3, url, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now_ms);
    err = step_done(st, s, "outbox attempt");
    if (err)
        goto out;
    if (!(s = kb_store_stmt(st, SQL_ATTEMPT_COUNT))) {
        err = KB_EDB;
        goto out;
    }
    sqlite3_bind_text(s, 1, event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, attempt);
    err = step_done(st, s, "outbox attempt");
out:
    if (err) {
        kb_store_rollback(st);
        return err;
    }
    return kb_store_commit(st);
}

enum kb_err kb_store_outbox_attempt_end(struct kb_store *st, const char *event_id, int attempt,
                                        int status, const char *error, const char *state,
                                        int64_t next_at_ms, int64_t now_ms)
{
    enum kb_err err = kb_store_begin(st);
    if (err)
        return err;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_ATTEMPT_END);
    if (!s) {
        err = KB_EDB;
        goto out;
    }
    sqlite3_bind_text(s, 1, event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, attempt);
    sqlite3_bind_int64(s, 3, now_ms);
    if (status)
        sqlite3_bind_int(s, 4, status);
    bind_opt(s, 5, error);
    err = step_done(st, s, "outbox attempt");
    if (err)
        goto out;
    if (!(s = kb_store_stmt(st, SQL_OUTBOX_AFTER))) {
        err = KB_EDB;
        goto out;
    }
    sqlite3_bind_text(s, 1, event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, next_at_ms);
    if (status)
        sqlite3_bind_int(s, 4, status);
    bind_opt(s, 5, error);
    sqlite3_bind_int64(s, 6, now_ms);
    err = step_done(st, s, "outbox");
out:
    if (err) {
        kb_store_rollback(st);
        return err;
    }
    return kb_store_commit(st);
}

enum kb_err kb_store_outbox_for_case(struct kb_store *st, int64_t case_id,
                                     struct kb_outbox_row ***rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_OUTBOX_CASE);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, case_id);
    enum kb_err err = KB_OK;
    struct kb_outbox_row **v = NULL;
    size_t k = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct kb_outbox_row **p = realloc(v, (k + 1) * sizeof *p);
        if (!p) {
            err = KB_ENOMEM;
            break;
        }
        v = p;
        if (!(v[k] = outbox_read(s))) {
            err = KB_ENOMEM;
            break;
        }
        k++;
    }
    if (!err && rc != SQLITE_DONE)
        err = kb_store_fail(st, "outbox");
    sqlite3_reset(s);
    if (err) {
        kb_outbox_rows_free(v, k);
        return err;
    }
    *rows = v;
    *n = k;
    return KB_OK;
}

void kb_outbox_attempts_free(struct kb_outbox_attempt *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].url);
        free(v[i].error);
    }
    free(v);
}

enum kb_err kb_store_outbox_attempts(struct kb_store *st, const char *event_id,
                                     struct kb_outbox_attempt **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_ATTEMPTS);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, event_id, -1, SQLITE_STATIC);
    enum kb_err err = KB_OK;
    struct kb_outbox_attempt *v = NULL;
    size_t k = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct kb_outbox_attempt *p = realloc(v, (k + 1) * sizeof *p);
        if (!p) {
            err = KB_ENOMEM;
            break;
        }
        v = p;
        struct kb_outbox_attempt *a = &v[k++];
        memset(a, 0, sizeof *a);
        a->attempt = sqlite3_column_int(s, 0);
        a->url = kb_store_col_dup(s, 1);
        a->started_at = sqlite3_column_int64(s, 2);
        a->finished_at = sqlite3_column_int64(s, 3);
        a->status = sqlite3_column_int(s, 4);
        if (sqlite3_column_type(s, 5) != SQLITE_NULL && !(a->error = kb_store_col_dup(s, 5)))
            err = KB_ENOMEM;
        if (!a->url)
            err = KB_ENOMEM;
        if (err)
            break;
    }
    if (!err && rc != SQLITE_DONE)
        err = kb_store_fail(st, "outbox attempts");
    sqlite3_reset(s);
    if (err) {
        kb_outbox_attempts_free(v, k);
        return err;
    }
    *out = v;
    *n = k;
    return KB_OK;
}

enum kb_err kb_store_outbox_redeliver(struct kb_store *st, int64_t case_id, int64_t now_ms,
                                      size_t *count)
{
    *count = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_REDELIVER);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, case_id);
    sqlite3_bind_int64(s, 2, now_ms);
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "redeliver");
    if (!err)
        *count = (size_t)sqlite3_changes(st->db);
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_endpoint_disabled(struct kb_store *st, const char *url, bool *disabled)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_ENDPOINT_GET);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, url, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    enum kb_err err = rc == SQLITE_ROW || rc == SQLITE_DONE ? KB_OK : kb_store_fail(st, "endpoint");
    *disabled = rc == SQLITE_ROW;
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_endpoint_disable(struct kb_store *st, const char *url, const char *reason,
                                      int64_t now_ms)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_ENDPOINT_DISABLE);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, url, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now_ms);
    sqlite3_bind_text(s, 3, reason, -1, SQLITE_STATIC);
    return step_done(st, s, "endpoint");
}

enum kb_err kb_store_endpoint_enable(struct kb_store *st, const char *url)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_ENDPOINT_ENABLE);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, url, -1, SQLITE_STATIC);
    return step_done(st, s, "endpoint");
}

enum kb_err kb_store_endpoints_clear(struct kb_store *st, size_t *count)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_ENDPOINTS_CLEAR);
    if (!s)
        return KB_EDB;
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "endpoints");
    *count = err ? 0 : (size_t)sqlite3_changes(st->db);
    sqlite3_reset(s);
    return err;
}
