/* kb/http/api_cases.c: the agents' cases inbox, JSON API (a contract: other tools rely on these
 * paths and shapes). Every route needs the agent role at least (routes.c: anonymous callers
 * get 401, lower roles 403, a browser session's PATCH and POST need X-CSRF-Token).
 *
 *   GET   /api/v1/cases?status=&assignee=&lang=&q=&limit=&offset=
 *         {"cases":[{"ref","status","subject","lang","created_at","assignee",
 *         "contact":{"name"}}],"total"}, newest first. assignee: me (the signed-in caller),
 *         none (unassigned) or a login; q: part of the reference, name, email, phone or
 *         subject, case aside. limit 1-100 (25), offset 0-10000.
 *   GET   /api/v1/cases/REF        the case (kb_crm_case_agent_json): kb_crm_case_json's
 *         fields + "assignee", "notes", "history", "linked_articles". Audited: case.read.
 *   PATCH /api/v1/cases/REF        {"status","assignee"} (either or both; assignee a login
 *         or null): 200 the case; 400 bad body; 404; 409 a move the state machine refuses
 *         (nothing changed); 422 unknown or disabled assignee. Audited: case.update.
 *   POST  /api/v1/cases/REF/notes  {"text"} (1-4000 bytes): 201 {"at","author","text"}.
 *         Audited: case.note.
 *   POST  /api/v1/cases/REF/articles {"slug"}: 201 {"slug","title","url"} (200 when it was
 *         linked already); 422 when no published article (public or internal) has that slug.
 *         Audited: case.link.
 *   GET   /api/v1/articles/SLUG/cases   (editors) {"slug","cases":N}: how many cases the
 *         article answered.
 *
 * Errors are {"error":{"code","message"}}. Reads use the request's own connection; every
 * change goes through the writer thread (kb_http_case_edit), in one transaction with its
 * history rows, its case.updated events for the CRM and its audit entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kb/crm/crm.h"
#include "kb/http/route.h"
#include "kb/store/accounts.h"
#include "kb/store/audit.h"
#include "kb/store/casework.h"

#define LIST_DEFAULT 25

/* ---- changes, shared with the console's forms (pages_cases.c) ------------------------- */

void kb_http_actor(const struct kb_req *req, char *out, size_t n)
{
    snprintf(out, n, "%s%s", req->caller.by_token ? "token:" : "", req->caller.login);
}

struct edit_job {
    const struct kb_case_edit *e;
    const char *actor, *addr;
    int64_t now;
    bool changed;
};

/* On the writer thread, in its transaction: the changes, then the audit entry. */
static enum kb_err edit_write(struct kb_store *st, void *arg)
{
    struct edit_job *j = arg;
    const struct kb_case_edit *e = j->e;
    bool done = false;
    enum kb_err err = KB_OK;
    const char *action = "case.update";
    char detail[160] = "";
    j->changed = false;
    if (e->status) {
        err = kb_crm_case_move(st, e->ref, e->status, j->actor, j->now, &done);
        j->changed |= done;
        if (done)
            snprintf(detail, sizeof detail, "status=%s", e->status);
    }
    if (!err && e->assign) {
        err = kb_crm_case_assign(st, e->ref, e->assignee, j->actor, j->now, &done);
        j->changed |= done;
        size_t k = strlen(detail);
        if (done)
            snprintf(detail + k, sizeof detail - k, "%sassignee=%s", k ? " " : "",
                     e->assignee ? e->assignee : "-");
    }
    if (!err && e->note) {
        err = kb_crm_case_note(st, e->ref, e->note, j->actor, j->now);
        j->changed |= !err;
        action = "case.note"; /* the note's text stays out of the audit log */
    }
    if (!err && e->slug) {
        err = kb_crm_case_link(st, e->ref, e->slug, j->actor, j->now, &done);
        j->changed |= done;
        action = "case.link";
        snprintf(detail, sizeof detail, "%s", e->slug);
    }
    if (!err && j->changed)
        err = kb_store_audit_add(st, j->now, j->actor, action, e->ref, j->addr, detail);
    return err;
}

enum kb_err kb_http_case_edit(struct kb_req *req, const struct kb_case_edit *e, bool *changed)
{
    char actor[KB_AUTH_LOGIN_MAX + 8];
    kb_http_actor(req, actor, sizeof actor);
    struct edit_job j = {.e = e, .actor = actor, .addr = req->addr, .now = (int64_t)time(NULL)};
    enum kb_err err = kb_store_writer_run(req->cfg->writer, edit_write, &j);
    *changed = !err && j.changed;
    if (*changed)
        kb_crm_delivery_kick();
    return err;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void unavailable(struct kb_resp *resp, enum kb_err err)
{
    kb_resp_json_error(resp, err == KB_EBUSY ? 503 : 500, "unavailable", kb_strerror(err));
}

static bool lang_valid(const char *l)
{
    size_t n = strlen(l);
    bool ok = n >= 2 && n <= 3;
    for (size_t i = 0; ok && i < n; i++)
        ok = l[i] >= 'a' && l[i] <= 'z';
    return ok;
}

/* The JSON body as an object holding only keys of `allowed` (NULL-terminated); NULL with a
 * 400 in resp otherwise. */
static json_t *body_object(struct kb_req *req, struct kb_resp *resp, const char *const *allowed,
                           const char *expected)
{
    json_error_t jerr;
    json_t *in = strncmp(req->content_type, "application/json", 16) == 0
                     ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)
                     : NULL;
    bool ok = json_is_object(in);
    const char *key;
    json_t *v;
    json_object_foreach(ok ? in : NULL, key, v)
    {
        bool known = false;
        for (size_t i = 0; allowed[i]; i++)
            known |= strcmp(key, allowed[i]) == 0;
        ok &= known;
    }
    if (!ok) {
        json_decref(in);
        char msg[200];
        snprintf(msg, sizeof msg, "expected application/json %s", expected);
        kb_resp_json_error(resp, 400, "invalid_body", msg);
        return NULL;
    }
    return in;
}

/* The reference at the start of req->rest into ref, and what follows it (NULL when nothing).
 * False, with a 404 in resp, when it is not a reference. */
static bool case_ref(struct kb_req *req, struct kb_resp *resp, char ref[KB_CRM_REF_MAX],
                     const char **tail)
{
    const char *slash = strchr(req->rest, '/');
    size_t n = slash ? (size_t)(slash - req->rest) : strlen(req->rest);
    *tail = slash;
    if (n < KB_CRM_REF_MAX) {
        memcpy(ref, req->rest, n);
        ref[n] = 0;
        if (kb_crm_ref_valid(ref))
            return true;
    }
    kb_resp_json_error(resp, 404, "not_found", "no such case");
    return false;
}

/* The case as GET answers it, into resp with status. */
static void case_answer(struct kb_req *req, struct kb_resp *resp, const char *ref,
                        unsigned status)
{
    struct kb_case_row *r = NULL;
    json_t *o = NULL;
    enum kb_err err = kb_store_case_get(req->w->st, ref, &r);
    if (!err)
        err = kb_crm_case_agent_json(req->w->st, r, &o);
    kb_case_row_free(r);
    if (err == KB_ENOTFOUND) {
        kb_resp_json_error(resp, 404, "not_found", "no such case");
        return;
    }
    if (err) {
        unavailable(resp, err);
        return;
    }
    kb_resp_json(resp, o);
    if (resp->status == 200)
        resp->status = status;
}

/* The answer to a failed kb_http_case_edit. */
static void edit_failed(struct kb_resp *resp, enum kb_err err, const char *what)
{
    if (err == KB_ENOTFOUND)
        kb_resp_json_error(resp, 404, "not_found", "no such case");
    else if (err == KB_EDENIED)
        kb_resp_json_error(resp, 409, "invalid_transition",
                           "the case's state machine refuses this move (see the README)");
    else if (err == KB_EINVAL && strcmp(what, "assignee") == 0)
        kb_resp_json_error(resp, 422, "unknown_assignee", "no active user has that login");
    else if (err == KB_EINVAL && strcmp(what, "article") == 0)
        kb_resp_json_error(resp, 422, "unknown_article",
                           "no published article (public or internal) has that slug");
    else if (err == KB_EINVAL)
        kb_resp_json_error(resp, 400, "invalid_body", "invalid note");
    else if (err == KB_ETOOBIG)
        kb_resp_json_error(resp, 422, "too_many", "the case holds the most it may of these");
    else
        unavailable(resp, err);
}

/* ---- GET /api/v1/cases ------------------------------------------------------------------ */

void kb_api_cases_list(struct kb_req *req, struct kb_resp *resp)
{
    long limit, offset;
    if (kb_req_int(req, "limit", 1, 100, LIST_DEFAULT, &limit) ||
        kb_req_int(req, "offset", 0, KB_CASES_OFFSET_MAX, 0, &offset)) {
        kb_resp_json_error(resp, 400, "invalid_parameter",
                           "limit must be 1-100 and offset 0-10000");
        return;
    }
    struct kb_case_filter f = {.status = kb_req_arg(req, "status"),
                               .lang = kb_req_arg(req, "lang"),
                               .q = kb_req_arg(req, "q")};
    if ((f.status && !kb_crm_status_valid(f.status)) || (f.lang && !lang_valid(f.lang))) {
        kb_resp_json_error(resp, 400, "invalid_parameter",
                           "status is one of new, open, pending, solved, closed; lang a "
                           "language code");
        return;
    }
    const char *who = kb_req_arg(req, "assignee");
    bool nobody_matches = false;
    if (who && strcmp(who, "me") == 0) {
        if (!req->caller.user_id) {
            kb_resp_json_error(resp, 400, "invalid_parameter",
                               "assignee=me needs a signed-in user (an API token is nobody)");
            return;
        }
        f.assigned = KB_ASSIGNED_TO;
        f.assignee_id = req->caller.user_id;
    } else if (who && strcmp(who, "none") == 0) {
        f.assigned = KB_ASSIGNED_NOBODY;
    } else if (who) {
        struct kb_user_row *u = NULL;
        enum kb_err err = kb_store_user_by_login(req->w->st, who, &u);
        if (err && err != KB_ENOTFOUND) {
            unavailable(resp, err);
            return;
        }
        nobody_matches = err == KB_ENOTFOUND;
        f.assigned = KB_ASSIGNED_TO;
        f.assignee_id = u ? u->id : 0;
        kb_user_row_free(u);
    }
    struct kb_case_item *items = NULL;
    size_t n = 0;
    int64_t total = 0;
    if (!nobody_matches) {
        enum kb_err err = kb_store_cases_inbox(req->w->st, &f, (size_t)limit, (size_t)offset,
                                               &items, &n, &total);
        if (err) {
            unavailable(resp, err);
            return;
        }
    }
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        char at[32];
        kb_crm_iso8601(items[i].created_at, at, sizeof at);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:{s:o}}", "ref", items[i].ref,
                              "status", items[i].status, "subject", items[i].subject, "lang",
                              items[i].lang, "created_at", at, "assignee",
                              items[i].assignee ? json_string(items[i].assignee) : json_null(),
                              "contact", "name",
                              items[i].name ? json_string(items[i].name) : json_null());
        if (json_array_append_new(list, o)) {
            json_decref(list);
            list = NULL;
        }
    }
    kb_case_items_free(items, n);
    kb_resp_json(resp, list ? json_pack("{s:o, s:I}", "cases", list, "total", (json_int_t)total)
                            : NULL);
}

/* ---- /api/v1/cases/REF[/notes|/articles] ------------------------------------------------ */

static void case_get(struct kb_req *req, struct kb_resp *resp, const char *ref)
{
    case_answer(req, resp, ref, 200);
    if (resp->status == 200) {
        char actor[KB_AUTH_LOGIN_MAX + 8];
        kb_http_actor(req, actor, sizeof actor);
        kb_auth_audit(req->cfg->writer, actor, "case.read", ref, req->addr);
    }
}

static void case_patch(struct kb_req *req, struct kb_resp *resp, const char *ref)
{
    static const char *const keys[] = {"status", "assignee", NULL};
    static const char expected[] =
        "{\"status\": \"new|open|pending|solved|closed\", \"assignee\": \"login\" or null}";
    json_t *in = body_object(req, resp, keys, expected);
    if (!in)
        return;
    json_t *status = json_object_get(in, "status");
    json_t *assignee = json_object_get(in, "assignee");
    size_t alen = json_is_string(assignee) ? json_string_length(assignee) : 0;
    if ((!status && !assignee) ||
        (status && (!json_is_string(status) || !kb_crm_status_valid(json_string_value(status)))) ||
        (assignee && !json_is_null(assignee) &&
         (!json_is_string(assignee) || alen == 0 || alen > KB_AUTH_LOGIN_MAX))) {
        json_decref(in);
        kb_resp_json_error(resp, 400, "invalid_body", expected);
        return;
    }
    struct kb_case_edit e = {.ref = ref,
                             .status = status ? json_string_value(status) : NULL,
                             .assign = assignee != NULL,
                             .assignee = json_string_value(assignee)};
    bool changed = false;
    enum kb_err err = kb_http_case_edit(req, &e, &changed);
    json_decref(in);
    if (err)
        edit_failed(resp, err, "assignee");
    else
        case_answer(req, resp, ref, 200);
}

static void case_note(struct kb_req *req, struct kb_resp *resp, const char *ref)
{
    static const char *const keys[] = {"text", NULL};
    json_t *in = body_object(req, resp, keys, "{\"text\": string of 1-4000 bytes}");
    if (!in)
        return;
    json_t *text = json_object_get(in, "text");
    size_t n = json_is_string(text) ? json_string_length(text) : 0;
    if (n == 0 || n > KB_CRM_NOTE_MAX || strlen(json_string_value(text)) != n) {
        json_decref(in);
        kb_resp_json_error(resp, 400, "invalid_body",
                           "expected {\"text\": string of 1-4000 bytes, no NUL}");
        return;
    }
    struct kb_case_edit e = {.ref = ref, .note = json_string_value(text)};
    bool changed = false;
    enum kb_err err = kb_http_case_edit(req, &e, &changed);
    if (err) {
        edit_failed(resp, err, "note");
    } else {
        char at[32];
        kb_crm_iso8601((int64_t)time(NULL), at, sizeof at);
        char actor[KB_AUTH_LOGIN_MAX + 8];
        kb_http_actor(req, actor, sizeof actor);
        kb_resp_json(resp, json_pack("{s:s, s:s, s:O}", "at", at, "author", actor, "text", text));
        if (resp->status == 200)
            resp->status = 201;
    }
    json_decref(in);
}

static void case_link(struct kb_req *req, struct kb_resp *resp, const char *ref)
{
    static const char *const keys[] = {"slug", NULL};
    json_t *in = body_object(req, resp, keys, "{\"slug\": an article's slug}");
    if (!in)
        return;
    const char *slug = json_string_value(json_object_get(in, "slug"));
    if (!slug || !kb_article_slug_valid(slug)) {
        json_decref(in);
        kb_resp_json_error(resp, 400, "invalid_body", "expected {\"slug\": an article's slug}");
        return;
    }
    struct kb_case_edit e = {.ref = ref, .slug = slug};
    bool changed = false;
    enum kb_err err = kb_http_case_edit(req, &e, &changed);
    struct kb_article_row *a = NULL;
    if (err) {
        json_decref(in);
        edit_failed(resp, err, "article");
        return;
    }
    err = kb_store_get_slug(req->w->st, slug, KB_SCOPE_INTERNAL, &a);
    json_decref(in);
    if (err) {
        unavailable(resp, err);
        return;
    }
    char url[160];
    snprintf(url, sizeof url, "/a/%s", a->slug);
    kb_resp_json(resp, json_pack("{s:s, s:s, s:s}", "slug", a->slug, "title", a->title, "url",
                                 url));
    if (resp->status == 200 && changed)
        resp->status = 201;
    kb_article_row_free(a);
}

void kb_api_case(struct kb_req *req, struct kb_resp *resp)
{
    char ref[KB_CRM_REF_MAX];
    const char *tail = NULL;
    if (!case_ref(req, resp, ref, &tail))
        return;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool patch = strcmp(req->method, "PATCH") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    if (!tail && get)
        case_get(req, resp, ref);
    else if (!tail && patch)
        case_patch(req, resp, ref);
    else if (tail && post && strcmp(tail, "/notes") == 0)
        case_note(req, resp, ref);
    else if (tail && post && strcmp(tail, "/articles") == 0)
        case_link(req, resp, ref);
    else if (!tail || strcmp(tail, "/notes") == 0 || strcmp(tail, "/articles") == 0)
        kb_resp_json_error(resp, 405, "method_not_allowed",
                           "GET or PATCH a case; POST its notes or articles");
    else
        kb_resp_json_error(resp, 404, "not_found", "no such endpoint");
}

/* ---- GET /api/v1/articles/SLUG/cases (editors) ------------------------------------------ */

void kb_api_article_cases(struct kb_req *req, struct kb_resp *resp)
{
    char slug[128];
    const char *slash = strchr(req->rest, '/');
    size_t n = slash ? (size_t)(slash - req->rest) : 0;
    struct kb_article_row *a = NULL;
    enum kb_err err = KB_ENOTFOUND;
    if (slash && n < sizeof slug) {
        memcpy(slug, req->rest, n);
        slug[n] = 0;
        if (kb_article_slug_valid(slug))
            err = kb_store_get_slug(req->w->st, slug, req->scope, &a);
    }
    int64_t count = 0;
    if (!err)
        err = kb_store_article_case_count(req->w->st, a->id, &count);
    if (err == KB_ENOTFOUND)
        kb_resp_json_error(resp, 404, "not_found", "no such article");
    else if (err)
        unavailable(resp, err);
    else
        kb_resp_json(resp, json_pack("{s:s, s:I}", "slug", a->slug, "cases", (json_int_t)count));
    kb_article_row_free(a);
}
