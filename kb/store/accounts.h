/* kb/store/accounts.h: users, their sessions and the integrations' API tokens (tables
 * documented in accounts.c). kb/auth owns passwords, roles and the rules; this file reads and
 * writes rows. Secrets are never stored: password hashes (Argon2id strings), and hashes of
 * session ids and tokens. */
#ifndef KB_STORE_ACCOUNTS_H
#define KB_STORE_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

/* A user. Strings owned, never NULL. */
struct kb_user_row {
    int64_t id;
    char *login, *name, *role, *pwhash;
    bool disabled;
    int64_t created_at, updated_at;
};
void kb_user_row_free(struct kb_user_row *r); /* no-op on NULL */
void kb_user_rows_free(struct kb_user_row **rows, size_t n);

/* Insert; KB_EEXISTS when the login (case aside) is taken. *id may be NULL. */
enum kb_err kb_store_user_add(struct kb_store *st, const char *login, const char *name,
                              const char *role, const char *pwhash, int64_t now,
                              int64_t *id) KB_MUST_CHECK;
/* By login (case aside) or id; KB_ENOTFOUND otherwise. *out owned by the caller. */
enum kb_err kb_store_user_by_login(struct kb_store *st, const char *login,
                                   struct kb_user_row **out) KB_MUST_CHECK;
enum kb_err kb_store_user_by_id(struct kb_store *st, int64_t id,
                                struct kb_user_row **out) KB_MUST_CHECK;
/* Every user by login. */
enum kb_err kb_store_users_list(struct kb_store *st, struct kb_user_row ***rows,
                                size_t *n) KB_MUST_CHECK;
/* Set the password hash, or the disabled flag; KB_ENOTFOUND for an unknown login. A disabled
 * user's sessions end with it (kb_store_sessions_end_user). */
enum kb_err kb_store_user_set_password(struct kb_store *st, const char *login,
                                       const char *pwhash, int64_t now) KB_MUST_CHECK;
enum kb_err kb_store_user_set_disabled(struct kb_store *st, const char *login, bool disabled,
                                       int64_t now) KB_MUST_CHECK;

/* A session: its user, its CSRF token and times. */
struct kb_session_row {
    int64_t user_id;
    char csrf[64];
    int64_t created_at, seen_at, ended_at; /* ended_at 0: open */
};
enum kb_err kb_store_session_add(struct kb_store *st, const char *id_hash, int64_t user_id,
                                 const char *csrf, int64_t now) KB_MUST_CHECK;
enum kb_err kb_store_session_get(struct kb_store *st, const char *id_hash,
                                 struct kb_session_row *out) KB_MUST_CHECK;
/* Mark it used at now (kept coarse by the caller). */
enum kb_err kb_store_session_seen(struct kb_store *st, const char *id_hash, int64_t now) KB_MUST_CHECK;
enum kb_err kb_store_session_end(struct kb_store *st, const char *id_hash, int64_t now) KB_MUST_CHECK;
/* End every open session of a user (disabled, or a new password). */
enum kb_err kb_store_sessions_end_user(struct kb_store *st, int64_t user_id, int64_t now) KB_MUST_CHECK;

/* API tokens. */
enum kb_err kb_store_token_add(struct kb_store *st, const char *name, const char *role,
                               const char *token_hash, int64_t now) KB_MUST_CHECK;
/* The token with that hash, not revoked: its name (64 bytes) and role (16 bytes). */
enum kb_err kb_store_token_get(struct kb_store *st, const char *token_hash, char name[64],
                               char role[16]) KB_MUST_CHECK;
enum kb_err kb_store_token_used(struct kb_store *st, const char *token_hash, int64_t now) KB_MUST_CHECK;

#endif
