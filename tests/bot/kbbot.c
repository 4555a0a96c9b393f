/* tests/bot/kbbot.c: stand-alone `kb bot` for testing bot_cli_main without kb's main(). */
#include "bot/cli.h"

int main(int argc, char **argv)
{
    return bot_cli_main(argc, argv, NULL, NULL);
}
