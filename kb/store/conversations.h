/* kb/store/conversations.h: chat conversations and their messages (tables documented in
 * conversations.c). kb/chat owns the state machine; this file only reads and writes rows.
 * Writes run in the caller's transaction (the chat writes through kb/store/writer.h, so that a
 * message and the bot state it produced commit together). */
#ifndef KB_STORE_CONVERSATIONS_H
#define KB_STORE_CONVERSATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

/* A conversation row. Strings owned by the row, never NULL ("" when empty). */
struct kb_conversation_row {
    int64_t id;
    char *public_id;    /* the id cases and the CRM see; never the resume token */
    char *lang, *page;
    char *state;        /* bot | waiting | agent | ended */
    char *bot_state;    /* bot_user_export JSON */
    int64_t last_seq;
    char *outcome;      /* rule | article | case | abandoned | "" */
    int64_t consent_at; /* unix seconds, 0 when the customer has not consented */
    char *consent_text;
    int64_t created_at, updated_at, ended_at;
    /* the live takeover */
    int64_t agent_id;       /* the user holding it (state agent), 0 otherwise */
    char *agent_login, *agent_name; /* that user's, "" when none */
    int64_t waiting_since;  /* unix seconds it waits for an agent since (state waiting), 0 */
    char *token_hash;       /* the hex hash of its resume token */
};
void kb_conversation_row_free(struct kb_conversation_row *r); /* no-op on NULL */

/* Insert a new conversation in state "bot"; token_hash is the hex hash of the resume token.
 * *id receives its row id. */
enum kb_err kb_store_conversation_create(struct kb_store *st, const char *public_id,
                                         const char *token_hash, const char *lang,
                                         const char *page, int64_t now, int64_t *id) KB_MUST_CHECK;
/* The conversation whose resume token hashes to token_hash, or with that row id; KB_ENOTFOUND
 * otherwise. *out owned by the caller. */
enum kb_err kb_store_conversation_by_token(struct kb_store *st, const char *token_hash,
                                           struct kb_conversation_row **out) KB_MUST_CHECK;
enum kb_err kb_store_conversation_get(struct kb_store *st, int64_t id,
                                      struct kb_conversation_row **out) KB_MUST_CHECK;

/* After a turn: the bot state it left, the last sequence number, the outcome so far (NULL
 * keeps it), the consent (at 0: unchanged), the state (NULL keeps it) and the time. */
struct kb_conversation_update {
    const char *bot_state;
    int64_t last_seq;
    const char *outcome;
    int64_t consent_at;
    const char *consent_text;
    const char *state;
    const char *page;
    int64_t now;
    /* The live takeover: when handoff is true, agent_id and waiting_since are set to these
     * (0: none); otherwise they are kept. */
    bool handoff;
    int64_t agent_id, waiting_since;
};
enum kb_err kb_store_conversation_update(struct kb_store *st, int64_t id,
                                         const struct kb_conversation_update *u) KB_MUST_CHECK;
/* End it: state "ended", ended_at = now, outcome = outcome unless one was recorded. */
enum kb_err kb_store_conversation_end(struct kb_store *st, int64_t id, const char *outcome,
                                      int64_t now) KB_MUST_CHECK;
/* Ids of conversations not ended and not updated since `before` (at most max; *ids malloc'd,
 * caller frees). */
enum kb_err kb_store_conversations_idle(struct kb_store *st, int64_t before, size_t max,
                                        int64_t **ids, size_t *n) KB_MUST_CHECK;

/* The conversations waiting for an agent or held by one (at most max, oldest first; *rows
 * malloc'd: kb_conversation_rows_free), so that a restart finds them where they were. */
enum kb_err kb_store_conversations_handoff(struct kb_store *st, size_t max,
                                           struct kb_conversation_row ***rows,
                                           size_t *n) KB_MUST_CHECK;
void kb_conversation_rows_free(struct kb_conversation_row **rows, size_t n);
/* An agent takes conversation id: state agent, agent_id, waiting_since cleared, only when it
 * is waiting (*taken false and nothing changed otherwise: another agent was first). The
 * writer's transactions are serial, so of two agents racing for it exactly one takes it. */
enum kb_err kb_store_conversation_take(struct kb_store *st, int64_t id, int64_t agent_id,
                                       int64_t now, bool *taken) KB_MUST_CHECK;

/* A message row. Strings owned, never NULL except extra and client_id (NULL when none). */
struct kb_message_row {
    int64_t seq;
    char *sender;    /* customer | bot | agent | system */
    char *client_id; /* the client's id of a customer message */
    char *text;
    char *extra;     /* JSON object: quick_replies, articles (bot messages); name, login,
                      * articles (agent messages); ref (a case), handoff and name (system) */
    int64_t at;      /* unix seconds */
};
void kb_message_rows_free(struct kb_message_row *rows, size_t n);

enum kb_err kb_store_message_add(struct kb_store *st, int64_t conversation_id, int64_t seq,
                                 const char *sender, const char *client_id, const char *text,
                                 const char *extra, int64_t at) KB_MUST_CHECK;
/* Messages with seq > after, oldest first, at most max. *rows malloc'd: kb_message_rows_free. */
enum kb_err kb_store_messages_after(struct kb_store *st, int64_t conversation_id, int64_t after,
                                    size_t max, struct kb_message_row **rows,
                                    size_t *n) KB_MUST_CHECK;
/* The seq of the customer message with that client id; KB_ENOTFOUND when there is none. */
enum kb_err kb_store_message_by_client_id(struct kb_store *st, int64_t conversation_id,
                                          const char *client_id, int64_t *seq) KB_MUST_CHECK;

#endif
