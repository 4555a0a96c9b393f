/* kb/crm/crm.h: cases and their delivery to the company's CRM.
 *
 * A case is opened by the chat (kb/chat, <call>case_open</call>) inside the writer transaction
 * that stores the customer's message: the case row and the outbox row of its "case.created"
 * event commit together (kb_crm_case_create). The delivery thread (delivery.c) then signs and
 * POSTs each due event as Standard Webhooks 1.0 says, records every attempt, and retries on
 * the spec's schedule; a crash at any moment loses nothing and a delivered event is never sent
 * again. case.c documents the case state machine, delivery.c the event state machine. */
#ifndef KB_CRM_H
#define KB_CRM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kb/base/err.h"
#include "kb/store/cases.h"
#include "kb/store/store.h"

#define KB_CRM_REF_MAX 24 /* bytes of a reference, NUL included: "KB-2026-000123" */

/* ---- cases (case.c) ------------------------------------------------------------------ */

/* The next reference of the current year ("KB-YYYY-NNNNNN", six digits and more when a year
 * needs them) into ref. Numbers come from memory, seeded from st (any connection to the
 * database) the first time a year is used: one server per database. Thread-safe. */
enum kb_err kb_crm_ref_next(struct kb_store *st, char ref[KB_CRM_REF_MAX], int *year,
                            int64_t *number) KB_MUST_CHECK;
/* True when s has the form of a reference (KB-YYYY-NNNNNN). */
bool kb_crm_ref_valid(const char *s);

/* What a new case holds; every pointer borrowed for the call. name, email, phone and
 * consent_text may be NULL. transcript: array of {"seq","from","text","at"}; articles: array
 * of {"slug","title","url"}. */
struct kb_crm_case_new {
    const char *subject, *lang;
    const char *name, *email, *phone;
    int64_t consent_at; /* unix seconds, 0 when none */
    const char *consent_text;
    int64_t conversation_id;
    const json_t *transcript, *articles;
};
/* In the caller's transaction (st): insert case ref (status "new"), its "created" history
 * row, and queue its "case.created" event, whose data is exactly kb_crm_case_json of the
 * stored case. */
enum kb_err kb_crm_case_create(struct kb_store *st, const char *ref, int year, int64_t number,
                               const struct kb_crm_case_new *c, int64_t now) KB_MUST_CHECK;
/* The case JSON of the contract (the same in `kb case show --json` and in the webhook):
 * {"ref","status","subject","lang","created_at","contact":{"name","email","phone"},
 *  "consent":{"at","text"},"transcript":[...],"articles":[...],"conversation_id"}.
 * New reference; NULL when out of memory or the stored JSON is corrupt. */
json_t *kb_crm_case_json(const struct kb_case_row *r);
/* ---- the agents' work on a case (case.c: the state machine and the events) ----------- */

#define KB_CRM_NOTE_MAX 4000    /* bytes of a note */
#define KB_CRM_NOTES_MAX 1000   /* notes a case holds (and the case JSON shows) */
#define KB_CRM_LINKS_MAX 100    /* articles a case links */
#define KB_CRM_HISTORY_MAX 2000 /* changes the case JSON shows: the last ones */

/* True when status is one of new, open, pending, solved, closed. */
bool kb_crm_status_valid(const char *status);
/* The statuses a case in status `from` may move to, in the diagram's order: a static,
 * NULL-terminated list, empty for an unknown status. */
const char *const *kb_crm_case_moves(const char *from);
/* True when the state machine allows from -> to. */
bool kb_crm_case_move_ok(const char *from, const char *to);

/* The changes agents make. Each runs in the caller's transaction (the writer's), changes case
 * ref, writes its history row and queues its "case.updated" event; actor (a login, or
 * "token:NAME" for an integration) is borrowed, like every string. *done is false, and
 * nothing is written, when the change is none (the status or the assignee it already has, an
 * article already linked). KB_ENOTFOUND: no such case. On any error the caller rolls back. */
/* Move to status `to`. KB_EINVAL: not a status; KB_EDENIED: the state machine refuses. */
enum kb_err kb_crm_case_move(struct kb_store *st, const char *ref, const char *to,
                             const char *actor, int64_t now, bool *done) KB_MUST_CHECK;
/* Assign to the user `login` (case aside), or to nobody when NULL. KB_EINVAL: no active
 * (not disabled) user has that login. */
enum kb_err kb_crm_case_assign(struct kb_store *st, const char *ref, const char *login,
                               const char *actor, int64_t now, bool *done) KB_MUST_CHECK;
/* Add an internal note by author. KB_EINVAL: empty, over KB_CRM_NOTE_MAX bytes or not UTF-8;
 * KB_ETOOBIG: the case holds KB_CRM_NOTES_MAX notes already. */
enum kb_err kb_crm_case_note(struct kb_store *st, const char *ref, const char *text,
                             const char *author, int64_t now) KB_MUST_CHECK;
/* Link the article that answered the case. KB_EINVAL: no published article (public or
 * internal) has that slug; KB_ETOOBIG: the case links KB_CRM_LINKS_MAX articles already. */
enum kb_err kb_crm_case_link(struct kb_store *st, const char *ref, const char *slug,
                             const char *actor, int64_t now, bool *done) KB_MUST_CHECK;

/* The case as agents see it (GET /api/v1/cases/REF): kb_crm_case_json(r) plus "assignee"
 * (login or null), "notes" [{"at","author","text"}], "history"
 * [{"at","actor","change","from","to"}] (the last KB_CRM_HISTORY_MAX, oldest first) and
 * "linked_articles" [{"slug","title","url"}], read with st. *out: a new reference. */
enum kb_err kb_crm_case_agent_json(struct kb_store *st, const struct kb_case_row *r,
                                   json_t **out) KB_MUST_CHECK;

/* A case's status as the customer reads it, in lang (fr, else en). Static string; "unknown"
 * (in every language: rules compare with it) for a status it does not know. */
const char *kb_crm_status_label(const char *status, const char *lang);
/* Unix seconds as "2026-12-03T09:15:02Z" into out (at least 21 bytes). */
void kb_crm_iso8601(int64_t t, char *out, size_t n);

/* ---- delivery (delivery.c) ----------------------------------------------------------- */

struct kb_crm_config {
    const char *db_path;  /* the database (the thread opens its own connection) */
    const char *url;      /* the CRM's webhook URL; NULL: events wait, nothing is sent */
    const char *secret;   /* "whsec_" + base64 of 24 to 64 random bytes */
    double retry_scale;   /* multiplies the retry schedule (tests); 1 in production */
};
/* Start the delivery thread (copies cfg). KB_EINVAL with a logged reason when the URL or the
 * secret is malformed. At most one delivery thread per process. */
enum kb_err kb_crm_delivery_start(const struct kb_crm_config *cfg) KB_MUST_CHECK;
/* Wake the thread: an event was just committed. Thread-safe, cheap, no-op when not started. */
void kb_crm_delivery_kick(void);
/* Stop the thread; an attempt in flight is abandoned and stays due. No-op when not started. */
void kb_crm_delivery_stop(void);

/* ---- signing (webhook.c) ------------------------------------------------------------- */

#define KB_CRM_KEY_MAX 64

/* Decode a "whsec_<base64>" secret into key (*n bytes); KB_EINVAL when malformed or when the
 * key is shorter than 24 bytes or longer than KB_CRM_KEY_MAX. */
enum kb_err kb_crm_secret_decode(const char *secret, unsigned char key[KB_CRM_KEY_MAX],
                                 size_t *n) KB_MUST_CHECK;
/* The webhook-signature header value "v1,<base64 HMAC-SHA256 of id.timestamp.body>" into out
 * (at least 64 bytes). */
enum kb_err kb_crm_sign(const unsigned char *key, size_t keylen, const char *id, int64_t timestamp,
                        const char *body, size_t body_len, char *out, size_t n) KB_MUST_CHECK;
/* A new event id: "msg_" + 22 URL-safe base64 characters (128 random bits) into out (at
 * least 32 bytes). */
void kb_crm_event_id(char *out, size_t n);

#endif
