/* tests/bench/bot/bench.c: kb bot replies per second on DIR (inputs DIR/inputs.txt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bot/cli.h"
#include "bot/rivescript.h"

int main(int argc, char **argv)
{
    struct bot_brain *b = NULL;
    char path[4096], *lines[1024], buf[4096];
    size_t n = 0;
    long rounds = argc > 2 ? strtol(argv[2], NULL, 10) : 20;
    if (argc < 2 || bot_brain_new(0, &b) || bot_brain_load_dir(b, argv[1]) || bot_brain_sort(b))
        return 1;
    snprintf(path, sizeof path, "%s/inputs.txt", argv[1]);
    FILE *f = fopen(path, "r");
    while (f && n < 1024 && fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\n")] = 0;
        lines[n++] = strdup(buf);
    }
    if (f)
        fclose(f);
    struct timespec t0, t1;
    long count = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++) {
            char *out = NULL;
            if (bot_reply(b, "bench", lines[i], &out) == KB_OK)
                free(out);
            count++;
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%.0f\n", (double)count / s);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    bot_brain_free(b);
    return 0;
}
