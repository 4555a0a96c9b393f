/* tests/bench/bot/bench.c: kb's bot on the work of bench.mjs (see gen.mjs). Prints
 * "big R", "rsts R" (replies/s) and "session B" (bytes of state per user session, as the
 * engine accounts it) and "session_rss B" (resident memory growth per session). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bot/cli.h"
#include "bot/rivescript.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long rss_kb(void)
{
    long kb = 0;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

/* Replays every RSTS plan once; returns the number of replies. */
static long rsts_round(json_t *plans)
{
    long n = 0;
    size_t i;
    json_t *p;
    json_array_foreach(plans, i, p)
    {
        struct bot_brain *b = NULL;
        const char *user = json_string_value(json_object_get(p, "username"));
        if (bot_brain_new(json_is_true(json_object_get(p, "utf8")) ? BOT_UTF8 : 0, &b))
            exit(1);
        bot_brain_set_diag(b, NULL, NULL);
        size_t j;
        json_t *s;
        json_array_foreach(json_object_get(p, "steps"), j, s)
        {
            json_t *src = json_object_get(s, "source"), *in = json_object_get(s, "input");
            json_t *set = json_object_get(s, "set");
            if (src && bot_brain_stream(b, json_string_value(src), "rsts"))
                exit(1);
            if (set) {
                const char *k;
                json_t *v;
                json_object_foreach(set, k, v)
                {
                    if (bot_uservar_set(b, user, k, json_string_value(v)))
                        exit(1);
                }
            }
            if (in) {
                char *out = NULL;
                if (bot_reply(b, user, json_string_value(in), &out) == KB_OK)
                    free(out);
                n++;
            }
        }
        bot_brain_free(b);
    }
    return n;
}

int main(int argc, char **argv)
{
    char path[4096], *lines[1024], buf[4096];
    size_t n = 0;
    long rounds = argc > 2 ? strtol(argv[2], NULL, 10) : 20;
    if (argc < 2)
        return 2;
    struct bot_brain *b = NULL;
    snprintf(path, sizeof path, "%s/big", argv[1]);
    if (bot_brain_new(0, &b) || bot_brain_load_dir(b, path) || bot_brain_sort(b))
        return 1;
    snprintf(path, sizeof path, "%s/big/inputs.txt", argv[1]);
    FILE *f = fopen(path, "r");
    while (f && n < 1024 && fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\n")] = 0;
        lines[n++] = strdup(buf);
    }
    if (f)
        fclose(f);

    long count = 0;
    double t0 = now();
    for (long r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++, count++) {
            char *out = NULL;
            if (bot_reply(b, "bench", lines[i], &out) == KB_OK)
                free(out);
        }
    printf("big %.0f\n", (double)count / (now() - t0));

    snprintf(path, sizeof path, "%s/rsts.json", argv[1]);
    json_error_t je;
    json_t *plans = json_load_file(path, 0, &je);
    if (!plans)
        return 1;
    count = 0;
    t0 = now();
    for (long r = 0; r < rounds; r++)
        count += rsts_round(plans);
    printf("rsts %.0f\n", (double)count / (now() - t0));
    json_decref(plans);

    long rss0 = rss_kb();
    size_t bytes0 = bot_user_bytes(b);
    const int users = 10000;
    for (int u = 0; u < users; u++) {
        char name[32];
        snprintf(name, sizeof name, "user%d", u);
        for (int i = 0; i < 5; i++) {
            char *out = NULL;
            if (bot_reply(b, name, lines[(size_t)(u + i) % n], &out) == KB_OK)
                free(out);
        }
    }
    printf("session %.0f\n", (double)(bot_user_bytes(b) - bytes0) / users);
    printf("session_rss %.0f\n", (double)(rss_kb() - rss0) * 1024.0 / users);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    bot_brain_free(b);
    return 0;
}
