/* kb/http/api.c: the JSON API under /api/v1/ (contract: other tools rely on these shapes).
 *
 *   GET  search?q=&lang=&category=&tag=&audience=&prefix=&limit=&offset=&verbatim=
 *        ranked results, facets, did_you_mean, corrected_query (verbatim=1: the words as
 *        typed, no typo correction; the search page's "search instead for" link)
 *   GET  suggest?q=&lang=                            titles for search-as-you-type
 *   GET  articles/<slug>                             one public article
 *   POST articles/<slug>/feedback  {"helpful":bool,"comment"?:string}
 *   GET  categories?lang=
 *   GET  healthz, metrics
 *   GET  openapi.json                                this API described in OpenAPI 3.1
 *                                                    (kb/http/openapi.json, built in)
 * Errors: {"error":{"code","message"}} with the matching status. Anonymous callers only see
 * public, published articles: the scope is fixed here and filtered in search/ and store. */
#include "kb/http/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb/base/buf.h"
#include "kb/http/route.h"
#include "kb/http/metrics.h"
#include "kb/http/openapi.h"
#include "kb/http/usage.h"

/* Search answers are built key by key: json_pack parses its format string at every call, and
 * that scanner took about 4% of a search request's samples (perf of kb serve under wrk).
 * Keys are constants; values are not checked here either: json_dump checks every string's
 * UTF-8 as it encodes it (and fails on invalid UTF-8: kb_resp_json then answers 500, as a
 * value refused here did), and checking the 4 KB of a search answer twice cost 1.5 us per
 * snippet. */
static int put_str(json_t *o, const char *key, const char *v)
{
    return json_object_set_new_nocheck(o, key, json_string_nocheck(v ? v : ""));
}

static json_t *hit_json(const struct search_hit *h)
{
    json_t *o = json_object();
    struct kb_buf url;
    kb_buf_init(&url, 512);
    int bad = !o || kb_buf_puts(&url, "/a/") || kb_buf_puts(&url, h->slug) ||
              put_str(o, "slug", h->slug) || put_str(o, "title", h->title) ||
              put_str(o, "url", url.data) || put_str(o, "snippet", h->snippet) ||
              json_object_set_new_nocheck(o, "score", json_real(h->score)) ||
              put_str(o, "category", h->category) || put_str(o, "lang", h->lang) ||
              put_str(o, "audience", h->audience ? h->audience : "public");
    kb_buf_release(&url);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *kb_http_search_json(const struct search_result *r, const char *search_id)
{
    json_t *out = json_object(), *results = json_array(), *cats = json_object();
    json_t *facets = json_object();
    if (!out || !results || !cats || !facets)
        goto fail;
    for (size_t i = 0; i < r->nhits; i++)
        if (json_array_append_new(results, hit_json(&r->hits[i])))
            goto fail;
    for (size_t i = 0; i < r->nfacets; i++)
        if (json_object_set_new(cats, r->facets[i].value,
                                json_integer((json_int_t)r->facets[i].count)))
            goto fail;
    /* set_new takes the reference even when it fails: nothing to release after this. */
    int bad = json_object_set_new_nocheck(out, "results", results) |
              json_object_set_new_nocheck(out, "total", json_integer((json_int_t)r->total)) |
              json_object_set_new_nocheck(facets, "category", cats) |
              json_object_set_new_nocheck(out, "facets", facets) |
              json_object_set_new_nocheck(out, "did_you_mean", r->did_you_mean
                                                                  ? json_string(r->did_you_mean)
                                                                  : json_null()) |
              json_object_set_new_nocheck(out, "corrected_query",
                                          r->corrected_query ? json_string(r->corrected_query)
                                                             : json_null()) |
              json_object_set_new_nocheck(out, "took_ms", json_real(r->took_ms));
    if (!bad && search_id)
        bad = json_object_set_new_nocheck(out, "search_id", json_string(search_id));
    if (bad) {
        json_decref(out);
        return NULL;
    }
    return out;
fail:
    json_decref(out);
    json_decref(results);
    json_decref(cats);
    json_decref(facets);
    return NULL;
}

static void index_unavailable(struct kb_resp *resp)
{
    kb_resp_json_error(resp, 503, "index_unavailable", "the search index is not available");
}

void kb_api_search(struct kb_req *req, struct kb_resp *resp)
{
    long limit, offset, verbatim;
    if (kb_req_int(req, "limit", 1, 100, 10, &limit) ||
        kb_req_int(req, "offset", 0, 10000, 0, &offset) ||
        kb_req_int(req, "verbatim", 0, 1, 0, &verbatim)) {
        kb_resp_json_error(resp, 400, "invalid_parameter",
                           "limit must be 1-100, offset 0-10000 and verbatim 0 or 1");
        return;
    }
    const char *q = kb_req_arg(req, "q");
    const char *audience = kb_req_arg(req, "audience");
    const char *prefix = kb_req_arg(req, "prefix");
    if ((audience && strcmp(audience, "public") != 0 && strcmp(audience, "internal") != 0) ||
        (prefix && strcmp(prefix, "0") != 0 && strcmp(prefix, "1") != 0)) {
        kb_resp_json_error(resp, 400, "invalid_parameter",
                           "audience is public or internal, prefix 0 or 1");
        return;
    }
    struct search_index *idx = kb_worker_index(req->w, req->cfg->db_path);
    if (!idx) {
        index_unavailable(resp);
        return;
    }
    /* Filters narrow the caller's scope (search/ applies it first): an anonymous caller
     * asking for audience=internal gets nothing. */
    struct search_query sq = {
        .text = q ? q : "",
        .lang = kb_req_arg(req, "lang"),
        .category = kb_req_arg(req, "category"),
        .tag = kb_req_arg(req, "tag"),
        .audience = audience,
        .scope = req->search_scope,
        .offset = (size_t)offset,
        .limit = (size_t)limit,
        .prefix_last = prefix && strcmp(prefix, "1") == 0,
        .verbatim = verbatim == 1,
    };
    struct search_result *r = NULL;
    enum kb_err err = search_run(idx, &sq, &r);
    if (err) {
        kb_resp_json_error(resp, 503, "search_failed", kb_strerror(err));
        return;
    }
    char token[KB_USAGE_TOKEN_MAX] = "";
    if (q) {
        /* A prefix search is a word being typed, not a search someone made: not logged. */
        if (!sq.prefix_last)
            kb_usage_search(q, sq.lang, (int64_t)r->total,
                            kb_http_allow(req, KB_LIMIT_SEARCH_LOG), token);
        kb_metrics_search(r->total, r->took_ms);
    }
    json_t *out = kb_http_search_json(r, token[0] ? token : NULL);
    /* Editors see drafts and articles in review too: each result says which. */
    json_t *results = req->search_scope == SEARCH_SCOPE_ALL ? json_object_get(out, "results")
                                                            : NULL;
    for (size_t i = 0; results && i < r->nhits; i++)
        json_object_set_new_nocheck(json_array_get(results, i), "status",
                                    json_string(r->hits[i].status ? r->hits[i].status
                                                                  : "published"));
    kb_resp_json(resp, out);
    search_result_free(r);
}

void kb_api_suggest(struct kb_req *req, struct kb_resp *resp)
{
    const char *q = kb_req_arg(req, "q");
    json_t *list = json_array();
    struct search_index *idx = kb_worker_index(req->w, req->cfg->db_path);
    if (!idx) {
        json_decref(list);
        index_unavailable(resp);
        return;
    }
    if (q && list) {
        struct search_result *r = NULL;
        if (search_suggest(idx, q, kb_req_arg(req, "lang"), req->search_scope, 8, &r) ==
            KB_OK) {
            for (size_t i = 0; i < r->nhits; i++) {
                struct kb_buf url;
                kb_buf_init(&url, 512);
                if (!kb_buf_puts(&url, "/a/") && !kb_buf_puts(&url, r->hits[i].slug))
                    json_array_append_new(
                        list, json_pack("{s:s, s:s, s:s, s:s}", "title", r->hits[i].title,
                                        "slug", r->hits[i].slug, "url", url.data, "lang",
                                        r->hits[i].lang ? r->hits[i].lang : ""));
                kb_buf_release(&url);
            }
            search_result_free(r);
        }
    }
    kb_resp_json(resp, json_pack("{s:o}", "suggestions", list ? list : json_array()));
    resp->cache = "public, max-age=60";
}

static json_t *json_or_empty_array(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    if (!j || !json_is_array(j)) {
        json_decref(j);
        j = json_array();
    }
    return j;
}

static void article_get(struct kb_req *req, struct kb_resp *resp, const char *slug)
{
    struct kb_article_row *a = NULL;
    enum kb_err err = kb_store_get_slug(req->w->st, slug, req->scope, &a);
    if (!err)
        err = kb_article_render_row(a, KB_ARTICLE_HTML | KB_ARTICLE_TEXT);
    if (err == KB_ENOTFOUND) {
        kb_resp_json_error(resp, 404, "not_found", "no such article");
        return;
    }
    if (err) {
        kb_article_row_free(a);
        kb_resp_json_error(resp, 503, "unavailable", kb_strerror(err));
        return;
    }
    struct kb_article_row **tr = NULL;
    size_t ntr = 0;
    json_t *translations = json_array();
    if (kb_store_translations(req->w->st, a, req->scope, &tr, &ntr) == KB_OK) {
        for (size_t i = 0; i < ntr; i++)
            json_array_append_new(translations, json_pack("{s:s, s:s, s:s}", "slug",
                                                          tr[i]->slug, "lang", tr[i]->lang,
                                                          "title", tr[i]->title));
        kb_article_rows_free(tr, ntr);
    }
    /* The internal articles that go with it (see_also, either way): none in the public
     * scope. */
    json_t *companions = json_array();
    if (kb_store_companions(req->w->st, a, req->scope, 20, &tr, &ntr) == KB_OK) {
        for (size_t i = 0; i < ntr; i++) {
            char curl[160];
            snprintf(curl, sizeof curl, "/a/%s", tr[i]->slug);
            json_array_append_new(companions,
                                  json_pack("{s:s, s:s, s:s, s:s, s:s}", "slug", tr[i]->slug,
                                            "lang", tr[i]->lang, "title", tr[i]->title, "url",
                                            curl, "audience", tr[i]->audience));
        }
        kb_article_rows_free(tr, ntr);
    }
    struct kb_buf url;
    kb_buf_init(&url, 512);
    KB_IGNORE(kb_buf_printf(&url, "/a/%s", a->slug));
    /* No feedback counts: they are the editors' (and no reader's business). */
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:I, s:I, s:o}",
        "slug", a->slug, "title", a->title, "lang", a->lang, "category", a->category,
        "category_slug", a->category_slug, "tags", json_or_empty_array(a->tags), "questions",
        json_or_empty_array(a->questions), "html", a->html, "text", a->text, "url",
        url.data ? url.data : "", "revision", (json_int_t)a->revision, "updated_at",
        (json_int_t)a->updated_at, "translations", translations);
    json_object_set_new(o, "audience", json_string(a->audience));
    json_object_set_new(o, "status", json_string(a->status));
    json_object_set_new(o, "companions", companions);
    kb_buf_release(&url);
    kb_article_row_free(a);
    kb_resp_json(resp, o);
}

static void article_feedback(struct kb_req *req, struct kb_resp *resp, const char *slug)
{
    json_error_t jerr;
    json_t *in = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *helpful = in ? json_object_get(in, "helpful") : NULL;
    json_t *comment = in ? json_object_get(in, "comment") : NULL;
    if (!in || !json_is_object(in) || !json_is_boolean(helpful) ||
        (comment && !json_is_null(comment) && !json_is_string(comment))) {
        json_decref(in);
        kb_resp_json_error(resp, 400, "invalid_body",
                           "expected a JSON object {\"helpful\": true|false, \"comment\": "
                           "optional string}");
        return;
    }
    const char *text = json_is_string(comment) ? json_string_value(comment) : NULL;
    if (text && strlen(text) > 2000) {
        json_decref(in);
        kb_resp_json_error(resp, 400, "invalid_body", "comment longer than 2000 bytes");
        return;
    }
    struct kb_article_row *a = NULL;
    enum kb_err err = kb_store_get_slug(req->w->st, slug, req->scope, &a);
    if (!err && !kb_http_allow(req, KB_LIMIT_FEEDBACK)) {
        json_decref(in);
        kb_article_row_free(a);
        kb_resp_json_error(resp, 429, "rate_limited", "too many answers from this address: "
                                                      "try again in a few minutes");
        return;
    }
    if (!err)
        kb_usage_feedback(a->id, json_is_true(helpful), text);
    json_decref(in);
    if (err == KB_ENOTFOUND) {
        kb_resp_json_error(resp, 404, "not_found", "no such article");
    } else if (err) {
        kb_resp_json_error(resp, 503, "unavailable", kb_strerror(err));
    } else {
        kb_resp_json(resp, json_pack("{s:b, s:s}", "recorded", 1, "slug", a->slug));
        resp->status = 201;
    }
    kb_article_row_free(a);
}

void kb_api_article(struct kb_req *req, struct kb_resp *resp)
{
    char slug[128];
    const char *slash = strchr(req->rest, '/');
    size_t n = slash ? (size_t)(slash - req->rest) : strlen(req->rest);
    if (n >= sizeof slug) {
        kb_resp_json_error(resp, 404, "not_found", "no such article");
        return;
    }
    memcpy(slug, req->rest, n);
    slug[n] = 0;
    int is_post = strcmp(req->method, "POST") == 0;
    /* The paths under an article that exist with another method (GET .../feedback, POST
     * .../flags or .../cases reach this prefix route) answer 405, as the route table does
     * for a path it knows with another method; anything else is no such article. */
    bool known_tail = slash && (strcmp(slash, "/feedback") == 0 || strcmp(slash, "/flags") == 0 ||
                                strcmp(slash, "/cases") == 0);
    if (!kb_article_slug_valid(slug) || (slash && !known_tail)) {
        kb_resp_json_error(resp, 404, "not_found", "no such article");
    } else if (is_post && !slash) {
        kb_resp_json_error(resp, 405, "method_not_allowed", "use GET for articles");
    } else if (slash && (!is_post || strcmp(slash, "/feedback") != 0)) {
        kb_resp_json_error(resp, 405, "method_not_allowed",
                           "POST an article's feedback or flags; GET its cases");
    } else if (is_post) {
        article_feedback(req, resp, slug);
    } else {
        article_get(req, resp, slug);
    }
}

void kb_api_categories(struct kb_req *req, struct kb_resp *resp)
{
    struct kb_category *cats = NULL;
    size_t n = 0;
    enum kb_err err =
        kb_store_categories(req->w->st, KB_SCOPE_PUBLIC, kb_req_arg(req, "lang"), &cats, &n);
    if (err) {
        kb_resp_json_error(resp, 503, "unavailable", kb_strerror(err));
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        struct kb_buf url;
        kb_buf_init(&url, 512);
        KB_IGNORE(kb_buf_printf(&url, "/c/%s?lang=%s", cats[i].slug, cats[i].lang));
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I, s:s}", "name", cats[i].name,
                                              "slug", cats[i].slug, "lang", cats[i].lang,
                                              "count", (json_int_t)cats[i].count, "url",
                                              url.data ? url.data : ""));
        kb_buf_release(&url);
    }
    kb_categories_free(cats, n);
    kb_resp_json(resp, json_pack("{s:o}", "categories", list ? list : json_array()));
}

void kb_api_healthz(struct kb_req *req, struct kb_resp *resp)
{
    int64_t articles = 0, published = 0, queue = 0;
    struct search_index *idx = kb_worker_index(req->w, req->cfg->db_path);
    if (!idx || kb_store_counts(req->w->st, &articles, &published, &queue) != KB_OK) {
        kb_resp_json_error(resp, 503, "not_ready", "database or index not available");
        return;
    }
    kb_resp_json(resp, json_pack("{s:s, s:I, s:I, s:I}", "status", "ok", "articles",
                                 (json_int_t)articles, "indexed",
                                 (json_int_t)search_index_count(idx), "index_queue",
                                 (json_int_t)queue));
}

void kb_api_metrics(struct kb_req *req, struct kb_resp *resp)
{
    /* Counts of every article (internal ones and drafts too) are for operators: the local
     * machine's scraper, never an anonymous visitor. */
    if (!kb_req_loopback(req)) {
        kb_resp_json_error(resp, 403, "forbidden", "metrics are served to the local machine only");
        return;
    }
    if (kb_metrics_render(&resp->body, req->w->st)) {
        kb_resp_json_error(resp, 500, "internal", "metrics too large");
        return;
    }
    resp->status = 200;
    resp->ctype = "text/plain; version=0.0.4; charset=utf-8";
}

void kb_api_openapi(struct kb_req *req, struct kb_resp *resp)
{
    (void)req;
    /* The document is part of the binary (openapi_embed.py): it changes with kb only. */
    kb_buf_clear(&resp->body);
    if (kb_buf_append(&resp->body, kb_http_openapi_json, kb_http_openapi_json_len)) {
        kb_resp_json_error(resp, 500, "internal", "out of memory");
        return;
    }
    resp->status = 200;
    resp->ctype = "application/json; charset=utf-8";
    resp->cache = "public, max-age=3600";
}

void kb_api_not_found(struct kb_req *req, struct kb_resp *resp)
{
    (void)req;
    kb_resp_json_error(resp, 404, "not_found", "no such endpoint");
}
