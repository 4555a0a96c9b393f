/* kb/http/pages_cases.c: the agents' console for cases: server-rendered pages of the theme
 * that work without JavaScript (web/static/cases.js only adds niceties), beside the JSON API
 * of api_cases.c. Every route needs the agent role (an anonymous visitor is sent to /login).
 *
 *   GET  /agent/cases?status=&assignee=me|none&language=&q=&page=&lang=
 *        the inbox: filters, a search box (reference, name, email, phone, subject), 25 cases
 *        a page, newest first                                            cases.mustache
 *   GET  /agent/cases/REF?lang=[&done=WHAT|&error=WHY]
 *        the case: contact and consent, transcript, the articles the bot suggested, the
 *        history of every change, and the forms below (audited: case.read)  case.mustache
 *   POST /agent/cases/REF/status    status=S     a move of the state machine (kb/crm/case.c)
 *   POST /agent/cases/REF/assign    assignee=LOGIN ("" for nobody)
 *   POST /agent/cases/REF/notes     text=... (1-4000 bytes)
 *   POST /agent/cases/REF/articles  slug=...
 *        each with csrf = the session's CSRF token (403 otherwise), applied through
 *        kb_http_case_edit (one transaction with its history, its CRM events and its audit
 *        entry), then 303 back to the case with done=WHAT or error=WHY (a refused move, an
 *        unknown agent or article, a bad note), which the page says in words.
 *
 * Everything from a case (names, subjects, transcripts, notes) reaches the page through the
 * templates' {{escaped}} interpolation only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "kb/base/log.h"
#include "kb/crm/crm.h"
#include "kb/http/route.h"
#include "kb/http/theme.h"
#include "kb/store/accounts.h"

#define CASES_PAGE 25
#define AGENTS_MAX 500 /* agents listed in the "assign to" select */
#define HREF_MAX 2048

/* ---- common parts ------------------------------------------------------------------- */

static bool lang_ok(const char *l)
{
    size_t n = l ? strlen(l) : 0;
    bool ok = n >= 2 && n <= 3;
    for (size_t i = 0; ok && i < n; i++)
        ok = l[i] >= 'a' && l[i] <= 'z';
    return ok;
}

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

/* tr(lang, prefix + word), e.g. ("status_", "open"). */
static const char *tr2(const char *lang, const char *prefix, const char *word)
{
    char key[64];
    snprintf(key, sizeof key, "%s%s", prefix, word ? word : "");
    const char *s = json_string_value(json_object_get(kb_theme_strings(lang), key));
    return s ? s : word ? word : "";
}

/* A time of the case JSON ("2026-12-03T09:15:02Z") as the theme writes dates, with the time
 * of day (UTC). The format is the theme's wording (configuration, not input), and strftime
 * writes at most n bytes whatever it holds. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void when(const char *iso, const char *lang, char *out, size_t n)
{
    struct tm tm = {0};
    const char *end = iso ? strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    char fmt[64];
    snprintf(fmt, sizeof fmt, "%s %%H:%%M", tr(lang, "date_format"));
    if (!end || !strftime(out, n, fmt, &tm))
        snprintf(out, n, "%s", iso ? iso : "");
}
#pragma GCC diagnostic pop

static json_t *str_or_empty(const char *s)
{
    return json_string(s ? s : "");
}

/* Add a language link of the layout (the current language is not a link). */
static void add_lang(json_t *data, const char *ui, const char *cur, const char *href)
{
    json_array_append_new(json_object_get(data, "langs"),
                          json_pack("{s:s, s:s, s:s, s:b}", "lang", ui, "name",
                                    kb_theme_lang_name(ui), "href", href, "current",
                                    strcmp(ui, cur) == 0));
}

/* ---- the inbox ------------------------------------------------------------------------ */

struct list_args {
    const char *status, *assignee, *language, *q;
};

/* "/agent/cases?..." with the filters, the page and the interface language (raw: the
 * template escapes it). NULL when out of memory. */
static char *list_href(const struct list_args *a, long page, const char *lang)
{
    struct kb_buf b;
    kb_buf_init(&b, HREF_MAX);
    enum kb_err err = kb_buf_printf(&b, "/agent/cases?lang=%s", lang);
    const char *names[] = {"status", "assignee", "language", "q"};
    const char *values[] = {a->status, a->assignee, a->language, a->q};
    for (size_t i = 0; !err && i < 4; i++) {
        if (!values[i])
            continue;
        err = kb_buf_printf(&b, "&%s=", names[i]);
        if (!err)
            err = kb_buf_put_urlenc(&b, values[i]);
    }
    if (!err && page > 1)
        err = kb_buf_printf(&b, "&page=%ld", page);
    char *s = err ? NULL : kb_buf_detach(&b);
    kb_buf_release(&b);
    return s;
}

static json_t *take_string(char *s)
{
    json_t *j = s ? json_string(s) : json_null();
    free(s);
    return j;
}

/* The options of a select: [{value, label, selected}], the first one "" (any). */
static json_t *options(const char *lang, const char *any_key, const char *const *values,
                       const char *prefix, const char *cur)
{
    json_t *a = json_array();
    json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "value", "", "label",
                                       tr(lang, any_key), "selected", cur == NULL));
    for (size_t i = 0; a && values[i]; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "value", values[i], "label",
                                           prefix ? tr2(lang, prefix, values[i])
                                                  : kb_theme_lang_name(values[i]),
                                           "selected", cur && strcmp(cur, values[i]) == 0));
    return a;
}

void kb_page_cases(struct kb_req *req, struct kb_resp *resp)
{
    static const char *const statuses[] = {"new", "open", "pending", "solved", "closed", NULL};
    static const char *const assignees[] = {"me", "none", NULL};
    const char *lang = ui_lang(req);
    struct list_args a = {kb_req_arg(req, "status"), kb_req_arg(req, "assignee"),
                          kb_req_arg(req, "language"), kb_req_arg(req, "q")};
    long page;
    if (kb_req_int(req, "page", 1, KB_CASES_OFFSET_MAX / CASES_PAGE + 1, 1, &page) ||
        (a.status && !kb_crm_status_valid(a.status)) || (a.language && !lang_ok(a.language)) ||
        (a.assignee && strcmp(a.assignee, "me") != 0 && strcmp(a.assignee, "none") != 0) ||
        (a.assignee && strcmp(a.assignee, "me") == 0 && !req->caller.user_id)) {
        kb_page_error(resp, 400, lang);
        return;
    }
    struct kb_case_filter f = {.status = a.status, .lang = a.language, .q = a.q};
    if (a.assignee && strcmp(a.assignee, "me") == 0) {
        f.assigned = KB_ASSIGNED_TO;
        f.assignee_id = req->caller.user_id;
    } else if (a.assignee) {
        f.assigned = KB_ASSIGNED_NOBODY;
    }
    struct kb_case_item *items = NULL;
    size_t n = 0;
    int64_t total = 0;
    size_t offset = (size_t)(page - 1) * CASES_PAGE;
    if (kb_store_cases_inbox(req->w->st, &f, CASES_PAGE, offset, &items, &n, &total) != KB_OK) {
        kb_page_error(resp, 503, lang);
        return;
    }
    json_t *data = kb_page_data(req, resp, lang, tr(lang, "cases_title"));
    if (!data)
        goto out;
    json_object_set_new(data, "noindex", json_true());
    json_object_set_new(data, "agent_page", json_true());
    json_object_set_new(data, "filter",
                        json_pack("{s:o, s:o, s:o, s:o}", "q", str_or_empty(a.q), "statuses",
                                  options(lang, "case_all_statuses", statuses, "status_",
                                          a.status),
                                  "assignees",
                                  options(lang, "case_anyone", assignees, "case_assignee_",
                                          a.assignee),
                                  "languages",
                                  options(lang, "case_all_languages",
                                          (const char *const[]){"fr", "en", NULL}, NULL,
                                          a.language)));
    /* A language filter other than the two offered stays selectable. */
    if (a.language && strcmp(a.language, "fr") != 0 && strcmp(a.language, "en") != 0)
        json_array_append_new(json_object_get(json_object_get(data, "filter"), "languages"),
                              json_pack("{s:s, s:s, s:b}", "value", a.language, "label",
                                        kb_theme_lang_name(a.language), "selected", 1));
    json_t *cases = json_array();
    for (size_t i = 0; cases && i < n; i++) {
        char at[32], shown[64];
        kb_crm_iso8601(items[i].created_at, at, sizeof at);
        when(at, lang, shown, sizeof shown);
        json_array_append_new(
            cases, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "ref", items[i].ref,
                             "subject", items[i].subject, "name",
                             items[i].name ? items[i].name : "", "status", items[i].status,
                             "status_label", tr2(lang, "status_", items[i].status), "case_lang",
                             items[i].lang, "created", shown, "created_iso", at, "assignee",
                             items[i].assignee ? json_string(items[i].assignee) : json_null()));
    }
    json_object_set_new(data, "cases", cases);
    json_object_set_new(data, "has_cases", json_boolean(n > 0));
    json_object_set_new(data, "total", json_integer((json_int_t)total));
    json_object_set_new(data, "one_case", json_boolean(total == 1));
    int64_t pages = (total + CASES_PAGE - 1) / CASES_PAGE;
    if (pages > KB_CASES_OFFSET_MAX / CASES_PAGE + 1)
        pages = KB_CASES_OFFSET_MAX / CASES_PAGE + 1;
    if (pages > 1) {
        json_t *p = json_pack("{s:I, s:I}", "page", (json_int_t)page, "pages", (json_int_t)pages);
        if (p && page > 1)
            json_object_set_new(p, "prev", take_string(list_href(&a, page - 1, lang)));
        if (p && page < pages)
            json_object_set_new(p, "next", take_string(list_href(&a, page + 1, lang)));
        json_object_set_new(data, "pagination", p);
    }
    static const char *const ui[] = {"fr", "en"};
    for (size_t i = 0; i < 2; i++) {
        char *href = list_href(&a, page, ui[i]);
        add_lang(data, ui[i], lang, href ? href : "/agent/cases");
        free(href);
    }
out:
    kb_page_render(resp, 200, "cases", data);
    kb_case_items_free(items, n);
}

/* ---- one case ------------------------------------------------------------------------ */

/* The reference at the start of req->rest into ref, and what follows it (NULL when
 * nothing); false when it is not a reference. */
static bool rest_ref(const struct kb_req *req, char ref[KB_CRM_REF_MAX], const char **tail)
{
    const char *slash = strchr(req->rest, '/');
    size_t n = slash ? (size_t)(slash - req->rest) : strlen(req->rest);
    *tail = slash;
    if (n >= KB_CRM_REF_MAX)
        return false;
    memcpy(ref, req->rest, n);
    ref[n] = 0;
    return kb_crm_ref_valid(ref);
}

/* The sentence of a page's done= or error= parameter: a key of the theme's wording
 * (done_WORD, error_WORD), never the parameter itself; NULL when there is none. */
static const char *message(const char *lang, const char *prefix, const char *word)
{
    char key[64];
    if (!word || strlen(word) > 16)
        return NULL;
    for (const char *p = word; *p; p++)
        if ((*p < 'a' || *p > 'z') && *p != '_')
            return NULL;
    snprintf(key, sizeof key, "%s%s", prefix, word);
    return json_string_value(json_object_get(kb_theme_strings(lang), key));
}

/* Each element of the JSON array src with its "at" shown as the theme writes times
 * ("at_shown") and "at" kept for <time datetime>. */
static json_t *with_times(const json_t *src, const char *lang)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(src, i, e)
    {
        json_t *c = json_deep_copy(e);
        char shown[64];
        when(json_string_value(json_object_get(e, "at")), lang, shown, sizeof shown);
        if (c)
            json_object_set_new(c, "at_shown", json_string(shown));
        json_array_append_new(out, c);
    }
    return out;
}

/* The template data of case o (kb_crm_case_agent_json) for the page. */
static void case_data(struct kb_req *req, json_t *data, json_t *o, const char *lang)
{
    const char *status = json_string_value(json_object_get(o, "status"));
    const char *assignee = json_string_value(json_object_get(o, "assignee"));
    char created[64], consent[64];
    when(json_string_value(json_object_get(o, "created_at")), lang, created, sizeof created);
    json_t *c = json_deep_copy(o);
    json_object_set_new(c, "status_label", json_string(tr2(lang, "status_", status)));
    json_object_set_new(c, "created_shown", json_string(created));
    const char *case_lang = json_string_value(json_object_get(o, "lang"));
    json_object_set_new(c, "lang_name", json_string(kb_theme_lang_name(case_lang)));
    json_t *cons = json_object_get(c, "consent");
    if (json_is_string(json_object_get(cons, "at"))) {
        when(json_string_value(json_object_get(cons, "at")), lang, consent, sizeof consent);
        json_object_set_new(cons, "at_shown", json_string(consent));
    }
    /* The transcript, each message with who said it in words. */
    json_t *tr_in = json_object_get(o, "transcript");
    json_t *transcript = with_times(tr_in, lang);
    size_t i;
    json_t *m;
    json_array_foreach(transcript, i, m)
    {
        const char *from = json_string_value(json_object_get(m, "from"));
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *login = json_string_value(json_object_get(m, "login"));
        char label[300];
        /* An agent's message names the agent (the live takeover): who said what. */
        if (from && strcmp(from, "agent") == 0 && name && *name)
            snprintf(label, sizeof label, "%s · %s (%s)", tr2(lang, "from_", from), name,
                     login ? login : "");
        else
            snprintf(label, sizeof label, "%s", tr2(lang, "from_", from));
        json_object_set_new(m, "from_label", json_string(label));
    }
    json_object_set_new(c, "transcript", transcript);
    json_object_set_new(c, "notes", with_times(json_object_get(o, "notes"), lang));
    /* The history in words. */
    json_t *hist = with_times(json_object_get(o, "history"), lang);
    json_array_foreach(hist, i, m)
    {
        const char *what = json_string_value(json_object_get(m, "change"));
        json_object_set_new(m, "label", json_string(tr2(lang, "history_", what)));
        for (const char *const *k = (const char *const[]){"from", "to", NULL}; *k; k++) {
            const char *v = json_string_value(json_object_get(m, *k));
            if (v && what && (strcmp(what, "status") == 0 || strcmp(what, "created") == 0))
                json_object_set_new(m, *k, json_string(tr2(lang, "status_", v)));
        }
    }
    json_object_set_new(c, "history", hist);
    /* The articles the bot suggested, each with a "link" button unless linked already. */
    json_t *linked = json_object_get(o, "linked_articles");
    json_t *suggested = json_deep_copy(json_object_get(o, "articles"));
    json_array_foreach(suggested, i, m)
    {
        bool is_linked = false;
        size_t j;
        json_t *l;
        json_array_foreach(linked, j, l)
        {
            is_linked |= json_equal(json_object_get(l, "slug"), json_object_get(m, "slug"));
        }
        json_object_set_new(m, "linked", json_boolean(is_linked));
    }
    json_object_set_new(c, "articles", suggested);
    json_object_set_new(data, "case", c);
    /* The moves the state machine allows from here, as buttons. */
    json_t *moves = json_array();
    for (const char *const *mv = kb_crm_case_moves(status); *mv; mv++) {
        bool reopen = strcmp(*mv, "open") == 0 &&
                      (strcmp(status, "solved") == 0 || strcmp(status, "closed") == 0);
        json_array_append_new(moves, json_pack("{s:s, s:s}", "status", *mv, "label",
                                               tr2(lang, "move_", reopen ? "reopen" : *mv)));
    }
    json_object_set_new(data, "moves", moves);
    /* Assigning: to me, or to an active agent of the select. */
    json_object_set_new(data, "me", json_string(req->caller.login));
    bool mine = assignee && strcasecmp(assignee, req->caller.login) == 0;
    json_object_set_new(data, "can_take", json_boolean(req->caller.user_id && !mine));
    json_object_set_new(data, "csrf", json_string(req->caller.csrf));
    struct kb_user_row **users = NULL;
    size_t nu = 0;
    json_t *agents = json_array();
    if (kb_store_users_list(req->w->st, &users, &nu) == KB_OK) {
        for (size_t k = 0, shown = 0; k < nu && shown < AGENTS_MAX; k++) {
            if (users[k]->disabled)
                continue;
            shown++;
            char label[256];
            snprintf(label, sizeof label, "%s%s%s%s", users[k]->name,
                     *users[k]->name ? " (" : "", users[k]->login, *users[k]->name ? ")" : "");
            bool selected = assignee && strcmp(assignee, users[k]->login) == 0;
            json_array_append_new(agents, json_pack("{s:s, s:s, s:b}", "login", users[k]->login,
                                                    "label", label, "selected", selected));
        }
    }
    kb_user_rows_free(users, nu);
    json_object_set_new(data, "agents", agents);
    json_object_set_new(data, "unassigned", json_boolean(!assignee));
}

void kb_page_case(struct kb_req *req, struct kb_resp *resp)
{
    const char *lang = ui_lang(req);
    char ref[KB_CRM_REF_MAX];
    const char *tail = NULL;
    struct kb_case_row *r = NULL;
    json_t *o = NULL;
    enum kb_err err = rest_ref(req, ref, &tail) && !tail
                          ? kb_store_case_get(req->w->st, ref, &r)
                          : KB_ENOTFOUND;
    if (!err)
        err = kb_crm_case_agent_json(req->w->st, r, &o);
    kb_case_row_free(r);
    if (err) {
        kb_page_error(resp, err == KB_ENOTFOUND ? 404 : 503, lang);
        return;
    }
    char actor[KB_AUTH_LOGIN_MAX + 8];
    kb_http_actor(req, actor, sizeof actor);
    kb_auth_audit(req->cfg->writer, actor, "case.read", ref, req->addr);
    char title[300];
    snprintf(title, sizeof title, "%s %s", tr(lang, "case_title"), ref);
    json_t *data = kb_page_data(req, resp, lang, title);
    if (data) {
        json_object_set_new(data, "noindex", json_true());
        json_object_set_new(data, "agent_page", json_true());
        case_data(req, data, o, lang);
        const char *done = message(lang, "done_", kb_req_arg(req, "done"));
        const char *error = message(lang, "error_", kb_req_arg(req, "error"));
        if (done)
            json_object_set_new(data, "done", json_string(done));
        if (error)
            json_object_set_new(data, "error", json_string(error));
        static const char *const ui[] = {"fr", "en"};
        for (size_t i = 0; i < 2; i++) {
            char href[128];
            snprintf(href, sizeof href, "/agent/cases/%s?lang=%s", ref, ui[i]);
            add_lang(data, ui[i], lang, href);
        }
    }
    json_decref(o);
    kb_page_render(resp, 200, "case", data);
}

/* ---- the forms --------------------------------------------------------------------------- */

struct case_form {
    char csrf[KB_AUTH_SECRET_LEN + 1];
    char status[16];
    char assignee[KB_AUTH_LOGIN_MAX + 1];
    bool has_assignee;
    char text[KB_CRM_NOTE_MAX + 1];
    char slug[128];
    bool too_long;
};

static void copy_field(char *dst, size_t cap, const char *data, uint64_t off, size_t size,
                       bool *too_long)
{
    if (off + size >= cap) {
        *too_long = true;
        return;
    }
    memcpy(dst + off, data, size);
    dst[off + size] = 0;
}

static enum MHD_Result form_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *encoding, const char *data, uint64_t off,
                                  size_t size)
{
    (void)kind, (void)filename, (void)content_type, (void)encoding;
    struct case_form *f = cls;
    if (strcmp(key, "csrf") == 0) {
        copy_field(f->csrf, sizeof f->csrf, data, off, size, &f->too_long);
    } else if (strcmp(key, "status") == 0) {
        copy_field(f->status, sizeof f->status, data, off, size, &f->too_long);
    } else if (strcmp(key, "assignee") == 0) {
        f->has_assignee = true;
        copy_field(f->assignee, sizeof f->assignee, data, off, size, &f->too_long);
    } else if (strcmp(key, "text") == 0) {
        copy_field(f->text, sizeof f->text, data, off, size, &f->too_long);
    } else if (strcmp(key, "slug") == 0) {
        copy_field(f->slug, sizeof f->slug, data, off, size, &f->too_long);
    }
    return MHD_YES;
}

void kb_page_case_post(struct kb_req *req, struct kb_resp *resp)
{
    const char *lang = ui_lang(req);
    char ref[KB_CRM_REF_MAX];
    const char *tail = NULL;
    if (!rest_ref(req, ref, &tail) || !tail) {
        kb_page_error(resp, 404, lang);
        return;
    }
    const char *action = tail + 1;
    static const char *const actions[] = {"status", "assign", "notes", "articles", NULL};
    bool known = false;
    for (size_t i = 0; actions[i]; i++)
        known |= strcmp(action, actions[i]) == 0;
    if (!known) {
        kb_page_error(resp, 404, lang);
        return;
    }
    struct case_form *f = calloc(1, sizeof *f);
    if (!f) {
        kb_page_error(resp, 503, lang);
        return;
    }
    if (strncmp(req->content_type, "application/x-www-form-urlencoded", 33) == 0) {
        struct MHD_PostProcessor *pp = MHD_create_post_processor(req->conn, 8192, form_field, f);
        if (pp) {
            MHD_post_process(pp, req->body, req->body_len);
            MHD_destroy_post_processor(pp);
        }
    }
    if (!req->caller.by_token && !kb_auth_csrf_ok(&req->caller, f->csrf)) {
        kb_page_error(resp, 403, lang);
        goto out;
    }
    struct kb_case_edit e = {.ref = ref};
    const char *what = action;
    bool valid = !f->too_long;
    if (strcmp(action, "status") == 0) {
        e.status = f->status;
        valid &= kb_crm_status_valid(f->status);
    } else if (strcmp(action, "assign") == 0) {
        e.assign = true;
        e.assignee = f->assignee[0] ? f->assignee : NULL;
        valid &= f->has_assignee;
        what = "assignee";
    } else if (strcmp(action, "notes") == 0) {
        e.note = f->text;
        valid &= f->text[0] != 0;
        what = "note";
    } else {
        e.slug = f->slug;
        valid &= kb_article_slug_valid(f->slug);
        what = "article";
    }
    bool changed = false;
    enum kb_err err = valid ? kb_http_case_edit(req, &e, &changed) : KB_EINVAL;
    const char *key = "done", *word = changed ? what : "none";
    if (err == KB_ENOTFOUND) {
        kb_page_error(resp, 404, lang);
        goto out;
    } else if (err == KB_EDENIED) {
        key = "error", word = "move";
    } else if (err == KB_EINVAL) {
        key = "error", word = !valid && strcmp(what, "note") != 0 ? "form" : what;
    } else if (err == KB_ETOOBIG) {
        key = "error", word = "too_many";
    } else if (err) {
        kb_page_error(resp, 503, lang);
        goto out;
    }
    char loc[160];
    snprintf(loc, sizeof loc, "/agent/cases/%s?lang=%s&%s=%s", ref, lang, key, word);
    kb_resp_redirect(resp, loc);
out:
    free(f);
}
