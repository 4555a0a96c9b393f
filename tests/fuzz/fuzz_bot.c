/* tests/fuzz/fuzz_bot.c: libFuzzer target over the RiveScript parser and the reply path.
 * Input: rule text, a NUL byte, then messages separated by newlines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bot/rivescript.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A host macro, so that <call> and its argument splitting are fuzzed too. */
static enum kb_err echo(void *ctx, struct bot_call *call, size_t argc, const char *const *argv,
                        char **out)
{
    (void)ctx;
    if (argc && bot_call_set(call, "last", argv[argc - 1]))
        return KB_ENOMEM;
    *out = strdup(argc ? argv[0] : "");
    return *out ? KB_OK : KB_ENOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bot_brain *b = NULL;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    size_t rl = strlen(text);
    const char *msgs = rl < size ? text + rl + 1 : "hello\nhi there";
    if (bot_brain_new((size & 1) ? BOT_UTF8 : 0, &b) != KB_OK) {
        free(text);
        return 0;
    }
    bot_brain_set_diag(b, NULL, NULL);
    if (bot_macro_register(b, "echo", echo, NULL) == KB_OK &&
        bot_brain_stream(b, text, "fuzz") == KB_OK && bot_brain_sort(b) == KB_OK) {
        char *copy = strdup(msgs), *save = NULL;
        int n = 0;
        for (char *m = copy ? strtok_r(copy, "\n", &save) : NULL; m && n < 8;
             m = strtok_r(NULL, "\n", &save), n++) {
            char *r = NULL;
            if (bot_reply(b, "fuzz", m, &r) == KB_OK)
                free(r);
        }
        char *json = NULL;
        if (bot_user_export(b, "fuzz", &json) == KB_OK) {
            if (bot_user_import(b, "other", json)) {
            }
            free(json);
        }
        free(copy);
    }
    bot_brain_free(b);
    free(text);
    return 0;
}
