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
 *   {"type":"handoff","state":"waiting|joined|left","name":"Marie","seq":8}
 *       the live takeover: waiting (the customer waits for a person; name null), joined (the
 *       agent `name` holds the conversation: the bot stays silent until the agent leaves),
 *       left (the agent `name` left and the bot answers again; name null when nobody took
 *       the conversation within --chat-wait: the bot's next reply offers a case). seq: the
 *       system message that records the change (in a history: {"from":"system",
 *       "handoff":"joined","name":"Marie",...}).
 *   {"type":"agent","seq":9,"text":"...","name":"Marie","articles":[{"slug","title","url",
 *    "summary"}]}
 *       a message of the agent `name` (display name, else login); articles always present,
 *       possibly empty, public articles only. In a history: {"from":"agent","name",
 *       "articles",...}.
 *   {"type":"error","code":"...","message":"..."}
 *       bad_frame (not JSON, unknown type, missing field: the connection stays open),
 *       too_large (then the connection closes), not_started, unknown_conversation (a forged,
 *       ended or expired resume token), rate_limited, server_error. An error about one
 *       message (rate_limited, server_error) also carries its "id": send it again later.
 *
 * Every stored message (customer, bot, agent, system) gets the next seq of its
 * conversation; "at" is UTC, ISO 8601, to the second. In a history, the system message of a
 * case also carries its "ref". When a conversation ends (the end frame, an agent's end, or
 * idle for --chat-idle), its connections get a history frame with the system message that
 * says so, then a close (1000, "conversation ended").
 *
 * ---- The agents' channel ------------------------------------------------------------------
 *
 * WebSocket at ws://HOST:PORT/agent on the chat's port, subprotocol "kb-agent"
 * (Sec-WebSocket-Protocol; the page /agent/chats opens it). The handshake is refused unless
 * the Origin header is the help centre's (kb_chat_set_site: --base-url, else
 * http://HOST:HTTP_PORT) and a kb_session cookie is sent (the browser sends the help
 * centre's: cookies are per host, not per port, and SameSite=Strict is same-site across
 * ports). The server then checks the session (open, not expired, its user enabled, role agent
 * or more): hello, or an unauthenticated error and a close (4401). The session is checked
 * again for every action and every 10 s: a signed-out, expired or disabled agent loses the
 * channel. UTF-8 JSON text frames; an agent's frame is at most 8 KiB.
 *
 * Agent to server (conversation: the public id conv_..., never the customer's token)
 *   {"type":"take","conversation":"conv_..."}
 *       take a waiting conversation. Of two agents racing for one, the writer decides: the
 *       other gets the error taken. Taking one's own again resends it.
 *   {"type":"message","conversation":"conv_...","id":"a-1","text":"...","articles":["slug"]}
 *       a message to the customer of a conversation this agent holds; id 1-64 characters
 *       (echoed back), text 1-4000 bytes, articles 0-3 slugs of published PUBLIC articles
 *       sent as cards: an internal, draft or unknown one refuses the whole message
 *       (not_public, unknown_article): agents search internal articles, customers never
 *       get them.
 *   {"type":"leave","conversation":"conv_..."}     the agent leaves: the bot answers again
 *   {"type":"end","conversation":"conv_..."}       the agent ends the conversation
 *   {"type":"case","conversation":"conv_...","subject":"..."}
 *       open a case from the conversation (subject 1-300 bytes): its transcript holds every
 *       message, the agents' with their name and login; contact details only when the
 *       customer consented to the bot.
 *
 * Server to agent
 *   {"type":"hello","agent":{"login","name"},"wait":180,"holding":["conv_..."]}
 *       the channel is open; holding: the conversations this agent holds (a conversation
 *       frame follows for each), so that a page that reconnects drops the others
 *   {"type":"queue","conversations":[{"conversation","lang","page","waiting_since","waited",
 *    "messages":[{"seq","text","at"}]}],"total":N}
 *       every conversation waiting for a person, oldest first, with its last customer
 *       messages (up to 3) and how long it has waited (seconds, when sent; at most 200
 *       listed, total counts them all); sent at hello
 *       and again whole at every change (one arrives, is taken, gives up, ends, or its
 *       customer writes).
 *   {"type":"conversation","conversation","lang","page","state":"agent",
 *    "agent":{"login","name"},"messages":[...as in a history...]}
 *       a conversation this agent holds: after his take, and at hello for each one he holds
 *       (a reconnection, a restart of kb).
 *   {"type":"message","conversation","seq","from","text","at"[,"name","articles","id",
 *    "handoff","ref"]}
 *       a new message of a conversation he holds: the customer's, his own (with the id he
 *       gave: the echo confirms it is stored and sent), system ones.
 *   {"type":"released","conversation","reason":"left|ended|gone"}
 *       he holds it no more: he left, it ended (his end, the customer's, idle), or he had no
 *       channel open for --chat-wait (gone: the bot took it back).
 *   {"type":"case","conversation","ref","seq"}    the case he opened
 *   {"type":"error","code","message"[,"conversation","id"]}
 *       bad_frame, too_large (then closed 1009), not_ready (before hello), unauthenticated
 *       (then closed 4401), unknown_conversation (not waiting, or not held), taken (another
 *       agent was first; "name" says who), not_held, not_public, unknown_article,
 *       rate_limited (more than 20 frames a second, bursts of 60: the action was not done),
 *       too_many_connections, server_error.
 *
 * Limits: 8 KiB a frame; 20 frames a second per connection (bursts of 60); 10 connections
 * per agent and 200 in all; a connection not authenticated within 10 s is closed; 8 MiB of
 * unread output closes it; keepalive as for customers (a ping after --chat-ping of silence,
 * dropped when the ping is unanswered that long again). */
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

char *kb_chat_frame_handoff(const char *state, const char *name, int64_t seq)
{
    return dump(json_pack("{s:s, s:s, s:o, s:I}", "type", "handoff", "state", state, "name",
                          name ? json_string(name) : json_null(), "seq", (json_int_t)seq));
}

char *kb_chat_frame_agent(int64_t seq, const char *text, const char *name,
                          const json_t *articles)
{
    json_t *a = articles ? json_deep_copy(articles) : json_array();
    return dump(json_pack("{s:s, s:I, s:s, s:s, s:o}", "type", "agent", "seq", (json_int_t)seq,
                          "text", text, "name", name, "articles", a));
}

char *kb_chat_frame_dump(json_t *o)
{
    return dump(o);
}

/* ---- the agents' frames -------------------------------------------------------------- */

void kb_chat_agent_frame_release(struct kb_chat_agent_frame *f)
{
    free(f->conversation);
    free(f->id);
    free(f->text);
    free(f->subject);
    for (size_t i = 0; i < f->nslugs; i++)
        free(f->slugs[i]);
    memset(f, 0, sizeof *f);
}

/* A public id or a slug: letters, digits, '-' and '_' only. */
static bool token_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

enum kb_err kb_chat_agent_frame_parse(const char *data, size_t n, struct kb_chat_agent_frame *f,
                                      const char **why)
{
    memset(f, 0, sizeof *f);
    *why = NULL;
    if (n > KB_CHAT_AGENT_FRAME_MAX) {
        *why = "frame larger than 8 KiB";
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
    if (!o || !json_is_object(o)) {
        *why = o ? "frame is not a JSON object" : "frame is not JSON";
        goto out;
    }
    static const char *const types[] = {"take", "message", "leave", "end", "case"};
    const char *type = member(o, "type", 32, &bad);
    size_t t = 0;
    while (type && t < sizeof types / sizeof types[0] && strcmp(type, types[t]) != 0)
        t++;
    if (!type || t == sizeof types / sizeof types[0]) {
        *why = type ? "unknown frame type" : "frame has no \"type\"";
        goto out;
    }
    f->type = (enum kb_chat_agent_type)t;
    const char *conv = member(o, "conversation", KB_CHAT_CONV_MAX, &bad);
    if (bad || !conv || !token_ok(conv)) {
        *why = "\"conversation\" must be a conversation's id";
        goto out;
    }
    if (!(f->conversation = strdup(conv))) {
        err = KB_ENOMEM;
        goto out;
    }
    if (f->type == KB_AGENT_MESSAGE) {
        const char *id = member(o, "id", KB_CHAT_ID_MAX, &bad);
        const char *text = member(o, "text", KB_CHAT_AGENT_TEXT_MAX, &bad);
        json_t *arts = json_object_get(o, "articles");
        if (bad || !id || !*id || !text) {
            *why = "message needs \"id\" (1 to 64 characters) and \"text\" (up to 4000 bytes)";
            goto out;
        }
        if (arts && !json_is_null(arts) &&
            (!json_is_array(arts) || json_array_size(arts) > KB_CHAT_CARDS_MAX)) {
            *why = "\"articles\" must be a list of at most 3 slugs";
            goto out;
        }
        size_t i;
        json_t *a;
        json_array_foreach(arts, i, a)
        {
            const char *slug = json_string_value(a);
            if (!slug || json_string_length(a) > KB_CHAT_SLUG_MAX || !token_ok(slug)) {
                *why = "\"articles\" must be a list of article slugs";
                goto out;
            }
            if (!(f->slugs[f->nslugs] = strdup(slug))) {
                err = KB_ENOMEM;
                goto out;
            }
            f->nslugs++;
        }
        if (!(f->text = trimmed(text))) {
            *why = "message \"text\" is empty";
            goto out;
        }
        if (!(f->id = strdup(id))) {
            err = KB_ENOMEM;
            goto out;
        }
    } else if (f->type == KB_AGENT_CASE) {
        const char *subject = member(o, "subject", KB_CHAT_SUBJECT_MAX, &bad);
        if (bad || !subject || !(f->subject = trimmed(subject))) {
            *why = "case needs a \"subject\" (1 to 300 bytes)";
            goto out;
        }
    }
    err = KB_OK;
out:
    json_decref(o);
    if (err)
        kb_chat_agent_frame_release(f);
    return err;
}
