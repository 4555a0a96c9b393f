/* kb/articles/article.c: parse an article file (YAML front matter + Markdown body) and render it.
 *
 * File format:
 *
 *     ---
 *     title: "Comment prendre rendez-vous pour l'entretien ?"   # required, 1..300 bytes
 *     slug: rendez-vous-entretien     # default: file name; [a-z0-9-]{1,100}
 *     lang: fr                        # ISO 639 code; default from the path or configuration
 *     category: Après-vente           # default from the folder
 *     tags: [entretien, atelier]      # list of strings, at most 50
 *     audience: public                # public | internal
 *     status: published               # draft | review | published | archived
 *     questions:                      # alternative phrasings, at most 50
 *       - "Je veux faire réviser ma voiture"
 *     translation_of: maintenance-booking
 *     see_also: [verification-identite]   # slugs of articles this one goes with, at most 50
 *     ---
 *     Markdown body
 *
 * The front matter must be the first thing in the file. Errors carry the file line: libyaml
 * counts from the first YAML line, so we add the opening delimiter's line. Unknown keys are
 * stored as JSON (jansson) and reported as warnings rather than rejected, so that a newer
 * editor's file still imports. */
#include "kb/articles/article.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <jansson.h>
#include <yaml.h>

#include "kb/base/buf.h"
#include "kb/base/text.h"
#include "kb/store/articles.h"

#define ARTICLE_MAX_TITLE 300
#define ARTICLE_MAX_LIST 50
#define ARTICLE_MAX_ITEM 1000

static void set_error(struct kb_article_error *err, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(struct kb_article_error *err, int line, const char *fmt, ...)
{
    if (!err)
        return;
    err->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof err->reason, fmt, ap);
    va_end(ap);
}

void kb_article_free(struct kb_article *a)
{
    if (!a)
        return;
    free(a->slug);
    free(a->title);
    free(a->lang);
    free(a->category);
    free(a->audience);
    free(a->status);
    free(a->translation_of);
    for (size_t i = 0; i < a->ntags; i++)
        free(a->tags[i]);
    free(a->tags);
    for (size_t i = 0; i < a->nquestions; i++)
        free(a->questions[i]);
    free(a->questions);
    for (size_t i = 0; i < a->nsee_also; i++)
        free(a->see_also[i]);
    free(a->see_also);
    free(a->body_md);
    free(a->text);
    free(a->extra);
    for (size_t i = 0; i < a->nwarnings; i++)
        free(a->warnings[i]);
    free(a->warnings);
    free(a);
}

int kb_article_slug_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 100 || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}

static enum kb_err add_warning(struct kb_article *a, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum kb_err add_warning(struct kb_article *a, int line, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct kb_buf b;
    kb_buf_init(&b, 512);
    if (kb_buf_printf(&b, "line %d: %s", line, msg)) {
        kb_buf_release(&b);
        return KB_ENOMEM;
    }
    char **w = realloc(a->warnings, (a->nwarnings + 1) * sizeof *w);
    if (!w) {
        kb_buf_release(&b);
        return KB_ENOMEM;
    }
    a->warnings = w;
    a->warnings[a->nwarnings++] = kb_buf_detach(&b);
    return KB_OK;
}

/* ---- Markdown ------------------------------------------------------------------------ */

/* Plain text of the AST: literals of text and code, a space between inlines that the source
 * separated, a newline after each block, so that snippets read naturally. */
static enum kb_err markdown_text(cmark_node *root, struct kb_buf *out)
{
    cmark_iter *it = cmark_iter_new(root);
    if (!it)
        return KB_ENOMEM;
    enum kb_err err = KB_OK;
    cmark_event_type ev;
    while (!err && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        cmark_node *node = cmark_iter_get_node(it);
        cmark_node_type t = cmark_node_get_type(node);
        if (ev == CMARK_EVENT_ENTER) {
            const char *lit = NULL;
            if (t == CMARK_NODE_TEXT || t == CMARK_NODE_CODE || t == CMARK_NODE_CODE_BLOCK)
                lit = cmark_node_get_literal(node);
            if (lit)
                err = kb_buf_puts(out, lit);
            else if (t == CMARK_NODE_SOFTBREAK || t == CMARK_NODE_LINEBREAK)
                err = kb_buf_putc(out, ' ');
        } else if (ev == CMARK_EVENT_EXIT) {
            /* Leaving a block (paragraph, heading, item, table cell): separate it. */
            if (cmark_node_first_child(node) && t != CMARK_NODE_DOCUMENT &&
                t != CMARK_NODE_EMPH && t != CMARK_NODE_STRONG && t != CMARK_NODE_LINK &&
                out->len && out->data[out->len - 1] != '\n')
                err = kb_buf_putc(out, (t == CMARK_NODE_PARAGRAPH || t == CMARK_NODE_HEADING)
                                           ? '\n' : ' ');
        }
    }
    cmark_iter_free(it);
    return err;
}

enum kb_err kb_markdown_render(const char *md, size_t n, char **html, char **text)
{
    static const char *const ext_names[] = {"table", "autolink", "strikethrough", "tagfilter"};
    enum kb_err err = KB_OK;
    if (html)
        *html = NULL;
    if (text)
        *text = NULL;
    cmark_gfm_core_extensions_ensure_registered();
    /* No CMARK_OPT_UNSAFE: raw HTML becomes a comment and javascript:/vbscript:/file:/data:
     * links lose their URL. */
    int opts = CMARK_OPT_DEFAULT | CMARK_OPT_SMART | CMARK_OPT_VALIDATE_UTF8;
    cmark_parser *p = cmark_parser_new(opts);
    if (!p)
        return KB_ENOMEM;
    for (size_t i = 0; i < sizeof ext_names / sizeof ext_names[0]; i++) {
        cmark_syntax_extension *e = cmark_find_syntax_extension(ext_names[i]);
        if (e)
            cmark_parser_attach_syntax_extension(p, e);
    }
    cmark_parser_feed(p, md, n);
    cmark_node *doc = cmark_parser_finish(p);
    if (!doc) {
        err = KB_ENOMEM;
        goto out;
    }
    if (html) {
        *html = cmark_render_html(doc, opts, cmark_parser_get_syntax_extensions(p));
        if (!*html) {
            err = KB_ENOMEM;
            goto out;
        }
    }
    if (text) {
        struct kb_buf b;
        kb_buf_init(&b, (size_t)4 * KB_ARTICLE_MAX_BYTES);
        err = markdown_text(doc, &b);
        if (err) {
            kb_buf_release(&b);
            goto out;
        }
        *text = kb_buf_detach(&b);
        if (!*text)
            err = KB_ENOMEM;
    }
out:
    if (doc)
        cmark_node_free(doc);
    cmark_parser_free(p);
    if (err && html) {
        free(*html);
        *html = NULL;
    }
    return err;
}

/* ---- front matter -------------------------------------------------------------------- */

/* Find the front matter: "---" line, YAML, "---" line. Sets yaml span and the body start. */
static int split_front_matter(const char *src, size_t n, size_t *ys, size_t *ye, size_t *bs)
{
    size_t i = 0;
    if (n >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0)
        i = 3; /* byte order mark from some editors */
    if (n - i < 4 || memcmp(src + i, "---", 3) != 0)
        return 0;
    i += 3;
    while (i < n && (src[i] == ' ' || src[i] == '\t' || src[i] == '\r'))
        i++;
    if (i >= n || src[i] != '\n')
        return 0;
    *ys = ++i;
    while (i < n) {
        size_t eol = i;
        while (eol < n && src[eol] != '\n')
            eol++;
        size_t len = eol - i;
        while (len && (src[i + len - 1] == '\r' || src[i + len - 1] == ' '))
            len--;
        if ((len == 3 && (memcmp(src + i, "---", 3) == 0 || memcmp(src + i, "...", 3) == 0))) {
            *ye = i;
            *bs = eol < n ? eol + 1 : n;
            return 1;
        }
        i = eol + 1;
    }
    return 0;
}

static char *dup_scalar(yaml_node_t *node)
{
    return strndup((const char *)node->data.scalar.value, node->data.scalar.length);
}

static int scalar_is(yaml_node_t *node, const char *s)
{
    size_t n = strlen(s);
    return node->type == YAML_SCALAR_NODE && node->data.scalar.length == n &&
           memcmp(node->data.scalar.value, s, n) == 0;
}

/* A list of strings: a YAML sequence of scalars, or a single scalar. */
static enum kb_err read_list(yaml_document_t *doc, yaml_node_t *v, const char *key,
                             char ***items, size_t *nitems, struct kb_article_error *err)
{
    int line = (int)v->start_mark.line;
    if (v->type == YAML_SCALAR_NODE) {
        if (v->data.scalar.length == 0)
            return KB_OK;
        *items = calloc(1, sizeof **items);
        if (!*items || !(**items = dup_scalar(v)))
            return KB_ENOMEM;
        *nitems = 1;
        return KB_OK;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        set_error(err, line, "'%s' must be a list of strings", key);
        return KB_EPARSE;
    }
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > ARTICLE_MAX_LIST) {
        set_error(err, line, "'%s' has %zu entries, at most %d allowed", key, n,
                  ARTICLE_MAX_LIST);
        return KB_EPARSE;
    }
    *items = calloc(n ? n : 1, sizeof **items);
    if (!*items)
        return KB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = yaml_document_get_node(doc, v->data.sequence.items.start[i]);
        if (!it || it->type != YAML_SCALAR_NODE) {
            set_error(err, it ? (int)it->start_mark.line : line,
                      "'%s' entries must be strings", key);
            return KB_EPARSE;
        }
        if (it->data.scalar.length > ARTICLE_MAX_ITEM) {
            set_error(err, (int)it->start_mark.line, "'%s' entry longer than %d bytes", key,
                      ARTICLE_MAX_ITEM);
            return KB_EPARSE;
        }
        if (!((*items)[(*nitems)++] = dup_scalar(it)))
            return KB_ENOMEM;
    }
    return KB_OK;
}

/* A YAML node as JSON, for unknown keys (depth-limited). */
static json_t *node_to_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
    if (!n || depth > 8)
        return json_null();
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
    case YAML_SEQUENCE_NODE: {
        json_t *a = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start;
             a && i < n->data.sequence.items.top; i++)
            json_array_append_new(a, node_to_json(doc, yaml_document_get_node(doc, *i),
                                                  depth + 1));
        return a;
    }
    case YAML_MAPPING_NODE: {
        json_t *o = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             o && p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (k && k->type == YAML_SCALAR_NODE) {
                char *key = dup_scalar(k);
                if (key)
                    json_object_set_new(o, key, node_to_json(doc, yaml_document_get_node(
                                                                      doc, p->value),
                                                             depth + 1));
                free(key);
            }
        }
        return o;
    }
    default:
        return json_null();
    }
}

enum field_kind { F_STRING, F_LIST };

static const struct {
    const char *key;
    enum field_kind kind;
    size_t offset;
    size_t count_offset;
} known_fields[] = {
    {"title", F_STRING, offsetof(struct kb_article, title), 0},
    {"slug", F_STRING, offsetof(struct kb_article, slug), 0},
    {"lang", F_STRING, offsetof(struct kb_article, lang), 0},
    {"category", F_STRING, offsetof(struct kb_article, category), 0},
    {"audience", F_STRING, offsetof(struct kb_article, audience), 0},
    {"status", F_STRING, offsetof(struct kb_article, status), 0},
    {"translation_of", F_STRING, offsetof(struct kb_article, translation_of), 0},
    {"tags", F_LIST, offsetof(struct kb_article, tags), offsetof(struct kb_article, ntags)},
    {"questions", F_LIST, offsetof(struct kb_article, questions),
     offsetof(struct kb_article, nquestions)},
    {"see_also", F_LIST, offsetof(struct kb_article, see_also),
     offsetof(struct kb_article, nsee_also)},
};

static enum kb_err parse_yaml(struct kb_article *a, const char *y, size_t n, int line0,
                              struct kb_article_error *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_doc = 0;
    enum kb_err rc = KB_OK;
    json_t *extra = json_object();
    if (!extra || !yaml_parser_initialize(&parser)) {
        json_decref(extra);
        return KB_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)y, n);
    if (!yaml_parser_load(&parser, &doc)) {
        set_error(err, line0 + (int)parser.problem_mark.line + 1, "front matter: %s%s%s",
                  parser.problem ? parser.problem : "invalid YAML",
                  parser.context ? " " : "", parser.context ? parser.context : "");
        rc = KB_EPARSE;
        goto out;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        set_error(err, line0, "front matter is empty");
        rc = KB_EPARSE;
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        set_error(err, line0 + (int)root->start_mark.line + 1,
                  "front matter must be a mapping of keys to values");
        rc = KB_EPARSE;
        goto out;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE) {
            set_error(err, line0 + (k ? (int)k->start_mark.line : 0) + 1,
                      "front matter keys must be plain words");
            rc = KB_EPARSE;
            goto out;
        }
        int line = line0 + (int)k->start_mark.line + 1;
        size_t f;
        for (f = 0; f < sizeof known_fields / sizeof known_fields[0]; f++)
            if (scalar_is(k, known_fields[f].key))
                break;
        if (f == sizeof known_fields / sizeof known_fields[0]) {
            char *key = dup_scalar(k);
            if (!key) {
                rc = KB_ENOMEM;
                goto out;
            }
            json_object_set_new(extra, key, node_to_json(&doc, v, 0));
            rc = add_warning(a, line, "unknown key '%s' kept", key);
            free(key);
            if (rc)
                goto out;
            continue;
        }
        if (known_fields[f].kind == F_STRING) {
            if (v->type != YAML_SCALAR_NODE) {
                set_error(err, line, "'%s' must be a single value", known_fields[f].key);
                rc = KB_EPARSE;
                goto out;
            }
            if (v->data.scalar.length > ARTICLE_MAX_ITEM) {
                set_error(err, line, "'%s' longer than %d bytes", known_fields[f].key,
                          ARTICLE_MAX_ITEM);
                rc = KB_EPARSE;
                goto out;
            }
            char **slot = (char **)((char *)a + known_fields[f].offset);
            if (*slot) {
                set_error(err, line, "'%s' given twice", known_fields[f].key);
                rc = KB_EPARSE;
                goto out;
            }
            if (!(*slot = dup_scalar(v))) {
                rc = KB_ENOMEM;
                goto out;
            }
        } else {
            char ***items = (char ***)((char *)a + known_fields[f].offset);
            size_t *count = (size_t *)((char *)a + known_fields[f].count_offset);
            if (*items) {
                set_error(err, line, "'%s' given twice", known_fields[f].key);
                rc = KB_EPARSE;
                goto out;
            }
            rc = read_list(&doc, v, known_fields[f].key, items, count, err);
            if (rc == KB_EPARSE)
                err->line += line0 + 1;
            if (rc)
                goto out;
        }
    }
    a->extra = json_dumps(extra, JSON_COMPACT | JSON_SORT_KEYS);
    if (!a->extra)
        rc = KB_ENOMEM;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    json_decref(extra);
    return rc;
}

static int in_set(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return 1;
    return 0;
}

static int line_of(const char *src, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off; i++)
        line += src[i] == '\n';
    return line;
}

/* Fill defaults and check values. */
static enum kb_err validate(struct kb_article *a, const struct kb_article_defaults *def,
                            struct kb_article_error *err)
{
    static const char *const audiences[] = {"public", "internal", NULL};
    static const char *const statuses[] = {"draft", "review", "published", "archived", NULL};
    if (!a->title || !*a->title) {
        set_error(err, 1, "missing 'title'");
        return KB_EPARSE;
    }
    if (strlen(a->title) > ARTICLE_MAX_TITLE) {
        set_error(err, 1, "'title' longer than %d bytes", ARTICLE_MAX_TITLE);
        return KB_EPARSE;
    }
    if (!a->slug && def && def->slug && !(a->slug = kb_text_slugify(def->slug)))
        return KB_ENOMEM;
    if (!a->slug || !kb_article_slug_valid(a->slug)) {
        set_error(err, 1, "'slug' must be 1 to 100 of a-z, 0-9 and '-' (got '%.60s')",
                  a->slug ? a->slug : "");
        return KB_EPARSE;
    }
    if (!a->lang && !(a->lang = strdup(def && def->lang ? def->lang : "en")))
        return KB_ENOMEM;
    size_t ll = strlen(a->lang);
    for (size_t i = 0; i < ll; i++)
        if (!(a->lang[i] >= 'a' && a->lang[i] <= 'z') && a->lang[i] != '-' && a->lang[i] != '_')
            ll = 0;
    if (ll < 2 || ll > 16) {
        set_error(err, 1, "'lang' must be a language code such as fr or en (got '%.30s')",
                  a->lang);
        return KB_EPARSE;
    }
    if (!a->category && !(a->category = strdup(def && def->category ? def->category : "")))
        return KB_ENOMEM;
    if (!a->audience && !(a->audience = strdup("public")))
        return KB_ENOMEM;
    if (!in_set(a->audience, audiences)) {
        set_error(err, 1, "'audience' must be public or internal (got '%.30s')", a->audience);
        return KB_EPARSE;
    }
    if (!a->status && !(a->status = strdup("published")))
        return KB_ENOMEM;
    if (!in_set(a->status, statuses)) {
        set_error(err, 1, "'status' must be draft, review, published or archived (got '%.30s')",
                  a->status);
        return KB_EPARSE;
    }
    if (a->translation_of && !*a->translation_of) {
        free(a->translation_of);
        a->translation_of = NULL;
    }
    for (size_t i = 0; i < a->nsee_also; i++) {
        if (!kb_article_slug_valid(a->see_also[i])) {
            set_error(err, 1, "'see_also' lists slugs: 1 to 100 of a-z, 0-9 and '-' (got '%.60s')",
                      a->see_also[i]);
            return KB_EPARSE;
        }
    }
    return KB_OK;
}

int kb_article_body(const char *src, size_t n, size_t *offset)
{
    size_t ys, ye;
    return split_front_matter(src, n, &ys, &ye, offset);
}

enum kb_err kb_article_parse(const char *src, size_t n, const struct kb_article_defaults *def,
                             struct kb_article **out, struct kb_article_error *err)
{
    *out = NULL;
    if (err) {
        err->line = 0;
        err->reason[0] = 0;
    }
    if (n > KB_ARTICLE_MAX_BYTES) {
        set_error(err, 0, "file larger than %d bytes", KB_ARTICLE_MAX_BYTES);
        return KB_ETOOBIG;
    }
    if (!kb_text_valid_utf8(src, n)) {
        set_error(err, line_of(src, kb_text_utf8_prefix(src, n)), "invalid UTF-8 (or a NUL byte)");
        return KB_EUTF8;
    }
    size_t ys, ye, bs;
    if (!split_front_matter(src, n, &ys, &ye, &bs)) {
        set_error(err, 1, "missing front matter: the file must start with a '---' line and "
                          "the metadata must end with another '---' line");
        return KB_EPARSE;
    }
    struct kb_article *a = calloc(1, sizeof *a);
    if (!a)
        return KB_ENOMEM;
    enum kb_err rc = parse_yaml(a, src + ys, ye - ys, line_of(src, ys) - 1, err);
    if (!rc)
        rc = validate(a, def, err);
    if (!rc) {
        /* Titles and questions are NFC so that search and display agree. */
        char *t = kb_text_nfc(a->title);
        if (!t) {
            rc = KB_ENOMEM;
        } else {
            free(a->title);
            a->title = t;
        }
    }
    if (!rc && !(a->body_md = strndup(src + bs, n - bs)))
        rc = KB_ENOMEM;
    /* Only the text: pages render the stored source when they show it (kb_article_render_row);
     * the HTML an import rendered here was thrown away. */
    if (!rc)
        rc = kb_markdown_render(a->body_md, n - bs, NULL, &a->text);
    if (rc) {
        if (err && !err->reason[0])
            set_error(err, 0, "%s", kb_strerror(rc));
        kb_article_free(a);
        return rc;
    }
    *out = a;
    return KB_OK;
}

enum kb_err kb_article_render_row(struct kb_article_row *r, int what)
{
    size_t n = strlen(r->source), body = 0;
    if (!what || !n || !kb_article_body(r->source, n, &body))
        return KB_OK;
    char *html = NULL, *text = NULL;
    enum kb_err err = kb_markdown_render(r->source + body, n - body,
                                         (what & KB_ARTICLE_HTML) ? &html : NULL,
                                         (what & KB_ARTICLE_TEXT) ? &text : NULL);
    if (err)
        return err;
    if (html) {
        free(r->html);
        r->html = html;
    }
    if (text) {
        free(r->text);
        r->text = text;
    }
    return KB_OK;
}
