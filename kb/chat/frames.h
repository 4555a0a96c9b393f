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

#endif
