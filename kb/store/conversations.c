/* kb/store/conversations.c: conversations and messages (see conversations.h).
 *
 *   conversations(id, public_id UNIQUE, token_hash UNIQUE, lang, page,
 *                 state bot|waiting|agent|ended, bot_state JSON, last_seq,
 *                 outcome rule|article|case|abandoned, consent_at, consent_text,
 *                 created_at, updated_at, ended_at,
 *                 agent_id (users.id, state agent), waiting_since (state waiting))
 *   messages(conversation_id, seq, sender customer|bot|agent|system, client_id, text,
 *            extra JSON, at)  PRIMARY KEY (conversation_id, seq);
 *            UNIQUE (conversation_id, client_id) for customer messages
 *
 * The resume token itself is never stored: only its hash (kb/chat hashes it), so that a copy
 * of the database does not let anyone resume a customer's conversation. */
#include "kb/store/conversations.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "kb/store/store_int.h"

#define CONV_COLUMNS                                                                          \
    "c.id, c.public_id, c.lang, c.page, c.state, c.bot_state, c.last_seq, "                   \
    "coalesce(c.outcome, ''), coalesce(c.consent_at, 0), coalesce(c.consent_text, ''), "      \
    "c.created_at, c.updated_at, coalesce(c.ended_at, 0), coalesce(c.agent_id, 0), "          \
    "coalesce(u.login, ''), coalesce(nullif(u.name, ''), u.login, ''), "                      \
    "coalesce(c.waiting_since, 0), c.token_hash "                                            \
    "FROM conversations c LEFT JOIN users u ON u.id = c.agent_id"

static const char SQL_CONV_CREATE[] =
    "INSERT INTO conversations(public_id, token_hash, lang, page, state, created_at, "
    "updated_at) VALUES (?1, ?2, ?3, ?4, 'bot', ?5, ?5)";

static const char SQL_CONV_BY_TOKEN[] = "SELECT " CONV_COLUMNS " WHERE c.token_hash = ?1";

static const char SQL_CONV_GET[] = "SELECT " CONV_COLUMNS " WHERE c.id = ?1";

static const char SQL_CONV_HANDOFF[] =
    "SELECT " CONV_COLUMNS " WHERE c.state IN ('waiting', 'agent') ORDER BY c.id LIMIT ?1";

static const char SQL_CONV_TAKE[] =
    "UPDATE conversations SET state = 'agent', agent_id = ?2, waiting_since = NULL, "
    "updated_at = ?3 WHERE id = ?1 AND state = 'waiting'";

static const char SQL_CONV_UPDATE[] =
    "UPDATE conversations SET bot_state = coalesce(?2, bot_state), last_seq = ?3, "
    "outcome = coalesce(?4, outcome), "
    "consent_at = CASE WHEN ?5 > 0 THEN ?5 ELSE consent_at END, "
    "consent_text = CASE WHEN ?5 > 0 THEN ?6 ELSE consent_text END, "
    "state = coalesce(?7, state), page = coalesce(?8, page), updated_at = ?9, "
    "agent_id = CASE WHEN ?10 THEN nullif(?11, 0) ELSE agent_id END, "
    "waiting_since = CASE WHEN ?10 THEN nullif(?12, 0) ELSE waiting_since END WHERE id = ?1";

static const char SQL_CONV_END[] =
    "UPDATE conversations SET state = 'ended', ended_at = ?3, updated_at = ?3, "
    "outcome = coalesce(outcome, ?2) WHERE id = ?1 AND state <> 'ended'";

static const char SQL_CONV_IDLE[] =
    "SELECT id FROM conversations WHERE state <> 'ended' AND updated_at < ?1 "
    "ORDER BY updated_at LIMIT ?2";

static const char SQL_MSG_ADD[] =
    "INSERT INTO messages(conversation_id, seq, sender, client_id, text, extra, at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

static const char SQL_MSG_AFTER[] =
    "SELECT seq, sender, client_id, text, extra, at FROM messages "
    "WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";

static const char SQL_MSG_CLIENT[] =
    "SELECT seq FROM messages WHERE conversation_id = ?1 AND client_id = ?2";

void kb_conversation_row_free(struct kb_conversation_row *r)
{
    if (!r)
        return;
    free(r->public_id);
    free(r->lang);
    free(r->page);
    free(r->state);
    free(r->bot_state);
    free(r->outcome);
    free(r->consent_text);
    free(r->agent_login);
    free(r->agent_name);
    free(r->token_hash);
    free(r);
}

void kb_conversation_rows_free(struct kb_conversation_row **rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        kb_conversation_row_free(rows[i]);
    free(rows);
}

static enum kb_err conv_read(struct kb_store *st, sqlite3_stmt *s,
                             struct kb_conversation_row **out)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return KB_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return kb_store_fail(st, "conversation");
    struct kb_conversation_row *r = calloc(1, sizeof *r);
    if (!r)
        return KB_ENOMEM;
    r->id = sqlite3_column_int64(s, 0);
    r->public_id = kb_store_col_dup(s, 1);
    r->lang = kb_store_col_dup(s, 2);
    r->page = kb_store_col_dup(s, 3);
    r->state = kb_store_col_dup(s, 4);
    r->bot_state = kb_store_col_dup(s, 5);
    r->last_seq = sqlite3_column_int64(s, 6);
    r->outcome = kb_store_col_dup(s, 7);
    r->consent_at = sqlite3_column_int64(s, 8);
    r->consent_text = kb_store_col_dup(s, 9);
    r->created_at = sqlite3_column_int64(s, 10);
    r->updated_at = sqlite3_column_int64(s, 11);
    r->ended_at = sqlite3_column_int64(s, 12);
    r->agent_id = sqlite3_column_int64(s, 13);
    r->agent_login = kb_store_col_dup(s, 14);
    r->agent_name = kb_store_col_dup(s, 15);
    r->waiting_since = sqlite3_column_int64(s, 16);
    r->token_hash = kb_store_col_dup(s, 17);
    if (!r->public_id || !r->lang || !r->page || !r->state || !r->bot_state || !r->outcome ||
        !r->consent_text || !r->agent_login || !r->agent_name || !r->token_hash) {
        kb_conversation_row_free(r);
        return KB_ENOMEM;
    }
    *out = r;
    return KB_OK;
}

enum kb_err kb_store_conversation_create(struct kb_store *st, const char *public_id,
                                         const char *token_hash, const char *lang,
                                         const char *page, int64_t now, int64_t *id)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CONV_CREATE);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, public_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, token_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, lang, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, page ? page : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, now);
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "conversation");
    sqlite3_reset(s);
    if (!err)
        *id = sqlite3_last_insert_rowid(st->db);
    return err;
}

enum kb_err kb_store_conversation_by_token(struct kb_store *st, const char *token_hash,
                                           struct kb_conversation_row **out)
{
    *out = NULL;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CONV_BY_TOKEN);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, token_hash, -1, SQLITE_STATIC);
    enum kb_err err = conv_read(st, s, out);
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_conversation_get(struct kb_store *st, int64_t id,
                                      struct kb_conversation_row **out)
{
    *out = NULL;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CONV_GET);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    enum kb_err err = conv_read(st, s, out);
    sqlite3_reset(s);
    return err;
}

static void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

enum kb_err kb_store_conversation_update(struct kb_store *st, int64_t id,
                                         const struct kb_conversation_update *u)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CONV_UPDATE);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    bind_opt(s, 2, u->bot_state);
    sqlite3_bind_int64(s, 3, u->last_seq);
    bind_opt(s, 4, u->outcome && *u->outcome ? u->outcome : NULL);
    sqlite3_bind_int64(s, 5, u->consent_at);
    bind_opt(s, 6, u->consent_text);
    bind_opt(s, 7, u->state);
    bind_opt(s, 8, u->page);
    sqlite3_bind_int64(s, 9, u->now);
    sqlite3_bind_int(s, 10, u->handoff);
    sqlite3_bind_int64(s, 11, u->agent_id);
    sqlite3_bind_int64(s, 12, u->waiting_since);
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "conversation");
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_conversations_handoff(struct kb_store *st, size_t max,
                                           struct kb_conversation_row ***rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CONV_HANDOFF);
    if (!s)
        return KB_EDB;
    struct kb_conversation_row **v = calloc(max ? max : 1, sizeof *v);
    if (!v)
        return KB_ENOMEM;
    sqlite3_bind_int64(s, 1, (int64_t)max);
    enum kb_err err = KB_OK;
    size_t k = 0;
    while (k < max) {
        err = conv_read(st, s, &v[k]);
        if (err)
            break;
        k++;
    }
    sqlite3_reset(s);
    if (err == KB_ENOTFOUND || k == max)
        err = KB_OK;
    if (err) {
        kb_conversation_rows_free(v, k);
        return err;
    }
    *rows = v;
    *n = k;
    return KB_OK;
}

enum kb_err kb_store_conversation_take(struct kb_store *st, int64_t id, int64_t agent_id,
                                       int64_t now, bool *taken)
{
    *taken = false;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CONV_TAKE);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, agent_id);
    sqlite3_bind_int64(s, 3, now);
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "conversation");
    sqlite3_reset(s);
    if (!err)
        *taken = sqlite3_changes(st->db) == 1;
    return err;
}

enum kb_err kb_store_conversation_end(struct kb_store *st, int64_t id, const char *outcome,
                                      int64_t now)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CONV_END);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    bind_opt(s, 2, outcome);
    sqlite3_bind_int64(s, 3, now);
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "conversation");
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_conversations_idle(struct kb_store *st, int64_t before, size_t max,
                                        int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_CONV_IDLE);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, before);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    int64_t *v = calloc(max ? max : 1, sizeof *v);
    if (!v) {
        sqlite3_reset(s);
        return KB_ENOMEM;
    }
    size_t k = 0;
    int rc;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        v[k++] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    *ids = v;
    *n = k;
    return KB_OK;
}

void kb_message_rows_free(struct kb_message_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].sender);
        free(rows[i].client_id);
        free(rows[i].text);
        free(rows[i].extra);
    }
    free(rows);
}

enum kb_err kb_store_message_add(struct kb_store *st, int64_t conversation_id, int64_t seq,
                                 const char *sender, const char *client_id, const char *text,
                                 const char *extra, int64_t at)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_MSG_ADD);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, conversation_id);
    sqlite3_bind_int64(s, 2, seq);
    sqlite3_bind_text(s, 3, sender, -1, SQLITE_STATIC);
    bind_opt(s, 4, client_id);
    sqlite3_bind_text(s, 5, text, -1, SQLITE_STATIC);
    bind_opt(s, 6, extra);
    sqlite3_bind_int64(s, 7, at);
    int rc = sqlite3_step(s);
    enum kb_err err = rc == SQLITE_DONE ? KB_OK
                      : (rc & 0xff) == SQLITE_CONSTRAINT ? KB_EEXISTS
                                                          : kb_store_fail(st, "message");
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_messages_after(struct kb_store *st, int64_t conversation_id, int64_t after,
                                    size_t max, struct kb_message_row **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_MSG_AFTER);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, conversation_id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, (int64_t)max);
    enum kb_err err = KB_OK;
    struct kb_message_row *v = NULL;
    size_t k = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct kb_message_row *p = realloc(v, ncap * sizeof *p);
            if (!p) {
                err = KB_ENOMEM;
                break;
            }
            v = p;
            cap = ncap;
        }
        struct kb_message_row *m = &v[k++];
        memset(m, 0, sizeof *m);
        m->seq = sqlite3_column_int64(s, 0);
        m->sender = kb_store_col_dup(s, 1);
        m->client_id = sqlite3_column_type(s, 2) == SQLITE_NULL ? NULL : kb_store_col_dup(s, 2);
        m->text = kb_store_col_dup(s, 3);
        m->extra = sqlite3_column_type(s, 4) == SQLITE_NULL ? NULL : kb_store_col_dup(s, 4);
        m->at = sqlite3_column_int64(s, 5);
        if (!m->sender || !m->text) {
            err = KB_ENOMEM;
            break;
        }
    }
    if (!err && rc != SQLITE_DONE)
        err = kb_store_fail(st, "messages");
    sqlite3_reset(s);
    if (err) {
        kb_message_rows_free(v, k);
        return err;
    }
    *rows = v;
    *n = k;
    return KB_OK;
}

enum kb_err kb_store_message_by_client_id(struct kb_store *st, int64_t conversation_id,
                                          const char *client_id, int64_t *seq)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_MSG_CLIENT);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, conversation_id);
    sqlite3_bind_text(s, 2, client_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    enum kb_err err = KB_OK;
    if (rc == SQLITE_ROW)
        *seq = sqlite3_column_int64(s, 0);
    else
        err = rc == SQLITE_DONE ? KB_ENOTFOUND : kb_store_fail(st, "message");
    sqlite3_reset(s);
    return err;
}
