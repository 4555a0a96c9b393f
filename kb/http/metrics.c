/* kb/http/metrics.c: counters and their Prometheus exposition (see metrics.h). */
#include "kb/http/metrics.h"

#include <stdatomic.h>

#include "kb/http/usage.h"

static const char *const route_name[KB_ROUTE_COUNT] = {"page", "api_search", "api_other",
                                                       "static", "other"};
static const char *const class_name[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

/* Latency buckets (seconds) of the request histogram. */
static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5};
#define NBUCKETS (sizeof bucket_le / sizeof bucket_le[0])

static _Atomic uint64_t requests[KB_ROUTE_COUNT][5];
static _Atomic uint64_t buckets[KB_ROUTE_COUNT][NBUCKETS];
static _Atomic uint64_t latency_us[KB_ROUTE_COUNT];
static _Atomic uint64_t searches, zero_results, search_us;

void kb_metrics_request(enum kb_metric_route route, unsigned status, double seconds)
{
    unsigned cls = status / 100;
    if (route >= KB_ROUTE_COUNT || cls < 1 || cls > 5)
        return;
    atomic_fetch_add_explicit(&requests[route][cls - 1], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&latency_us[route], (uint64_t)(seconds * 1e6),
                              memory_order_relaxed);
    for (size_t i = 0; i < NBUCKETS; i++)
        if (seconds <= bucket_le[i])
            atomic_fetch_add_explicit(&buckets[route][i], 1, memory_order_relaxed);
}

void kb_metrics_search(uint64_t results, double ms)
{
    atomic_fetch_add_explicit(&searches, 1, memory_order_relaxed);
    if (results == 0)
        atomic_fetch_add_explicit(&zero_results, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&search_us, (uint64_t)(ms * 1000.0), memory_order_relaxed);
}

enum kb_err kb_metrics_render(struct kb_buf *out, struct kb_store *st)
{
    enum kb_err err = kb_buf_puts(out, "# HELP kb_http_requests_total HTTP requests answered.\n"
                                       "# TYPE kb_http_requests_total counter\n");
    for (int r = 0; r < KB_ROUTE_COUNT && !err; r++)
        for (int c = 0; c < 5 && !err; c++)
            err = kb_buf_printf(out, "kb_http_requests_total{route=\"%s\",code=\"%s\"} %lu\n",
                                route_name[r], class_name[c],
                                (unsigned long)atomic_load(&requests[r][c]));
    if (!err)
        err = kb_buf_puts(out, "# HELP kb_http_request_duration_seconds Time to answer.\n"
                               "# TYPE kb_http_request_duration_seconds histogram\n");
    for (int r = 0; r < KB_ROUTE_COUNT && !err; r++) {
        uint64_t count = 0;
        for (int c = 0; c < 5; c++)
            count += atomic_load(&requests[r][c]);
        for (size_t i = 0; i < NBUCKETS && !err; i++)
            err = kb_buf_printf(out,
                                "kb_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"}"
                                " %lu\n",
                                route_name[r], bucket_le[i],
                                (unsigned long)atomic_load(&buckets[r][i]));
        if (!err)
            err = kb_buf_printf(
                out,
                "kb_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %lu\n"
                "kb_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                "kb_http_request_duration_seconds_count{route=\"%s\"} %lu\n",
                route_name[r], (unsigned long)count, route_name[r],
                (double)atomic_load(&latency_us[r]) / 1e6, route_name[r], (unsigned long)count);
    }
    if (!err)
        err = kb_buf_printf(
            out,
            "# HELP kb_search_queries_total Search queries run.\n"
            "# TYPE kb_search_queries_total counter\nkb_search_queries_total %lu\n"
            "# HELP kb_search_zero_results_total Searches that found nothing.\n"
            "# TYPE kb_search_zero_results_total counter\nkb_search_zero_results_total %lu\n"
            "# HELP kb_search_seconds_total Time spent searching.\n"
            "# TYPE kb_search_seconds_total counter\nkb_search_seconds_total %.6f\n"
            "# HELP kb_usage_dropped_total Views, searches, clicks and feedback not written "
            "(writer queue full).\n"
            "# TYPE kb_usage_dropped_total counter\nkb_usage_dropped_total %lu\n",
            (unsigned long)atomic_load(&searches), (unsigned long)atomic_load(&zero_results),
            (double)atomic_load(&search_us) / 1e6, (unsigned long)kb_usage_dropped());
    int64_t articles = 0, published = 0, queue = 0;
    if (!err && st && kb_store_counts(st, &articles, &published, &queue) == KB_OK)
        err = kb_buf_printf(out,
                            "# HELP kb_articles Articles in the database.\n"
                            "# TYPE kb_articles gauge\nkb_articles %ld\n"
                            "# HELP kb_articles_published Published articles.\n"
                            "# TYPE kb_articles_published gauge\nkb_articles_published %ld\n"
                            "# HELP kb_index_queue_length Changes not yet in the index.\n"
                            "# TYPE kb_index_queue_length gauge\nkb_index_queue_length %ld\n",
                            (long)articles, (long)published, (long)queue);
    return err;
}
