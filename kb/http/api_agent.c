/* kb/http/api_agent.c: the agents' console's own JSON API (a contract: the console's
 * modules, web/static/agent/, and other tools rely on these paths and shapes). The console's
 * searches and articles come from the shared API (GET /api/v1/search, /api/v1/articles/SLUG).
 * Roles are checked by the route table (routes.c): anonymous callers get 401, an agent 403 on
 * the editors' routes; a browser session's POST, PATCH and DELETE need X-CSRF-Token.
 *
 *   GET    /api/v1/agent/recent           (agent) {"articles":[ITEM]}: the caller's recently
 *          viewed articles, newest first, at most 20, only those still visible to them
 *   POST   /api/v1/agent/recent {"slug"}  (agent) the caller viewed it: 201 ITEM
 *   GET    /api/v1/agent/pins             (agent) {"articles":[ITEM]}, latest pinned first
 *   POST   /api/v1/agent/pins {"slug"}    (agent) 201 ITEM (200 when pinned already); 422
 *          beyond 50 pins
 *   DELETE /api/v1/agent/pins/SLUG        (agent) 204; 404 when it was not pinned
 *          ITEM: {"slug","title","lang","url","audience","at"} (+ "status" for editors).
 *          A desk belongs to a signed-in user: an API token (nobody) gets 403 on these.
 *          Unknown slug, or one the caller may not see: 404.
 *   GET    /api/v1/agent/filters?lang=    (agent) what the console's filters offer, in the
 *          caller's scope: {"categories":[{"name","lang","count"}],"tags":[{"name","count"}],
 *          "langs":[..],"audiences":["public","internal"]} (tags: the 200 most used)
 *   POST   /api/v1/articles/SLUG/flags {"reason":"wrong|outdated|missing","comment"}
 *          (agent; comment optional, at most 2000 bytes) 201 FLAG; 400 bad body; 404
 *   GET    /api/v1/flags?status=open|handled|all&limit=&offset=   (editor) {"flags":[FLAG],
 *          "total"}, newest first; status open by default; limit 1-100 (25)
 *   PATCH  /api/v1/flags/ID {"status":"handled|open"}   (editor) 200 FLAG; 404
 *          FLAG: {"id","slug","title","lang","url","reason","comment","author","at",
 *          "status","handled_by","handled_at"} (times ISO 8601 UTC; handled_*: null while
 *          never handled)
 * Every write goes through the writer thread; a flag and its changes are audited
 * (flag.add, flag.open, flag.handled). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kb/crm/crm.h"
#include "kb/http/route.h"
#include "kb/store/audit.h"
#include "kb/store/desk.h"
#include "kb/store/flags.h"

#define FLAGS_DEFAULT 25
#define TAGS_MAX 200

/* ---- helpers ---------------------------------------------------------------------------- */

static void unavailable(struct kb_resp *resp, enum kb_err err)
{
    kb_resp_json_error(resp, err == KB_EBUSY ? 503 : 500, "unavailable", kb_strerror(err));
}

static void not_found(struct kb_resp *resp)
{
    kb_resp_json_error(resp, 404, "not_found", "no such article");
}

/* The JSON body's "slug" when the body is exactly {"slug": SLUG}; NULL with a 400 in resp
 * otherwise. *in receives the document (the caller releases it). */
static const char *body_slug(struct kb_req *req, struct kb_resp *resp, json_t **in)
{
    json_error_t jerr;
    *in = strncmp(req->content_type, "application/json", 16) == 0
              ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)
              : NULL;
    const char *slug = json_string_value(json_object_get(*in, "slug"));
    if (!json_is_object(*in) || json_object_size(*in) != 1 || !slug ||
        !kb_article_slug_valid(slug)) {
        kb_resp_json_error(resp, 400, "invalid_body",
                           "expected application/json {\"slug\": an article's slug}");
        return NULL;
    }
    return slug;
}

/* The slug of a path's segment `seg` (n bytes) into out; false when it is not a slug. */
static bool slug_of(const char *seg, size_t n, char out[128])
{
    if (n == 0 || n >= 128)
        return false;
    memcpy(out, seg, n);
    out[n] = 0;
    return kb_article_slug_valid(out);
}

static json_t *iso_time(int64_t t)
{
    char at[32];
    kb_crm_iso8601(t, at, sizeof at);
    return json_string(at);
}

static json_t *item_json(const struct kb_req *req, const struct kb_desk_item *it)
{
    char url[160];
    snprintf(url, sizeof url, "/a/%s", it->slug);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "slug", it->slug, "title",
                          it->title, "lang", it->lang, "url", url, "audience", it->audience,
                          "at", iso_time(it->at / 1000));
    if (o && req->scope == KB_SCOPE_ALL)
        json_object_set_new(o, "status", json_string(it->status));
    return o;
}

static void desk_answer(struct kb_req *req, struct kb_resp *resp, bool pins)
{
    struct kb_desk_item *items = NULL;
    size_t n = 0;
    enum kb_err err = pins ? kb_store_desk_pins(req->w->st, req->caller.user_id, req->scope,
                                                &items, &n)
                           : kb_store_desk_recent(req->w->st, req->caller.user_id, req->scope,
                                                  &items, &n);
    if (err) {
        unavailable(resp, err);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++)
        if (json_array_append_new(list, item_json(req, &items[i]))) {
            json_decref(list);
            list = NULL;
        }
    kb_desk_items_free(items, n);
    kb_resp_json(resp, list ? json_pack("{s:o}", "articles", list) : NULL);
}

/* ---- the desk: recent and pinned articles ----------------------------------------------- */

enum desk_op { DESK_VIEWED, DESK_PIN, DESK_UNPIN };

struct desk_job {
    enum desk_op op;
    int64_t user_id, article_id, now;
    bool changed;
};

/* On the writer thread, in its transaction. */
static enum kb_err desk_write(struct kb_store *st, void *arg)
{
    struct desk_job *j = arg;
    switch (j->op) {
    case DESK_VIEWED:
        j->changed = true;
        return kb_store_desk_viewed(st, j->user_id, j->article_id, j->now);
    case DESK_PIN:
        return kb_store_desk_pin(st, j->user_id, j->article_id, j->now, &j->changed);
    case DESK_UNPIN:
        return kb_store_desk_unpin(st, j->user_id, j->article_id, &j->changed);
    }
    return KB_EINVAL;
}

/* Apply op on the caller's desk for the article `slug` visible to them; answers 201 with the
 * item (200 when nothing changed), 204 for an unpin, or the error. */
static void desk_change(struct kb_req *req, struct kb_resp *resp, enum desk_op op,
                        const char *slug)
{
    struct kb_article_row *a = NULL;
    enum kb_err err = kb_store_get_slug(req->w->st, slug, req->scope, &a);
    if (err == KB_ENOTFOUND) {
        not_found(resp);
        return;
    }
    if (err) {
        unavailable(resp, err);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct desk_job j = {.op = op, .user_id = req->caller.user_id, .article_id = a->id,
                         .now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000};
    err = kb_store_writer_run(req->cfg->writer, desk_write, &j);
    if (err == KB_ETOOBIG) {
        kb_resp_json_error(resp, 422, "too_many", "50 pinned articles at most: unpin one first");
    } else if (err) {
        unavailable(resp, err);
    } else if (op == DESK_UNPIN && !j.changed) {
        kb_resp_json_error(resp, 404, "not_found", "this article is not pinned");
    } else if (op == DESK_UNPIN) {
        resp->status = 204;
        resp->ctype = "application/json; charset=utf-8";
    } else {
        struct kb_desk_item it = {a->id, a->slug, a->title, a->lang, a->audience, a->status,
                                  j.now};
        kb_resp_json(resp, item_json(req, &it));
        if (resp->status == 200 && j.changed)
            resp->status = 201;
    }
    kb_article_row_free(a);
}

/* True when the caller has a desk (a user); else a 403 in resp. */
static bool has_desk(const struct kb_req *req, struct kb_resp *resp)
{
    if (req->caller.user_id)
        return true;
    kb_resp_json_error(resp, 403, "no_user",
                       "recent and pinned articles belong to a signed-in user, not a token");
    return false;
}

void kb_api_agent_recent(struct kb_req *req, struct kb_resp *resp)
{
    if (!has_desk(req, resp))
        return;
    if (strcmp(req->method, "POST") != 0) {
        desk_answer(req, resp, false);
        return;
    }
    json_t *in = NULL;
    const char *slug = body_slug(req, resp, &in);
    if (slug)
        desk_change(req, resp, DESK_VIEWED, slug);
    json_decref(in);
}

void kb_api_agent_pins(struct kb_req *req, struct kb_resp *resp)
{
    if (!has_desk(req, resp))
        return;
    if (strcmp(req->method, "DELETE") == 0) {
        char slug[128];
        if (!slug_of(req->rest, strlen(req->rest), slug))
            not_found(resp);
        else
            desk_change(req, resp, DESK_UNPIN, slug);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        desk_answer(req, resp, true);
        return;
    }
    json_t *in = NULL;
    const char *slug = body_slug(req, resp, &in);
    if (slug)
        desk_change(req, resp, DESK_PIN, slug);
    json_decref(in);
}

/* ---- the filters ------------------------------------------------------------------------ */

void kb_api_agent_filters(struct kb_req *req, struct kb_resp *resp)
{
    const char *lang = kb_req_arg(req, "lang");
    struct kb_category *cats = NULL;
    struct kb_tag *tags = NULL;
    size_t ncats = 0, ntags = 0;
    enum kb_err err = kb_store_categories(req->w->st, req->scope, lang, &cats, &ncats);
    if (!err)
        err = kb_store_tags(req->w->st, req->scope, lang, TAGS_MAX, &tags, &ntags);
    if (err) {
        kb_categories_free(cats, ncats);
        unavailable(resp, err);
        return;
    }
    json_t *c = json_array(), *t = json_array(), *langs = json_array();
    for (size_t i = 0; c && langs && i < ncats; i++) {
        json_array_append_new(c, json_pack("{s:s, s:s, s:I}", "name", cats[i].name, "lang",
                                           cats[i].lang, "count", (json_int_t)cats[i].count));
        /* categories come by language: a new language starts a new run */
        if (i == 0 || strcmp(cats[i].lang, cats[i - 1].lang) != 0)
            json_array_append_new(langs, json_string(cats[i].lang));
    }
    for (size_t i = 0; t && i < ntags; i++)
        json_array_append_new(t, json_pack("{s:s, s:I}", "name", tags[i].name, "count",
                                           (json_int_t)tags[i].count));
    kb_categories_free(cats, ncats);
    kb_tags_free(tags, ntags);
    json_t *aud = req->scope == KB_SCOPE_PUBLIC ? json_pack("[s]", "public")
                                                : json_pack("[s, s]", "public", "internal");
    kb_resp_json(resp, c && t && langs ? json_pack("{s:o, s:o, s:o, s:o}", "categories", c,
                                                   "tags", t, "langs", langs, "audiences", aud)
                                       : NULL);
    if (!(c && t && langs)) {
        json_decref(c);
        json_decref(t);
        json_decref(langs);
        json_decref(aud);
    }
}

/* ---- flags -------------------------------------------------------------------------------- */

json_t *kb_http_flag_json(const struct kb_flag *f)
{
    char url[160];
    snprintf(url, sizeof url, "/a/%s", f->slug);
    bool handled = f->handled_at != 0;
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o}", "id",
                     (json_int_t)f->id, "slug", f->slug, "title", f->title, "lang", f->lang,
                     "url", url, "reason", f->reason, "comment", f->comment, "author",
                     f->author, "at", iso_time(f->at), "status", f->status, "handled_by",
                     handled ? json_string(f->handled_by) : json_null(), "handled_at",
                     handled ? iso_time(f->handled_at) : json_null());
}

struct flag_job {
    int64_t article_id, id, now;
    const char *reason, *comment, *status, *actor, *addr, *slug;
    bool changed;
};

static enum kb_err flag_add_write(struct kb_store *st, void *arg)
{
    struct flag_job *j = arg;
    enum kb_err err = kb_store_flag_add(st, j->article_id, j->reason, j->comment, j->actor,
                                        j->now, &j->id);
    if (!err) {
        char detail[64];
        snprintf(detail, sizeof detail, "flag=%lld reason=%s", (long long)j->id, j->reason);
        err = kb_store_audit_add(st, j->now, j->actor, "flag.add", j->slug, j->addr, detail);
    }
    return err;
}

static enum kb_err flag_set_write(struct kb_store *st, void *arg)
{
    struct flag_job *j = arg;
    enum kb_err err = kb_store_flag_set(st, j->id, j->status, j->actor, j->now, &j->changed);
    if (!err && j->changed) {
        char target[32], action[32];
        snprintf(target, sizeof target, "flag:%lld", (long long)j->id);
        snprintf(action, sizeof action, "flag.%s", j->status);
        err = kb_store_audit_add(st, j->now, j->actor, action, target, j->addr, NULL);
    }
    return err;
}

/* The flag's answer with status (201 or 200). */
static void flag_answer(struct kb_req *req, struct kb_resp *resp, int64_t id, unsigned status)
{
    struct kb_flag *f = NULL;
    enum kb_err err = kb_store_flag_get(req->w->st, id, &f);
    if (err == KB_ENOTFOUND) {
        kb_resp_json_error(resp, 404, "not_found", "no such flag");
        return;
    }
    if (err) {
        unavailable(resp, err);
        return;
    }
    kb_resp_json(resp, kb_http_flag_json(f));
    if (resp->status == 200)
        resp->status = status;
    kb_flags_free(f, 1);
}

void kb_api_flag_add(struct kb_req *req, struct kb_resp *resp)
{
    static const char expected[] = "expected application/json {\"reason\": \"wrong|outdated|"
                                   "missing\", \"comment\": optional string of at most 2000 "
                                   "bytes}";
    char slug[128];
    const char *slash = strchr(req->rest, '/');
    if (!slash || !slug_of(req->rest, (size_t)(slash - req->rest), slug)) {
        not_found(resp);
        return;
    }
    json_error_t jerr;
    json_t *in = strncmp(req->content_type, "application/json", 16) == 0
                     ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)
                     : NULL;
    json_t *reason = json_object_get(in, "reason"), *comment = json_object_get(in, "comment");
    size_t keys = json_object_size(in);
    size_t clen = json_is_string(comment) ? json_string_length(comment) : 0;
    if (!json_is_object(in) || !kb_flag_reason_valid(json_string_value(reason)) ||
        keys != 1 + (comment != NULL) ||
        (comment && !json_is_null(comment) && !json_is_string(comment)) ||
        clen > KB_FLAG_COMMENT_MAX ||
        (clen && strlen(json_string_value(comment)) != clen)) {
        json_decref(in);
        kb_resp_json_error(resp, 400, "invalid_body", expected);
        return;
    }
    struct kb_article_row *a = NULL;
    enum kb_err err = kb_store_get_slug(req->w->st, slug, req->scope, &a);
    if (err) {
        json_decref(in);
        if (err == KB_ENOTFOUND)
            not_found(resp);
        else
            unavailable(resp, err);
        return;
    }
    char actor[KB_AUTH_LOGIN_MAX + 8];
    kb_http_actor(req, actor, sizeof actor);
    struct flag_job j = {.article_id = a->id, .now = (int64_t)time(NULL),
                         .reason = json_string_value(reason),
                         .comment = json_is_string(comment) ? json_string_value(comment) : "",
                         .actor = actor, .addr = req->addr, .slug = a->slug};
    err = kb_store_writer_run(req->cfg->writer, flag_add_write, &j);
    if (err)
        unavailable(resp, err);
    else
        flag_answer(req, resp, j.id, 201);
    kb_article_row_free(a);
    json_decref(in);
}

void kb_api_flags(struct kb_req *req, struct kb_resp *resp)
{
    long limit, offset;
    const char *status = kb_req_arg(req, "status");
    if (kb_req_int(req, "limit", 1, 100, FLAGS_DEFAULT, &limit) ||
        kb_req_int(req, "offset", 0, KB_FLAGS_OFFSET_MAX, 0, &offset) ||
        (status && strcmp(status, "all") != 0 && !kb_flag_status_valid(status))) {
        kb_resp_json_error(resp, 400, "invalid_parameter",
                           "status is open, handled or all; limit 1-100; offset 0-10000");
        return;
    }
    if (!status)
        status = "open";
    struct kb_flag *flags = NULL;
    size_t n = 0;
    int64_t total = 0;
    enum kb_err err = kb_store_flags_list(req->w->st, strcmp(status, "all") == 0 ? NULL : status,
                                          (size_t)limit, (size_t)offset, &flags, &n, &total);
    if (err) {
        unavailable(resp, err);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++)
        if (json_array_append_new(list, kb_http_flag_json(&flags[i]))) {
            json_decref(list);
            list = NULL;
        }
    kb_flags_free(flags, n);
    kb_resp_json(resp, list ? json_pack("{s:o, s:I}", "flags", list, "total", (json_int_t)total)
                            : NULL);
}

int64_t kb_http_flag_id(const char *s)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 15 || s[n] || s[0] == '0')
        return 0;
    return (int64_t)strtoll(s, NULL, 10);
}

enum kb_err kb_http_flag_set(struct kb_req *req, int64_t id, const char *status, bool *changed)
{
    char actor[KB_AUTH_LOGIN_MAX + 8];
    kb_http_actor(req, actor, sizeof actor);
    struct flag_job j = {.id = id, .now = (int64_t)time(NULL), .status = status, .actor = actor,
                         .addr = req->addr};
    enum kb_err err = kb_store_writer_run(req->cfg->writer, flag_set_write, &j);
    *changed = !err && j.changed;
    return err;
}

void kb_api_flag(struct kb_req *req, struct kb_resp *resp)
{
    int64_t id = kb_http_flag_id(req->rest);
    if (!id) {
        kb_resp_json_error(resp, 404, "not_found", "no such flag");
        return;
    }
    json_error_t jerr;
    json_t *in = strncmp(req->content_type, "application/json", 16) == 0
                     ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)
                     : NULL;
    const char *status = json_string_value(json_object_get(in, "status"));
    if (!json_is_object(in) || json_object_size(in) != 1 || !kb_flag_status_valid(status)) {
        json_decref(in);
        kb_resp_json_error(resp, 400, "invalid_body",
                           "expected application/json {\"status\": \"handled|open\"}");
        return;
    }
    bool changed = false;
    enum kb_err err = kb_http_flag_set(req, id, status, &changed);
    json_decref(in);
    if (err == KB_ENOTFOUND)
        kb_resp_json_error(resp, 404, "not_found", "no such flag");
    else if (err)
        unavailable(resp, err);
    else
        flag_answer(req, resp, id, 200);
}
