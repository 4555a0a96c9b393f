/* kb/articles/article.h: the article model: a Markdown file with YAML front matter, parsed and rendered.
 *
 * Front matter keys (the format is documented in article.c): title (required), slug, lang,
 * category, tags, audience, status, questions, translation_of, see_also. Unknown keys are kept (as a
 * JSON object in `extra`) and reported as warnings. The body is CommonMark + GFM tables,
 * autolinks and strikethrough, rendered without raw HTML and without unsafe URLs. */
#ifndef KB_ARTICLE_H
#define KB_ARTICLE_H

#include <stddef.h>

#include "kb/base/err.h"

#define KB_ARTICLE_MAX_BYTES (1024 * 1024) /* a larger file is rejected */

struct kb_article {
    char *slug;
    char *title;
    char *lang;
    char *category;        /* "" when none */
    char *audience;        /* "public" | "internal" */
    char *status;          /* "draft" | "review" | "published" | "archived" */
    char *translation_of;  /* NULL when none */
    char **tags;
    size_t ntags;
    char **questions;
    size_t nquestions;
    /* Slugs of the articles this one goes with (see_also): an internal procedure names the
     * public answer it completes, or the other way round; the agents' console shows a
     * public article's internal companions from these links, whichever side wrote them. */
    char **see_also;
    size_t nsee_also;
    char *body_md;         /* Markdown source of the body (kb_markdown_render shows it) */
    char *text;            /* plain text of the body, for indexing and snippets */
    char *extra;           /* JSON object of unknown front-matter keys ("{}" when none) */
    char **warnings;       /* "line N: ..." messages that do not stop the import */
    size_t nwarnings;
};

/* Where and why parsing failed. line is 1-based in the file (0 when unknown). */
struct kb_article_error {
    int line;
    char reason[256];
};

/* Defaults for keys the front matter omits (each may be NULL). */
struct kb_article_defaults {
    const char *slug;      /* usually the file name without .md */
    const char *lang;      /* from the path or the configuration */
    const char *category;  /* from the path */
};

/* Parse n bytes of src. On success *out is owned by the caller (kb_article_free). On
 * KB_EPARSE / KB_EINVAL / KB_ETOOBIG / KB_EUTF8, *err says where and why. */
enum kb_err kb_article_parse(const char *src, size_t n, const struct kb_article_defaults *def,
                             struct kb_article **out, struct kb_article_error *err) KB_MUST_CHECK;
/* No-op on NULL. */
void kb_article_free(struct kb_article *a);

/* The Markdown body of an article file (n bytes of src): its offset, as kb_article_parse
 * splits it; false when src has no front matter. */
int kb_article_body(const char *src, size_t n, size_t *offset);

/* Render Markdown safely: *html and *text are malloc'd (caller frees), either may be NULL. */
enum kb_err kb_markdown_render(const char *md, size_t n, char **html, char **text) KB_MUST_CHECK;

/* What kb_article_render_row fills in. */
enum { KB_ARTICLE_HTML = 1, KB_ARTICLE_TEXT = 2 };
struct kb_article_row;
/* Render a stored row's source (kb/store/articles.h: kb_store_get_slug, _get_id) into its html
 * and/or text, as the import rendered its text; the row keeps owning both. A row without a
 * source keeps "" in both. */
enum kb_err kb_article_render_row(struct kb_article_row *r, int what) KB_MUST_CHECK;

/* True when s is a valid slug: 1..100 of [a-z0-9-], not starting with '-'. */
int kb_article_slug_valid(const char *s);

#endif
