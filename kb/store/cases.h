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
    int64_t assignee_id;          /* the user it is assigned to, 0 when nobody */
    char *assignee;               /* that user's login, NULL when nobody */
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

/* Set the status (one of new, open, pending, solved, closed: kb/crm decides which moves are
 * allowed) or the assignee (a user's id, 0 for nobody) of case id at now, in the caller's
 * transaction. KB_ENOTFOUND for an unknown case. */
enum kb_err kb_store_case_set_status(struct kb_store *st, int64_t id, const char *status,
                                     int64_t now) KB_MUST_CHECK;
enum kb_err kb_store_case_set_assignee(struct kb_store *st, int64_t id, int64_t user_id,
                                       int64_t now) KB_MUST_CHECK;

/* ---- the agents' inbox --------------------------------------------------------------- */

#define KB_CASES_OFFSET_MAX 10000 /* the inbox pages this deep at most */

/* Which cases the inbox lists; every pointer borrowed for the call. */
struct kb_case_filter {
    const char *status; /* NULL: any */
    const char *lang;   /* NULL: any */
    enum { KB_ASSIGNED_ANY, KB_ASSIGNED_TO, KB_ASSIGNED_NOBODY } assigned;
    int64_t assignee_id; /* for KB_ASSIGNED_TO */
    const char *q;       /* NULL: any; else a part of the reference, name, email, phone or
                          * subject (case aside; at least 3 characters use the trigram index,
                          * shorter ones scan it) */
};
/* A line of the inbox. Strings owned; name and assignee NULL when absent, the others never. */
struct kb_case_item {
    int64_t id;
    char *ref, *status, *subject, *lang, *name, *assignee;
    int64_t created_at;
};
void kb_case_items_free(struct kb_case_item *items, size_t n); /* no-op on NULL */
/* The cases f selects, newest first (cases get increasing ids as they are opened), at most
 * limit (1-100) from offset (at most KB_CASES_OFFSET_MAX), and *total: how many f selects.
 * *items: kb_case_items_free(*items, *n). KB_EINVAL for limits out of range. */
enum kb_err kb_store_cases_inbox(struct kb_store *st, const struct kb_case_filter *f,
                                 size_t limit, size_t offset, struct kb_case_item **items,
                                 size_t *n, int64_t *total) KB_MUST_CHECK;

#endif
