/* kb/crm/case.c: cases: references, the case JSON, and opening a case with its event.
 *
 * Case state machine (agents move cases in the console; the chat only opens them):
 *
 *        kb_crm_case_create
 *              |
 *              v
 *            new ---> open ---> pending ---> solved ---> closed
 *                      ^  <---------'          |
 *                      '-----------------------'  (reopened)
 *
 * A case is immutable in what the customer gave (contact, consent, the transcript up to the
 * moment it was opened, the articles shown); its status moves. Every change queues an event
 * for the CRM in the same transaction, so the CRM sees what kb sees.
 *
 * References are KB-YYYY-NNNNNN: the year the case was opened and its number in that year,
 * six digits and more when needed. Numbers are handed out from memory (a mutex, seeded from
 * the database the first time a year is used), so that opening a case costs no read in the
 * writer's transaction; UNIQUE(year, number) in the store catches a second server on the same
 * database. */
#include "kb/crm/crm.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kb/base/log.h"
#include "kb/store/outbox.h"

static pthread_mutex_t ref_lock = PTHREAD_MUTEX_INITIALIZER;
static int ref_year;
static int64_t ref_last;

enum kb_err kb_crm_ref_next(struct kb_store *st, char ref[KB_CRM_REF_MAX], int *year,
                            int64_t *number)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int y = tm.tm_year + 1900;
    enum kb_err err = KB_OK;
    pthread_mutex_lock(&ref_lock);
    if (y != ref_year) {
        int64_t last = 0;
        err = kb_store_case_last_number(st, y, &last);
        if (!err) {
            ref_year = y;
            ref_last = last;
        }
    }
    if (!err) {
        *number = ++ref_last;
        *year = y;
    }
    pthread_mutex_unlock(&ref_lock);
    if (!err)
        snprintf(ref, KB_CRM_REF_MAX, "KB-%04d-%06lld", *year, (long long)*number);
    return err;
}

bool kb_crm_ref_valid(const char *s)
{
    if (strncmp(s, "KB-", 3) != 0)
        return false;
    s += 3;
    for (int i = 0; i < 4; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    if (s[4] != '-')
        return false;
    s += 5;
    size_t n = strlen(s);
    if (n < 6 || n > 9)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

void kb_crm_iso8601(int64_t t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *kb_crm_case_json(const struct kb_case_row *r)
{
    char created[32], consent[32];
    kb_crm_iso8601(r->created_at, created, sizeof created);
    kb_crm_iso8601(r->consent_at, consent, sizeof consent);
    json_t *transcript = json_loads(r->transcript, 0, NULL);
    json_t *articles = json_loads(r->articles, 0, NULL);
    if (!json_is_array(transcript) || !json_is_array(articles)) {
        json_decref(transcript);
        json_decref(articles);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:o, s:o, s:o}, s:{s:o, s:o}, s:o, s:o, s:o}",
                     "ref", r->ref, "status", r->status, "subject", r->subject, "lang", r->lang,
                     "created_at", created, "contact", "name", str_or_null(r->name), "email",
                     str_or_null(r->email), "phone", str_or_null(r->phone), "consent", "at",
                     r->consent_at ? json_string(consent) : json_null(), "text",
                     str_or_null(r->consent_text), "transcript", transcript, "articles",
                     articles, "conversation_id", str_or_null(r->conversation_public_id));
}

/* Queue event `type` with the stored case's JSON as data, in the caller's transaction. */
static enum kb_err queue_event(struct kb_store *st, const char *type, const char *ref,
                               int64_t now)
{
    struct kb_case_row *row = NULL;
    enum kb_err err = kb_store_case_get(st, ref, &row);
    if (err)
        return err;
    char ts[32], id[40];
    kb_crm_iso8601(now, ts, sizeof ts);
    kb_crm_event_id(id, sizeof id);
    json_t *data = kb_crm_case_json(row);
    json_t *ev = data ? json_pack("{s:s, s:s, s:o}", "type", type, "timestamp", ts, "data", data)
                      : NULL;
    char *body = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (!body)
        err = KB_ENOMEM;
    else
        err = kb_store_outbox_add(st, id, type, row->id, body, now * 1000);
    free(body);
    json_decref(ev);
    kb_case_row_free(row);
    return err;
}

enum kb_err kb_crm_case_create(struct kb_store *st, const char *ref, int year, int64_t number,
                               const struct kb_crm_case_new *c, int64_t now)
{
    char *transcript = json_dumps(c->transcript, JSON_COMPACT);
    char *articles = json_dumps(c->articles, JSON_COMPACT);
    enum kb_err err = KB_OK;
    if (!transcript || !articles) {
        err = KB_ENOMEM;
        goto out;
    }
    struct kb_case_in in = {
        .ref = ref, .year = year, .number = number, .status = "new", .subject = c->subject,
        .lang = c->lang, .name = c->name, .email = c->email, .phone = c->phone,
        .consent_at = c->consent_at, .consent_text = c->consent_text,
        .conversation_id = c->conversation_id, .transcript = transcript,
        .articles = articles, .now = now};
    int64_t id = 0;
    err = kb_store_case_insert(st, &in, &id);
    if (!err)
        err = queue_event(st, "case.created", ref, now);
out:
    free(transcript);
    free(articles);
    return err;
}

const char *kb_crm_status_label(const char *status, const char *lang)
{
    static const char *const labels[][3] = {
        {"new", "nouveau (pas encore pris en charge)", "new (not yet picked up)"},
        {"open", "en cours de traitement", "being handled"},
        {"pending", "en attente d'une réponse de votre part", "waiting for your answer"},
        {"solved", "résolu", "solved"},
        {"closed", "clos", "closed"},
    };
    int fr = lang && strcmp(lang, "fr") == 0;
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        if (status && strcmp(status, labels[i][0]) == 0)
            return labels[i][fr ? 1 : 2];
    return "unknown"; /* the contract of <call>case_status</call>: rules test for it */
}
