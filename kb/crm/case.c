/* kb/crm/case.c: cases: references, the case JSON, opening a case with its event, and the
 * agents' work on it (status, assignee, notes, linked articles), each change with its history
 * row and its event.
 *
 * Case state machine (the status column; the chat opens cases, agents move them in the
 * console or through the API):
 *
 *   kb_crm_case_create ──► new ──kb_crm_case_move──► open | pending | solved | closed
 *                          open ──kb_crm_case_move──► pending | solved | closed
 *                       pending ──kb_crm_case_move──► open | solved | closed
 *                        solved ──kb_crm_case_move──► open (reopened) | closed
 *                        closed ──kb_crm_case_move──► open (reopened)
 *
 *   Any other move is refused (KB_EDENIED: HTTP 409): nothing goes back to new, a closed case
 *   is reopened before it is worked again. A "move" to the status a case has is no change.
 *   kb_crm_case_assign, kb_crm_case_note and kb_crm_case_link change no status.
 *
 * A case is immutable in what the customer gave (contact, consent, the transcript up to the
 * moment it was opened, the articles shown); its status and assignee move, and notes and
 * linked articles are added. Every change writes a case_history row (created, status,
 * assignee, note, article: kb/store/casework.c) and queues an event for the CRM in the same
 * transaction, so the CRM sees what kb sees:
 *
 *   case.created  data: kb_crm_case_json, exactly (the same as `kb case show --json`)
 *   case.updated  data: kb_crm_case_json + "assignee" (login or null) +
 *                 "change": {"field": status|assignee|note|article, "from", "to"}
 *                 (a note's text and a linked article's slug are in change.to: each note
 *                 reaches the CRM once, and an event's size does not grow with the case)
 *
 * A change of two fields (status and assignee in one PATCH) is two history rows and two
 * events, in that order, in one transaction.
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
#include "kb/base/text.h"
#include "kb/store/accounts.h"
#include "kb/store/articles.h"
#include "kb/store/casework.h"
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

/* What an event says changed (NULL for case.created). */
struct change {
    const char *field, *from, *to;
};

/* Queue event `type` about the stored case ref, in the caller's transaction: its data is the
 * case JSON, plus the assignee and the change for case.updated. */
static enum kb_err queue_event(struct kb_store *st, const char *type, const char *ref,
                               const struct change *ch, int64_t now)
{
    struct kb_case_row *row = NULL;
    enum kb_err err = kb_store_case_get(st, ref, &row);
    if (err)
        return err;
    char ts[32], id[40];
    kb_crm_iso8601(now, ts, sizeof ts);
    kb_crm_event_id(id, sizeof id);
    json_t *data = kb_crm_case_json(row);
    if (data && ch &&
        (json_object_set_new(data, "assignee", str_or_null(row->assignee)) ||
         json_object_set_new(data, "change",
                             json_pack("{s:s, s:o, s:o}", "field", ch->field, "from",
                                       str_or_null(ch->from), "to", str_or_null(ch->to))))) {
        json_decref(data);
        data = NULL;
    }
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
        err = kb_store_case_history_add(st, id, now, "chat", "created", NULL, "new");
    if (!err)
        err = queue_event(st, "case.created", ref, NULL, now);
out:
    free(transcript);
    free(articles);
    return err;
}

/* ---- the state machine and the agents' changes --------------------------------------- */

static const char *const statuses[] = {"new", "open", "pending", "solved", "closed"};

/* The moves of the diagram above, row by row (NULL-terminated). */
static const char *const moves[][5] = {
    {"open", "pending", "solved", "closed", NULL}, /* from new */
    {"pending", "solved", "closed", NULL},         /* from open */
    {"open", "solved", "closed", NULL},            /* from pending */
    {"open", "closed", NULL},                      /* from solved (open: reopened) */
    {"open", NULL},                                /* from closed (reopened) */
};
static const char *const no_moves[] = {NULL};

static int status_index(const char *status)
{
    for (size_t i = 0; status && i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(status, statuses[i]) == 0)
            return (int)i;
    return -1;
}

bool kb_crm_status_valid(const char *status)
{
    return status_index(status) >= 0;
}

const char *const *kb_crm_case_moves(const char *from)
{
    int i = status_index(from);
    return i < 0 ? no_moves : moves[i];
}

bool kb_crm_case_move_ok(const char *from, const char *to)
{
    for (const char *const *m = kb_crm_case_moves(from); *m; m++)
        if (to && strcmp(*m, to) == 0)
            return true;
    return false;
}

/* Record one change of case r: its history row, then its event. */
static enum kb_err changed(struct kb_store *st, const struct kb_case_row *r, const char *actor,
                           const struct change *ch, int64_t now)
{
    enum kb_err err = kb_store_case_history_add(st, r->id, now, actor, ch->field, ch->from,
                                                ch->to);
    return err ? err : queue_event(st, "case.updated", r->ref, ch, now);
}

enum kb_err kb_crm_case_move(struct kb_store *st, const char *ref, const char *to,
                             const char *actor, int64_t now, bool *done)
{
    *done = false;
    if (!kb_crm_status_valid(to))
        return KB_EINVAL;
    struct kb_case_row *r = NULL;
    enum kb_err err = kb_store_case_get(st, ref, &r);
    if (err)
        return err;
    if (strcmp(r->status, to) == 0)
        goto out; /* no change */
    if (!kb_crm_case_move_ok(r->status, to)) {
        err = KB_EDENIED;
        goto out;
    }
    err = kb_store_case_set_status(st, r->id, to, now);
    if (!err) {
        struct change ch = {"status", r->status, to};
        err = changed(st, r, actor, &ch, now);
    }
    *done = !err;
out:
    kb_case_row_free(r);
    return err;
}

enum kb_err kb_crm_case_assign(struct kb_store *st, const char *ref, const char *login,
                               const char *actor, int64_t now, bool *done)
{
    *done = false;
    struct kb_case_row *r = NULL;
    struct kb_user_row *u = NULL;
    enum kb_err err = kb_store_case_get(st, ref, &r);
    if (err)
        return err;
    if (login) {
        err = kb_store_user_by_login(st, login, &u);
        if (err == KB_ENOTFOUND || (!err && u->disabled))
            err = KB_EINVAL;
        if (err)
            goto out;
    }
    int64_t uid = u ? u->id : 0;
    if (uid == r->assignee_id)
        goto out; /* no change */
    err = kb_store_case_set_assignee(st, r->id, uid, now);
    if (!err) {
        struct change ch = {"assignee", r->assignee, u ? u->login : NULL};
        err = changed(st, r, actor, &ch, now);
    }
    *done = !err;
out:
    kb_user_row_free(u);
    kb_case_row_free(r);
    return err;
}

enum kb_err kb_crm_case_note(struct kb_store *st, const char *ref, const char *text,
                             const char *author, int64_t now)
{
    size_t n = text ? strlen(text) : 0;
    if (n == 0 || n > KB_CRM_NOTE_MAX || !kb_text_valid_utf8(text, n))
        return KB_EINVAL;
    struct kb_case_row *r = NULL;
    enum kb_err err = kb_store_case_get(st, ref, &r);
    if (err)
        return err;
    int64_t count = 0;
    err = kb_store_case_note_count(st, r->id, &count);
    if (!err && count >= KB_CRM_NOTES_MAX)
        err = KB_ETOOBIG;
    if (!err)
        err = kb_store_case_note_add(st, r->id, author, text, now);
    if (!err) {
        struct change ch = {"note", NULL, text};
        err = changed(st, r, author, &ch, now);
    }
    kb_case_row_free(r);
    return err;
}

enum kb_err kb_crm_case_link(struct kb_store *st, const char *ref, const char *slug,
                             const char *actor, int64_t now, bool *done)
{
    *done = false;
    struct kb_case_row *r = NULL;
    struct kb_article_row *a = NULL;
    enum kb_err err = kb_store_case_get(st, ref, &r);
    if (err)
        return err;
    /* What agents may read: public and internal articles, published. */
    err = kb_store_get_slug(st, slug, KB_SCOPE_INTERNAL, &a);
    if (err == KB_ENOTFOUND)
        err = KB_EINVAL;
    int64_t count = 0;
    if (!err)
        err = kb_store_case_article_count(st, r->id, &count);
    if (!err && count >= KB_CRM_LINKS_MAX)
        err = KB_ETOOBIG;
    bool added = false;
    if (!err)
        err = kb_store_case_article_link(st, r->id, a->id, actor, now, &added);
    if (!err && added) {
        struct change ch = {"article", NULL, a->slug};
        err = changed(st, r, actor, &ch, now);
    }
    *done = !err && added;
    kb_article_row_free(a);
    kb_case_row_free(r);
    return err;
}

/* ---- the case for agents --------------------------------------------------------------- */

static json_t *notes_json(const struct kb_case_note *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        char at[32];
        kb_crm_iso8601(v[i].at, at, sizeof at);
        if (json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "at", at, "author",
                                               v[i].author, "text", v[i].text))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *history_json(const struct kb_case_change *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        char at[32];
        kb_crm_iso8601(v[i].at, at, sizeof at);
        if (json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o, s:o}", "at", at, "actor",
                                               v[i].actor, "change", v[i].change, "from",
                                               str_or_null(v[i].from), "to",
                                               str_or_null(v[i].to)))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *links_json(const struct kb_case_article *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        char url[160];
        snprintf(url, sizeof url, "/a/%s", v[i].slug);
        if (json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "slug", v[i].slug, "title",
                                               v[i].title, "url", url))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

enum kb_err kb_crm_case_agent_json(struct kb_store *st, const struct kb_case_row *r,
                                   json_t **out)
{
    *out = NULL;
    struct kb_case_note *notes = NULL;
    struct kb_case_change *hist = NULL;
    struct kb_case_article *links = NULL;
    size_t nn = 0, nh = 0, nl = 0;
    enum kb_err err = kb_store_case_notes(st, r->id, KB_CRM_NOTES_MAX, &notes, &nn);
    if (!err)
        err = kb_store_case_history(st, r->id, KB_CRM_HISTORY_MAX, &hist, &nh);
    if (!err)
        err = kb_store_case_articles(st, r->id, KB_CRM_LINKS_MAX, &links, &nl);
    json_t *o = err ? NULL : kb_crm_case_json(r);
    if (!err && (!o || json_object_set_new(o, "assignee", str_or_null(r->assignee)) ||
                 json_object_set_new(o, "notes", notes_json(notes, nn)) ||
                 json_object_set_new(o, "history", history_json(hist, nh)) ||
                 json_object_set_new(o, "linked_articles", links_json(links, nl))))
        err = KB_ENOMEM;
    kb_case_notes_free(notes, nn);
    kb_case_changes_free(hist, nh);
    kb_case_articles_free(links, nl);
    if (err) {
        json_decref(o);
        return err;
    }
    *out = o;
    return KB_OK;
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
