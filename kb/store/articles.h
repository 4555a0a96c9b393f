/* kb/store/articles.h: articles and their revisions (the tables are documented in
 * articles.c). Writing goes through the caller's transaction; every change that alters what
 * the index shows also queues the article for the indexer (queue.h). */
#ifndef KB_STORE_ARTICLES_H
#define KB_STORE_ARTICLES_H

#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

/* What the store keeps of a parsed article. Every pointer is borrowed for the call. */
struct kb_store_article {
    const char *slug, *title, *lang;
    const char *category;       /* "" when none */
    const char *audience;       /* "public" | "internal" */
    const char *status;         /* "draft" | "review" | "published" | "archived" */
    const char *translation_of; /* NULL when none */
    const char *extra;          /* JSON object of unknown front-matter keys, NULL = "{}" */
    char *const *tags;
    size_t ntags;
    char *const *questions;
    size_t nquestions;
    char *const *see_also; /* slugs of the articles it goes with (article_links) */
    size_t nsee_also;
};

/* What kb_store_put_article did, to which row, at what time (its updated_at). */
enum kb_put_result { KB_PUT_UNCHANGED, KB_PUT_CREATED, KB_PUT_UPDATED };
struct kb_put_info {
    enum kb_put_result res;
    int64_t id;
    int64_t at;
};

/* Insert or update the article from a file (source_path, borrowed; raw = the file bytes, whose
 * BLAKE2b hash decides whether anything changed). A change writes a new revision and an
 * index-queue row in the caller's transaction. `run` marks the article as seen by this import
 * run (see kb_store_archive_unseen). KB_EEXISTS when the slug belongs to another file. */
enum kb_err kb_store_put_article(struct kb_store *st, const struct kb_store_article *a,
                                 const char *source_path, const char *raw, size_t n,
                                 int64_t run, struct kb_put_info *info) KB_MUST_CHECK;
/* Archive the articles imported from files under root that run did not see (the file
 * disappeared); queues them for indexing. *count receives how many. */
enum kb_err kb_store_archive_unseen(struct kb_store *st, const char *root, int64_t run,
                                    size_t *count) KB_MUST_CHECK;

/* An article as stored. Every string is owned by the row (never NULL; "" when empty). */
struct kb_article_row {
    int64_t id;
    char *slug, *title, *lang, *category, *category_slug, *audience, *status;
    char *translation_of;
    char *tags;       /* JSON array of strings */
    char *questions;  /* JSON array of strings */
    char *source;     /* the current revision's file (front matter and Markdown) from
                       * kb_store_get_slug and _get_id; "" from lists */
    char *html;       /* "" from the store: kb/articles renders them from source */
    char *text;
    int64_t revision, views, helpful_yes, helpful_no, created_at, updated_at;
};
void kb_article_row_free(struct kb_article_row *r); /* no-op on NULL */
void kb_article_rows_free(struct kb_article_row **rows, size_t n);

/* Get one article by slug (if visible in scope) or id. KB_ENOTFOUND otherwise. *out owned by
 * the caller. */
enum kb_err kb_store_get_slug(struct kb_store *st, const char *slug, enum kb_store_scope scope,
                              struct kb_article_row **out) KB_MUST_CHECK;
enum kb_err kb_store_get_id(struct kb_store *st, int64_t id, struct kb_article_row **out) KB_MUST_CHECK;

enum kb_list_order { KB_ORDER_TITLE, KB_ORDER_VIEWS, KB_ORDER_UPDATED };
/* Articles visible in scope, optionally of one language and category slug (NULL = any).
 * *rows is an array the caller frees with kb_article_rows_free(*rows, *n). */
enum kb_err kb_store_list(struct kb_store *st, enum kb_store_scope scope, const char *lang,
                          const char *category_slug, enum kb_list_order order, size_t limit,
                          struct kb_article_row ***rows, size_t *n) KB_MUST_CHECK;

/* The other language versions of an article (same translation group), each visible in scope. */
enum kb_err kb_store_translations(struct kb_store *st, const struct kb_article_row *a,
                                  enum kb_store_scope scope, struct kb_article_row ***rows,
                                  size_t *n) KB_MUST_CHECK;

/* An article's internal companions: the internal articles visible in scope that it links to
 * (its see_also) or that link to it (theirs), itself aside, by title, at most `limit`. None
 * in the public scope. *rows as kb_store_list's. */
enum kb_err kb_store_companions(struct kb_store *st, const struct kb_article_row *a,
                                enum kb_store_scope scope, size_t limit,
                                struct kb_article_row ***rows, size_t *n) KB_MUST_CHECK;

struct kb_category {
    char *name, *slug, *lang;
    size_t count;
};
/* Categories with visible articles (lang NULL = all). Caller frees with kb_categories_free. */
enum kb_err kb_store_categories(struct kb_store *st, enum kb_store_scope scope, const char *lang,
                                struct kb_category **cats, size_t *n) KB_MUST_CHECK;
void kb_categories_free(struct kb_category *cats, size_t n);

/* A tag and how many articles visible in scope carry it. */
struct kb_tag {
    char *name;
    size_t count;
};
/* The tags of the articles visible in scope (lang NULL = all), the most used first, then by
 * name, at most limit. Caller frees with kb_tags_free. */
enum kb_err kb_store_tags(struct kb_store *st, enum kb_store_scope scope, const char *lang,
                          size_t limit, struct kb_tag **tags, size_t *n) KB_MUST_CHECK;
void kb_tags_free(struct kb_tag *tags, size_t n);

enum kb_err kb_store_record_view(struct kb_store *st, int64_t id) KB_MUST_CHECK;

/* Counters for the metrics page. */
enum kb_err kb_store_counts(struct kb_store *st, int64_t *articles, int64_t *published,
                            int64_t *queue) KB_MUST_CHECK;

#endif
