/* kb/cli/cmd_serve.c: kb serve: the help centre, the JSON API and the chat. */
#include "kb/cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "kb/http/server.h"

int kb_cli_serve(struct kb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"bind", required_argument, NULL, 'b'},
                                         {"web", required_argument, NULL, 'w'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"base-url", required_argument, NULL, 'u'},
                                         {"lang", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct kb_http_config cfg = {
        .db_path = ctx->db,
        .bind = kb_cli_env("KB_BIND", "127.0.0.1"),
        .web_dir = kb_cli_env("KB_WEB", KB_WEB_DIR),
        .base_url = kb_cli_env("KB_BASE_URL", NULL),
        .default_lang = kb_cli_env("KB_LANG", "fr"),
        .port = 8080,
        .threads = 0,
    };
    long v;
    if (getenv("KB_PORT") && kb_cli_int(getenv("KB_PORT"), 0, 65535, &v) == 0)
        cfg.port = (int)v;
    if (getenv("KB_THREADS") && kb_cli_int(getenv("KB_THREADS"), 1, 256, &v) == 0)
        cfg.threads = (int)v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+p:b:w:t:u:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (kb_cli_int(optarg, 0, 65535, &v)) {
                fprintf(stderr, "kb: --port must be 0-65535\n");
                return 2;
            }
            cfg.port = (int)v;
            break;
        case 't':
            if (kb_cli_int(optarg, 1, 256, &v)) {
                fprintf(stderr, "kb: --threads must be 1-256\n");
                return 2;
            }
            cfg.threads = (int)v;
            break;
        case 'b': cfg.bind = optarg; break;
        case 'w': cfg.web_dir = optarg; break;
        case 'u': cfg.base_url = optarg; break;
        case 'l': cfg.default_lang = optarg; break;
        case 'h':
            puts("usage: kb [--db PATH] serve [--port N] [--bind ADDR] [--web DIR] "
                 "[--threads N] [--base-url URL] [--lang L]\n"
                 "  --port N        HTTP port (env KB_PORT, default 8080; 0 picks a free one)\n"
                 "  --bind ADDR     address to listen on (env KB_BIND, default 127.0.0.1; "
                 "0.0.0.0 for all)\n"
                 "  --web DIR       templates and static files (env KB_WEB)\n"
                 "  --threads N     worker threads (env KB_THREADS, default: number of CPUs)\n"
                 "  --base-url URL  public address used in sitemap.xml (env KB_BASE_URL)\n"
                 "  --lang L        default page language (env KB_LANG, default fr)");
            return 0;
        default: return 2;
        }
    }
    return kb_http_run(&cfg) ? 1 : 0;
}

