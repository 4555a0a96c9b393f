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
/* Write n entries (borrowed) in one transaction. */
enum kb_err kb_store_log_searches(struct kb_store *st, const struct kb_search_log_entry *e,
                                  size_t n) KB_MUST_CHECK;

#endif
