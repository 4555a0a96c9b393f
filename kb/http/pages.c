/* kb/http/pages.c: the server-rendered FAQ pages. They work without JavaScript; kb.js only adds
 * search-as-you-type. Every piece of text from the store or the request is HTML-escaped here;
 * article bodies were rendered safely at import (no raw HTML, no unsafe URLs) and search
 * snippets come escaped from search/ with only <mark> added.
 *
 *   /                   home: search box, categories, most viewed
 *   /c/<category-slug>  one category's articles
 *   /a/<slug>           article: breadcrumbs, body, translations, related, feedback, JSON-LD
 *   POST /a/<slug>/feedback   the "was this helpful?" form (303 back to the article)
 *   /search?q=          ranked results, snippets, category facets, did-you-mean, pages
 *   /sitemap.xml, /robots.txt
 * The page language follows the article, else ?lang=, else the configured default. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "kb/http/route.h"
#include "kb/http/i18n.h"
#include "kb/base/log.h"
#include "kb/http/metrics.h"
#include "kb/http/searchlog.h"
#include "kb/http/template.h"
#include "kb/base/text.h"

/* Some UI strings are printf formats ("%zu results"); they come from the fixed table in
 * i18n.c, never from input, and i18n.c keeps the same conversions in every language. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

#define PAGE_SIZE 10
#define SITEMAP_MAX 50000

static struct kb_template *layout;

int kb_pages_init(const char *web_dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/templates/layout.html", web_dir);
    kb_template_free(layout);
    layout = NULL;
    return kb_template_load(path, &layout) == KB_OK ? 0 : -1;
}

void kb_pages_release(void)
{
    kb_template_free(layout);
    layout = NULL;
}

/* ---- HTML writer: stops writing after the first failure, checked once at the end ---- */

struct html {
    struct kb_buf *b;
    enum kb_err err;
};

static void h_puts(struct html *h, const char *s)
{
    if (!h->err)
        h->err = kb_buf_puts(h->b, s);
}

static void h_esc(struct html *h, const char *s)
{
    if (!h->err)
        h->err = kb_buf_put_html(h->b, s);
}

static void h_url(struct html *h, const char *s)
{
    if (!h->err)
        h->err = kb_buf_put_urlenc(h->b, s);
}

static void h_printf(struct html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void h_printf(struct html *h, const char *fmt, ...)
{
    if (h->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    h->err = kb_buf_vprintf(h->b, fmt, ap);
    va_end(ap);
}

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

/* Links to the same page in the UI languages (or to the article's translations). */
struct alt_lang {
    const char *lang;
    const char *href; /* already a path; escaped when written */
};

static void write_langs(struct html *h, const char *cur, const struct alt_lang *alts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(alts[i].lang, cur) == 0) {
            h_printf(h, "<span aria-current=\"true\" lang=\"%s\">", alts[i].lang);
            h_esc(h, kb_i18n_lang_name(alts[i].lang));
            h_puts(h, "</span>");
        } else {
            h_printf(h, "<a href=\"");
            h_esc(h, alts[i].href);
            h_printf(h, "\" hreflang=\"%s\" lang=\"%s\">", alts[i].lang, alts[i].lang);
            h_esc(h, kb_i18n_lang_name(alts[i].lang));
            h_puts(h, "</a>");
        }
    }
}

/* Wrap content into the layout. title/description/q are plain text; head and langs HTML. */
static void render(struct kb_resp *resp, unsigned status, const char *lang, const char *title,
                   const char *description, const char *q, const char *head, const char *langs,
                   struct kb_buf *content)
{
    struct kb_buf et, ed, eq, footer;
    kb_buf_init(&et, 4096);
    kb_buf_init(&ed, 4096);
    kb_buf_init(&eq, 16384);
    kb_buf_init(&footer, 4096);
    struct html f = {&footer, KB_OK};
    h_esc(&f, kb_i18n(lang, M_FOOTER));
    h_puts(&f, " · <a href=\"/sitemap.xml\">Sitemap</a>");
    enum kb_err err = kb_buf_put_html(&et, title);
    if (!err && strcmp(title, kb_i18n(lang, M_SITE)) != 0) {
        err = kb_buf_puts(&et, " · ");
        if (!err)
            err = kb_buf_put_html(&et, kb_i18n(lang, M_SITE));
    }
    if (!err)
        err = kb_buf_put_html(&ed, description ? description : kb_i18n(lang, M_TAGLINE));
    if (!err)
        err = kb_buf_put_html(&eq, q ? q : "");
    struct kb_buf chat;
    kb_buf_init(&chat, 1024);
    if (!err)
        err = kb_buf_put_html(&chat, resp->chat_url);
    struct kb_buf esc[8];
    const enum kb_msg ms[] = {M_SITE, M_SEARCH, M_SEARCH_LABEL, M_PLACEHOLDER, M_SKIP,
                              M_SUGGESTIONS};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        kb_buf_init(&esc[i], 4096);
        if (!err)
            err = kb_buf_put_html(&esc[i], kb_i18n(lang, ms[i]));
    }
    const struct kb_slot slots[] = {
        {"lang", lang},
        {"title", et.data},
        {"description", ed.data},
        {"q", eq.data},
        {"head", head},
        {"langs", langs},
        {"content", content->data},
        {"footer", footer.data},
        {"site", esc[0].data},
        {"search", esc[1].data},
        {"search_label", esc[2].data},
        {"placeholder", esc[3].data},
        {"skip", esc[4].data},
        {"suggestions", esc[5].data},
        {"chat_url", chat.data ? chat.data : ""},
        {NULL, NULL},
    };
    kb_buf_clear(&resp->body);
    if (!err && !f.err && layout)
        err = kb_template_render(layout, slots, &resp->body);
    resp->status = err ? 500 : status;
    resp->ctype = "text/html; charset=utf-8";
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        kb_buf_release(&esc[i]);
    kb_buf_release(&chat);
    kb_buf_release(&et);
    kb_buf_release(&ed);
    kb_buf_release(&eq);
    kb_buf_release(&footer);
}

/* Switch links for pages that exist in every language (home, search). */
static void simple_langs(struct kb_buf *out, const char *lang, const char *path,
                         const char *q)
{
    static const char *const ui[] = {"fr", "en"};
    struct alt_lang alts[2];
    struct kb_buf hrefs[2];
    for (int i = 0; i < 2; i++) {
        kb_buf_init(&hrefs[i], 8192);
        KB_IGNORE(kb_buf_printf(&hrefs[i], "%s?lang=%s", path, ui[i]));
        if (q) {
            KB_IGNORE(kb_buf_puts(&hrefs[i], "&q="));
            KB_IGNORE(kb_buf_put_urlenc(&hrefs[i], q));
        }
        alts[i] = (struct alt_lang){ui[i], hrefs[i].data ? hrefs[i].data : "/"};
    }
    struct html h = {out, KB_OK};
    write_langs(&h, lang, alts, 2);
    for (int i = 0; i < 2; i++)
        kb_buf_release(&hrefs[i]);
}

void kb_page_error(struct kb_resp *resp, unsigned status, const char *lang)
{
    if (!lang_ok(lang))
        lang = "fr";
    struct kb_buf c, langs;
    kb_buf_init(&c, 8192);
    kb_buf_init(&langs, 4096);
    struct html h = {&c, KB_OK};
    enum kb_msg title = status == 404 ? M_NOT_FOUND : status < 500 ? M_BAD_REQUEST : M_ERROR;
    enum kb_msg text = status == 404 ? M_NOT_FOUND_TEXT : status < 500 ? M_NO_RESULTS_HINT
                                                                        : M_ERROR_TEXT;
    h_puts(&h, "<section class=\"error-page\"><h1>");
    h_esc(&h, kb_i18n(lang, title));
    h_puts(&h, "</h1><p>");
    h_esc(&h, kb_i18n(lang, text));
    h_printf(&h, "</p><p><a href=\"/?lang=%s\">", lang);
    h_esc(&h, kb_i18n(lang, M_HOME));
    h_puts(&h, "</a></p></section>");
    simple_langs(&langs, lang, "/", NULL);
    render(resp, status, lang, kb_i18n(lang, title), NULL, NULL, "", langs.data, &c);
    kb_buf_release(&c);
    kb_buf_release(&langs);
}

void kb_page_not_found(struct kb_req *req, struct kb_resp *resp)
{
    kb_page_error(resp, 404, req ? page_lang(req) : NULL);
}

static void article_list(struct html *h, struct kb_article_row **rows, size_t n)
{
    h_puts(h, "<ul class=\"article-list\">");
    for (size_t i = 0; i < n; i++) {
        h_puts(h, "<li><a href=\"/a/");
        h_esc(h, rows[i]->slug);
        h_puts(h, "\">");
        h_esc(h, rows[i]->title);
        h_puts(h, "</a></li>");
    }
    h_puts(h, "</ul>");
}

/* ---- home ------------------------------------------------------------------------------ */

void kb_page_home(struct kb_req *req, struct kb_resp *resp)
{
    const char *lang = page_lang(req);
    struct kb_category *cats = NULL;
    size_t ncats = 0;
    struct kb_article_row **top = NULL;
    size_t ntop = 0;
    if (kb_store_categories(req->w->st, KB_SCOPE_PUBLIC, lang, &cats, &ncats) ||
        kb_store_list(req->w->st, KB_SCOPE_PUBLIC, lang, NULL, KB_ORDER_VIEWS, 8, &top,
                      &ntop)) {
        kb_page_error(resp, 503, lang);
        return;
    }
    struct kb_buf c, langs;
    kb_buf_init(&c, 1 << 20);
    kb_buf_init(&langs, 4096);
    struct html h = {&c, KB_OK};
    h_puts(&h, "<section class=\"hero\"><h1>");
    h_esc(&h, kb_i18n(lang, M_TAGLINE));
    h_puts(&h, "</h1></section>");
    h_puts(&h, "<section class=\"categories\" aria-labelledby=\"cat-title\"><h2 id=\"cat-title\">");
    h_esc(&h, kb_i18n(lang, M_CATEGORIES));
    h_puts(&h, "</h2><ul class=\"category-grid\">");
    for (size_t i = 0; i < ncats; i++) {
        h_puts(&h, "<li><a href=\"/c/");
        h_esc(&h, cats[i].slug);
        h_printf(&h, "?lang=%s\"><span class=\"name\">", lang);
        h_esc(&h, cats[i].name);
        h_printf(&h, "</span> <span class=\"count\">%zu ", cats[i].count);
        h_esc(&h, kb_i18n(lang, cats[i].count == 1 ? M_ONE_ARTICLE : M_ARTICLES));
        h_puts(&h, "</span></a></li>");
    }
    h_puts(&h, "</ul></section>");
    h_puts(&h, "<section class=\"popular\" aria-labelledby=\"top-title\"><h2 id=\"top-title\">");
    h_esc(&h, kb_i18n(lang, M_MOST_VIEWED));
    h_puts(&h, "</h2>");
    article_list(&h, top, ntop);
    h_puts(&h, "</section>");
    simple_langs(&langs, lang, "/", NULL);
    if (h.err)
        kb_page_error(resp, 500, lang);
    else
        render(resp, 200, lang, kb_i18n(lang, M_SITE), NULL, NULL, "", langs.data, &c);
    kb_buf_release(&c);
    kb_buf_release(&langs);
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
    if (kb_store_list(req->w->st, KB_SCOPE_PUBLIC, lang, cslug, KB_ORDER_TITLE, 500, &rows,
                      &n)) {
        kb_page_error(resp, 503, lang);
        return;
    }
    if (n == 0) {
        kb_page_error(resp, 404, lang);
        return;
    }
    const char *name = rows[0]->category;
    struct kb_buf c, langs;
    kb_buf_init(&c, 1 << 20);
    kb_buf_init(&langs, 4096);
    struct html h = {&c, KB_OK};
    h_printf(&h, "<nav class=\"breadcrumbs\" aria-label=\"");
    h_esc(&h, kb_i18n(lang, M_BREADCRUMB));
    h_printf(&h, "\"><ol><li><a href=\"/?lang=%s\">", lang);
    h_esc(&h, kb_i18n(lang, M_HOME));
    h_puts(&h, "</a></li><li aria-current=\"page\">");
    h_esc(&h, name);
    h_puts(&h, "</li></ol></nav><h1>");
    h_esc(&h, name);
    h_puts(&h, "</h1>");
    article_list(&h, rows, n);
    simple_langs(&langs, lang, "/", NULL);
    if (h.err)
        kb_page_error(resp, 500, lang);
    else
        render(resp, 200, lang, name, NULL, NULL, "", langs.data, &c);
    kb_buf_release(&c);
    kb_buf_release(&langs);
    kb_article_rows_free(rows, n);
}

/* ---- article -------------------------------------------------------------------------- */

/* schema.org FAQPage for search engines. JSON inside <script> must not close the element:
 * jansson escapes '/', and we turn every '<' into \u003c. */
static void jsonld(struct html *h, const struct kb_article_row *a)
{
    json_t *o = json_pack("{s:s, s:s, s:[{s:s, s:s, s:{s:s, s:s}}]}", "@context",
                          "https://schema.org", "@type", "FAQPage", "mainEntity", "@type",
                          "Question", "name", a->title, "acceptedAnswer", "@type", "Answer",
                          "text", a->html);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ESCAPE_SLASH) : NULL;
    json_decref(o);
    if (!s)
        return;
    h_puts(h, "<script type=\"application/ld+json\">");
    for (const char *p = s; *p && !h->err; p++) {
        if (*p == '<')
            h_puts(h, "\\u003c");
        else
            h->err = kb_buf_putc(h->b, *p);
    }
    h_puts(h, "</script>");
    free(s);
}

static void format_date(char *out, size_t n, int64_t t, const char *lang)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, n, strcmp(lang, "fr") == 0 ? "%d/%m/%Y" : "%Y-%m-%d", &tm);
}

void kb_page_article(struct kb_req *req, struct kb_resp *resp)
{
    const char *slug = req->rest;
    struct kb_article_row *a = NULL;
    if (!kb_article_slug_valid(slug) ||
        kb_store_get_slug(req->w->st, slug, KB_SCOPE_PUBLIC, &a) != KB_OK) {
        kb_page_error(resp, 404, page_lang(req));
        return;
    }
    if (kb_article_render_row(a, KB_ARTICLE_HTML | KB_ARTICLE_TEXT) != KB_OK) {
        kb_article_row_free(a);
        kb_page_error(resp, 500, page_lang(req));
        return;
    }
    const char *lang = lang_ok(a->lang) ? a->lang : page_lang(req);
    KB_IGNORE(kb_store_record_view(req->w->st, a->id));
    const char *s = kb_req_arg(req, "s");
    if (s) {
        char *end = NULL;
        long long sid = strtoll(s, &end, 10);
        if (end && !*end && sid > 0)
            kb_searchlog_click((int64_t)sid, a->slug);
    }
    struct kb_article_row **tr = NULL;
    size_t ntr = 0;
    KB_IGNORE(kb_store_translations(req->w->st, a, KB_SCOPE_PUBLIC, &tr, &ntr));
    struct search_result *rel = NULL;
    struct search_index *idx = kb_worker_index(req->w, req->cfg->db_path);
    if (idx && search_related(idx, a->id, SEARCH_SCOPE_PUBLIC, 5, &rel) != KB_OK)
        rel = NULL;

    struct kb_buf c, langs, head;
    kb_buf_init(&c, 4 << 20);
    kb_buf_init(&langs, 4096);
    kb_buf_init(&head, 4 << 20);
    struct html h = {&c, KB_OK};
    struct html hh = {&head, KB_OK};
    jsonld(&hh, a);

    h_puts(&h, "<nav class=\"breadcrumbs\" aria-label=\"");
    h_esc(&h, kb_i18n(lang, M_BREADCRUMB));
    h_printf(&h, "\"><ol><li><a href=\"/?lang=%s\">", lang);
    h_esc(&h, kb_i18n(lang, M_HOME));
    h_puts(&h, "</a></li>");
    if (*a->category_slug) {
        h_puts(&h, "<li><a href=\"/c/");
        h_esc(&h, a->category_slug);
        h_printf(&h, "?lang=%s\">", lang);
        h_esc(&h, a->category);
        h_puts(&h, "</a></li>");
    }
    h_puts(&h, "<li aria-current=\"page\">");
    h_esc(&h, a->title);
    h_puts(&h, "</li></ol></nav>");
    h_puts(&h, "<article class=\"article\"><h1>");
    h_esc(&h, a->title);
    char date[32];
    format_date(date, sizeof date, a->updated_at, lang);
    h_puts(&h, "</h1><p class=\"meta\">");
    h_esc(&h, kb_i18n(lang, M_UPDATED));
    h_printf(&h, " <time datetime=\"%s\">%s</time></p>", date, date);
    h_puts(&h, "<div class=\"article-body\">");
    h_puts(&h, a->html); /* rendered safely at import (see article.c) */
    h_puts(&h, "</div></article>");

    /* Was this helpful? A plain form; the thanks replace it after the redirect. */
    h_puts(&h, "<section class=\"feedback\" aria-live=\"polite\">");
    if (kb_req_arg(req, "thanks")) {
        h_puts(&h, "<p class=\"thanks\">");
        h_esc(&h, kb_i18n(lang, M_THANKS));
        h_puts(&h, "</p>");
    } else {
        h_puts(&h, "<form method=\"post\" action=\"/a/");
        h_esc(&h, a->slug);
        h_puts(&h, "/feedback\"><p id=\"fb-q\">");
        h_esc(&h, kb_i18n(lang, M_HELPFUL));
        h_puts(&h, "</p><div role=\"group\" aria-labelledby=\"fb-q\">"
                   "<button type=\"submit\" name=\"helpful\" value=\"yes\">");
        h_esc(&h, kb_i18n(lang, M_YES));
        h_puts(&h, "</button> <button type=\"submit\" name=\"helpful\" value=\"no\">");
        h_esc(&h, kb_i18n(lang, M_NO));
        h_puts(&h, "</button></div></form>");
    }
    h_puts(&h, "</section>");

    if (rel && rel->nhits) {
        h_puts(&h, "<section class=\"related\" aria-labelledby=\"rel-title\"><h2 id=\"rel-title\">");
        h_esc(&h, kb_i18n(lang, M_RELATED));
        h_puts(&h, "</h2><ul class=\"article-list\">");
        for (size_t i = 0; i < rel->nhits; i++) {
            h_puts(&h, "<li><a href=\"/a/");
            h_esc(&h, rel->hits[i].slug);
            h_puts(&h, "\">");
            h_esc(&h, rel->hits[i].title);
            h_puts(&h, "</a></li>");
        }
        h_puts(&h, "</ul></section>");
    }

    /* Language switch: this article and its translations. */
    struct alt_lang alts[16];
    struct kb_buf hrefs[16];
    size_t nalt = 0;
    kb_buf_init(&hrefs[nalt], 512);
    KB_IGNORE(kb_buf_printf(&hrefs[nalt], "/a/%s", a->slug));
    alts[nalt] = (struct alt_lang){a->lang, hrefs[nalt].data ? hrefs[nalt].data : "/"};
    nalt++;
    for (size_t i = 0; i < ntr && nalt < 16; i++) {
        kb_buf_init(&hrefs[nalt], 512);
        KB_IGNORE(kb_buf_printf(&hrefs[nalt], "/a/%s", tr[i]->slug));
        alts[nalt] = (struct alt_lang){tr[i]->lang, hrefs[nalt].data ? hrefs[nalt].data : "/"};
        hh.err = hh.err ? hh.err : kb_buf_puts(&head, "<link rel=\"alternate\" hreflang=\"");
        h_esc(&hh, tr[i]->lang);
        h_puts(&hh, "\" href=\"/a/");
        h_esc(&hh, tr[i]->slug);
        h_puts(&hh, "\">");
        nalt++;
    }
    struct html hl = {&langs, KB_OK};
    write_langs(&hl, a->lang, alts, nalt);
    for (size_t i = 0; i < nalt; i++)
        kb_buf_release(&hrefs[i]);

    /* Description: the start of the text, cut on a UTF-8 boundary. */
    char desc[200];
    size_t dn = kb_text_utf8_prefix(a->text, strnlen(a->text, sizeof desc - 1));
    memcpy(desc, a->text, dn);
    desc[dn] = 0;
    for (char *p = desc; *p; p++)
        if (*p == '\n')
            *p = ' ';
    if (h.err || hh.err)
        kb_page_error(resp, 500, lang);
    else
        render(resp, 200, lang, a->title, desc, NULL, head.data ? head.data : "", langs.data, &c);
    kb_buf_release(&c);
    kb_buf_release(&langs);
    kb_buf_release(&head);
    search_result_free(rel);
    kb_article_rows_free(tr, ntr);
    kb_article_row_free(a);
}

/* ---- feedback form -------------------------------------------------------------------- */

struct form {
    int helpful; /* -1 unknown, 0 no, 1 yes */
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
    struct form f = {-1};
    if (strncmp(req->content_type, "application/x-www-form-urlencoded", 33) == 0) {
        struct MHD_PostProcessor *pp = MHD_create_post_processor(req->conn, 4096, form_field, &f);
        if (pp) {
            MHD_post_process(pp, req->body, req->body_len);
            MHD_destroy_post_processor(pp);
        }
    }
    struct kb_article_row *a = NULL;
    if (!kb_article_slug_valid(slug) ||
        kb_store_get_slug(req->w->st, slug, KB_SCOPE_PUBLIC, &a) != KB_OK) {
        kb_page_error(resp, 404, NULL);
        return;
    }
    if (f.helpful < 0) {
        kb_page_error(resp, 400, a->lang);
        kb_article_row_free(a);
        return;
    }
    if (kb_store_feedback(req->w->st, a->id, f.helpful == 1, NULL) != KB_OK) {
        kb_page_error(resp, 503, a->lang);
        kb_article_row_free(a);
        return;
    }
    struct kb_buf loc;
    kb_buf_init(&loc, 512);
    KB_IGNORE(kb_buf_printf(&loc, "/a/%s?thanks=1", a->slug));
    kb_resp_redirect(resp, loc.data ? loc.data : "/");
    kb_buf_release(&loc);
    kb_article_row_free(a);
}

/* ---- search --------------------------------------------------------------------------- */

static void search_href(struct html *h, const char *q, const char *lang, const char *category,
                        size_t page)
{
    h_puts(h, "/search?q=");
    h_url(h, q);
    h_printf(h, "&amp;lang=%s", lang);
    if (category) {
        h_puts(h, "&amp;category=");
        h_url(h, category);
    }
    if (page > 1)
        h_printf(h, "&amp;page=%zu", page);
}

void kb_page_search(struct kb_req *req, struct kb_resp *resp)
{
    const char *lang = page_lang(req);
    const char *q = kb_req_arg(req, "q");
    const char *category = kb_req_arg(req, "category");
    long page;
    if (kb_req_int(req, "page", 1, 1000, 1, &page)) {
        kb_page_error(resp, 400, lang);
        return;
    }
    if (!q) {
        kb_resp_redirect(resp, strcmp(lang, "en") == 0 ? "/?lang=en" : "/?lang=fr");
        return;
    }
    struct search_index *idx = kb_worker_index(req->w, req->cfg->db_path);
    struct search_query sq = {.text = q,
                              .lang = lang,
                              .category = category,
                              .scope = SEARCH_SCOPE_PUBLIC,
                              .offset = (size_t)(page - 1) * PAGE_SIZE,
                              .limit = PAGE_SIZE};
    struct search_result *r = NULL;
    if (!idx || search_run(idx, &sq, &r) != KB_OK) {
        kb_page_error(resp, 503, lang);
        return;
    }
    int64_t sid = kb_searchlog_new_id();
    kb_searchlog_query(sid, q, lang, (int64_t)r->total);
    kb_metrics_search(r->total, r->took_ms);

    struct kb_buf c, langs, title;
    kb_buf_init(&c, 1 << 20);
    kb_buf_init(&langs, 16384);
    kb_buf_init(&title, 8192);
    struct html h = {&c, KB_OK};
    KB_IGNORE(kb_buf_printf(&title, kb_i18n(lang, M_RESULTS_FOR), q));
    h_puts(&h, "<h1>");
    h_esc(&h, title.data ? title.data : "");
    h_puts(&h, "</h1>");
    if (r->did_you_mean) {
        h_puts(&h, "<p class=\"did-you-mean\">");
        h_esc(&h, kb_i18n(lang, M_DID_YOU_MEAN));
        h_puts(&h, " <a href=\"");
        search_href(&h, r->did_you_mean, lang, category, 1);
        h_puts(&h, "\">");
        h_esc(&h, r->did_you_mean);
        h_puts(&h, "</a> ?</p>");
    }
    h_puts(&h, "<p class=\"count\" role=\"status\">");
    if (r->total == 1)
        h_esc(&h, kb_i18n(lang, M_ONE_RESULT));
    else
        h_printf(&h, kb_i18n(lang, M_N_RESULTS), r->total);
    h_puts(&h, "</p><div class=\"search-layout\">");
    if (r->nfacets) {
        h_puts(&h, "<nav class=\"facets\" aria-labelledby=\"facet-title\"><h2 id=\"facet-title\">");
        h_esc(&h, kb_i18n(lang, M_FILTER));
        h_puts(&h, "</h2><ul><li>");
        if (category) {
            h_puts(&h, "<a href=\"");
            search_href(&h, q, lang, NULL, 1);
            h_puts(&h, "\">");
            h_esc(&h, kb_i18n(lang, M_ALL));
            h_puts(&h, "</a>");
        } else {
            h_puts(&h, "<strong>");
            h_esc(&h, kb_i18n(lang, M_ALL));
            h_puts(&h, "</strong>");
        }
        h_puts(&h, "</li>");
        for (size_t i = 0; i < r->nfacets; i++) {
            int cur = category && strcmp(category, r->facets[i].value) == 0;
            h_puts(&h, "<li>");
            if (cur) {
                h_puts(&h, "<strong aria-current=\"true\">");
            } else {
                h_puts(&h, "<a href=\"");
                search_href(&h, q, lang, r->facets[i].value, 1);
                h_puts(&h, "\">");
            }
            h_esc(&h, r->facets[i].value);
            h_printf(&h, " <span class=\"count\">(%zu)</span>", r->facets[i].count);
            h_puts(&h, cur ? "</strong></li>" : "</a></li>");
        }
        h_puts(&h, "</ul></nav>");
    }
    h_puts(&h, "<div class=\"results\">");
    if (r->nhits == 0) {
        h_puts(&h, "<p class=\"no-results\">");
        h_esc(&h, kb_i18n(lang, M_NO_RESULTS));
        h_puts(&h, "</p><p>");
        h_esc(&h, kb_i18n(lang, M_NO_RESULTS_HINT));
        h_puts(&h, "</p>");
    } else {
        h_printf(&h, "<ol class=\"result-list\" start=\"%zu\">", sq.offset + 1);
        for (size_t i = 0; i < r->nhits; i++) {
            const struct search_hit *hit = &r->hits[i];
            h_puts(&h, "<li class=\"result\"><h3><a href=\"/a/");
            h_esc(&h, hit->slug);
            h_printf(&h, "?s=%lld\">", (long long)sid);
            h_esc(&h, hit->title);
            h_puts(&h, "</a></h3>");
            if (hit->category && *hit->category) {
                h_puts(&h, "<p class=\"category\">");
                h_esc(&h, hit->category);
                h_puts(&h, "</p>");
            }
            /* The snippet is escaped by search/ with <mark> around matches. */
            h_puts(&h, "<p class=\"snippet\">");
            h_puts(&h, hit->snippet ? hit->snippet : "");
            h_puts(&h, "</p></li>");
        }
        h_puts(&h, "</ol>");
    }
    size_t pages = (r->total + PAGE_SIZE - 1) / PAGE_SIZE;
    if (pages > 1000)
        pages = 1000;
    if (pages > 1) {
        h_puts(&h, "<nav class=\"pagination\" aria-label=\"");
        h_esc(&h, kb_i18n(lang, M_PAGINATION));
        h_puts(&h, "\">");
        if (page > 1) {
            h_puts(&h, "<a rel=\"prev\" href=\"");
            search_href(&h, q, lang, category, (size_t)page - 1);
            h_puts(&h, "\">");
            h_esc(&h, kb_i18n(lang, M_PREV));
            h_puts(&h, "</a> ");
        }
        h_puts(&h, "<span>");
        h_printf(&h, kb_i18n(lang, M_PAGE_OF), (size_t)page, pages);
        h_puts(&h, "</span>");
        if ((size_t)page < pages) {
            h_puts(&h, " <a rel=\"next\" href=\"");
            search_href(&h, q, lang, category, (size_t)page + 1);
            h_puts(&h, "\">");
            h_esc(&h, kb_i18n(lang, M_NEXT));
            h_puts(&h, "</a>");
        }
        h_puts(&h, "</nav>");
    }
    h_puts(&h, "</div></div>");
    simple_langs(&langs, lang, "/search", q);
    if (h.err)
        kb_page_error(resp, 500, lang);
    else
        render(resp, 200, lang, title.data ? title.data : "", NULL, q,
               "<meta name=\"robots\" content=\"noindex\">", langs.data, &c);
    kb_buf_release(&c);
    kb_buf_release(&langs);
    kb_buf_release(&title);
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
    struct html h = {&resp->body, KB_OK};
    kb_buf_clear(&resp->body);
    h_puts(&h, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    static const char *const ui[] = {"fr", "en"};
    for (int i = 0; i < 2; i++) {
        h_puts(&h, "<url><loc>");
        h_esc(&h, base.data);
        h_printf(&h, "/?lang=%s</loc></url>\n", ui[i]);
    }
    for (size_t i = 0; i < ncats; i++) {
        h_puts(&h, "<url><loc>");
        h_esc(&h, base.data);
        h_puts(&h, "/c/");
        h_esc(&h, cats[i].slug);
        h_puts(&h, "?lang=");
        h_esc(&h, cats[i].lang);
        h_puts(&h, "</loc></url>\n");
    }
    for (size_t i = 0; i < n; i++) {
        char date[32];
        format_date(date, sizeof date, rows[i]->updated_at, "en");
        h_puts(&h, "<url><loc>");
        h_esc(&h, base.data);
        h_puts(&h, "/a/");
        h_esc(&h, rows[i]->slug);
        h_printf(&h, "</loc><lastmod>%s</lastmod></url>\n", date);
    }
    h_puts(&h, "</urlset>\n");
    resp->status = h.err ? 500 : 200;
    resp->ctype = "application/xml; charset=utf-8";
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
