/* kb/auth/auth.h: accounts and who a caller is: users and their roles, Argon2id password
 * hashes, sessions (cookie), API tokens (bearer), login throttling and the audit log. This is
 * the one place that turns a cookie or a token into a role; kb/http turns the role into a scope
 * once per request.
 *
 * Roles, each with what the ones before it have: agent (call-centre agents and sales reps:
 * public and internal published articles, cases, chats), editor (drafts and articles in
 * review too), publisher, admin.
 *
 * Session state machine (sessions table; the functions behind each move):
 *
 *   (none) ──kb_auth_login──► open ──kb_auth_caller (each request: seen_at kept)──► open
 *                              │──kb_auth_logout──────────────────────────────────► ended
 *                              │──10 h after login, or 1 h without a request──────► expired
 *                              └──the user disabled or given a new password───────► ended
 *   A new session id at every login: an id known before a login never becomes a session. */
#ifndef KB_AUTH_H
#define KB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"
#include "kb/store/writer.h"

enum kb_role { KB_ROLE_NONE = 0, KB_ROLE_AGENT, KB_ROLE_EDITOR, KB_ROLE_PUBLISHER, KB_ROLE_ADMIN };

#define KB_AUTH_SESSION_MAX_S (10 * 3600) /* a session ends 10 h after its login */
#define KB_AUTH_IDLE_MAX_S 3600           /* ... or after 1 h without a request */
#define KB_AUTH_SECRET_LEN 43             /* session ids, tokens, CSRF: 256 bits, base64url */
#define KB_AUTH_LOGIN_MAX 64
#define KB_AUTH_PASSWORD_MIN 10
#define KB_AUTH_PASSWORD_MAX 256

/* "agent", "editor", ...; "" for KB_ROLE_NONE. */
const char *kb_auth_role_name(enum kb_role r);
/* The role of a name; false when unknown. */
bool kb_auth_role_parse(const char *name, enum kb_role *out);
/* The store scope of a role: public (anonymous), internal (agents), all (editors and up). */
enum kb_store_scope kb_auth_scope(enum kb_role r);

/* Who is calling, decided by kb_auth_caller. */
struct kb_auth_caller {
    enum kb_role role;                   /* KB_ROLE_NONE: anonymous */
    int64_t user_id;                     /* 0 for anonymous and tokens */
    char login[KB_AUTH_LOGIN_MAX + 1];   /* or the token's name */
    char name[128];                      /* the user's display name */
    bool by_token;                       /* an API token (no CSRF: not a browser) */
    char csrf[KB_AUTH_SECRET_LEN + 1];   /* the session's CSRF token ("" for tokens) */
    char session_hash[65];               /* the session (for logout), "" otherwise */
};

/* The caller of a request: a session cookie's value (may be NULL), else an Authorization
 * header's value ("Bearer TOKEN", may be NULL), else anonymous. A session past its limits is
 * expired here; a disabled user's sessions give nothing. w (may be NULL) takes the "seen"
 * marks and token-use audit entries, written in the background. st: a reader. */
enum kb_err kb_auth_caller(struct kb_store *st, struct kb_store_writer *w, const char *cookie,
                           const char *authorization, const char *address, int64_t now,
                           struct kb_auth_caller *out) KB_MUST_CHECK;

/* Log in: on success a new session (its id into session_id: the cookie's value, given once,
 * stored hashed) and the caller. KB_EDENIED for a wrong pair, an unknown or disabled login
 * (the same answer, after the same work, whatever the reason); KB_EBUSY when the login or
 * the address failed too often lately (*retry_after seconds to wait). Every attempt is
 * audited. The session is written through w and committed before this returns. */
enum kb_err kb_auth_login(struct kb_store *st, struct kb_store_writer *w, const char *login,
                          const char *password, const char *address, int64_t now,
                          char session_id[KB_AUTH_SECRET_LEN + 1], struct kb_auth_caller *out,
                          int *retry_after) KB_MUST_CHECK;
/* End the caller's session (committed before it returns); audited. */
enum kb_err kb_auth_logout(struct kb_store_writer *w, const struct kb_auth_caller *c,
                           const char *address, int64_t now) KB_MUST_CHECK;
/* Constant-time check of a CSRF token sent with a state-changing request. */
bool kb_auth_csrf_ok(const struct kb_auth_caller *c, const char *token);

/* Queue an audit entry (actor, action, target, address; borrowed). */
void kb_auth_audit(struct kb_store_writer *w, const char *actor, const char *action,
                   const char *target, const char *address);

/* ---- the command line (kb user, kb token): direct writes on st ------------------------ */

/* A user with an Argon2id hash of password (10 to 256 bytes). KB_EEXISTS when taken;
 * KB_EINVAL for a malformed login (1-64 of [A-Za-z0-9._@-]) or password. */
enum kb_err kb_auth_user_add(struct kb_store *st, const char *login, const char *name,
                             enum kb_role role, const char *password) KB_MUST_CHECK;
/* A new password; the user's sessions end. */
enum kb_err kb_auth_user_passwd(struct kb_store *st, const char *login,
                                const char *password) KB_MUST_CHECK;
/* Disable a user; their sessions end. */
enum kb_err kb_auth_user_disable(struct kb_store *st, const char *login) KB_MUST_CHECK;
/* A new API token for an integration: printed once into token (its hash is stored). */
enum kb_err kb_auth_token_add(struct kb_store *st, const char *name, enum kb_role role,
                              char token[KB_AUTH_SECRET_LEN + 8]) KB_MUST_CHECK;

#endif
