/* kb/store/flags.h: flags agents raise on articles from the console (the answer is wrong,
 * outdated, or something is missing) for the editors, who mark them handled (the table is
 * documented in flags.c). Writes run on the writer thread; reads on the request's
 * connection.
 *
 * A flag's states (the function behind each move):
 *
 *   (none) ──kb_store_flag_add──► open ──kb_store_flag_set("handled")──► handled
 *                                  ▲                                        │
 *                                  └──────kb_store_flag_set("open")─────────┘  (reopened) */
#ifndef KB_STORE_FLAGS_H
#define KB_STORE_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

#define KB_FLAG_COMMENT_MAX 2000 /* bytes of a flag's comment */
#define KB_FLAGS_OFFSET_MAX 10000

/* True for "wrong", "outdated" and "missing". */
bool kb_flag_reason_valid(const char *reason);
/* True for "open" and "handled". */
bool kb_flag_status_valid(const char *status);

/* A new open flag on article_id by author (a login, or "token:NAME"), comment "" when none;
 * *id receives its id. KB_EINVAL for a bad reason or a comment over the limit. */
enum kb_err kb_store_flag_add(struct kb_store *st, int64_t article_id, const char *reason,
                              const char *comment, const char *author, int64_t at,
                              int64_t *id) KB_MUST_CHECK;
/* Move flag id to status ("open" or "handled") as actor; *changed false when it was there
 * already. KB_ENOTFOUND: no such flag. */
enum kb_err kb_store_flag_set(struct kb_store *st, int64_t id, const char *status,
                              const char *actor, int64_t at, bool *changed) KB_MUST_CHECK;

/* A flag with its article. Strings owned, never NULL ("" for handled_by while open). */
struct kb_flag {
    int64_t id, article_id, at, handled_at; /* handled_at 0 while open */
    char *slug, *title, *lang, *reason, *comment, *author, *status, *handled_by;
};
void kb_flags_free(struct kb_flag *flags, size_t n); /* no-op on NULL */
/* Flags of one status (NULL: both), newest first, at most limit from offset; *total: how
 * many there are. *flags is the caller's: kb_flags_free(*flags, *n). */
enum kb_err kb_store_flags_list(struct kb_store *st, const char *status, size_t limit,
                                size_t offset, struct kb_flag **flags, size_t *n,
                                int64_t *total) KB_MUST_CHECK;
/* One flag (KB_ENOTFOUND). *out is the caller's: kb_flags_free(*out, 1). */
enum kb_err kb_store_flag_get(struct kb_store *st, int64_t id, struct kb_flag **out) KB_MUST_CHECK;

#endif
