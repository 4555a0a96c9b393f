/* kb/cli/util.c: helpers the commands share (see cli.h). */
#include "kb/cli/cli.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

const char *kb_cli_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

/* Parse a decimal integer in [lo, hi]; 0 on success. */
int kb_cli_int(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end || end == s || v < lo || v > hi)
        return -1;
    *out = (long)v;
    return 0;
}

int kb_cli_nice(const char *value)
{
    long n = 10;
    const char *v = value ? value : kb_cli_env("KB_NICE", NULL);
    bool idle = v && strcmp(v, "idle") == 0;
    if (v && !idle && kb_cli_int(v, 0, 19, &n) != 0) {
        fprintf(stderr, "kb: --nice (or KB_NICE) is 0 to 19 or idle, not '%s'\n", v);
        return -1;
    }
    /* Linux: the calling thread's, inherited by the threads it creates later (the index
     * shards' writers). An error (a limit) leaves the priority as it was: nothing to do. */
    if (idle) {
        /* SCHED_IDLE: only the CPU nothing else wants. Beside kb serve's chat at 1,000
         * messages a second, the chat's p99 during a 5,000-article import was 0.30-0.68 of
         * what it was at nice 10, the import 1.0-1.6x as long (tests/bench/chat/README.md).
         * Not the default: beside other busy processes (a build, a test run) it can wait a
         * long time for a core. */
        struct sched_param sp = {0};
        if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0)
            fprintf(stderr, "kb: cannot lower the priority: %s\n", strerror(errno));
        return 0;
    }
    errno = 0;
    if (n > 0 && nice((int)n) == -1 && errno)
        fprintf(stderr, "kb: cannot lower the priority: %s\n", strerror(errno));
    return 0;
}

int kb_cli_open_store(struct kb_ctx *ctx, bool readonly, struct kb_store **st)
{
    enum kb_err err = kb_store_open(ctx->db, readonly, st);
    if (err) {
        fprintf(stderr, "kb: cannot open database %s: %s\n", ctx->db, kb_strerror(err));
        return 1;
    }
    return 0;
}

