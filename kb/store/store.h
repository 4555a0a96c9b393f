/* kb/store/store.h: the SQLite store, source of truth for everything kb keeps. One connection
 * per thread; WAL lets readers run beside the single writer. The schema and its migrations
 * are documented in store.c; each family of tables has its own file and header:
 *
 *   articles.h   articles and their revisions (what editors write, what readers see)
 *   queue.h      the index queue (changes the Xapian index has not applied yet)
 *   feedback.h   "was this helpful?"
 *   searchlog.h  the search log and clicks, for editors' analytics
 *   synonyms.h   synonym files as last imported */
#ifndef KB_STORE_H
#define KB_STORE_H

#include <stdbool.h>

#include "kb/base/err.h"

struct kb_store; /* opaque: one sqlite3 connection and its prepared statements */

/* Open (creating and migrating unless readonly) the database at path.
 * *out is owned by the caller: kb_store_free(). */
enum kb_err kb_store_open(const char *path, bool readonly, struct kb_store **out) KB_MUST_CHECK;
void kb_store_free(struct kb_store *st); /* no-op on NULL */
/* Last SQLite error message of this connection (static until the next call). */
const char *kb_store_errmsg(struct kb_store *st);

enum kb_err kb_store_begin(struct kb_store *st) KB_MUST_CHECK;    /* BEGIN IMMEDIATE */
enum kb_err kb_store_commit(struct kb_store *st) KB_MUST_CHECK;
void kb_store_rollback(struct kb_store *st);
/* Make every later commit of this connection durable before it returns (synchronous=FULL).
 * By default (NORMAL, WAL) a commit reaches the disk at the next checkpoint: a power cut
 * can take back the last commits, consistently. A writer whose changes go on to the search
 * index needs FULL: Xapian syncs its commits, and an index holding articles the database
 * lost would never be repaired (their queue rows are lost with them). Not for serving:
 * a page view's counter would wait for the disk. */
enum kb_err kb_store_durable(struct kb_store *st) KB_MUST_CHECK;

/* Make every commit so far durable (fsync of the database and its WAL): for a writer that
 * committed without syncing and whose changes go on to the search index (see
 * kb_store_durable). */
enum kb_err kb_store_sync(struct kb_store *st) KB_MUST_CHECK;

/* Visibility of what a reader may see (mirrors search_scope). */
enum kb_store_scope { KB_SCOPE_PUBLIC = 0, KB_SCOPE_INTERNAL = 1, KB_SCOPE_ALL = 2 };

#endif
