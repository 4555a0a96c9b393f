/* kb/cli/cmd_bot.c: kb bot: chat with a rules folder on the terminal. */
#include "kb/cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "bot/cli.h"
#include "kb/chat/host.h"

static enum kb_err bot_setup(void *host, struct bot_brain *b)
{
    return kb_chat_host_register(host, b); /* without a database: nothing found, no case */
}

/* `kb bot`: the rules can search the knowledge base when the database exists. */
int kb_cli_bot(struct kb_ctx *ctx, int argc, char **argv)
{
    struct kb_chat_host *host = NULL;
    if (access(ctx->db, R_OK) == 0) {
        enum kb_err err = kb_chat_host_open(ctx->db, &host);
        if (err) {
            fprintf(stderr, "kb: cannot open %s for the bot: %s (kb import or kb index builds it)\n",
                    ctx->db, kb_strerror(err));
            return 1;
        }
    } else
        fprintf(stderr, "kb: no database at %s: <call>kb_search</call> is not available\n",
                ctx->db);
    optind = 1;
    int rc = bot_cli_main(argc, argv, bot_setup, host);
    kb_chat_host_free(host);
    return rc;
}

