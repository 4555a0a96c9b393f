/* kb/store/casework.h: what agents do on a case: its internal notes, the history of every
 * change, and the articles that answered it (tables documented in casework.c). kb/crm owns
 * the rules (which moves, who may be assigned, the events for the CRM); this file reads and
 * writes rows, in the caller's transaction. Times are unix seconds. */
#ifndef KB_STORE_CASEWORK_H
#define KB_STORE_CASEWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

/* ---- notes ------------------------------------------------------------------------- */

/* Add a note (author and text borrowed). */
enum kb_err kb_store_case_note_add(struct kb_store *st, int64_t case_id, const char *author,
                                   const char *text, int64_t at) KB_MUST_CHECK;
/* How many notes the case has. */
enum kb_err kb_store_case_note_count(struct kb_store *st, int64_t case_id,
                                     int64_t *n) KB_MUST_CHECK;

struct kb_case_note {
    int64_t at;
    char *author, *text; /* owned, never NULL */
};
void kb_case_notes_free(struct kb_case_note *v, size_t n); /* no-op on NULL */
/* The last max notes of a case, oldest first. *v: kb_case_notes_free(*v, *n). */
enum kb_err kb_store_case_notes(struct kb_store *st, int64_t case_id, size_t max,
                                struct kb_case_note **v, size_t *n) KB_MUST_CHECK;

/* ---- history ----------------------------------------------------------------------- */

/* Record a change: change is created, status, assignee, note or article; from and to may be
 * NULL (borrowed). */
enum kb_err kb_store_case_history_add(struct kb_store *st, int64_t case_id, int64_t at,
                                      const char *actor, const char *change, const char *from,
                                      const char *to) KB_MUST_CHECK;

struct kb_case_change {
    int64_t at;
    char *actor, *change; /* owned, never NULL */
    char *from, *to;      /* owned, NULL when none */
};
void kb_case_changes_free(struct kb_case_change *v, size_t n); /* no-op on NULL */
/* The last max changes of a case, oldest first. *v: kb_case_changes_free(*v, *n). */
enum kb_err kb_store_case_history(struct kb_store *st, int64_t case_id, size_t max,
                                  struct kb_case_change **v, size_t *n) KB_MUST_CHECK;

/* ---- linked articles --------------------------------------------------------------- */

/* Link article_id to the case (by: who). *added false when it was linked already. */
enum kb_err kb_store_case_article_link(struct kb_store *st, int64_t case_id, int64_t article_id,
                                       const char *by, int64_t at, bool *added) KB_MUST_CHECK;
/* How many articles the case has linked. */
enum kb_err kb_store_case_article_count(struct kb_store *st, int64_t case_id,
                                        int64_t *n) KB_MUST_CHECK;

struct kb_case_article {
    char *slug, *title; /* owned, never NULL: the article's current ones */
    int64_t linked_at;
};
void kb_case_articles_free(struct kb_case_article *v, size_t n); /* no-op on NULL */
/* The articles linked to a case, in the order they were linked, at most max. */
enum kb_err kb_store_case_articles(struct kb_store *st, int64_t case_id, size_t max,
                                   struct kb_case_article **v, size_t *n) KB_MUST_CHECK;
/* How many cases an article answered (its reuse, for editors). */
enum kb_err kb_store_article_case_count(struct kb_store *st, int64_t article_id,
                                        int64_t *n) KB_MUST_CHECK;

#endif
