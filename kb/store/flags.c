/* kb/store/flags.c: flags on articles (see flags.h for the states).
 *
 *   article_flags(id, article_id, reason, comment, author, at, status, handled_by,
 *                 handled_at)
 *     reason   'wrong' | 'outdated' | 'missing' (CHECK)
 *     status   'open' | 'handled' (CHECK); handled_by and handled_at say who moved it last
 *              and when (NULL while it was never handled)
 *     author   the login that raised it, or "token:NAME": kept as text, so that the list
 *              still says who when an account is gone
 *   indexes: (status, id) for the editors' list, (article_id) for an article's flags. */
#include "kb/store/flags.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "kb/store/store_int.h"

static const char SQL_ADD[] =
    "INSERT INTO article_flags(article_id, reason, comment, author, at) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_SET[] =
    "UPDATE article_flags SET status = ?2, handled_by = ?3, handled_at = ?4 "
    "WHERE id = ?1 AND status <> ?2";
static const char SQL_EXISTS[] = "SELECT 1 FROM article_flags WHERE id = ?1";

#define FLAG_COLUMNS                                                                      \
    "f.id, f.article_id, f.at, coalesce(f.handled_at, 0), a.slug, a.title, a.lang, "      \
    "f.reason, f.comment, f.author, f.status, coalesce(f.handled_by, '')"
static const char SQL_LIST[] =
    "SELECT " FLAG_COLUMNS " FROM article_flags f JOIN articles a ON a.id = f.article_id "
    "WHERE (?1 IS NULL OR f.status = ?1) ORDER BY f.id DESC LIMIT ?2 OFFSET ?3";
static const char SQL_COUNT[] =
    "SELECT count(*) FROM article_flags WHERE (?1 IS NULL OR status = ?1)";
static const char SQL_GET[] =
    "SELECT " FLAG_COLUMNS " FROM article_flags f JOIN articles a ON a.id = f.article_id "
    "WHERE f.id = ?1";

static bool one_of(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

bool kb_flag_reason_valid(const char *reason)
{
    return one_of(reason, (const char *const[]){"wrong", "outdated", "missing", NULL});
}

bool kb_flag_status_valid(const char *status)
{
    return one_of(status, (const char *const[]){"open", "handled", NULL});
}

enum kb_err kb_store_flag_add(struct kb_store *st, int64_t article_id, const char *reason,
                              const char *comment, const char *author, int64_t at, int64_t *id)
{
    *id = 0;
    if (!kb_flag_reason_valid(reason) || (comment && strlen(comment) > KB_FLAG_COMMENT_MAX))
        return KB_EINVAL;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_ADD);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, article_id);
    sqlite3_bind_text(s, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, comment ? comment : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, author, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, at);
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "flag");
    sqlite3_reset(s);
    if (!err)
        *id = sqlite3_last_insert_rowid(st->db);
    return err;
}

enum kb_err kb_store_flag_set(struct kb_store *st, int64_t id, const char *status,
                              const char *actor, int64_t at, bool *changed)
{
    *changed = false;
    if (!kb_flag_status_valid(status))
        return KB_EINVAL;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_SET);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, actor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, at);
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "flag set");
    sqlite3_reset(s);
    if (err)
        return err;
    *changed = sqlite3_changes(st->db) > 0;
    if (*changed)
        return KB_OK;
    if (!(s = kb_store_stmt(st, SQL_EXISTS)))
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? KB_OK : rc == SQLITE_DONE ? KB_ENOTFOUND : kb_store_fail(st, "flag");
}

void kb_flags_free(struct kb_flag *flags, size_t n)
{
    for (size_t i = 0; flags && i < n; i++) {
        struct kb_flag *f = &flags[i];
        char *strs[] = {f->slug,   f->title,  f->lang,   f->reason,
                        f->comment, f->author, f->status, f->handled_by};
        for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
            free(strs[k]);
    }
    free(flags);
}

/* Read every row of s (FLAG_COLUMNS) into *flags. */
static enum kb_err collect(struct kb_store *st, sqlite3_stmt *s, struct kb_flag **flags,
                           size_t *n)
{
    struct kb_flag *v = NULL;
    size_t k = 0;
    enum kb_err err = KB_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct kb_flag *p = realloc(v, (k + 1) * sizeof *p);
        if (!p) {
            err = KB_ENOMEM;
            break;
        }
        v = p;
        struct kb_flag *f = &v[k++];
        memset(f, 0, sizeof *f);
        f->id = sqlite3_column_int64(s, 0);
        f->article_id = sqlite3_column_int64(s, 1);
        f->at = sqlite3_column_int64(s, 2);
        f->handled_at = sqlite3_column_int64(s, 3);
        char **strs[] = {&f->slug,    &f->title,  &f->lang,   &f->reason,
                         &f->comment, &f->author, &f->status, &f->handled_by};
        for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
            if (!(*strs[i] = kb_store_col_dup(s, (int)i + 4)))
                err = KB_ENOMEM;
        if (err)
            break;
    }
    if (!err && rc != SQLITE_DONE)
        err = kb_store_fail(st, "flags");
    sqlite3_reset(s);
    if (err) {
        kb_flags_free(v, k);
        return err;
    }
    *flags = v;
    *n = k;
    return KB_OK;
}

enum kb_err kb_store_flags_list(struct kb_store *st, const char *status, size_t limit,
                                size_t offset, struct kb_flag **flags, size_t *n,
                                int64_t *total)
{
    *flags = NULL;
    *n = 0;
    *total = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_COUNT);
    if (!s)
        return KB_EDB;
    if (status)
        sqlite3_bind_text(s, 1, status, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *total = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return kb_store_fail(st, "flags count");
    if (!(s = kb_store_stmt(st, SQL_LIST)))
        return KB_EDB;
    if (status)
        sqlite3_bind_text(s, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)limit);
    sqlite3_bind_int64(s, 3, (int64_t)offset);
    return collect(st, s, flags, n);
}

enum kb_err kb_store_flag_get(struct kb_store *st, int64_t id, struct kb_flag **out)
{
    *out = NULL;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_GET);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    size_t n = 0;
    enum kb_err err = collect(st, s, out, &n);
    if (!err && n == 0)
        err = KB_ENOTFOUND;
    return err;
}
