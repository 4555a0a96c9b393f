/* kb/store/queue.h: the index queue: article changes the Xapian index has not applied yet.
 *
 * Invariant: every statement that changes what the index shows of an article inserts an
 * index_queue row in the same transaction; the indexer deletes rows only after the Xapian
 * commit, so a crash between the two commits leaves rows that the next start replays. */
#ifndef KB_STORE_QUEUE_H
#define KB_STORE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

struct kb_queue_item {
    int64_t qid, article_id;
};
/* Up to max pending rows with a queue id above `after`, oldest first. *items is malloc'd
 * (caller frees). */
enum kb_err kb_store_queue_fetch(struct kb_store *st, int64_t after, size_t max,
                                 struct kb_queue_item **items, size_t *n) KB_MUST_CHECK;
/* Delete queue rows with qid <= upto (after the index committed them). */
enum kb_err kb_store_queue_done(struct kb_store *st, int64_t upto) KB_MUST_CHECK;
/* The id of the last queue row (0 when the queue is empty): a rebuild reads every article
 * after taking it, so that only the rows above it are changes it may have missed. */
enum kb_err kb_store_queue_last(struct kb_store *st, int64_t *qid) KB_MUST_CHECK;
/* Up to max article ids above `after`, ascending, every status (what a rebuild indexes, one
 * batch at a time). *ids is malloc'd (caller frees). */
enum kb_err kb_store_article_ids(struct kb_store *st, int64_t after, size_t max, int64_t **ids,
                                 size_t *n) KB_MUST_CHECK;
size_t kb_store_queue_length(struct kb_store *st);

#endif
