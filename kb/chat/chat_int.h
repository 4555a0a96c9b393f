/* kb/chat/chat_int.h: what the files of kb/chat share and nobody else sees.
 *
 * Threads: one websocket thread (server.c) owns every connection; N workers (conversation.c)
 * run the bot; the store's writer thread commits and then calls back into conversation.c.
 * They talk through two queues: the engine's (jobs for conversations, under the engine lock)
 * and the websocket thread's inbox (frames to send, attachments, closes; under its own lock,
 * woken with lws_cancel_service). */
#ifndef KB_CHAT_INT_H
#define KB_CHAT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kb/base/err.h"
#include "kb/chat/chat.h"
#include "kb/chat/frames.h"
#include "kb/crm/crm.h"

struct bot_brain;
struct kb_article_row;
struct kb_store;
struct search_index;

/* ---- rules.c: the brains, one per language, swapped whole when an import changes them -- */

#define CHAT_LANGS_MAX 32

struct chat_brains {
    unsigned gen;    /* increases with every load */
    size_t n;
    char lang[CHAT_LANGS_MAX][KB_CHAT_LANG_MAX + 1];
    struct bot_brain *brain[CHAT_LANGS_MAX];
    char fingerprint[65];
    int refs;        /* under the rules lock; the current set holds one */
};
/* The current set with a reference (release it), NULL when no rules are loaded. */
struct chat_brains *chat_brains_acquire(void);
void chat_brains_release(struct chat_brains *b);
/* lang's brain in b, NULL when none. */
struct bot_brain *chat_brains_find(const struct chat_brains *b, const char *lang);
/* Load the rules from st when they changed since the last load (*changed tells) and make them
 * current; conversations pick them up at their next message. */
enum kb_err chat_rules_refresh(struct kb_store *st, bool *changed) KB_MUST_CHECK;
/* Drop the current set (its brains are freed once no turn uses them). */
void chat_rules_clear(void);

/* ---- host.c: the context of one turn, what <call>s reach ----------------------------- */

struct chat_conv;

/* A case opened during a turn, written with the turn's messages. */
struct chat_case {
    char ref[KB_CRM_REF_MAX];
    int year;
    int64_t number;
    struct kb_crm_case_new data; /* strings and JSON below are owned here */
    char *subject, *name, *email, *phone, *consent_text;
    json_t *transcript, *articles;
};
void chat_case_free(struct chat_case *c);

struct chat_turn {
    struct chat_conv *conv;     /* exclusive to this worker during the turn */
    struct kb_store *st;        /* the worker's connection (reads) */
    struct search_index *idx;   /* the worker's reader; NULL when the index cannot be opened */
    const char *raw;            /* the customer's message as typed */
    int64_t customer_seq;       /* the seq the customer's message will have */
    int64_t now;                /* unix seconds */
    json_t *articles;           /* attached to the reply: [{slug,title,url,summary}] */
    json_t *quick;              /* quick replies: ["Oui","Non"] */
    bool searched;              /* kb_search ran */
    struct chat_case *opened;   /* a case this turn opened, NULL otherwise */
    bool server_error;          /* a <call> failed for want of the database */
    bool handoff;               /* <call>handoff</call> ran within the hours: wait for a person */
};
/* Register the host functions on a brain of the chat (the turn comes from
 * bot_call_context). */
enum kb_err chat_host_register(struct bot_brain *b) KB_MUST_CHECK;
/* An article card {slug, title, url, summary}, the summary cut from text (the article's plain
 * text, or its start); NULL when out of memory. New reference; the strings stay the caller's. */
json_t *chat_card(const char *slug, const char *title, const char *text);
/* Every stored message of conversation conv_id as a case transcript [{seq, from, text, at}],
 * an agent's also with its name and login, and the articles shown in it [{slug, title,
 * url}], read with st. New references in *transcript and *articles (set even on error). */
enum kb_err chat_transcript(struct kb_store *st, int64_t conv_id, json_t **transcript,
                            json_t **articles) KB_MUST_CHECK;
/* Record the customer's consent on conv if the user variable `consent` says yes and none was
 * recorded yet: when, and to the bot's last message before this turn. */
void chat_conv_consent(struct chat_conv *c, const char *consent_var, int64_t now);

/* ---- conversation.c: the engine ------------------------------------------------------ */

enum kb_err chat_engine_start(const struct kb_chat_config *cfg) KB_MUST_CHECK;
void chat_engine_stop(void);
/* From the websocket thread. Each takes ownership of the frame's strings (f is cleared). */
void chat_engine_start_frame(uint64_t conn, struct kb_chat_frame *f);
void chat_engine_message(int64_t conv, uint64_t conn, struct kb_chat_frame *f);
void chat_engine_end(int64_t conv, uint64_t conn);
/* A connection attached to conv went away. */
void chat_engine_detached(int64_t conv);
/* About once a second: idle conversations end, detached ones leave memory, rules reload. */
void chat_engine_tick(void);
/* The conversation fields a <call> reads (host.c). */
int64_t chat_conv_id(const struct chat_conv *c);
const char *chat_conv_lang(const struct chat_conv *c);
int64_t chat_conv_consent_at(const struct chat_conv *c);
const char *chat_conv_consent_text(const struct chat_conv *c);

/* ---- conversation.c: the live takeover ---------------------------------------------- */

/* True when now (unix seconds) is within the opening hours (--chat-hours). */
bool chat_engine_hours_open(int64_t now);
/* From the agents' channel (agent.c, the websocket thread); session (the kb_session cookie's
 * secret) and addr are copied. A new connection: check its session and send hello, the queue
 * and what its agent holds (chat_agent_ready first), or refuse it (chat_agent_refuse). */
void chat_engine_agent_hello(uint64_t conn, const char *session, const char *addr);
/* The periodic check of a ready connection's session: refused when it ended. */
void chat_engine_agent_check(uint64_t conn, const char *session, const char *addr);
/* An agent's frame (its strings taken, f cleared): the action is a job of its conversation,
 * run after the session is checked again. */
void chat_engine_agent_frame(uint64_t conn, const char *session, const char *addr,
                             struct kb_chat_agent_frame *f);
/* Agent user_id opened (delta 1) or closed (-1) a ready channel: an agent without any for
 * --chat-wait loses the conversations he holds. */
void chat_engine_agent_presence(int64_t user_id, int delta);

/* ---- agent.c: the agents' channel's inbox (any thread) ------------------------------- */

/* Send frame (ownership taken) to one agent connection; dropped when it is gone. */
void chat_agent_send_conn(uint64_t conn, char *frame);
/* ... to every ready connection of agent user_id (his tabs). */
void chat_agent_send_user(int64_t user_id, char *frame);
/* ... to every ready agent connection (the queue). */
void chat_agent_broadcast(char *frame);
/* conn's session is checked: it belongs to user_id and is ready; hello (ownership taken) is
 * its first frame. */
void chat_agent_ready(uint64_t conn, int64_t user_id, char *hello);
/* conn's session ended (or never was): an unauthenticated error, then a close (4401). */
void chat_agent_refuse(uint64_t conn);
/* Websocket thread only: handle what the inbox holds (server.c's wake-up calls it). */
void chat_agent_drain(void);
/* Websocket thread only, once a second (server.c's tick; now monotonic ms): the limit to
 * become ready, session checks, keepalive (ping after ping_ms of silence, dropped when it is
 * unanswered that long again), forced closes. */
void chat_agent_sweep(int64_t now, int64_t ping_ms);

/* ---- server.c: the websocket thread's inbox (any thread) ----------------------------- */

/* Wake the websocket thread (agent.c's inbox has work: the loop's ev_async); no-op once the
 * chat is stopping. */
void chat_ws_wake(void);

/* Send frame (ownership taken) to one connection; dropped when it is gone. */
void chat_ws_send_conn(uint64_t conn, char *frame);
/* Send frame (ownership taken) to every connection of conv except `except` (0: none). */
void chat_ws_send_conv(int64_t conv, uint64_t except, char *frame);
/* conn now belongs to conv (its messages go there); a conn already gone is reported back
 * with chat_engine_detached. */
void chat_ws_attach(uint64_t conn, int64_t conv);
/* conn's start failed: it may send another start. Post it before the error frame that says
 * why: a client may start again as soon as it reads that frame. */
void chat_ws_unstarted(uint64_t conn);
/* Close every connection of conv (1000, reason) once their frames are sent. */
void chat_ws_close_conv(int64_t conv, const char *reason);
/* Close one connection once its frames are sent. */
void chat_ws_close_conn(uint64_t conn, int code, const char *reason);

#endif
