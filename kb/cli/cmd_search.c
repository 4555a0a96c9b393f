/* kb/cli/cmd_search.c: kb search: the ranking the API returns, on the terminal. */
#include "kb/cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "kb/articles/indexer.h"
#include "kb/base/buf.h"
#include "kb/http/api.h"
#include "search/search.h"

int kb_cli_search(struct kb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"lang", required_argument, NULL, 'l'},
                                         {"category", required_argument, NULL, 'c'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"offset", required_argument, NULL, 'o'},
                                         {"internal", no_argument, NULL, 'i'},
                                         {"verbatim", no_argument, NULL, 'v'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct search_query q = {.limit = 10};
    bool json = false;
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+l:c:n:o:ivjh", opts, NULL)) != -1) {
        switch (c) {
        case 'l': q.lang = optarg; break;
        case 'c': q.category = optarg; break;
        case 'n':
        case 'o':
            if (kb_cli_int(optarg, c == 'n' ? 1 : 0, c == 'n' ? 100 : 10000, &v)) {
                fprintf(stderr, "kb: --%s must be a number (limit 1-100, offset 0-10000)\n",
                        c == 'n' ? "limit" : "offset");
                return 2;
            }
            *(c == 'n' ? &q.limit : &q.offset) = (size_t)v;
            break;
        case 'i': q.scope = SEARCH_SCOPE_INTERNAL; break;
        case 'v': q.verbatim = true; break;
        case 'j': json = true; break;
        case 'h':
            puts("usage: kb [--db PATH] search [--lang L] [--category C] [--limit N] "
                 "[--offset N] [--internal] [--verbatim] [--json] QUERY...\n"
                 "  prints the ranking the API returns; --internal includes agents' articles;\n"
                 "  --verbatim searches the words as typed (no typo correction)");
            return 0;
        default: return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "kb: search needs a query (see --help)\n");
        return 2;
    }
    struct kb_buf text;
    kb_buf_init(&text, 100000);
    for (int i = optind; i < argc; i++) {
        if ((i > optind && kb_buf_putc(&text, ' ')) || kb_buf_puts(&text, argv[i])) {
            fprintf(stderr, "kb: query too long\n");
            kb_buf_release(&text);
            return 2;
        }
    }
    q.text = text.data;
    char *dir = kb_indexer_dir_for(ctx->db);
    struct search_index *idx = NULL;
    struct search_result *r = NULL;
    int rc = 1;
    enum kb_err err = dir ? search_index_open(dir, false, &idx) : KB_ENOMEM;
    if (err) {
        fprintf(stderr, "kb: cannot open the search index of %s: %s (kb import or kb index builds it)\n",
                ctx->db, kb_strerror(err));
        goto out;
    }
    err = search_run(idx, &q, &r);
    if (err) {
        fprintf(stderr, "kb: search failed: %s\n", kb_strerror(err));
        goto out;
    }
    if (json) {
        json_t *o = kb_http_search_json(r, NULL);
        char *s = o ? json_dumps(o, KB_API_JSON_FLAGS) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        /* As the search page says it: the corrected query, or did-you-mean when nothing
         * was replaced and the query finds almost nothing. */
        if (r->corrected_query)
            printf("results for: %s; search instead for: %s (--verbatim)\n", r->corrected_query,
                   q.text);
        else if (r->did_you_mean)
            printf("did you mean: %s\n", r->did_you_mean);
        printf("%zu results (%.2f ms)\n", r->total, r->took_ms);
        for (size_t i = 0; i < r->nhits; i++)
            printf("%2zu. %-40s %s [%s, %s] %.3f\n", q.offset + i + 1, r->hits[i].slug,
                   r->hits[i].title, r->hits[i].lang, r->hits[i].category, r->hits[i].score);
    }
    rc = 0;
out:
    search_result_free(r);
    search_index_free(idx);
    free(dir);
    kb_buf_release(&text);
    return rc;
}

