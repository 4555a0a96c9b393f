/* kb/auth/auth.c: accounts, sessions, tokens, throttling and the audit log (see auth.h for
 * the roles and the session state machine).
 *
 * Passwords: Argon2id (libsodium crypto_pwhash_str, "interactive" limits: 64 MiB, about 0.1 s
 * here); at most two hashes run at once so that a burst of logins cannot take the memory. A
 * login that does not exist is checked against a hash of a random password, so that it costs
 * the same time as a wrong password: the answer never says whether a login exists.
 *
 * Throttling: every failed login takes a token from two buckets, the login's and the
 * address's (5 and 30 at once, then one a minute); while a bucket is empty, attempts are
 * refused with the time to wait, whatever the password, and refusals are audited too.
 *
 * Secrets (session ids, API tokens, CSRF tokens) are 256 random bits in URL-safe base64;
 * session ids and tokens are stored as BLAKE2b hashes, so that a copy of the database
 * logs nobody in. */
#include "kb/auth/auth.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "kb/base/log.h"
#include "kb/base/ratelimit.h"
#include "kb/store/accounts.h"
#include "kb/store/audit.h"

#define SEEN_EVERY_S 60         /* a session's seen_at is written at most once a minute */
#define TOKEN_AUDIT_EVERY_S 300 /* a token's use is audited at most every 5 minutes */

static const char *const role_names[] = {"", "agent", "editor", "publisher", "admin"};

const char *kb_auth_role_name(enum kb_role r)
{
    return (unsigned)r <= KB_ROLE_ADMIN ? role_names[r] : "";
}

bool kb_auth_role_parse(const char *name, enum kb_role *out)
{
    for (int r = KB_ROLE_AGENT; name && r <= KB_ROLE_ADMIN; r++)
        if (strcmp(name, role_names[r]) == 0) {
            *out = (enum kb_role)r;
            return true;
        }
    return false;
}

enum kb_store_scope kb_auth_scope(enum kb_role r)
{
    return r >= KB_ROLE_EDITOR ? KB_SCOPE_ALL : r == KB_ROLE_AGENT ? KB_SCOPE_INTERNAL
                                                                   : KB_SCOPE_PUBLIC;
}

/* ---- secrets ------------------------------------------------------------------------- */

static void random_secret(char out[KB_AUTH_SECRET_LEN + 1])
{
    unsigned char r[32];
    randombytes_buf(r, sizeof r);
    sodium_bin2base64(out, KB_AUTH_SECRET_LEN + 1, r, sizeof r,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(r, sizeof r);
}

static void hash_hex(const char *s, char hex[65])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)s, strlen(s), NULL, 0);
    sodium_bin2hex(hex, 65, h, sizeof h);
}

/* ---- password hashing, bounded ----------------------------------------------------- */

static pthread_mutex_t hash_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hash_cv = PTHREAD_COND_INITIALIZER;
static int hashing;
static char dummy_hash[crypto_pwhash_STRBYTES];

static void hash_enter(void)
{
    pthread_mutex_lock(&hash_mu);
    while (hashing >= 2)
        pthread_cond_wait(&hash_cv, &hash_mu);
    hashing++;
    pthread_mutex_unlock(&hash_mu);
}

static void hash_leave(void)
{
    pthread_mutex_lock(&hash_mu);
    hashing--;
    pthread_cond_signal(&hash_cv);
    pthread_mutex_unlock(&hash_mu);
}

static enum kb_err password_hash(const char *password, char out[crypto_pwhash_STRBYTES])
{
    hash_enter();
    int rc = crypto_pwhash_str(out, password, strlen(password),
                               crypto_pwhash_OPSLIMIT_INTERACTIVE,
                               crypto_pwhash_MEMLIMIT_INTERACTIVE);
    hash_leave();
    return rc == 0 ? KB_OK : KB_ENOMEM;
}

static bool password_ok(const char *hash, const char *password)
{
    hash_enter();
    bool ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
    hash_leave();
    return ok;
}

/* A hash that no password matches, for logins that do not exist (same work as a real one). */
static const char *dummy(void)
{
    pthread_mutex_lock(&hash_mu);
    bool have = dummy_hash[0] != 0;
    pthread_mutex_unlock(&hash_mu);
    if (!have) {
        char pw[KB_AUTH_SECRET_LEN + 1], h[crypto_pwhash_STRBYTES];
        random_secret(pw);
        if (password_hash(pw, h) == KB_OK) {
            pthread_mutex_lock(&hash_mu);
            if (!dummy_hash[0])
                memcpy(dummy_hash, h, sizeof h);
            pthread_mutex_unlock(&hash_mu);
        }
    }
    return dummy_hash;
}

/* ---- throttling ---------------------------------------------------------------------- */

#define BUCKET_LOGIN 0
#define BUCKET_ADDR 1
static const double fail_rate = 1.0 / 60.0, login_burst = 5, addr_burst = 30;

static pthread_mutex_t th_mu = PTHREAD_MUTEX_INITIALIZER;
static struct kb_rate_addrs *th;
static int64_t th_swept;

/* The key of a login in the throttle table (logins may be longer than an address). */
static void login_key(const char *login, char key[48])
{
    char lower[KB_AUTH_LOGIN_MAX + 1];
    size_t n = 0;
    for (; login[n] && n < KB_AUTH_LOGIN_MAX; n++)
        lower[n] = (char)tolower((unsigned char)login[n]);
    lower[n] = 0;
    char hex[65];
    hash_hex(lower, hex);
    snprintf(key, 48, "login:%.40s", hex);
}

/* Seconds until the bucket has a token again (0: it has one). */
static int wait_for(const struct kb_rate_bucket *b, double rate, double burst, int64_t now_ms)
{
    if (b->last_ms == 0)
        return 0;
    double tokens = b->tokens + rate * (double)(now_ms - b->last_ms) / 1000.0;
    if (tokens > burst)
        tokens = burst;
    return tokens >= 1.0 ? 0 : (int)((1.0 - tokens) / rate) + 1;
}

/* Under th_mu: the entries of a login and an address (created); NULL when out of memory. */
static bool th_entries(const char *login, const char *address, int64_t now_ms,
                       struct kb_rate_addr **l, struct kb_rate_addr **a)
{
    if (!th && kb_rate_addrs_new(&th) != KB_OK)
        return false;
    if (now_ms - th_swept > 60000) {
        kb_rate_addrs_sweep(th, 3600 * 1000, now_ms);
        th_swept = now_ms;
    }
    char key[48];
    login_key(login, key);
    *l = kb_rate_addrs_get(th, key, now_ms);
    *a = kb_rate_addrs_get(th, address && *address ? address : "-", now_ms);
    return *l && *a;
}

/* 0, or the seconds to wait before the next attempt of this login from this address. */
static int throttled(const char *login, const char *address, int64_t now_ms)
{
    struct kb_rate_addr *l, *a;
    int wait = 0;
    pthread_mutex_lock(&th_mu);
    if (th_entries(login, address, now_ms, &l, &a)) {
        int wl = wait_for(&l->b[BUCKET_LOGIN], fail_rate, login_burst, now_ms);
        int wa = wait_for(&a->b[BUCKET_ADDR], fail_rate, addr_burst, now_ms);
        wait = wl > wa ? wl : wa;
    }
    pthread_mutex_unlock(&th_mu);
    return wait;
}

static void failed(const char *login, const char *address, int64_t now_ms)
{
    struct kb_rate_addr *l, *a;
    pthread_mutex_lock(&th_mu);
    if (th_entries(login, address, now_ms, &l, &a)) {
        (void)kb_rate_take(&l->b[BUCKET_LOGIN], fail_rate, login_burst, now_ms);
        (void)kb_rate_take(&a->b[BUCKET_ADDR], fail_rate, addr_burst, now_ms);
    }
    pthread_mutex_unlock(&th_mu);
}

/* ---- background writes ------------------------------------------------------------- */

struct bg {
    enum { BG_AUDIT, BG_SEEN, BG_TOKEN_USED, BG_END } kind;
    int64_t at;
    char a[128], b[64], c[96], d[64]; /* actor/hash, action, target, address */
};

static enum kb_err bg_write(struct kb_store *st, void *arg)
{
    struct bg *j = arg;
    switch (j->kind) {
    case BG_AUDIT: return kb_store_audit_add(st, j->at, j->a, j->b, j->c, j->d, NULL);
    case BG_SEEN: return kb_store_session_seen(st, j->a, j->at);
    case BG_TOKEN_USED: return kb_store_token_used(st, j->a, j->at);
    case BG_END: return kb_store_session_end(st, j->a, j->at);
    }
    return KB_OK;
}

static void bg_done(void *arg, enum kb_err err)
{
    (void)err; /* best effort: a lost "seen" mark or audit line is logged by the writer */
    free(arg);
}

static void bg(struct kb_store_writer *w, int kind, int64_t at, const char *a, const char *b,
               const char *c, const char *d)
{
    if (!w)
        return;
    struct bg *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->kind = kind;
    j->at = at;
    snprintf(j->a, sizeof j->a, "%s", a ? a : "");
    snprintf(j->b, sizeof j->b, "%s", b ? b : "");
    snprintf(j->c, sizeof j->c, "%s", c ? c : "");
    snprintf(j->d, sizeof j->d, "%s", d ? d : "");
    if (kb_store_writer_submit(w, bg_write, bg_done, j) != KB_OK)
        free(j);
}

void kb_auth_audit(struct kb_store_writer *w, const char *actor, const char *action,
                   const char *target, const char *address)
{
    bg(w, BG_AUDIT, (int64_t)time(NULL), actor, action, target, address);
}

/* ---- who is calling ------------------------------------------------------------------ */

static pthread_mutex_t tok_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char hash[65];
    int64_t at;
} tok_audited[64];

/* True when a token's use should be audited now (at most every TOKEN_AUDIT_EVERY_S). */
static bool token_audit_due(const char *hash, int64_t now)
{
    pthread_mutex_lock(&tok_mu);
    size_t slot = 0, oldest = 0;
    bool found = false;
    for (size_t i = 0; i < sizeof tok_audited / sizeof tok_audited[0]; i++) {
        if (strcmp(tok_audited[i].hash, hash) == 0) {
            slot = i;
            found = true;
            break;
        }
        if (tok_audited[i].at < tok_audited[oldest].at)
            oldest = i;
    }
    if (!found)
        slot = oldest;
    bool due = !found || now - tok_audited[slot].at >= TOKEN_AUDIT_EVERY_S;
    if (due) {
        snprintf(tok_audited[slot].hash, sizeof tok_audited[slot].hash, "%s", hash);
        tok_audited[slot].at = now;
    }
    pthread_mutex_unlock(&tok_mu);
    return due;
}

static bool secret_shaped(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 20 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return false;
    return true;
}

enum kb_err kb_auth_caller(struct kb_store *st, struct kb_store_writer *w, const char *cookie,
                           const char *authorization, const char *address, int64_t now,
                           struct kb_auth_caller *out)
{
    memset(out, 0, sizeof *out);
    if (secret_shaped(cookie)) {
        char hash[65];
        hash_hex(cookie, hash);
        struct kb_session_row s;
        enum kb_err err = kb_store_session_get(st, hash, &s);
        if (err && err != KB_ENOTFOUND)
            return err;
        bool live = !err && !s.ended_at && now - s.created_at < KB_AUTH_SESSION_MAX_S &&
                    now - s.seen_at < KB_AUTH_IDLE_MAX_S;
        if (!err && !live && !s.ended_at)
            bg(w, BG_END, now, hash, NULL, NULL, NULL); /* expired: ended server side */
        struct kb_user_row *u = NULL;
        if (live && (err = kb_store_user_by_id(st, s.user_id, &u)) != KB_OK &&
            err != KB_ENOTFOUND)
            return err;
        enum kb_role role = KB_ROLE_NONE;
        if (live && u && !u->disabled && kb_auth_role_parse(u->role, &role)) {
            out->role = role;
            out->user_id = u->id;
            snprintf(out->login, sizeof out->login, "%s", u->login);
            snprintf(out->name, sizeof out->name, "%s", u->name);
            snprintf(out->csrf, sizeof out->csrf, "%.*s", KB_AUTH_SECRET_LEN, s.csrf);
            memcpy(out->session_hash, hash, sizeof hash);
            if (now - s.seen_at >= SEEN_EVERY_S)
                bg(w, BG_SEEN, now, hash, NULL, NULL, NULL);
        }
        kb_user_row_free(u);
        if (out->role)
            return KB_OK;
    }
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0 &&
        secret_shaped(authorization + 7)) {
        char hash[65], name[64], role_name[16];
        hash_hex(authorization + 7, hash);
        enum kb_err err = kb_store_token_get(st, hash, name, role_name);
        if (err && err != KB_ENOTFOUND)
            return err;
        enum kb_role role;
        if (!err && kb_auth_role_parse(role_name, &role)) {
            out->role = role;
            out->by_token = true;
            snprintf(out->login, sizeof out->login, "%s", name);
            snprintf(out->name, sizeof out->name, "%s", name);
            if (token_audit_due(hash, now)) {
                bg(w, BG_TOKEN_USED, now, hash, NULL, NULL, NULL);
                char actor[80];
                snprintf(actor, sizeof actor, "token:%s", name);
                bg(w, BG_AUDIT, now, actor, "token.use", NULL, address);
            }
        }
    }
    return KB_OK;
}

bool kb_auth_csrf_ok(const struct kb_auth_caller *c, const char *token)
{
    size_t n = strlen(c->csrf);
    return n && token && strlen(token) == n && sodium_memcmp(c->csrf, token, n) == 0;
}

/* ---- login and logout ---------------------------------------------------------------- */

struct new_session {
    const char *hash, *csrf;
    int64_t user_id, now;
    const char *login, *address;
};

static enum kb_err write_session(struct kb_store *st, void *arg)
{
    struct new_session *s = arg;
    enum kb_err err = kb_store_session_add(st, s->hash, s->user_id, s->csrf, s->now);
    if (!err)
        err = kb_store_audit_add(st, s->now, s->login, "login", NULL, s->address, NULL);
    return err;
}

enum kb_err kb_auth_login(struct kb_store *st, struct kb_store_writer *w, const char *login,
                          const char *password, const char *address, int64_t now,
                          char session_id[KB_AUTH_SECRET_LEN + 1], struct kb_auth_caller *out,
                          int *retry_after)
{
    memset(out, 0, sizeof *out);
    session_id[0] = 0;
    *retry_after = 0;
    if (!login || !password || strlen(login) > KB_AUTH_LOGIN_MAX ||
        strlen(password) > KB_AUTH_PASSWORD_MAX)
        return KB_EDENIED;
    int64_t now_ms = now * 1000;
    int wait = throttled(login, address, now_ms);
    if (wait) {
        *retry_after = wait;
        kb_auth_audit(w, login, "login.throttled", NULL, address);
        return KB_EBUSY;
    }
    struct kb_user_row *u = NULL;
    enum kb_err err = kb_store_user_by_login(st, login, &u);
    if (err && err != KB_ENOTFOUND)
        return err;
    bool ok = password_ok(u ? u->pwhash : dummy(), password);
    enum kb_role role = KB_ROLE_NONE;
    if (!ok || !u || u->disabled || !kb_auth_role_parse(u->role, &role)) {
        failed(login, address, now_ms);
        kb_auth_audit(w, login, "login.failed", NULL, address);
        kb_user_row_free(u);
        return KB_EDENIED;
    }
    char hash[65];
    random_secret(session_id);
    hash_hex(session_id, hash);
    random_secret(out->csrf);
    struct new_session ns = {hash, out->csrf, u->id, now, u->login, address};
    err = kb_store_writer_run(w, write_session, &ns);
    if (!err) {
        out->role = role;
        out->user_id = u->id;
        snprintf(out->login, sizeof out->login, "%s", u->login);
        snprintf(out->name, sizeof out->name, "%s", u->name);
        memcpy(out->session_hash, hash, sizeof hash);
    } else {
        sodium_memzero(session_id, KB_AUTH_SECRET_LEN + 1);
        memset(out, 0, sizeof *out);
    }
    kb_user_row_free(u);
    return err;
}

struct end_session {
    const char *hash, *login, *address;
    int64_t now;
};

static enum kb_err write_logout(struct kb_store *st, void *arg)
{
    struct end_session *e = arg;
    enum kb_err err = kb_store_session_end(st, e->hash, e->now);
    if (!err)
        err = kb_store_audit_add(st, e->now, e->login, "logout", NULL, e->address, NULL);
    return err;
}

enum kb_err kb_auth_logout(struct kb_store_writer *w, const struct kb_auth_caller *c,
                           const char *address, int64_t now)
{
    if (!c->session_hash[0])
        return KB_OK;
    struct end_session e = {c->session_hash, c->login, address, now};
    return kb_store_writer_run(w, write_logout, &e);
}

/* ---- the command line ---------------------------------------------------------------- */

static bool login_ok(const char *login)
{
    size_t n = strlen(login);
    if (n < 1 || n > KB_AUTH_LOGIN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)login[i]) && !strchr("._@-", login[i]))
            return false;
    return true;
}

static bool password_shape_ok(const char *pw)
{
    size_t n = strlen(pw);
    return n >= KB_AUTH_PASSWORD_MIN && n <= KB_AUTH_PASSWORD_MAX;
}

enum kb_err kb_auth_user_add(struct kb_store *st, const char *login, const char *name,
                             enum kb_role role, const char *password)
{
    if (!login_ok(login) || !password_shape_ok(password) || role == KB_ROLE_NONE ||
        strlen(name ? name : "") > 120)
        return KB_EINVAL;
    char h[crypto_pwhash_STRBYTES];
    enum kb_err err = password_hash(password, h);
    if (!err)
        err = kb_store_user_add(st, login, name ? name : "", kb_auth_role_name(role), h,
                                (int64_t)time(NULL), NULL);
    if (!err)
        err = kb_store_audit_add(st, (int64_t)time(NULL), "cli", "user.add", login, NULL,
                                 kb_auth_role_name(role));
    return err;
}

/* The end of a change to a user that ends their sessions (err: the change's own result), in
 * the transaction the caller began: the sessions ended, the audit entry, then the commit, or
 * the rollback on any error. */
static enum kb_err end_user_change(struct kb_store *st, const struct kb_user_row *u, int64_t now,
                                   const char *event, enum kb_err err)
{
    if (!err)
        err = kb_store_sessions_end_user(st, u->id, now);
    if (!err)
        err = kb_store_audit_add(st, now, "cli", event, u->login, NULL, NULL);
    if (err)
        kb_store_rollback(st);
    else
        err = kb_store_commit(st);
    return err;
}

enum kb_err kb_auth_user_passwd(struct kb_store *st, const char *login, const char *password)
{
    if (!password_shape_ok(password))
        return KB_EINVAL;
    char h[crypto_pwhash_STRBYTES];
    struct kb_user_row *u = NULL;
    enum kb_err err = kb_store_user_by_login(st, login, &u);
    if (!err)
        err = password_hash(password, h);
    int64_t now = (int64_t)time(NULL);
    if (!err)
        err = kb_store_begin(st);
    if (!err)
        err = end_user_change(st, u, now, "user.passwd",
                              kb_store_user_set_password(st, u->login, h, now));
    kb_user_row_free(u);
    return err;
}

enum kb_err kb_auth_user_disable(struct kb_store *st, const char *login)
{
    struct kb_user_row *u = NULL;
    enum kb_err err = kb_store_user_by_login(st, login, &u);
    int64_t now = (int64_t)time(NULL);
    if (!err)
        err = kb_store_begin(st);
    if (!err)
        err = end_user_change(st, u, now, "user.disable",
                              kb_store_user_set_disabled(st, u->login, true, now));
    kb_user_row_free(u);
    return err;
}

enum kb_err kb_auth_token_add(struct kb_store *st, const char *name, enum kb_role role,
                              char token[KB_AUTH_SECRET_LEN + 8])
{
    if (!login_ok(name) || role == KB_ROLE_NONE)
        return KB_EINVAL;
    char secret[KB_AUTH_SECRET_LEN + 1], hash[65];
    random_secret(secret);
    snprintf(token, KB_AUTH_SECRET_LEN + 8, "kbt_%s", secret);
    hash_hex(token, hash);
    int64_t now = (int64_t)time(NULL);
    enum kb_err err = kb_store_token_add(st, name, kb_auth_role_name(role), hash, now);
    if (!err)
        err = kb_store_audit_add(st, now, "cli", "token.add", name, NULL, kb_auth_role_name(role));
    if (err)
        sodium_memzero(token, KB_AUTH_SECRET_LEN + 8);
    sodium_memzero(secret, sizeof secret);
    return err;
}
