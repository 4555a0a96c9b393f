/* kb/chat/frames.h: the chat protocol's frames: parsing what clients send, building what the
 * server sends. The protocol itself is documented at the top of frames.c. Pure functions:
 * no I/O, no state, so that the fuzzer and the unit tests reach them directly. */
#ifndef KB_CHAT_FRAMES_H
#define KB_CHAT_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kb/base/err.h"

#define KB_CHAT_FRAME_MAX 4096      /* bytes of a client frame */
#define KB_CHAT_ID_MAX 64           /* bytes of a message id */
#define KB_CHAT_TOKEN_MAX 128       /* bytes of a resume token */
#define KB_CHAT_PAGE_MAX 512        /* bytes of a page path */
#define KB_CHAT_LANG_MAX 15         /* bytes of a language code */

enum kb_chat_frame_type { KB_CHAT_START, KB_CHAT_MESSAGE, KB_CHAT_END };

/* A parsed client frame. Strings are owned (kb_chat_frame_release), NULL when absent. */
struct kb_chat_frame {
    enum kb_chat_frame_type type;
    char *lang, *resume, *page; /* start */
    bool has_after;
    int64_t after;              /* start, when has_after */
    char *id, *text;            /* message: id 1-64 bytes, text non-empty after trimming */
};
void kb_chat_frame_release(struct kb_chat_frame *f);

/* Parse n bytes of a text frame. KB_ETOOBIG over KB_CHAT_FRAME_MAX; KB_EINVAL (bad_frame) for
 * invalid UTF-8, JSON that is not an object, an unknown type or a missing or malformed field,
 * with *why a static lowercase reason. On success f is filled (release it). */
enum kb_err kb_chat_frame_parse(const char *data, size_t n, struct kb_chat_frame *f,
                                const char **why) KB_MUST_CHECK;

/* Server frames, as compact JSON strings the caller frees (NULL when out of memory). */
char *kb_chat_frame_started(const char *token, bool resumed, int64_t seq);
/* messages: a JSON array (borrowed) of {"seq","from","text","at"[,"quick_replies","articles"]}. */
char *kb_chat_frame_history(const json_t *messages);
char *kb_chat_frame_ack(const char *id, int64_t seq);
/* quick_replies and articles: JSON arrays (borrowed; NULL means empty). */
char *kb_chat_frame_reply(int64_t seq, const char *text, const json_t *quick_replies,
                          const json_t *articles);
char *kb_chat_frame_case(const char *ref, int64_t seq);
/* code: bad_frame, too_large, not_started, unknown_conversation, rate_limited, server_error. */
char *kb_chat_frame_error(const char *code, const char *message);
/* The same about one message: "id" names it (rate_limited, server_error). */
char *kb_chat_frame_error_id(const char *code, const char *message, const char *id);

/* A handoff state change: state waiting, joined or left; name (NULL: null) the agent's. */
char *kb_chat_frame_handoff(const char *state, const char *name, int64_t seq);
/* An agent's message; articles a JSON array (borrowed; NULL means empty). */
char *kb_chat_frame_agent(int64_t seq, const char *text, const char *name,
                          const json_t *articles);
/* Any frame built by the caller: o (reference taken) as compact JSON; NULL when o is NULL or
 * out of memory. */
char *kb_chat_frame_dump(json_t *o);

/* ---- the agents' channel (documented at the top of frames.c) ------------------------- */

#define KB_CHAT_AGENT_FRAME_MAX 8192 /* bytes of an agent's frame */
#define KB_CHAT_AGENT_TEXT_MAX 4000  /* bytes of an agent's message */
#define KB_CHAT_SUBJECT_MAX 300      /* bytes of a case subject an agent gives */
#define KB_CHAT_CARDS_MAX 3          /* article cards on one agent message */
#define KB_CHAT_CONV_MAX 39          /* bytes of a conversation's public id */
#define KB_CHAT_SLUG_MAX 120         /* bytes of an article slug */

enum kb_chat_agent_type { KB_AGENT_TAKE, KB_AGENT_MESSAGE, KB_AGENT_LEAVE, KB_AGENT_END,
                          KB_AGENT_CASE };

/* A parsed agent frame. Strings owned (kb_chat_agent_frame_release), NULL when absent. */
struct kb_chat_agent_frame {
    enum kb_chat_agent_type type;
    char *conversation;                   /* every frame: a public id (conv_...) */
    char *id, *text;                      /* message */
    char *slugs[KB_CHAT_CARDS_MAX];       /* message: the article cards, in order */
    size_t nslugs;
    char *subject;                        /* case */
};
void kb_chat_agent_frame_release(struct kb_chat_agent_frame *f);
/* Parse n bytes of an agent's text frame: KB_ETOOBIG over KB_CHAT_AGENT_FRAME_MAX, KB_EINVAL
 * (bad_frame) with *why a static lowercase reason; on success f is filled (release it). */
enum kb_err kb_chat_agent_frame_parse(const char *data, size_t n, struct kb_chat_agent_frame *f,
                                      const char **why) KB_MUST_CHECK;

#endif
