/* kb/chat/frames.c: the chat protocol (a contract: other clients are written against it).
 *
 * WebSocket at ws://HOST:PORT/chat (kb serve --chat-port, default 8081). UTF-8 JSON text
 * frames, each an object with a "type"; a client frame is at most 4 KiB (KB_CHAT_FRAME_MAX).
 *
 * Client to server
 *   {"type":"start","lang":"fr","resume":"TOKEN","after":12,"page":"/a/slug"}
 *       first frame of every connection. lang required (a language the rules exist in,
 *       otherwise the default); resume and after only to resume a conversation; page
 *       optional, kept with the conversation.
 *   {"type":"message","id":"c-42","text":"..."}
 *       a customer message; id: 1 to 64 characters chosen by the client. A message whose id
 *       the conversation already has is not processed again: the server answers with the
 *       same ack and no new reply.
 *   {"type":"end"}
 *       the customer closes the conversation (the server then closes the connection).
 *
 * Server to client
 *   {"type":"started","conversation":"TOKEN","resumed":false,"seq":0}
 *       TOKEN resumes this conversation (256 random bits, URL-safe base64, stored hashed);
 *       seq: the last sequence number of the conversation.
 *   {"type":"history","messages":[{"seq":3,"from":"customer","text":"...","at":"..."}]}
 *       after a resume: every message with a seq greater than after (all when after is
 *       absent), oldest first; from: customer, bot, agent or system; bot messages also carry
 *       quick_replies and articles. Also sent to the other connections of a conversation
 *       (another tab) with the customer message one of them sent.
 *   {"type":"ack","id":"c-42","seq":5}     the message is stored with this sequence number
 *   {"type":"reply","seq":6,"text":"...","quick_replies":["Oui","Non"],
 *    "articles":[{"slug","title","url","summary"}]}
 *       a bot message; both arrays always present, possibly empty.
 *   {"type":"case","ref":"KB-2026-000123","seq":7}   a case now exists for this conversation
 *   {"type":"error","code":"...","message":"..."}
 *       bad_frame (not JSON, unknown type, missing field: the connection stays open),
 *       too_large (then the connection closes), not_started, unknown_conversation (a forged,
 *       ended or expired resume token), rate_limited, server_error. An error about one
 *       message (rate_limited, server_error) also carries its "id": send it again later.
 *
 * Every stored message (customer, bot, system) gets the next seq of its conversation; "at"
 * is UTC, ISO 8601, to the second. In a history, the system message of a case also carries
 * its "ref". When a conversation ends (the end frame, or idle for --chat-idle), its
 * connections get a history frame with the system message that says so, then a close
 * (1000, "conversation ended"). */
#include "kb/chat/frames.h"

#include <stdlib.h>
#include <string.h>

#include "kb/base/text.h"

void kb_chat_frame_release(struct kb_chat_frame *f)
{
    free(f->lang);
    free(f->resume);
    free(f->page);
    free(f->id);
    free(f->text);
    memset(f, 0, sizeof *f);
}

/* A string member: NULL when absent; *bad when present but not a string or over max bytes. */
static const char *member(json_t *o, const char *key, size_t max, bool *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v)) { /* no NUL inside */
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

static bool lang_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > KB_CHAT_LANG_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-' || s[i] == '_' ||
              (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    return true;
}

/* The text without leading and trailing white space (malloc'd), NULL when nothing is left. */
static char *trimmed(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    return n ? strndup(s, n) : NULL;
}

enum kb_err kb_chat_frame_parse(const char *data, size_t n, struct kb_chat_frame *f,
                                const char **why)
{
    memset(f, 0, sizeof *f);
    *why = NULL;
    if (n > KB_CHAT_FRAME_MAX) {
        *why = "frame larger than 4 KiB";
        return KB_ETOOBIG;
    }
    if (!kb_text_valid_utf8(data, n)) {
        *why = "frame is not valid UTF-8 text";
        return KB_EINVAL;
    }
    json_error_t jerr;
    json_t *o = json_loadb(data, n, JSON_REJECT_DUPLICATES, &jerr);
    enum kb_err err = KB_EINVAL;
    bool bad = false;
    if (!o) {
        *why = "frame is not JSON";
        goto out;
    }
    if (!json_is_object(o)) {
        *why = "frame is not a JSON object";
        goto out;
    }
    const char *type = member(o, "type", 32, &bad);
    if (!type) {
        *why = "frame has no \"type\"";
        goto out;
    }
    if (strcmp(type, "start") == 0) {
        f->type = KB_CHAT_START;
        const char *lang = member(o, "lang", KB_CHAT_LANG_MAX, &bad);
        const char *resume = member(o, "resume", KB_CHAT_TOKEN_MAX, &bad);
        const char *page = member(o, "page", KB_CHAT_PAGE_MAX, &bad);
        json_t *after = json_object_get(o, "after");
        if (bad || !lang || !lang_ok(lang)) {
            *why = "start needs \"lang\" (a language code) and string \"resume\" and \"page\"";
            goto out;
        }
        if (after && !json_is_null(after)) {
            if (!json_is_integer(after) || json_integer_value(after) < 0) {
                *why = "\"after\" must be a sequence number";
                goto out;
            }
            f->has_after = true;
            f->after = json_integer_value(after);
        }
        if (!(f->lang = strdup(lang)) || (resume && *resume && !(f->resume = strdup(resume))) ||
            (page && *page && !(f->page = strdup(page)))) {
            err = KB_ENOMEM;
            goto out;
        }
    } else if (strcmp(type, "message") == 0) {
        f->type = KB_CHAT_MESSAGE;
        const char *id = member(o, "id", KB_CHAT_ID_MAX, &bad);
        const char *text = member(o, "text", KB_CHAT_FRAME_MAX, &bad);
        if (bad || !id || !*id || !text) {
            *why = "message needs \"id\" (1 to 64 characters) and \"text\"";
            goto out;
        }
        if (!(f->text = trimmed(text))) {
            *why = "message \"text\" is empty";
            goto out;
        }
        if (!(f->id = strdup(id))) {
            err = KB_ENOMEM;
            goto out;
        }
    } else if (strcmp(type, "end") == 0) {
        f->type = KB_CHAT_END;
    } else {
        *why = "unknown frame type";
        goto out;
    }
    err = KB_OK;
out:
    json_decref(o);
    if (err)
        kb_chat_frame_release(f);
    return err;
}

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *kb_chat_frame_started(const char *token, bool resumed, int64_t seq)
{
    return dump(json_pack("{s:s, s:s, s:b, s:I}", "type", "started", "conversation", token,
                          "resumed", resumed, "seq", (json_int_t)seq));
}

char *kb_chat_frame_history(const json_t *messages)
{
    return dump(json_pack("{s:s, s:O}", "type", "history", "messages", messages));
}

char *kb_chat_frame_ack(const char *id, int64_t seq)
{
    return dump(json_pack("{s:s, s:s, s:I}", "type", "ack", "id", id, "seq", (json_int_t)seq));
}

char *kb_chat_frame_reply(int64_t seq, const char *text, const json_t *quick_replies,
                          const json_t *articles)
{
    json_t *q = quick_replies ? json_deep_copy(quick_replies) : json_array();
    json_t *a = articles ? json_deep_copy(articles) : json_array();
    return dump(json_pack("{s:s, s:I, s:s, s:o, s:o}", "type", "reply", "seq", (json_int_t)seq,
                          "text", text, "quick_replies", q, "articles", a));
}

char *kb_chat_frame_case(const char *ref, int64_t seq)
{
    return dump(json_pack("{s:s, s:s, s:I}", "type", "case", "ref", ref, "seq", (json_int_t)seq));
}

char *kb_chat_frame_error(const char *code, const char *message)
{
    return dump(json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message));
}

char *kb_chat_frame_error_id(const char *code, const char *message, const char *id)
{
    return dump(json_pack("{s:s, s:s, s:s, s:s}", "type", "error", "code", code, "message",
                          message, "id", id));
}
