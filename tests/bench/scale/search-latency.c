/* tests/bench/scale/search-latency.c: in-process search latency on an imported database:
 * runs every query of a file (one per line) through search_run (French, public scope, top
 * 10, snippets and facets included) after a warm-up, and prints percentiles, and the CPU
 * time of a query (this thread's: the figure other processes on the machine disturb least).
 * usage: search-latency DB QUERIES
 * env: KB_BENCH_PREFIX=1 searches as the agents' console does as they type (prefix_last, the
 *      internal scope, every language; each line a prefix of what is typed); KB_BENCH_LEAD=1
 *      as the chat does (search_query.lead: no snippets, no facet counts) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kb/articles/indexer.h"
#include "search/search.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: search-latency DB QUERIES\n");
        return 2;
    }
    char *dir = kb_indexer_dir_for(argv[1]);
    struct search_index *idx = NULL;
    if (!dir || search_index_open(dir, false, &idx) != KB_OK) {
        fprintf(stderr, "cannot open the index of %s\n", argv[1]);
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    size_t cap = 1024, n = 0;
    char **queries = malloc(cap * sizeof *queries);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (n == cap)
            queries = realloc(queries, (cap *= 2) * sizeof *queries);
        queries[n++] = strdup(line);
    }
    fclose(f);
    double *lat = malloc(n * sizeof *lat);
    const char *pfx = getenv("KB_BENCH_PREFIX");
    bool console = pfx && strcmp(pfx, "1") == 0;
    size_t hits = 0;
    for (int pass = 0; pass < 2; pass++) { /* pass 0 warms the page cache */
        size_t runs = pass ? n : (n < 2000 ? n : 2000);
        double t0 = now_ms(), c0 = cpu_ms();
        for (size_t i = 0; i < runs; i++) {
            struct search_query q = {.text = queries[i], .lang = console ? NULL : "fr", .limit = 10,
                                     .prefix_last = console, .lead = getenv("KB_BENCH_LEAD") ? 200 : 0,
                                     .scope = console ? SEARCH_SCOPE_INTERNAL : SEARCH_SCOPE_PUBLIC};
            struct search_result *r = NULL;
            double s = now_ms();
            if (search_run(idx, &q, &r) != KB_OK)
                return 1;
            lat[i] = now_ms() - s;
            hits += r->nhits;
            search_result_free(r);
        }
        double total = now_ms() - t0, cpu = cpu_ms() - c0;
        if (pass) {
            qsort(lat, n, sizeof *lat, cmp_double);
            printf("%zu articles, %zu queries: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, "
                   "%.0f queries/s, CPU %.1f us/query (%.1f hits/query)\n",
                   search_index_count(idx), n, lat[n / 2], lat[n * 9 / 10], lat[n * 99 / 100],
                   lat[n - 1], (double)n / (total / 1e3), cpu * 1e3 / (double)n,
                   (double)hits / (double)(n + runs));
        }
    }
    search_index_free(idx);
    free(dir);
    return 0;
}
