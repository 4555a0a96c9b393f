/* kb/indexer.h: keeps the Xapian index in step with the SQLite store by replaying the
 * index queue (see store.c for the invariant). One writer at a time: Xapian's own lock
 * makes a second writer fail with KB_EBUSY rather than corrupt anything. */
#ifndef KB_INDEXER_H
#define KB_INDEXER_H

#include <stdbool.h>
#include <stddef.h>

#include "kb/err.h"
#include "kb/store.h"

/* Apply every queued change to the index in index_dir (created if missing), commit it, then
 * delete the applied queue rows. With synonyms, (re)load the stored synonym lists first.
 * *applied (may be NULL) receives the number of queue rows applied. Replaying is harmless. */
enum kb_err kb_indexer_run(struct kb_store *st, const char *index_dir, bool synonyms,
                           size_t *applied) KB_MUST_CHECK;

/* Rebuild the index from scratch from the store (kb index --rebuild). */
enum kb_err kb_indexer_rebuild(struct kb_store *st, const char *index_dir, size_t *count) KB_MUST_CHECK;

/* The index directory for a database path: "<db>.index" (malloc'd; caller frees). */
char *kb_indexer_dir_for(const char *db_path);

#endif
