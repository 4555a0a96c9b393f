/* kb/store/audit.c: the audit log (see audit.h).
 *
 *   audit(id, at, actor, action, target, address, detail)   -- append only */
#include "kb/store/audit.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "kb/store/store_int.h"

static const char SQL_AUDIT_ADD[] =
    "INSERT INTO audit(at, actor, action, target, address, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_AUDIT_LIST[] =
    "SELECT id, at, actor, action, target, address, detail FROM audit WHERE at >= ?1 "
    "ORDER BY id LIMIT ?2";

enum kb_err kb_store_audit_add(struct kb_store *st, int64_t at, const char *actor,
                               const char *action, const char *target, const char *address,
                               const char *detail)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_AUDIT_ADD);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, at);
    sqlite3_bind_text(s, 2, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, target ? target : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, address ? address : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, detail ? detail : "", -1, SQLITE_STATIC);
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "audit");
    sqlite3_reset(s);
    return err;
}

void kb_audit_rows_free(struct kb_audit_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].actor);
        free(rows[i].action);
        free(rows[i].target);
        free(rows[i].address);
        free(rows[i].detail);
    }
    free(rows);
}

enum kb_err kb_store_audit_list(struct kb_store *st, int64_t since, size_t max,
                                struct kb_audit_row **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_AUDIT_LIST);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, since);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    enum kb_err err = KB_OK;
    struct kb_audit_row *v = NULL;
    size_t k = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct kb_audit_row *p = realloc(v, (k + 1) * sizeof *p);
        if (!p) {
            err = KB_ENOMEM;
            break;
        }
        v = p;
        struct kb_audit_row *r = &v[k++];
        r->id = sqlite3_column_int64(s, 0);
        r->at = sqlite3_column_int64(s, 1);
        r->actor = kb_store_col_dup(s, 2);
        r->action = kb_store_col_dup(s, 3);
        r->target = kb_store_col_dup(s, 4);
        r->address = kb_store_col_dup(s, 5);
        r->detail = kb_store_col_dup(s, 6);
        if (!r->actor || !r->action || !r->target || !r->address || !r->detail) {
            err = KB_ENOMEM;
            break;
        }
    }
    if (!err && rc != SQLITE_DONE)
        err = kb_store_fail(st, "audit");
    sqlite3_reset(s);
    if (err) {
        kb_audit_rows_free(v, k);
        return err;
    }
    *rows = v;
    *n = k;
    return KB_OK;
}
