/* bot/cli.h: `kb bot` (terminal chat) and `kb check` helpers over a rules directory. */
#ifndef BOT_CLI_H
#define BOT_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "kb/base/err.h"

struct bot_brain;

/* Called once the rules are loaded and before the chat starts, so that the host program
 * registers its macros (kb: knowledge-base search, language). */
typedef enum kb_err bot_cli_setup_fn(void *ctx, struct bot_brain *b);

/* `kb bot --rules DIR [--user NAME] [--utf8]`; argv[0] is "bot"; setup may be NULL.
 * Returns an exit status. */
int bot_cli_main(int argc, char **argv, bot_cli_setup_fn *setup, void *ctx);
/* Loads every *.rive file of dir (borrowed) into b, sorted by name. */
enum kb_err bot_brain_load_dir(struct bot_brain *b, const char *dir) KB_MUST_CHECK;
/* Loads dir into a scratch brain; prints problems to out ("file:line: error: reason");
 * returns the number of errors and adds the warnings to *warnings (may be NULL). */
int bot_check_dir(const char *dir, bool utf8, FILE *out, unsigned *warnings);
/* Reports a whole-file problem (unreadable, binary) through b's diagnostics. */
void bot_diag_file(struct bot_brain *b, const char *path, const char *msg);

#endif
