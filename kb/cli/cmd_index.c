/* kb/cli/cmd_index.c: kb index [--rebuild]. */
#include "kb/cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "kb/articles/indexer.h"
#include "kb/store/store.h"

int kb_cli_index(struct kb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"rebuild", no_argument, NULL, 'r'},
                                         {"nice", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    bool rebuild = false;
    const char *nice_value = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+rn:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': rebuild = true; break;
        case 'n': nice_value = optarg; break;
        case 'h':
            puts("usage: kb [--db PATH] index [--rebuild] [--nice N]\n"
                 "  apply pending changes to the search index; --rebuild rebuilds it from the "
                 "database\n"
                 "  --nice N   CPU priority lowered by N, 0-19, or idle (env KB_NICE, default 10): a "
                 "running\n"
                 "             kb serve is served first");
            return 0;
        default: return 2;
        }
    }
    if (kb_cli_nice(nice_value) != 0)
        return 2;
    struct kb_store *st = NULL;
    if (kb_cli_open_store(ctx, false, &st))
        return 1;
    char *idx = kb_indexer_dir_for(ctx->db);
    size_t n = 0;
    enum kb_err err = !idx ? KB_ENOMEM
                           : rebuild ? kb_indexer_rebuild(st, idx, &n)
                                     : kb_indexer_run(st, idx, false, &n);
    free(idx);
    kb_store_free(st);
    if (err) {
        fprintf(stderr, "kb: index failed: %s\n", kb_strerror(err));
        return 1;
    }
    printf("%zu articles indexed\n", n);
    return 0;
}

