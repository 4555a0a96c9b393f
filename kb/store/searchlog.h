/* kb/store/searchlog.h: the search log, for the analytics of editors: one row per query,
 * and the result a reader opened from it. */
#ifndef KB_STORE_SEARCHLOG_H
#define KB_STORE_SEARCHLOG_H

#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

struct kb_search_log_entry {
    int64_t id;         /* chosen by the caller (random), links the click to the query */
    int64_t at;         /* unix seconds */
    const char *query, *lang, *clicked_slug; /* clicked_slug non-NULL: a click on `id` */
    int64_t results;
};
/* Write an entry (borrowed), in the caller's transaction. */
enum kb_err kb_store_log_search(struct kb_store *st, const struct kb_search_log_entry *e) KB_MUST_CHECK;
/* Delete at most max queries and at most max clicks older than `before` (unix seconds):
 * the log is kept for a period (kb serve --search-log-days), then purged in short steps.
 * *removed receives how many rows went. */
enum kb_err kb_store_searchlog_purge(struct kb_store *st, int64_t before, size_t max,
                                     size_t *removed) KB_MUST_CHECK;

#endif
