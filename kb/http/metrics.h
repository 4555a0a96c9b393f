/* kb/http/metrics.h: process counters for GET /metrics (Prometheus text format 0.0.4). Lock-free
 * atomics, so every request can count without contention. */
#ifndef KB_METRICS_H
#define KB_METRICS_H

#include <stdint.h>

#include "kb/base/buf.h"
#include "kb/base/err.h"
#include "kb/store/articles.h"
#include "kb/store/queue.h"

enum kb_metric_route {
    KB_ROUTE_PAGE,
    KB_ROUTE_API_SEARCH,
    KB_ROUTE_API_OTHER,
    KB_ROUTE_STATIC,
    KB_ROUTE_OTHER,
    KB_ROUTE_COUNT
};

void kb_metrics_request(enum kb_metric_route route, unsigned status, double seconds);
void kb_metrics_search(uint64_t results, double ms);
/* Append the exposition text; st gives article counts (may be NULL). */
enum kb_err kb_metrics_render(struct kb_buf *out, struct kb_store *st) KB_MUST_CHECK;

#endif
