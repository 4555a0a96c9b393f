/* kb/articles/indexer.h: keeps the Xapian index in step with the SQLite store by replaying the
 * index queue (see store.c for the invariant). One writer at a time: Xapian's own lock
 * makes a second writer fail with KB_EBUSY rather than corrupt anything. */
#ifndef KB_INDEXER_H
#define KB_INDEXER_H

#include <stdbool.h>
#include <stddef.h>

#include "kb/base/err.h"
#include "kb/articles/article.h"
#include "kb/store/articles.h"

/* Apply every queued change to the index in index_dir (created if missing), commit it, then
 * delete the applied queue rows. With synonyms, (re)load the stored synonym lists first.
 * *applied (may be NULL) receives the number of queue rows applied. Replaying is harmless. */
enum kb_err kb_indexer_run(struct kb_store *st, const char *index_dir, bool synonyms,
                           size_t *applied) KB_MUST_CHECK;

/* kb import's live indexer: new articles are indexed while the import goes on parsing and
 * storing the next files, committed in batches although the store's transaction is still
 * open (the index is marked "ahead" meanwhile; see indexer.c).
 *   begin   open the index for writing. Fails (KB_EBUSY) when another writer has it or it
 *           must be rebuilt first: import without it, then kb_indexer_run.
 *   planned, stored   the kb_import_hook: lay an empty index out for the files found;
 *           index an article the store just created (updates and archives are left to the
 *           queue).
 *   finish  after the store committed: apply the rest of the queue, clear the mark.
 *   abort   after the store rolled back (st: the store, to rebuild the index from when a
 *           batch was committed; NULL leaves that to the next writer, as a crash would).
 *           Frees ix; finish frees it too, even on error. */
struct kb_indexer;
enum kb_err kb_indexer_begin(const char *index_dir, struct kb_indexer **out) KB_MUST_CHECK;
enum kb_err kb_indexer_planned(void *ud, size_t files) KB_MUST_CHECK;
enum kb_err kb_indexer_stored(void *ud, const struct kb_article *a,
                              const struct kb_put_info *put) KB_MUST_CHECK;
enum kb_err kb_indexer_finish(struct kb_indexer *ix, struct kb_store *st, bool synonyms,
                              size_t *applied) KB_MUST_CHECK;
void kb_indexer_abort(struct kb_indexer *ix, struct kb_store *st);

/* Rebuild the index from scratch from the store (kb index --rebuild). */
enum kb_err kb_indexer_rebuild(struct kb_store *st, const char *index_dir, size_t *count) KB_MUST_CHECK;

/* The index directory for a database path: "<db>.index" (malloc'd; caller frees). */
char *kb_indexer_dir_for(const char *db_path);

#endif
