/* tests/fuzz/fuzz_chat.c: libFuzzer target over the chat's client frames (kb/chat/frames.c):
 * any bytes give a parsed frame or an error with a reason, never a crash; a parsed frame's
 * strings are valid UTF-8 within their limits, and the server frames built from them are
 * JSON that parses back to the same text. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
