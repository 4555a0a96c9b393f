/* search/fresh.h: search readers kept fresh by a thread of their own, for the threads that
 * serve people (kb serve's HTTP workers, the chat's bot workers).
 *
 * A reader must follow the index (kb import, the editor, a rebuild), and a reader that moves
 * to a new revision loads its in-memory data again (the vocabulary of every scope,
 * categories, field terms): 45-55 ms at 50,000 articles, 14 ms at the median and up to 61 ms
 * at 5,000 while an import grows the index. Reopening on the request path made one request
 * in a hundred (one chat message in fifty during an import) wait for it. Here a refresher
 * thread does it: every refresh_ms it refreshes a reader of its own (the probe); when that
 * moved, it opens a new reader for each slot (the probe keeps the new revision's shared data
 * alive, so each costs the rest only) and leaves it in the slot; the slot's owner takes it at
 * its next search_fresh_reader (a pointer swap under a mutex) and leaves its old reader for the
 * refresher to free. A slot's reader is thus at most refresh_ms and one open behind the index
 * (a search that meets a revision discarded meanwhile still reopens and retries itself:
 * search/query.cc).
 *
 * Ownership: the caller owns the refresher (search_fresh_stop) and each slot
 * (search_fresh_slot_free, before the refresher stops); a slot is used by one thread at a
 * time; the reader search_fresh_reader returns is the slot's, good until the next call on
 * that slot. */
#ifndef KB_SEARCH_FRESH_H
#define KB_SEARCH_FRESH_H

#include "kb/base/err.h"
#include "search/search.h"

struct search_fresh;
struct search_fresh_slot;

/* Start a refresher for the index in dir (copied), looking for a new revision every
 * refresh_ms. */
enum kb_err search_fresh_start(const char *dir, unsigned refresh_ms,
                               struct search_fresh **out) KB_MUST_CHECK;
/* Stop the thread and free the refresher (no-op on NULL); every slot is freed before. */
void search_fresh_stop(struct search_fresh *f);

/* A new slot, with no reader yet; NULL when out of memory. */
struct search_fresh_slot *search_fresh_slot_new(struct search_fresh *f);
/* Free a slot and its readers (no-op on NULL). */
void search_fresh_slot_free(struct search_fresh_slot *s);
/* The slot's reader, the newest the refresher left it; opened here the first time. NULL when
 * the index cannot be opened (tried again at the next call). */
struct search_index *search_fresh_reader(struct search_fresh_slot *s);

#endif
