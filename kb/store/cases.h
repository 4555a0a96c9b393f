/* kb/store/cases.h: cases (tables documented in cases.c). kb/crm owns references, states and
 * the case JSON; this file reads and writes rows, in the caller's transaction. */
#ifndef KB_STORE_CASES_H
#define KB_STORE_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

/* A new case; every pointer borrowed for the call. name, email, phone, consent_text may be
 * NULL; transcript and articles are JSON arrays. */
struct kb_case_in {
    const char *ref;
    int year;
    int64_t number;
    const char *status, *subject, *lang;
    const char *name, *email, *phone;
    int64_t consent_at; /* unix seconds, 0 when none */
    const char *consent_text;
    int64_t conversation_id; /* 0 when none */
    const char *transcript, *articles;
    int64_t now;
};
/* Insert; *id receives the row id. KB_EEXISTS when the reference is taken. */
enum kb_err kb_store_case_insert(struct kb_store *st, const struct kb_case_in *c,
                                 int64_t *id) KB_MUST_CHECK;
/* The highest number given in year (0 when none). */
enum kb_err kb_store_case_last_number(struct kb_store *st, int year, int64_t *n) KB_MUST_CHECK;

/* A case row. Strings owned; name, email, phone and consent_text are NULL when absent, the
 * others never NULL. */
struct kb_case_row {
    int64_t id;
    char *ref, *status, *subject, *lang;
    char *name, *email, *phone;
    int64_t consent_at;
    char *consent_text;
    int64_t conversation_id;
    char *conversation_public_id; /* "" when none */
    char *transcript, *articles;  /* JSON arrays */
    char *delivery;               /* pending | delivered | failed: its CRM events, worst first */
    int64_t created_at, updated_at;
};
void kb_case_row_free(struct kb_case_row *r); /* no-op on NULL */
void kb_case_rows_free(struct kb_case_row **rows, size_t n);

/* The case with that reference; KB_ENOTFOUND otherwise. *out owned by the caller. */
enum kb_err kb_store_case_get(struct kb_store *st, const char *ref,
                              struct kb_case_row **out) KB_MUST_CHECK;
/* Cases newest first, filtered by status and delivery (NULL: any), at most limit from offset.
 * *rows: kb_case_rows_free(*rows, *n). */
enum kb_err kb_store_cases_list(struct kb_store *st, const char *status, const char *delivery,
                                size_t limit, size_t offset, struct kb_case_row ***rows,
                                size_t *n) KB_MUST_CHECK;

#endif
