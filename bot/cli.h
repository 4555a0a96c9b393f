/* bot/cli.h: `kb bot` (terminal chat) and `kb check` helpers over a rules directory. */
#ifndef BOT_CLI_H
#define BOT_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "kb/err.h"

struct bot_brain;

/* `kb bot --rules DIR [--user NAME] [--utf8]`; argv[0] is "bot". Returns an exit status. */
int bot_cli_main(int argc, char **argv);
/* Loads every *.rive file of dir (borrowed) into b, sorted by name. */
enum kb_err bot_brain_load_dir(struct bot_brain *b, const char *dir) KB_MUST_CHECK;
/* Loads dir into a scratch brain; prints problems to out; returns the number of errors. */
int bot_check_dir(const char *dir, bool utf8, FILE *out);

#endif
