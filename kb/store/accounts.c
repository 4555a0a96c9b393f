/* kb/store/accounts.c: users, sessions and API tokens (see accounts.h).
 *
 *   users(id, login UNIQUE NOCASE, name, role agent|editor|publisher|admin, pwhash (Argon2id
 *         string), disabled, created_at, updated_at)
 *   sessions(id_hash PRIMARY KEY, user_id, csrf, created_at, seen_at, ended_at)
 *   api_tokens(id, name UNIQUE, role, token_hash UNIQUE, created_at, used_at, revoked_at) */
#include "kb/store/accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "kb/store/store_int.h"

#define USER_COLUMNS "id, login, name, role, pwhash, disabled, created_at, updated_at"

static const char SQL_USER_ADD[] =
    "INSERT INTO users(login, name, role, pwhash, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?5)";
static const char SQL_USER_BY_LOGIN[] = "SELECT " USER_COLUMNS " FROM users WHERE login = ?1";
static const char SQL_USER_BY_ID[] = "SELECT " USER_COLUMNS " FROM users WHERE id = ?1";
static const char SQL_USERS[] = "SELECT " USER_COLUMNS " FROM users ORDER BY login";
static const char SQL_USER_PASSWORD[] =
    "UPDATE users SET pwhash = ?2, updated_at = ?3 WHERE login = ?1";
static const char SQL_USER_DISABLED[] =
    "UPDATE users SET disabled = ?2, updated_at = ?3 WHERE login = ?1";
static const char SQL_SESSION_ADD[] =
    "INSERT INTO sessions(id_hash, user_id, csrf, created_at, seen_at) VALUES (?1, ?2, ?3, ?4, ?4)";
static const char SQL_SESSION_GET[] =
    "SELECT user_id, csrf, created_at, seen_at, coalesce(ended_at, 0) FROM sessions "
    "WHERE id_hash = ?1";
static const char SQL_SESSION_SEEN[] =
    "UPDATE sessions SET seen_at = max(seen_at, ?2) WHERE id_hash = ?1";
static const char SQL_SESSION_END[] =
    "UPDATE sessions SET ended_at = ?2 WHERE id_hash = ?1 AND ended_at IS NULL";
static const char SQL_SESSIONS_END_USER[] =
    "UPDATE sessions SET ended_at = ?2 WHERE user_id = ?1 AND ended_at IS NULL";
static const char SQL_TOKEN_ADD[] =
    "INSERT INTO api_tokens(name, role, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_TOKEN_GET[] =
    "SELECT name, role FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL";
static const char SQL_TOKEN_USED[] = "UPDATE api_tokens SET used_at = ?2 WHERE token_hash = ?1";

void kb_user_row_free(struct kb_user_row *r)
{
    if (!r)
        return;
    free(r->login);
    free(r->name);
    free(r->role);
    free(r->pwhash);
    free(r);
}

void kb_user_rows_free(struct kb_user_row **rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        kb_user_row_free(rows[i]);
    free(rows);
}

static struct kb_user_row *user_read(sqlite3_stmt *s)
{
    struct kb_user_row *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->id = sqlite3_column_int64(s, 0);
    r->login = kb_store_col_dup(s, 1);
    r->name = kb_store_col_dup(s, 2);
    r->role = kb_store_col_dup(s, 3);
    r->pwhash = kb_store_col_dup(s, 4);
    r->disabled = sqlite3_column_int(s, 5) != 0;
    r->created_at = sqlite3_column_int64(s, 6);
    r->updated_at = sqlite3_column_int64(s, 7);
    if (!r->login || !r->name || !r->role || !r->pwhash) {
        kb_user_row_free(r);
        return NULL;
    }
    return r;
}

/* Step a statement that writes; KB_ENOTFOUND when it changed nothing and must_change. */
static enum kb_err step_write(struct kb_store *st, sqlite3_stmt *s, bool must_change,
                              const char *what)
{
    int rc = sqlite3_step(s);
    enum kb_err err = rc == SQLITE_DONE ? KB_OK
                      : (rc & 0xff) == SQLITE_CONSTRAINT ? KB_EEXISTS
                                                          : kb_store_fail(st, what);
    if (!err && must_change && sqlite3_changes(st->db) == 0)
        err = KB_ENOTFOUND;
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_user_add(struct kb_store *st, const char *login, const char *name,
                              const char *role, const char *pwhash, int64_t now, int64_t *id)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_USER_ADD);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, login, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name ? name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, role, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, pwhash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, now);
    enum kb_err err = step_write(st, s, false, "user");
    if (!err && id)
        *id = sqlite3_last_insert_rowid(st->db);
    return err;
}

static enum kb_err user_one(struct kb_store *st, sqlite3_stmt *s, struct kb_user_row **out)
{
    int rc = sqlite3_step(s);
    enum kb_err err = KB_OK;
    if (rc == SQLITE_ROW)
        err = (*out = user_read(s)) ? KB_OK : KB_ENOMEM;
    else
        err = rc == SQLITE_DONE ? KB_ENOTFOUND : kb_store_fail(st, "user");
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_user_by_login(struct kb_store *st, const char *login,
                                   struct kb_user_row **out)
{
    *out = NULL;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_USER_BY_LOGIN);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, login, -1, SQLITE_STATIC);
    return user_one(st, s, out);
}

enum kb_err kb_store_user_by_id(struct kb_store *st, int64_t id, struct kb_user_row **out)
{
    *out = NULL;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_USER_BY_ID);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    return user_one(st, s, out);
}

enum kb_err kb_store_users_list(struct kb_store *st, struct kb_user_row ***rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_USERS);
    if (!s)
        return KB_EDB;
    enum kb_err err = KB_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct kb_user_row **p = realloc(*rows, (*n + 1) * sizeof *p);
        if (!p || !(p[*n] = user_read(s))) {
            if (p)
                *rows = p;
            err = KB_ENOMEM;
            break;
        }
        *rows = p;
        (*n)++;
    }
    if (!err && rc != SQLITE_DONE)
        err = kb_store_fail(st, "users");
    sqlite3_reset(s);
    if (err) {
        kb_user_rows_free(*rows, *n);
        *rows = NULL;
        *n = 0;
    }
    return err;
}

enum kb_err kb_store_user_set_password(struct kb_store *st, const char *login,
                                       const char *pwhash, int64_t now)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_USER_PASSWORD);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, login, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, pwhash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now);
    return step_write(st, s, true, "user");
}

enum kb_err kb_store_user_set_disabled(struct kb_store *st, const char *login, bool disabled,
                                       int64_t now)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_USER_DISABLED);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, login, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, disabled);
    sqlite3_bind_int64(s, 3, now);
    return step_write(st, s, true, "user");
}

enum kb_err kb_store_session_add(struct kb_store *st, const char *id_hash, int64_t user_id,
                                 const char *csrf, int64_t now)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_SESSION_ADD);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, id_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_text(s, 3, csrf, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now);
    return step_write(st, s, false, "session");
}

enum kb_err kb_store_session_get(struct kb_store *st, const char *id_hash,
                                 struct kb_session_row *out)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_SESSION_GET);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, id_hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    enum kb_err err = KB_OK;
    if (rc == SQLITE_ROW) {
        out->user_id = sqlite3_column_int64(s, 0);
        const char *c = (const char *)sqlite3_column_text(s, 1);
        snprintf(out->csrf, sizeof out->csrf, "%s", c ? c : "");
        out->created_at = sqlite3_column_int64(s, 2);
        out->seen_at = sqlite3_column_int64(s, 3);
        out->ended_at = sqlite3_column_int64(s, 4);
    } else {
        err = rc == SQLITE_DONE ? KB_ENOTFOUND : kb_store_fail(st, "session");
    }
    sqlite3_reset(s);
    return err;
}

static enum kb_err text_int(struct kb_store *st, const char *sql, const char *t, int64_t v,
                            const char *what)
{
    sqlite3_stmt *s = kb_store_stmt(st, sql);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, t, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, v);
    return step_write(st, s, false, what);
}

enum kb_err kb_store_session_seen(struct kb_store *st, const char *id_hash, int64_t now)
{
    return text_int(st, SQL_SESSION_SEEN, id_hash, now, "session");
}

enum kb_err kb_store_session_end(struct kb_store *st, const char *id_hash, int64_t now)
{
    return text_int(st, SQL_SESSION_END, id_hash, now, "session");
}

enum kb_err kb_store_sessions_end_user(struct kb_store *st, int64_t user_id, int64_t now)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_SESSIONS_END_USER);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, now);
    return step_write(st, s, false, "sessions");
}

enum kb_err kb_store_token_add(struct kb_store *st, const char *name, const char *role,
                               const char *token_hash, int64_t now)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_TOKEN_ADD);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, role, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, token_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now);
    return step_write(st, s, false, "token");
}

enum kb_err kb_store_token_get(struct kb_store *st, const char *token_hash, char name[64],
                               char role[16])
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_TOKEN_GET);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, token_hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    enum kb_err err = KB_OK;
    if (rc == SQLITE_ROW) {
        snprintf(name, 64, "%s", (const char *)sqlite3_column_text(s, 0));
        snprintf(role, 16, "%s", (const char *)sqlite3_column_text(s, 1));
    } else {
        err = rc == SQLITE_DONE ? KB_ENOTFOUND : kb_store_fail(st, "token");
    }
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_token_used(struct kb_store *st, const char *token_hash, int64_t now)
{
    return text_int(st, SQL_TOKEN_USED, token_hash, now, "token");
}
