/* kb/store/outbox.h: events waiting for delivery to the company's CRM, and every delivery
 * attempt (tables documented in outbox.c). kb/crm owns the event state machine and the
 * delivery thread; this file reads and writes rows. Times are unix milliseconds. */
#ifndef KB_STORE_OUTBOX_H
#define KB_STORE_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

/* Queue an event (in the caller's transaction, beside what it tells about): due now. */
enum kb_err kb_store_outbox_add(struct kb_store *st, const char *event_id, const char *type,
                                int64_t case_id, const char *payload, int64_t now_ms) KB_MUST_CHECK;

/* An event row; strings owned (last_error NULL when none). */
struct kb_outbox_row {
    int64_t id;
    char *event_id, *type, *payload;
    char *state; /* due | delivered | failed | disabled */
    int64_t case_id;
    int attempts;
    int64_t next_at, created_at, delivered_at; /* delivered_at 0 until delivered */
    int last_status;                           /* HTTP status of the last attempt, 0: none */
    char *last_error;
};
void kb_outbox_row_free(struct kb_outbox_row *r); /* no-op on NULL */
void kb_outbox_rows_free(struct kb_outbox_row **rows, size_t n);

/* The oldest due event whose time has come (next_at <= now_ms); KB_ENOTFOUND when none. */
enum kb_err kb_store_outbox_next(struct kb_store *st, int64_t now_ms,
                                 struct kb_outbox_row **out) KB_MUST_CHECK;
/* The earliest next_at of the due events; KB_ENOTFOUND when none is due. */
enum kb_err kb_store_outbox_next_time(struct kb_store *st, int64_t *at_ms) KB_MUST_CHECK;
/* Record that attempt number `attempt` of event_id starts (to url) before it is sent: a crash
 * during the POST leaves it unfinished, and the event still due. */
enum kb_err kb_store_outbox_attempt_begin(struct kb_store *st, const char *event_id, int attempt,
                                          const char *url, int64_t now_ms) KB_MUST_CHECK;
/* Record how an attempt ended (status 0: no HTTP answer; error may be NULL) and the event's new
 * state and next time. */
enum kb_err kb_store_outbox_attempt_end(struct kb_store *st, const char *event_id, int attempt,
                                        int status, const char *error, const char *state,
                                        int64_t next_at_ms, int64_t now_ms) KB_MUST_CHECK;
/* Events of a case, oldest first. */
enum kb_err kb_store_outbox_for_case(struct kb_store *st, int64_t case_id,
                                     struct kb_outbox_row ***rows, size_t *n) KB_MUST_CHECK;

/* One attempt of an event. */
struct kb_outbox_attempt {
    int attempt;
    char *url;
    int64_t started_at, finished_at; /* finished_at 0: interrupted (kb stopped during it) */
    int status;
    char *error; /* NULL when none */
};
void kb_outbox_attempts_free(struct kb_outbox_attempt *v, size_t n);
enum kb_err kb_store_outbox_attempts(struct kb_store *st, const char *event_id,
                                     struct kb_outbox_attempt **v, size_t *n) KB_MUST_CHECK;
/* Make a case's events due now: failed or disabled ones from their first attempt again, due
 * ones without waiting for their next time. *count receives how many. */
enum kb_err kb_store_outbox_redeliver(struct kb_store *st, int64_t case_id, int64_t now_ms,
                                      size_t *count) KB_MUST_CHECK;

/* Endpoints that answered 410 Gone: nothing more is sent to them. */
enum kb_err kb_store_endpoint_disabled(struct kb_store *st, const char *url,
                                       bool *disabled) KB_MUST_CHECK;
enum kb_err kb_store_endpoint_disable(struct kb_store *st, const char *url, const char *reason,
                                      int64_t now_ms) KB_MUST_CHECK;
enum kb_err kb_store_endpoint_enable(struct kb_store *st, const char *url) KB_MUST_CHECK;
/* Forget every disabled endpoint (an operator asked to deliver again); *count: how many. */
enum kb_err kb_store_endpoints_clear(struct kb_store *st, size_t *count) KB_MUST_CHECK;

#endif
