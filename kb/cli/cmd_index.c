/* kb/cli/cmd_index.c: kb index [--rebuild]. */
#include "kb/cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "kb/articles/indexer.h"
#include "kb/store/store.h"

int kb_cli_index(struct kb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"rebuild", no_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'}, {0}};
    bool rebuild = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+rh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': rebuild = true; break;
        case 'h':
            puts("usage: kb [--db PATH] index [--rebuild]\n"
                 "  apply pending changes to the search index; --rebuild rebuilds it from the "
                 "database");
            return 0;
        default: return 2;
        }
    }
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

