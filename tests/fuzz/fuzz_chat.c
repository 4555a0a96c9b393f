/* tests/fuzz/fuzz_chat.c: libFuzzer target over the chat's client frames and the agents'
 * frames of the live takeover (kb/chat/frames.c): any bytes give a parsed frame or an error
 * with a reason, never a crash; a parsed frame's strings are valid UTF-8 within their limits
 * (an agent's ids and slugs of the safe characters only), and the server frames built from
 * them are JSON that parses back to the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kb/base/text.h"
#include "kb/chat/frames.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t max)
{
    if (!s)
        return;
    size_t n = strlen(s);
    if (n > max || !kb_text_valid_utf8(s, n))
        abort();
}

/* Letters, digits, '-' and '_': what may name a conversation or an article. */
static void check_token(const char *s, size_t max)
{
    if (!s || !*s || strlen(s) > max)
        abort();
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", *s))
            abort();
}

static void agent_frame(const uint8_t *data, size_t size)
{
    struct kb_chat_agent_frame f;
    const char *why = NULL;
    enum kb_err err = kb_chat_agent_frame_parse((const char *)data, size, &f, &why);
    if (err) {
        if ((!why && err != KB_ENOMEM) || f.conversation)
            abort(); /* every refusal says why, and leaves nothing to free */
        return;
    }
    check_token(f.conversation, KB_CHAT_CONV_MAX);
    if (f.nslugs > KB_CHAT_CARDS_MAX)
        abort();
    for (size_t i = 0; i < f.nslugs; i++)
        check_token(f.slugs[i], KB_CHAT_SLUG_MAX);
    check_str(f.id, KB_CHAT_ID_MAX);
    check_str(f.text, KB_CHAT_AGENT_TEXT_MAX);
    check_str(f.subject, KB_CHAT_SUBJECT_MAX);
    if (f.type == KB_AGENT_MESSAGE) {
        if (!f.id || !*f.id || !f.text || !*f.text)
            abort();
        char *said = kb_chat_frame_agent(3, f.text, "Marie", NULL);
        json_t *o = said ? json_loads(said, 0, NULL) : NULL;
        if (said && (!o || strcmp(json_string_value(json_object_get(o, "text")), f.text) != 0))
            abort();
        json_decref(o);
        free(said);
    }
    if (f.type == KB_AGENT_CASE && (!f.subject || !*f.subject))
        abort();
    kb_chat_agent_frame_release(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    agent_frame(data, size);
    struct kb_chat_frame f;
    const char *why = NULL;
    enum kb_err err = kb_chat_frame_parse((const char *)data, size, &f, &why);
    if (err) {
        if (!why && err != KB_ENOMEM)
            abort(); /* every refusal says why */
        return 0;
    }
    check_str(f.lang, KB_CHAT_LANG_MAX);
    check_str(f.resume, KB_CHAT_TOKEN_MAX);
    check_str(f.page, KB_CHAT_PAGE_MAX);
    check_str(f.id, KB_CHAT_ID_MAX);
    check_str(f.text, KB_CHAT_FRAME_MAX);
    if (f.type == KB_CHAT_MESSAGE) {
        if (!f.id || !*f.id || !f.text || !*f.text)
            abort();
        char *reply = kb_chat_frame_reply(2, f.text, NULL, NULL);
        json_t *o = reply ? json_loads(reply, 0, NULL) : NULL;
        if (reply && (!o || strcmp(json_string_value(json_object_get(o, "text")), f.text) != 0))
            abort();
        json_decref(o);
        free(reply);
        char *ack = kb_chat_frame_ack(f.id, 1);
        free(ack);
    }
    kb_chat_frame_release(&f);
    return 0;
}
