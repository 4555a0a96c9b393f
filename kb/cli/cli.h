/* kb/cli/cli.h: what the command files of kb/cli share (internal to the room). Each
 * command lives in its own file, cmd_<name>.c, and returns an exit status: 0 success,
 * 1 failure, 2 usage error. */
#ifndef KB_CLI_H
#define KB_CLI_H

#include <stdbool.h>

struct kb_store;

/* Global options, parsed by main.c. */
struct kb_ctx {
    const char *db; /* database path (--db, KB_DB); the index lives in <db>.index */
};

/* The environment variable's value, or def when unset or empty. Borrowed. */
const char *kb_cli_env(const char *name, const char *def);
/* Parse a decimal integer in [lo, hi]; 0 on success, -1 otherwise. */
int kb_cli_int(const char *s, long lo, long hi, long *out);
/* Batch work beside a running server (kb import, kb index): lower this process's CPU
 * priority by `nice` (0-19) before any thread starts, so that the server's requests are
 * served first and the work takes the CPU they leave: beside kb serve on two busy cores, an
 * import at the same priority took as much CPU as the server and page views queued behind
 * it. The default comes from KB_NICE (else 10); --nice N on the command; "idle" asks for
 * SCHED_IDLE (util.c says when). 0 on success, -1 for a value out of range (message on
 * stderr). */
int kb_cli_nice(const char *value);
/* Open the database (message on stderr on failure); 0 or 1. *st freed by the caller. */
int kb_cli_open_store(struct kb_ctx *ctx, bool readonly, struct kb_store **st);

int kb_cli_import(struct kb_ctx *ctx, int argc, char **argv, bool check_only);
int kb_cli_index(struct kb_ctx *ctx, int argc, char **argv);
int kb_cli_search(struct kb_ctx *ctx, int argc, char **argv);
int kb_cli_bot(struct kb_ctx *ctx, int argc, char **argv);
int kb_cli_serve(struct kb_ctx *ctx, int argc, char **argv);
int kb_cli_case(struct kb_ctx *ctx, int argc, char **argv);
int kb_cli_user(struct kb_ctx *ctx, int argc, char **argv);
int kb_cli_token(struct kb_ctx *ctx, int argc, char **argv);
int kb_cli_audit(struct kb_ctx *ctx, int argc, char **argv);
int kb_cli_routes(struct kb_ctx *ctx, int argc, char **argv);

#endif
