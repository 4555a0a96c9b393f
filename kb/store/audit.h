/* kb/store/audit.h: the audit log: who logged in (or failed to), who read and who changed
 * which case, which token was used (the table is documented in audit.c). Rows are never
 * changed; they hold no secret and no customer data (a case is named by its reference). */
#ifndef KB_STORE_AUDIT_H
#define KB_STORE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

/* Add an entry (strings borrowed; target, address and detail may be NULL). */
enum kb_err kb_store_audit_add(struct kb_store *st, int64_t at, const char *actor,
                               const char *action, const char *target, const char *address,
                               const char *detail) KB_MUST_CHECK;

struct kb_audit_row {
    int64_t id, at;
    char *actor, *action, *target, *address, *detail; /* owned, never NULL */
};
void kb_audit_rows_free(struct kb_audit_row *rows, size_t n);
/* Entries at or after `since` (unix seconds), oldest first, at most max. */
enum kb_err kb_store_audit_list(struct kb_store *st, int64_t since, size_t max,
                                struct kb_audit_row **rows, size_t *n) KB_MUST_CHECK;

#endif
