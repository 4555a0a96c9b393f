/* kb/http/pages.c: the help centre's pages. Each handler reads the store and the index in the
 * caller's scope (anonymous: public, published), builds a jansson object and renders a
 * template of the theme (web/templates/NAME.mustache, kb/http/theme.h); the markup and the
 * wording live in the theme, escaping is the template engine's default. The pages work
 * without JavaScript; kb.js adds search-as-you-type and chat.js the chat widget.
 *
 *   /                   home: search box, topics, most viewed          home.mustache
 *   /c/<category-slug>  one topic's articles                            category.mustache
 *   /a/<slug>           article: breadcrumbs, body, translations, related, feedback, JSON-LD
 *                                                                       article.mustache
 *   POST /a/<slug>/feedback   the "was this helpful?" form (303 back to the article)
 *   /search?q=          ranked results, snippets, topic facets, corrections, pages
 *                                                                       search.mustache
 *   /sitemap.xml, /robots.txt                                           sitemap.mustache
 *   errors                                                              error.mustache
 * The page language follows the article, else ?lang=, else the configured default. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "kb/base/log.h"
#include "kb/base/text.h"
#include "kb/http/metrics.h"
#include "kb/http/route.h"
#include "kb/http/theme.h"
#include "kb/http/usage.h"

#define PAGE_SIZE 10
#define SITEMAP_MAX 50000
#define CSRF_HEX KB_HTTP_FORM_TOKEN

/* ---- common parts ------------------------------------------------------------------- */

static int lang_ok(const char *l)
{
    size_t n = l ? strlen(l) : 0;
    if (n < 2 || n > 3)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (l[i] < 'a' || l[i] > 'z')
            return 0;
    return 1;
}

static const char *page_lang(const struct kb_req *req)
{
    const char *l = kb_req_arg(req, "lang");
    if (lang_ok(l))
        return l;
    return req->cfg && lang_ok(req->cfg->default_lang) ? req->cfg->default_lang : "fr";
}

/* A string of the page language's wording (web/i18n), "" when the theme lacks it. */
static const char *tr(const char *lang, const char *key)
{
    const char *s = json_string_value(json_object_get(kb_theme_strings(lang), key));
    return s ? s : "";
}

/* The data every page gets (see layout.mustache). NULL when out of memory. */
static json_t *page_data(const struct kb_resp *resp, const char *lang, const char *title)
{
    return json_pack("{s:s, s:O, s:s, s:s, s:[]}", "lang", lang, "t", kb_theme_strings(lang),
                     "page_title", title, "chat_url", resp->chat_url, "langs");
}

json_t *kb_page_data(const struct kb_req *req, const struct kb_resp *resp, const char *lang,
                     const char *title)
{
    json_t *d = page_data(resp, lang, title);
    if (d && req && req->caller.role && !req->caller.by_token)
        json_object_set_new(d, "user", json_pack("{s:s, s:s, s:s}", "name",
                                                 *req->caller.name ? req->caller.name
                                                                   : req->caller.login,
                                                 "role", kb_auth_role_name(req->caller.role),
                                                 "csrf", req->caller.csrf));
    return d;
}

static void render(struct kb_resp *resp, unsigned status, const char *name, json_t *data,
                   const char *ctype);

void kb_page_render(struct kb_resp *resp, unsigned status, const char *name, json_t *data)
{
    render(resp, status, name, data, NULL);
}

/* Add a language link: lang's page at href (the current one is not a link). */
static void add_lang(json_t *data, const char *lang, const char *cur, const char *href)
{
    json_array_append_new(json_object_get(data, "langs"),
                          json_pack("{s:s, s:s, s:s, s:b}", "lang", lang, "name",
                                    kb_theme_lang_name(lang), "href", href, "current",
                                    strcmp(lang, cur) == 0));
}

/* Links to the same page in the interface languages. */
static void simple_langs(json_t *data, const char *lang, const char *path, const char *q)
{
    static const char *const ui[] = {"fr", "en"};
    for (int i = 0; i < 2; i++) {
        struct kb_buf href;
        kb_buf_init(&href, 8192);
        KB_IGNORE(kb_buf_printf(&href, "%s?lang=%s", path, ui[i]));
        if (q) {
            KB_IGNORE(kb_buf_puts(&href, "&q="));
            KB_IGNORE(kb_buf_put_urlenc(&href, q));
        }
        add_lang(data, ui[i], lang, href.data ? href.data : "/");
        kb_buf_release(&href);
    }
}

/* Render template `name` with data (reference taken) as the response, with status. */
static void render(struct kb_resp *resp, unsigned status, const char *name, json_t *data,
                   const char *ctype)
{
    kb_buf_clear(&resp->body);
    enum kb_err err = data ? kb_mustache_render(kb_theme_templates(), name, data, &resp->body)
                           : KB_ENOMEM;
    json_decref(data);
    resp->ctype = ctype ? ctype : "text/html; charset=utf-8";
    if (err) {
        kb_log(KB_LOG_ERROR, "page %s: %s", name, kb_strerror(err));
        kb_buf_clear(&resp->body);
        KB_IGNORE(kb_buf_puts(&resp->body, "internal error\n"));
        resp->ctype = "text/plain; charset=utf-8";
        resp->status = 500;
        return;
    }
    resp->status = status;
}

void kb_page_error(struct kb_resp *resp, unsigned status, const char *lang)
{
    if (!lang_ok(lang))
        lang = "fr";
    const char *heading = status == 404   ? "not_found"
                          : status == 403 ? "forbidden"
                          : status == 429 ? "too_many"
                          : status < 500  ? "bad_request"
                                          : "error";
    char text[32];
    snprintf(text, sizeof text, "%s_text", heading);
    json_t *data = page_data(resp, lang, tr(lang, heading));
    if (data) {
        json_object_set_new(data, "heading", json_string(tr(lang, heading)));
        json_object_set_new(data, "text", json_string(tr(lang, text)));
        simple_langs(data, lang, "/", NULL);
    }
    render(resp, status, "error", data, NULL);
}

void kb_page_not_found(struct kb_req *req, struct kb_resp *resp)
{
    kb_page_error(resp, 404, req ? page_lang(req) : NULL);
}

static json_t *article_links(struct kb_article_row **rows, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:s}", "slug", rows[i]->slug, "title",
                                           rows[i]->title));
    return a;
}

/* ---- home ------------------------------------------------------------------------------ */

void kb_page_home(struct kb_req *req, struct kb_resp *resp)
{
    const char *lang = page_lang(req);
    struct kb_category *cats = NULL;
    size_t ncats = 0;
    struct kb_article_row **top = NULL;
    size_t ntop = 0;
    if (kb_store_categories(req->w->st, req->scope, lang, &cats, &ncats) ||
        kb_store_list(req->w->st, req->scope, lang, NULL, KB_ORDER_VIEWS, 8, &top, &ntop)) {
        kb_page_error(resp, 503, lang);
        return;
    }
    json_t *data = kb_page_data(req, resp, lang, tr(lang, "site"));
    if (data) {
        json_t *c = json_array();
        for (size_t i = 0; c && i < ncats; i++)
            json_array_append_new(c, json_pack("{s:s, s:s, s:I, s:b}", "name", cats[i].name,
                                               "slug", cats[i].slug, "count",
                                               (json_int_t)cats[i].count, "one",
                                               cats[i].count == 1));
        json_object_set_new(data, "categories", c);
        json_object_set_new(data, "articles", article_links(top, ntop));
        json_object_set_new(data, "is_home", json_true());
        simple_langs(data, lang, "/", NULL);
    }
    render(resp, 200, "home", data, NULL);
    kb_categories_free(cats, ncats);
    kb_article_rows_free(top, ntop);
}

/* ---- category ------------------------------------------------------------------------- */

void kb_page_category(struct kb_req *req, struct kb_resp *resp)
{
    const char *lang = page_lang(req);
    const char *cslug = req->rest;
    if (!kb_article_slug_valid(cslug)) {
        kb_page_error(resp, 404, lang);
        return;
    }
    struct kb_article_row **rows = NULL;
    size_t n = 0;
    if (kb_store_list(req->w->st, req->scope, lang, cslug, KB_ORDER_TITLE, 500, &rows, &n)) {
        kb_page_error(resp, 503, lang);
        return;
    }
    if (n == 0) {
        kb_page_error(resp, 404, lang);
        return;
    }
    json_t *data = kb_page_data(req, resp, lang, rows[0]->category);
    if (data) {
        json_object_set_new(data, "name", json_string(rows[0]->category));
        json_object_set_new(data, "articles", article_links(rows, n));
        simple_langs(data, lang, "/", NULL);
    }
    render(resp, 200, "category", data, NULL);
    kb_article_rows_free(rows, n);
}

/* ---- article -------------------------------------------------------------------------- */

/* schema.org FAQPage for search engines, as text safe inside a <script> element: jansson
 * escapes '/', and every '<' becomes \u003c, so that nothing can close the element. */
static char *jsonld(const struct kb_article_row *a)
{
    json_t *o = json_pack("{s:s, s:s, s:[{s:s, s:s, s:{s:s, s:s}}]}", "@context",
                          "https://schema.org", "@type", "FAQPage", "mainEntity", "@type",
                          "Question", "name", a->title, "acceptedAnswer", "@type", "Answer",
                          "text", a->html);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ESCAPE_SLASH) : NULL;
    json_decref(o);
    if (!s)
        return NULL;
    struct kb_buf b;
    kb_buf_init(&b, 16u << 20);
    enum kb_err err = KB_OK;
    for (const char *p = s; *p && !err; p++)
        err = *p == '<' ? kb_buf_puts(&b, "\\u003c") : kb_buf_putc(&b, *p);
    free(s);
    char *out = err ? NULL : kb_buf_detach(&b);
    kb_buf_release(&b);
    return out;
}

/* The date format is the theme's wording (date_format): configuration, not input, and
 * strftime writes at most n bytes whatever it holds. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void format_date(char *out, size_t n, int64_t t, const char *fmt)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (!strftime(out, n, *fmt ? fmt : "%Y-%m-%d", &tm))
        out[0] = 0;
}
#pragma GCC diagnostic pop

void kb_page_article(struct kb_req *req, struct kb_resp *resp)
{
    const char *slug = req->rest;
    struct kb_article_row *a = NULL;
    if (!kb_article_slug_valid(slug) ||
        kb_store_get_slug(req->w->st, slug, req->scope, &a) != KB_OK) {
        kb_page_error(resp, 404, page_lang(req));
        return;
    }
    if (kb_article_render_row(a, KB_ARTICLE_HTML | KB_ARTICLE_TEXT) != KB_OK) {
        kb_article_row_free(a);
        kb_page_error(resp, 500, page_lang(req));
        return;
    }
    const char *lang = lang_ok(a->lang) ? a->lang : page_lang(req);
    kb_usage_view(a->id);
    kb_usage_click(kb_req_arg(req, "s"), a->slug);
    struct kb_article_row **tr_rows = NULL;
    size_t ntr = 0;
    KB_IGNORE(kb_store_translations(req->w->st, a, req->scope, &tr_rows, &ntr));
    struct search_result *rel = NULL;
    struct search_index *idx = kb_worker_index(req->w, req->cfg->db_path);
    if (idx && search_related(idx, a->id, req->search_scope, 5, &rel) != KB_OK)
        rel = NULL;

    /* Description: the start of the text, cut on a UTF-8 boundary, on one line. */
    char desc[200];
    size_t dn = kb_text_utf8_prefix(a->text, strnlen(a->text, sizeof desc - 1));
    memcpy(desc, a->text, dn);
    desc[dn] = 0;
    for (char *p = desc; *p; p++)
        if (*p == '\n')
            *p = ' ';
    char date[32], iso[32], csrf[CSRF_HEX + 1];
    format_date(date, sizeof date, a->updated_at, tr(lang, "date_format"));
    format_date(iso, sizeof iso, a->updated_at, "%Y-%m-%d");
    kb_req_form_token(req, resp, csrf);
    char *ld = jsonld(a);
    json_t *data = kb_page_data(req, resp, lang, a->title);
    if (data) {
        json_object_set_new(data, "description", json_string(desc));
        json_object_set_new(data, "article",
                            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s}", "slug",
                                      a->slug, "title", a->title, "html", a->html, "category",
                                      a->category, "category_slug", a->category_slug,
                                      "updated", date, "updated_iso", iso, "thanks",
                                      kb_req_arg(req, "thanks") != NULL, "csrf", csrf));
        if (ld)
            json_object_set_new(data, "jsonld", json_string(ld));
        json_t *related = json_array();
        for (size_t i = 0; related && rel && i < rel->nhits; i++)
            json_array_append_new(related, json_pack("{s:s, s:s}", "slug", rel->hits[i].slug,
                                                     "title", rel->hits[i].title));
        json_object_set_new(data, "has_related", json_boolean(rel && rel->nhits));
        json_object_set_new(data, "related", related);
        /* The language switch: this article and its translations. */
        json_t *alternates = json_array();
        char href[160];
        snprintf(href, sizeof href, "/a/%s", a->slug);
        add_lang(data, a->lang, a->lang, href);
        for (size_t i = 0; i < ntr && i < 15; i++) {
            snprintf(href, sizeof href, "/a/%s", tr_rows[i]->slug);
            add_lang(data, tr_rows[i]->lang, a->lang, href);
            json_array_append_new(alternates, json_pack("{s:s, s:s}", "lang", tr_rows[i]->lang,
                                                        "href", href));
        }
        json_object_set_new(data, "alternates", alternates);
    }
    render(resp, 200, "article", data, NULL);
    free(ld);
    search_result_free(rel);
    kb_article_rows_free(tr_rows, ntr);
    kb_article_row_free(a);
}

/* ---- feedback form -------------------------------------------------------------------- */

struct form {
    int helpful; /* -1 unknown, 0 no, 1 yes */
    char csrf[CSRF_HEX + 1];
};

static enum MHD_Result form_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *encoding, const char *data, uint64_t off,
                                  size_t size)
{
    (void)kind;
    (void)filename;
    (void)content_type;
    (void)encoding;
    struct form *f = cls;
    if (strcmp(key, "helpful") == 0 && off == 0) {
        if (size == 3 && memcmp(data, "yes", 3) == 0)
            f->helpful = 1;
        else if (size == 2 && memcmp(data, "no", 2) == 0)
            f->helpful = 0;
    } else if (strcmp(key, "csrf") == 0 && off == 0 && size == CSRF_HEX) {
        memcpy(f->csrf, data, CSRF_HEX);
        f->csrf[CSRF_HEX] = 0;
    }
    return MHD_YES;
}

void kb_page_feedback(struct kb_req *req, struct kb_resp *resp)
{
    char slug[128];
    const char *slash = strchr(req->rest, '/');
    size_t n = slash ? (size_t)(slash - req->rest) : 0;
    if (!slash || strcmp(slash, "/feedback") != 0 || n >= sizeof slug) {
        kb_page_error(resp, 404, NULL);
        return;
    }
    memcpy(slug, req->rest, n);
    slug[n] = 0;
    struct form f = {-1, ""};
    if (strncmp(req->content_type, "application/x-www-form-urlencoded", 33) == 0) {
        struct MHD_PostProcessor *pp = MHD_create_post_processor(req->conn, 4096, form_field, &f);
        if (pp) {
            MHD_post_process(pp, req->body, req->body_len);
            MHD_destroy_post_processor(pp);
        }
    }
    struct kb_article_row *a = NULL;
    if (!kb_article_slug_valid(slug) ||
        kb_store_get_slug(req->w->st, slug, req->scope, &a) != KB_OK) {
        kb_page_error(resp, 404, NULL);
        return;
    }
    if (!kb_req_form_token_ok(req, f.csrf)) {
        kb_page_error(resp, 403, a->lang);
    } else if (f.helpful < 0) {
        kb_page_error(resp, 400, a->lang);
    } else if (!kb_http_allow(req, KB_LIMIT_FEEDBACK)) {
        kb_page_error(resp, 429, a->lang);
    } else {
        kb_usage_feedback(a->id, f.helpful == 1, NULL);
        struct kb_buf loc;
        kb_buf_init(&loc, 512);
        KB_IGNORE(kb_buf_printf(&loc, "/a/%s?thanks=1", a->slug));
        kb_resp_redirect(resp, loc.data ? loc.data : "/");
        kb_buf_release(&loc);
    }
    kb_article_row_free(a);
}

/* ---- search --------------------------------------------------------------------------- */

/* "/search?q=...&lang=..[&category=..][&page=N][&verbatim=1]" (raw: the template escapes
 * it). */
static char *search_href(const char *q, const char *lang, const char *category, size_t page,
                         bool verbatim)
{
    struct kb_buf b;
    kb_buf_init(&b, 16384);
    enum kb_err err = kb_buf_puts(&b, "/search?q=");
    if (!err)
        err = kb_buf_put_urlenc(&b, q);
    if (!err)
        err = kb_buf_printf(&b, "&lang=%s", lang);
    if (!err && category) {
        err = kb_buf_puts(&b, "&category=");
        if (!err)
            err = kb_buf_put_urlenc(&b, category);
    }
    if (!err && page > 1)
        err = kb_buf_printf(&b, "&page=%zu", page);
    if (!err && verbatim)
        err = kb_buf_puts(&b, "&verbatim=1");
    char *s = err ? NULL : kb_buf_detach(&b);
    kb_buf_release(&b);
    return s;
}

/* json_string of s, which is then freed. */
static json_t *take_string(char *s)
{
    json_t *j = s ? json_string(s) : json_null();
    free(s);
    return j;
}

void kb_page_search(struct kb_req *req, struct kb_resp *resp)
{
    const char *lang = page_lang(req);
    const char *q = kb_req_arg(req, "q");
    const char *category = kb_req_arg(req, "category");
    long page, verbatim;
    if (kb_req_int(req, "page", 1, 1000, 1, &page) ||
        kb_req_int(req, "verbatim", 0, 1, 0, &verbatim)) {
        kb_page_error(resp, 400, lang);
        return;
    }
    const bool verb = verbatim == 1;
    if (!q) {
        kb_resp_redirect(resp, strcmp(lang, "en") == 0 ? "/?lang=en" : "/?lang=fr");
        return;
    }
    struct search_index *idx = kb_worker_index(req->w, req->cfg->db_path);
    struct search_query sq = {.text = q,
                              .lang = lang,
                              .category = category,
                              .scope = req->search_scope,
                              .offset = (size_t)(page - 1) * PAGE_SIZE,
                              .limit = PAGE_SIZE,
                              .verbatim = verb};
    struct search_result *r = NULL;
    if (!idx || search_run(idx, &sq, &r) != KB_OK) {
        kb_page_error(resp, 503, lang);
        return;
    }
    char token[KB_USAGE_TOKEN_MAX];
    kb_usage_search(q, lang, (int64_t)r->total, kb_http_allow(req, KB_LIMIT_SEARCH_LOG), token);
    kb_metrics_search(r->total, r->took_ms);

    const char *heading = r->corrected_query ? r->corrected_query : q;
    json_t *data = kb_page_data(req, resp, lang, "");
    if (!data)
        goto out;
    {
        struct kb_buf title;
        kb_buf_init(&title, 8192);
        KB_IGNORE(kb_buf_printf(&title, "%s %s%s%s", tr(lang, "results_for"),
                                tr(lang, "quote_open"), heading, tr(lang, "quote_close")));
        json_object_set_new(data, "page_title", json_string(title.data ? title.data : ""));
        kb_buf_release(&title);
    }
    json_object_set_new(data, "q", json_string(q));
    json_object_set_new(data, "heading", json_string(heading));
    json_object_set_new(data, "noindex", json_true());
    if (r->corrected_query)
        json_object_set_new(data, "corrected",
                            json_pack("{s:s, s:o}", "text", r->corrected_query, "href_original",
                                      take_string(search_href(q, lang, category, 1, true))));
    /* Did-you-mean is for a query that finds almost nothing and had nothing replaced: a
     * corrected query already says what was searched, and offers the words as typed. */
    if (r->did_you_mean && !r->corrected_query)
        json_object_set_new(data, "did_you_mean",
                            json_pack("{s:s, s:o}", "text", r->did_you_mean, "href",
                                      take_string(search_href(r->did_you_mean, lang, category,
                                                              1, false))));
    json_object_set_new(data, "total", json_integer((json_int_t)r->total));
    json_object_set_new(data, "one_result", json_boolean(r->total == 1));
    /* Facets and pages keep verbatim (verb): the words as typed, until another search. */
    if (r->nfacets) {
        json_t *values = json_array();
        for (size_t i = 0; values && i < r->nfacets; i++) {
            const char *name = r->facets[i].value;
            json_array_append_new(
                values, json_pack("{s:s, s:I, s:o, s:b}", "name", name, "count",
                                  (json_int_t)r->facets[i].count, "href",
                                  take_string(search_href(q, lang, name, 1, verb)), "current",
                                  category && !strcmp(category, name)));
        }
        json_object_set_new(data, "facets",
                            json_pack("{s:{s:o, s:b}, s:o}", "all", "href",
                                      take_string(search_href(q, lang, NULL, 1, verb)),
                                      "current", category == NULL, "values", values));
    }
    json_t *results = json_array();
    for (size_t i = 0; results && i < r->nhits; i++) {
        const struct search_hit *h = &r->hits[i];
        json_array_append_new(results, json_pack("{s:s, s:s, s:s, s:s, s:s}", "slug", h->slug,
                                                 "title", h->title, "category",
                                                 h->category ? h->category : "", "snippet",
                                                 h->snippet ? h->snippet : "", "token", token));
    }
    json_object_set_new(data, "results", results);
    json_object_set_new(data, "has_results", json_boolean(r->nhits > 0));
    json_object_set_new(data, "start", json_integer((json_int_t)sq.offset + 1));
    size_t pages = (r->total + PAGE_SIZE - 1) / PAGE_SIZE;
    if (pages > 1000)
        pages = 1000;
    if (pages > 1) {
        json_t *p = json_pack("{s:I, s:I}", "page", (json_int_t)page, "pages", (json_int_t)pages);
        if (p && page > 1)
            json_object_set_new(p, "prev", take_string(search_href(q, lang, category,
                                                                   (size_t)page - 1, verb)));
        if (p && (size_t)page < pages)
            json_object_set_new(p, "next", take_string(search_href(q, lang, category,
                                                                   (size_t)page + 1, verb)));
        json_object_set_new(data, "pagination", p);
    }
    simple_langs(data, lang, "/search", q);
out:
    render(resp, 200, "search", data, NULL);
    search_result_free(r);
}

/* ---- sitemap and robots --------------------------------------------------------------- */

/* Absolute base URL: configured, else from a well-formed Host header. */
static void base_url(const struct kb_req *req, struct kb_buf *out)
{
    if (req->cfg->base_url && *req->cfg->base_url) {
        size_t n = strlen(req->cfg->base_url);
        while (n && req->cfg->base_url[n - 1] == '/')
            n--;
        KB_IGNORE(kb_buf_append(out, req->cfg->base_url, n));
        return;
    }
    const char *host = kb_req_header(req, "Host");
    int ok = host && *host && strlen(host) < 256;
    for (const char *p = host; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '.' || *p == '-' || *p == ':' || *p == '[' || *p == ']';
    KB_IGNORE(kb_buf_printf(out, "http://%s", ok ? host : "localhost"));
}

void kb_page_sitemap(struct kb_req *req, struct kb_resp *resp)
{
    struct kb_article_row **rows = NULL;
    size_t n = 0;
    struct kb_category *cats = NULL;
    size_t ncats = 0;
    /* What search engines may index: public, published, whoever asks. */
    if (kb_store_list(req->w->st, KB_SCOPE_PUBLIC, NULL, NULL, KB_ORDER_TITLE, SITEMAP_MAX,
                      &rows, &n) ||
        kb_store_categories(req->w->st, KB_SCOPE_PUBLIC, NULL, &cats, &ncats)) {
        kb_article_rows_free(rows, n);
        kb_page_error(resp, 503, NULL);
        return;
    }
    struct kb_buf base;
    kb_buf_init(&base, 1024);
    base_url(req, &base);
    json_t *urls = json_array();
    json_t *data = json_pack("{s:s, s:o}", "base", base.data ? base.data : "", "urls", urls);
    static const char *const ui[] = {"fr", "en"};
    char loc[256];
    for (int i = 0; data && i < 2; i++) {
        snprintf(loc, sizeof loc, "/?lang=%s", ui[i]);
        json_array_append_new(urls, json_pack("{s:s}", "loc", loc));
    }
    for (size_t i = 0; data && i < ncats; i++) {
        snprintf(loc, sizeof loc, "/c/%s?lang=%s", cats[i].slug, cats[i].lang);
        json_array_append_new(urls, json_pack("{s:s}", "loc", loc));
    }
    for (size_t i = 0; data && i < n; i++) {
        char date[32];
        format_date(date, sizeof date, rows[i]->updated_at, "%Y-%m-%d");
        snprintf(loc, sizeof loc, "/a/%s", rows[i]->slug);
        json_array_append_new(urls, json_pack("{s:s, s:s}", "loc", loc, "lastmod", date));
    }
    render(resp, 200, "sitemap", data, "application/xml; charset=utf-8");
    kb_buf_release(&base);
    kb_article_rows_free(rows, n);
    kb_categories_free(cats, ncats);
}

void kb_page_robots(struct kb_req *req, struct kb_resp *resp)
{
    struct kb_buf base;
    kb_buf_init(&base, 1024);
    base_url(req, &base);
    kb_buf_clear(&resp->body);
    KB_IGNORE(kb_buf_printf(&resp->body,
                            "User-agent: *\nAllow: /\nDisallow: /search\nDisallow: /api/\n"
                            "Sitemap: %s/sitemap.xml\n",
                            base.data ? base.data : ""));
    kb_buf_release(&base);
    resp->status = 200;
    resp->ctype = "text/plain; charset=utf-8";
}
