/* kb/store.h: the SQLite store, source of truth for articles, revisions, the index queue,
 * feedback and the search log. One connection per thread; WAL lets readers run beside the
 * single writer. The schema and its migrations are documented in store.c. */
#ifndef KB_STORE_H
#define KB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/article.h"
#include "kb/base/err.h"

struct kb_store; /* opaque: one sqlite3 connection and its prepared statements */

/* Open (creating and migrating unless readonly) the database at path.
 * *out is owned by the caller: kb_store_free(). */
enum kb_err kb_store_open(const char *path, bool readonly, struct kb_store **out) KB_MUST_CHECK;
void kb_store_free(struct kb_store *st); /* no-op on NULL */
/* Last SQLite error message of this connection (static until the next call). */
const char *kb_store_errmsg(struct kb_store *st);

enum kb_err kb_store_begin(struct kb_store *st) KB_MUST_CHECK;    /* BEGIN IMMEDIATE */
enum kb_err kb_store_commit(struct kb_store *st) KB_MUST_CHECK;
void kb_store_rollback(struct kb_store *st);
/* Make every later commit of this connection durable before it returns (synchronous=FULL).
 * By default (NORMAL, WAL) a commit reaches the disk at the next checkpoint: a power cut
 * can take back the last commits, consistently. A writer whose changes go on to the search
 * index needs FULL: Xapian syncs its commits, and an index holding articles the database
 * lost would never be repaired (their queue rows are lost with them). Not for serving:
 * a page view's counter would wait for the disk. */
enum kb_err kb_store_durable(struct kb_store *st) KB_MUST_CHECK;

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
enum kb_err kb_store_put_article(struct kb_store *st, const struct kb_article *a,
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
    char *html;       /* rendered from its source by kb_store_get_slug; "" from other reads */
    char *text;       /* plain text of the body, rendered by kb_store_get_slug and _get_id;
                       * "" from lists */
    int64_t revision, views, helpful_yes, helpful_no, created_at, updated_at;
};
void kb_article_row_free(struct kb_article_row *r); /* no-op on NULL */
void kb_article_rows_free(struct kb_article_row **rows, size_t n);

/* Visibility of what a reader may see (mirrors search_scope). */
enum kb_store_scope { KB_SCOPE_PUBLIC = 0, KB_SCOPE_INTERNAL = 1, KB_SCOPE_ALL = 2 };

/* Get one article by slug or id, if visible in scope. KB_ENOTFOUND otherwise. *out owned
 * by the caller. */
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

struct kb_category {
    char *name, *slug, *lang;
    size_t count;
};
/* Categories with visible articles (lang NULL = all). Caller frees with kb_categories_free. */
enum kb_err kb_store_categories(struct kb_store *st, enum kb_store_scope scope, const char *lang,
                                struct kb_category **cats, size_t *n) KB_MUST_CHECK;
void kb_categories_free(struct kb_category *cats, size_t n);

enum kb_err kb_store_record_view(struct kb_store *st, int64_t id) KB_MUST_CHECK;
/* Record "was this helpful?"; comment may be NULL. */
enum kb_err kb_store_feedback(struct kb_store *st, int64_t id, bool helpful, const char *comment) KB_MUST_CHECK;

/* Index queue: up to max pending rows (queue id, article id), oldest first. */
struct kb_queue_item {
    int64_t qid, article_id;
};
enum kb_err kb_store_queue_fetch(struct kb_store *st, int64_t after, size_t max,
                                 struct kb_queue_item **items, size_t *n) KB_MUST_CHECK;
/* Delete queue rows with qid <= upto (after the index committed them). */
enum kb_err kb_store_queue_done(struct kb_store *st, int64_t upto) KB_MUST_CHECK;
/* Queue every article (for kb index --rebuild). */
enum kb_err kb_store_queue_all(struct kb_store *st) KB_MUST_CHECK;
size_t kb_store_queue_length(struct kb_store *st);

/* The search log, for the analytics of editors: one row per query. */
struct kb_search_log_entry {
    int64_t id;         /* chosen by the caller (random), links the click to the query */
    int64_t at;         /* unix seconds */
    const char *query, *lang, *clicked_slug; /* clicked_slug non-NULL: a click on `id` */
    int64_t results;
};
enum kb_err kb_store_log_searches(struct kb_store *st, const struct kb_search_log_entry *e,
                                  size_t n) KB_MUST_CHECK;

/* Synonym files as last imported (the index is rebuilt from them). *changed tells whether
 * the stored text differed. */
enum kb_err kb_store_synonyms_put(struct kb_store *st, const char *lang, const char *body,
                                  bool *changed) KB_MUST_CHECK;
/* Call fn for each stored synonyms text; stops at the first error fn returns. */
enum kb_err kb_store_synonyms_each(struct kb_store *st,
                                   enum kb_err (*fn)(void *ud, const char *lang,
                                                     const char *body),
                                   void *ud) KB_MUST_CHECK;

/* Counters for the metrics page. */
enum kb_err kb_store_counts(struct kb_store *st, int64_t *articles, int64_t *published,
                            int64_t *queue) KB_MUST_CHECK;

#endif
