/* kb/http/usage.h: what readers do, for editors' analytics: page views, searches and the
 * results opened from them, and "was this helpful?" answers. Every write goes through the
 * store's writer thread (kb/store/writer.h), grouped into short transactions: a request never
 * writes, nor waits for a write. Searches' ids go out signed, so that a click cannot be
 * credited to someone else's search. */
#ifndef KB_HTTP_USAGE_H
#define KB_HTTP_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/writer.h"

#define KB_USAGE_TOKEN_MAX 48 /* bytes of a search token, NUL included */

/* Start: w (borrowed, must outlive kb_usage_stop) takes the writes; the search log is kept
 * for log_days days (0: 90), purged every hour. */
enum kb_err kb_usage_start(struct kb_store_writer *w, int log_days) KB_MUST_CHECK;
void kb_usage_stop(void);

/* Queue a page view of article id. */
void kb_usage_view(int64_t article_id);
/* A new search: its id (time-ordered, unique in the process) and the token that names it in
 * links (id and a MAC under a key of this process), into token. The query (cut at 500 bytes)
 * is logged unless log is false (the caller's address went over its rate). */
int64_t kb_usage_search(const char *query, const char *lang, int64_t results, bool log,
                        char token[KB_USAGE_TOKEN_MAX]);
/* A result opened from the search a token names; a token that does not verify is ignored. */
void kb_usage_click(const char *token, const char *slug);
/* A "was this helpful?" answer (comment may be NULL; cut at 2,000 bytes). */
void kb_usage_feedback(int64_t article_id, bool helpful, const char *comment);
/* Writes refused because the writer's queue was full (a stuck database), since start. */
uint64_t kb_usage_dropped(void);

#endif
