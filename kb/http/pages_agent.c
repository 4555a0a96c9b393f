/* kb/http/pages_agent.c: the agents' console (/agent) and the editors' list of flags.
 *
 *   GET  /agent?q=&lang=   (agent) the console's page shell: the search box (holding q, so
 *        that a telephony screen-pop opens with a search run), the filters, the places the
 *        results, the article, the pinned and recent articles go, and the wording the
 *        modules need (data-* attributes, <template>s). Everything else comes from the JSON
 *        API (the modules of web/static/agent/; no inline script: CSP). Without JavaScript the search
 *        box is a form to /search, which searches in the caller's scope.       agent.mustache
 *   GET  /agent/flags?status=open|handled|all&page=&lang=   (editor) the flags agents raised,
 *        newest first, 25 a page, each with a button to mark it handled (or reopen it);
 *        server-rendered, works without JavaScript                        agent-flags.mustache
 *   POST /agent/flags/ID   status=handled|open, csrf = the session's CSRF token (403
 *        otherwise): through kb_http_flag_set, then 303 back to the list it was in (open
 *        after marking it handled, handled after reopening it)
 *
 * Everything from an article, a flag or a name reaches the page through the templates'
 * {{escaped}} interpolation only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "kb/crm/crm.h"
#include "kb/http/route.h"
#include "kb/http/theme.h"
#include "kb/store/flags.h"

#define FLAGS_PAGE 25

/* The interface language: ?lang=fr|en, else the configured default (fr, en). */
static const char *ui_lang(const struct kb_req *req)
{
    const char *l = kb_req_arg(req, "lang");
    if (l && (strcmp(l, "fr") == 0 || strcmp(l, "en") == 0))
        return l;
    return req->cfg->default_lang && strcmp(req->cfg->default_lang, "en") == 0 ? "en" : "fr";
}

static const char *tr(const char *lang, const char *key)
{
    const char *s = json_string_value(json_object_get(kb_theme_strings(lang), key));
    return s ? s : key;
}

/* The layout's language links: this page in fr and en, with `query` (already URL-encoded,
 * starting with '&', or ""). */
static void add_langs(json_t *data, const char *path, const char *cur, const char *query)
{
    static const char *const ui[] = {"fr", "en"};
    for (size_t i = 0; i < 2; i++) {
        struct kb_buf href;
        kb_buf_init(&href, 8192);
        KB_IGNORE(kb_buf_printf(&href, "%s?lang=%s%s", path, ui[i], query));
        json_array_append_new(json_object_get(data, "langs"),
                              json_pack("{s:s, s:s, s:s, s:b}", "lang", ui[i], "name",
                                        kb_theme_lang_name(ui[i]), "href",
                                        href.data ? href.data : path, "current",
                                        strcmp(ui[i], cur) == 0));
        kb_buf_release(&href);
    }
}

/* ---- the console ------------------------------------------------------------------------ */

void kb_page_agent(struct kb_req *req, struct kb_resp *resp)
{
    const char *lang = ui_lang(req);
    const char *q = kb_req_arg(req, "q");
    json_t *data = kb_page_data(req, resp, lang, tr(lang, "console_title"));
    if (data) {
        json_object_set_new(data, "noindex", json_true());
        json_object_set_new(data, "console", json_true());
        json_object_set_new(data, "q", json_string(q ? q : ""));
        json_object_set_new(data, "editor", json_boolean(req->caller.role >= KB_ROLE_EDITOR));
        json_object_set_new(data, "csrf", json_string(req->caller.csrf));
        struct kb_buf query;
        kb_buf_init(&query, 8192);
        if (q) {
            KB_IGNORE(kb_buf_puts(&query, "&q="));
            KB_IGNORE(kb_buf_put_urlenc(&query, q));
        }
        add_langs(data, "/agent", lang, query.data ? query.data : "");
        kb_buf_release(&query);
    }
    kb_page_render(resp, 200, "agent", data);
}

/* ---- the editors' list of flags ------------------------------------------------------------ */

/* A time as the theme writes dates, with the time of day (UTC). The format is the theme's
 * wording (configuration, not input). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void when(int64_t t, const char *lang, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char fmt[64];
    snprintf(fmt, sizeof fmt, "%s %%H:%%M", tr(lang, "date_format"));
    if (!gmtime_r(&tt, &tm) || !strftime(out, n, fmt, &tm))
        snprintf(out, n, "%lld", (long long)t);
}
#pragma GCC diagnostic pop

static json_t *flag_row(const struct kb_flag *f, const char *lang)
{
    char at[64], at_iso[32], reason_key[32], status_key[32];
    when(f->at, lang, at, sizeof at);
    kb_crm_iso8601(f->at, at_iso, sizeof at_iso);
    snprintf(reason_key, sizeof reason_key, "flag_reason_%s", f->reason);
    snprintf(status_key, sizeof status_key, "flag_status_%s", f->status);
    bool open = strcmp(f->status, "open") == 0;
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s}",
                          "id", (json_int_t)f->id, "slug", f->slug, "title", f->title,
                          "article_lang", f->lang, "reason", f->reason, "reason_label",
                          tr(lang, reason_key), "comment", f->comment, "author", f->author,
                          "at", at, "at_iso", at_iso, "status_label", tr(lang, status_key),
                          "open", open, "move", open ? "handled" : "open");
    if (o && f->handled_at) {
        char h[64];
        when(f->handled_at, lang, h, sizeof h);
        json_object_set_new(o, "handled_by", json_string(f->handled_by));
        json_object_set_new(o, "handled_at", json_string(h));
    }
    return o;
}

/* "/agent/flags?lang=L&status=S[&page=P]" into out. */
static void flags_href(char *out, size_t n, const char *lang, const char *status, long page)
{
    if (page > 1)
        snprintf(out, n, "/agent/flags?lang=%s&status=%s&page=%ld", lang, status, page);
    else
        snprintf(out, n, "/agent/flags?lang=%s&status=%s", lang, status);
}

void kb_page_flags(struct kb_req *req, struct kb_resp *resp)
{
    static const char *const statuses[] = {"open", "handled", "all"};
    const char *lang = ui_lang(req);
    const char *status = kb_req_arg(req, "status");
    long page;
    if (!status)
        status = "open";
    bool known = false;
    for (size_t i = 0; i < 3; i++)
        known |= strcmp(status, statuses[i]) == 0;
    if (!known || kb_req_int(req, "page", 1, KB_FLAGS_OFFSET_MAX / FLAGS_PAGE + 1, 1, &page)) {
        kb_page_error(resp, 400, lang);
        return;
    }
    struct kb_flag *flags = NULL;
    size_t n = 0;
    int64_t total = 0;
    if (kb_store_flags_list(req->w->st, strcmp(status, "all") == 0 ? NULL : status, FLAGS_PAGE,
                            (size_t)(page - 1) * FLAGS_PAGE, &flags, &n, &total) != KB_OK) {
        kb_page_error(resp, 503, lang);
        return;
    }
    json_t *data = kb_page_data(req, resp, lang, tr(lang, "flags_title"));
    if (!data)
        goto out;
    json_object_set_new(data, "noindex", json_true());
    json_object_set_new(data, "csrf", json_string(req->caller.csrf));
    json_t *opts = json_array();
    for (size_t i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "flag_filter_%s", statuses[i]);
        json_array_append_new(opts, json_pack("{s:s, s:s, s:b}", "value", statuses[i], "label",
                                              tr(lang, key), "selected",
                                              strcmp(status, statuses[i]) == 0));
    }
    json_object_set_new(data, "statuses", opts);
    json_t *rows = json_array();
    for (size_t i = 0; rows && i < n; i++)
        json_array_append_new(rows, flag_row(&flags[i], lang));
    json_object_set_new(data, "flags", rows);
    json_object_set_new(data, "has_flags", json_boolean(n > 0));
    json_object_set_new(data, "total", json_integer((json_int_t)total));
    json_object_set_new(data, "status", json_string(status));
    int64_t pages = (total + FLAGS_PAGE - 1) / FLAGS_PAGE;
    if (pages > 1) {
        char prev[128], next[128];
        json_t *p = json_pack("{s:I, s:I}", "page", (json_int_t)page, "pages", (json_int_t)pages);
        flags_href(prev, sizeof prev, lang, status, page - 1);
        flags_href(next, sizeof next, lang, status, page + 1);
        if (p && page > 1)
            json_object_set_new(p, "prev", json_string(prev));
        if (p && page < pages)
            json_object_set_new(p, "next", json_string(next));
        json_object_set_new(data, "pagination", p);
    }
    char query[64];
    snprintf(query, sizeof query, "&status=%s", status);
    add_langs(data, "/agent/flags", lang, query);
out:
    kb_page_render(resp, 200, "agent-flags", data);
    kb_flags_free(flags, n);
}

struct flag_form {
    char csrf[KB_AUTH_SECRET_LEN + 1];
    char status[16];
    bool too_long;
};

static enum MHD_Result form_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *encoding, const char *data, uint64_t off,
                                  size_t size)
{
    (void)kind, (void)filename, (void)content_type, (void)encoding;
    struct flag_form *f = cls;
    char *dst = strcmp(key, "csrf") == 0     ? f->csrf
                : strcmp(key, "status") == 0 ? f->status
                                             : NULL;
    size_t cap = dst == f->csrf ? sizeof f->csrf : sizeof f->status;
    if (!dst)
        return MHD_YES;
    if (off + size >= cap) {
        f->too_long = true;
        return MHD_YES;
    }
    memcpy(dst + off, data, size);
    dst[off + size] = 0;
    return MHD_YES;
}

void kb_page_flag_post(struct kb_req *req, struct kb_resp *resp)
{
    const char *lang = ui_lang(req);
    int64_t id = kb_http_flag_id(req->rest);
    if (!id) {
        kb_page_error(resp, 404, lang);
        return;
    }
    struct flag_form f = {0};
    if (strncmp(req->content_type, "application/x-www-form-urlencoded", 33) == 0) {
        struct MHD_PostProcessor *pp = MHD_create_post_processor(req->conn, 4096, form_field, &f);
        if (pp) {
            MHD_post_process(pp, req->body, req->body_len);
            MHD_destroy_post_processor(pp);
        }
    }
    if (!req->caller.by_token && !kb_auth_csrf_ok(&req->caller, f.csrf)) {
        kb_page_error(resp, 403, lang);
        return;
    }
    if (f.too_long || !kb_flag_status_valid(f.status)) {
        kb_page_error(resp, 400, lang);
        return;
    }
    bool changed = false;
    enum kb_err err = kb_http_flag_set(req, id, f.status, &changed);
    if (err) {
        kb_page_error(resp, err == KB_ENOTFOUND ? 404 : 503, lang);
        return;
    }
    char loc[128];
    snprintf(loc, sizeof loc, "/agent/flags?lang=%s&status=%s", lang,
             strcmp(f.status, "handled") == 0 ? "open" : "handled");
    kb_resp_redirect(resp, loc);
}
