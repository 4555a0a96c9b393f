/* kb/cli/main.c: the `kb` command line: global options, then one subcommand.
 *
 *   kb [--db PATH] import DIR          import articles (and synonyms) from DIR
 *   kb check DIR                        report what import would reject, without writing
 *   kb [--db PATH] index [--rebuild]    apply pending index changes / rebuild the index
 *   kb [--db PATH] search [--lang L] [--category C] [--internal] [--limit N] [--json] QUERY
 *   kb [--db PATH] serve [--port N] [--bind ADDR] [--web DIR] [--threads N] [--base-url URL]
 *   kb [--db PATH] case list|show REF|redeliver REF
 *   kb bot --rules DIR [--user NAME] [--utf8]
 *
 * Every flag has an environment equivalent (KB_DB, KB_PORT, ...); flags win. Exit status:
 * 0 success, 1 failure, 2 usage error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb/base/log.h"
#include "kb/cli/cli.h"

#define KB_VERSION "0.1.0"

static void usage(FILE *f)
{
    fputs("usage: kb [--db PATH] [--verbose] COMMAND [ARGS]\n"
          "\n"
          "Knowledge base, search service and chatbot.\n"
          "\n"
          "commands:\n"
          "  import DIR     import every *.md under DIR, DIR/synonyms/<lang>.txt and the\n"
          "                 chatbot's rules DIR/bot/<lang>/*.rive\n"
          "  check DIR      check articles (and RiveScript rules under DIR/bot) without writing\n"
          "  index          apply pending index changes; --rebuild rebuilds from the database\n"
          "  search QUERY   search from the terminal (--lang, --category, --internal, --json)\n"
          "  serve          serve the help centre, the JSON API (--port, default 8080) and\n"
          "                 the chat (--chat-port, default 8081)\n"
          "  case           cases the chat opened and their delivery to the CRM\n"
          "                 (list, show REF, redeliver REF)\n"
          "  user           accounts of agents, editors, publishers and admins\n"
          "                 (add LOGIN --role R, list, passwd LOGIN, disable LOGIN)\n"
          "  token          API tokens for integrations (add NAME --role R)\n"
          "  audit          logins, case reads and changes, token use (--since)\n"
          "  bot            chat with a RiveScript rules folder on the terminal (--rules DIR)\n"
          "  version        print the version\n"
          "\n"
          "global options:\n"
          "  --db PATH      database file (env KB_DB, default kb.db); the search index lives\n"
          "                 in PATH.index beside it\n"
          "  --verbose      log debug messages (env KB_LOG_LEVEL=debug)\n"
          "  -h, --help     this help; `kb COMMAND --help` for a command's options\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {0}};
    struct kb_ctx ctx = {.db = kb_cli_env("KB_DB", "kb.db")};
    const char *lvl = getenv("KB_LOG_LEVEL");
    if (lvl && strcmp(lvl, "debug") == 0)
        kb_log_set_level(KB_LOG_DEBUG);
    int c;
    while ((c = getopt_long(argc, argv, "+d:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': ctx.db = optarg; break;
        case 'v': kb_log_set_level(KB_LOG_DEBUG); break;
        case 'h': usage(stdout); return 0;
        case 'V': puts("kb " KB_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    char **sub = argv + optind;
    int nsub = argc - optind;
    const char *cmd = sub[0];
    if (strcmp(cmd, "import") == 0)
        return kb_cli_import(&ctx, nsub, sub, false);
    if (strcmp(cmd, "check") == 0)
        return kb_cli_import(&ctx, nsub, sub, true);
    if (strcmp(cmd, "index") == 0)
        return kb_cli_index(&ctx, nsub, sub);
    if (strcmp(cmd, "search") == 0)
        return kb_cli_search(&ctx, nsub, sub);
    if (strcmp(cmd, "serve") == 0)
        return kb_cli_serve(&ctx, nsub, sub);
    if (strcmp(cmd, "case") == 0)
        return kb_cli_case(&ctx, nsub, sub);
    if (strcmp(cmd, "user") == 0)
        return kb_cli_user(&ctx, nsub, sub);
    if (strcmp(cmd, "token") == 0)
        return kb_cli_token(&ctx, nsub, sub);
    if (strcmp(cmd, "audit") == 0)
        return kb_cli_audit(&ctx, nsub, sub);
    if (strcmp(cmd, "routes") == 0)
        return kb_cli_routes(&ctx, nsub, sub);
    if (strcmp(cmd, "bot") == 0)
        return kb_cli_bot(&ctx, nsub, sub);
    if (strcmp(cmd, "version") == 0) {
        puts("kb " KB_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "kb: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
