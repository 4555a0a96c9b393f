/* kb/store/desk.h: each agent's desk in the console: the articles they viewed lately and the
 * ones they pinned (the tables are documented in desk.c). Rows belong to a user (users.id):
 * an API token, which is nobody, has no desk. Writes run on the writer thread (the caller's
 * transaction); reads on the request's connection. */
#ifndef KB_STORE_DESK_H
#define KB_STORE_DESK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

#define KB_DESK_RECENT_MAX 20 /* recently viewed articles kept per agent, the newest */
#define KB_DESK_PINS_MAX 50   /* pinned articles per agent */

/* An article on a desk. Strings owned by the item, never NULL. */
struct kb_desk_item {
    int64_t article_id;
    char *slug, *title, *lang, *audience, *status;
    int64_t at; /* when it was viewed, or pinned (unix milliseconds) */
};
void kb_desk_items_free(struct kb_desk_item *items, size_t n); /* no-op on NULL */

/* Times are unix milliseconds (desk.c keeps them increasing per user). */
/* User user_id viewed article_id at `at`: it becomes their most recent, and their list keeps
 * its KB_DESK_RECENT_MAX newest. */
enum kb_err kb_store_desk_viewed(struct kb_store *st, int64_t user_id, int64_t article_id,
                                 int64_t at) KB_MUST_CHECK;
/* Pin article_id for user_id (*added: false when it was pinned already). KB_ETOOBIG when
 * the user has KB_DESK_PINS_MAX pins. */
enum kb_err kb_store_desk_pin(struct kb_store *st, int64_t user_id, int64_t article_id,
                              int64_t at, bool *added) KB_MUST_CHECK;
/* Unpin it (*removed: false when it was not pinned). */
enum kb_err kb_store_desk_unpin(struct kb_store *st, int64_t user_id, int64_t article_id,
                                bool *removed) KB_MUST_CHECK;

/* The user's recent articles (newest first) or pins (latest pinned first), only those still
 * visible in scope (an article archived or made internal since leaves the list shown).
 * *items is the caller's: kb_desk_items_free(*items, *n). */
enum kb_err kb_store_desk_recent(struct kb_store *st, int64_t user_id, enum kb_store_scope scope,
                                 struct kb_desk_item **items, size_t *n) KB_MUST_CHECK;
enum kb_err kb_store_desk_pins(struct kb_store *st, int64_t user_id, enum kb_store_scope scope,
                               struct kb_desk_item **items, size_t *n) KB_MUST_CHECK;

#endif
