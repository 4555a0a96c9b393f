/* kb/store/articles.c: articles and their revisions (see articles.h).
 *
 *   articles(id, slug UNIQUE, lang, title, category, category_slug, tags JSON, questions JSON,
 *            audience, status, translation_of, extra JSON, source_path, content_hash,
 *            revision, seen_run, views, helpful_yes, helpful_no, created_at, updated_at)
 *   revisions(article_id, revision, content_hash, source, created_at)  -- every version kept
 *   article_links(article_id, slug)  -- the article's see_also, replaced with each revision;
 *            the slug may name no article (yet): links are resolved when they are read
 *   article_counts(lang, category_slug, category, status, audience, n)  -- how many articles
 *            have each combination, kept by triggers on articles (store.c, migration 10) in
 *            the transaction that changes them: the categories and their counts are read
 *            from it (kb_store_categories), in time independent of the number of articles
 * Indexes for the lists (kb_store_list): articles_top(lang, views DESC, updated_at DESC),
 * the home page's most viewed; articles_category(lang, category_slug, title COLLATE NOCASE),
 * a category page.
 *
 * The rendered HTML and plain text are not stored (migrations 2-4 dropped them): kb/articles
 * renders them from the current revision's source when an article is shown. */
#include "kb/store/articles.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

#include "kb/base/log.h"
#include "kb/base/text.h"
#include "kb/store/store_int.h"

/* Column 11 is the current revision's source: only for one article (ROW_COLUMNS_SOURCE);
 * lists take NULL (ROW_COLUMNS). */
#define ROW_COLUMNS_WITH(source)                                                              \
    "id, slug, title, lang, category, category_slug, audience, status, translation_of, tags, " \
    "questions, " source ", revision, views, helpful_yes, helpful_no, created_at, updated_at"
#define ROW_COLUMNS ROW_COLUMNS_WITH("NULL")
#define ROW_COLUMNS_SOURCE                                                                    \
    ROW_COLUMNS_WITH("(SELECT source FROM revisions r WHERE r.article_id = articles.id "       \
    "ORDER BY r.revision DESC LIMIT 1)")

/* Visibility by scope: ?1 is the scope (0 public, 1 internal, 2 all). */
#define SCOPE_SQL                                                                      \
    "(?1 = 2 OR (status = 'published' AND (audience = 'public' OR ?1 = 1)))"

static const char SQL_FIND_SLUG[] =
    "SELECT id, source_path, content_hash, status, revision FROM articles "
    "WHERE slug = ?1";

static const char SQL_INSERT[] =
    "INSERT INTO articles(slug, lang, title, category, category_slug, tags, "
    "questions, audience, status, translation_of, extra, "
    "source_path, content_hash, revision, seen_run, created_at, updated_at) "
    "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,1,?14,?15,?15)";

static const char SQL_UPDATE[] =
    "UPDATE articles SET lang=?2, title=?3, category=?4, category_slug=?5, "
    "tags=?6, questions=?7, audience=?8, status=?9, translation_of=?10, "
    "extra=?11, source_path=?12, "
    "content_hash=?13, seen_run=?14, updated_at=?15, revision=revision+1 "
    "WHERE slug=?1 RETURNING id, revision";

static const char SQL_LINKS_CLEAR[] = "DELETE FROM article_links WHERE article_id = ?1";
static const char SQL_LINK_ADD[] =
    "INSERT OR IGNORE INTO article_links(article_id, slug) VALUES (?1, ?2)";

static const char SQL_SEEN[] =
    "UPDATE articles SET seen_run = ?2 WHERE id = ?1";

static const char SQL_REVISION[] =
    "INSERT OR REPLACE INTO revisions(article_id, revision, content_hash, "
    "source, created_at) VALUES (?1, ?2, ?3, ?4, ?5)";

static const char SQL_ARCHIVE_LIST[] =
    "SELECT id FROM articles WHERE source_path IS NOT NULL "
    "AND substr(source_path, 1, length(?1)) = ?1 AND seen_run <> ?2 "
    "AND status <> 'archived'";

static const char SQL_ARCHIVE[] =
    "UPDATE articles SET status = 'archived', updated_at = ?2, "
    "revision = revision + 1 WHERE id = ?1";

static const char SQL_GET_SLUG[] =
    "SELECT " ROW_COLUMNS_SOURCE " FROM articles WHERE slug = ?2 AND " SCOPE_SQL;

static const char SQL_GET_ID[] =
    "SELECT " ROW_COLUMNS_SOURCE " FROM articles WHERE id = ?1";

static const char SQL_VIEW[] =
    "UPDATE articles SET views = views + 1 WHERE id = ?1";

static const char SQL_COUNTS[] =
    "SELECT count(*), count(*) FILTER (WHERE status = 'published'), "
    "(SELECT count(*) FROM index_queue) FROM articles";

/* ---- writing articles --------------------------------------------------------------- */

static char *json_list(char *const *items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(items[i]));
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

static void hash_hex(const char *raw, size_t n, char hex[65])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)raw, n, NULL, 0);
    sodium_bin2hex(hex, 65, h, sizeof h);
}

/* The article's see_also as its article_links rows, replacing the previous revision's. */
static enum kb_err put_links(struct kb_store *st, int64_t id, const struct kb_store_article *a)
{
    enum kb_err err = kb_store_step_id(st, SQL_LINKS_CLEAR, id, "clear links");
    for (size_t i = 0; !err && i < a->nsee_also; i++) {
        sqlite3_stmt *s = kb_store_stmt(st, SQL_LINK_ADD);
        if (!s)
            return KB_EDB;
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, a->see_also[i], -1, SQLITE_STATIC);
        err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "link");
        sqlite3_reset(s);
    }
    return err;
}

enum kb_err kb_store_put_article(struct kb_store *st, const struct kb_store_article *a,
                                 const char *source_path, const char *raw, size_t n,
                                 int64_t run, struct kb_put_info *info)
{
    char hash[65];
    hash_hex(raw, n, hash);
    int64_t now = (int64_t)time(NULL);
    enum kb_err err = KB_OK;
    char *tags = NULL, *questions = NULL, *cslug = NULL;
    info->res = KB_PUT_UNCHANGED;
    info->id = 0;
    info->at = now;

    sqlite3_stmt *s = kb_store_stmt(st, SQL_FIND_SLUG);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, a->slug, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int64_t id = 0;
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(s, 0);
        const char *src = (const char *)sqlite3_column_text(s, 1);
        const char *old_hash = (const char *)sqlite3_column_text(s, 2);
        const char *old_status = (const char *)sqlite3_column_text(s, 3);
        if (src && source_path && strcmp(src, source_path) != 0) {
            kb_log(KB_LOG_DEBUG, "slug '%s' of %s is already used by %s", a->slug, source_path,
                   src);
            sqlite3_reset(s);
            return KB_EEXISTS;
        }
        if (old_hash && strcmp(old_hash, hash) == 0 && old_status &&
            strcmp(old_status, a->status) == 0) {
            sqlite3_reset(s);
            info->id = id;
            sqlite3_stmt *u = kb_store_stmt(st, SQL_SEEN);
            if (!u)
                return KB_EDB;
            sqlite3_bind_int64(u, 1, id);
            sqlite3_bind_int64(u, 2, run);
            return sqlite3_step(u) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "seen");
        }
    } else if (rc != SQLITE_DONE) {
        return kb_store_fail(st, "find slug");
    }
    sqlite3_reset(s);
    int exists = id != 0;

    tags = json_list(a->tags, a->ntags);
    questions = json_list(a->questions, a->nquestions);
    cslug = kb_text_slugify(a->category);
    if (!tags || !questions || !cslug) {
        err = KB_ENOMEM;
        goto out;
    }
    s = kb_store_stmt(st, exists ? SQL_UPDATE : SQL_INSERT);
    if (!s) {
        err = KB_EDB;
        goto out;
    }
    sqlite3_bind_text(s, 1, a->slug, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, a->lang, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->title, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, a->category, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, cslug, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, tags, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, questions, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, a->audience, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 9, a->status, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 10, a->translation_of ? a->translation_of : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 11, a->extra ? a->extra : "{}", -1, SQLITE_STATIC);
    if (source_path)
        sqlite3_bind_text(s, 12, source_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 13, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 14, run);
    sqlite3_bind_int64(s, 15, now);
    rc = sqlite3_step(s);
    int64_t revision = 1;
    if (exists && rc == SQLITE_ROW) {
        revision = sqlite3_column_int64(s, 1);
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_DONE) {
        err = kb_store_fail(st, "write article");
        goto out;
    }
    sqlite3_reset(s);
    if (!exists)
        id = sqlite3_last_insert_rowid(st->db);

    s = kb_store_stmt(st, SQL_REVISION);
    if (!s) {
        err = KB_EDB;
        goto out;
    }
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, revision);
    sqlite3_bind_text(s, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, raw, (int)n, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, now);
    if (sqlite3_step(s) != SQLITE_DONE) {
        err = kb_store_fail(st, "revision");
        goto out;
    }
    err = put_links(st, id, a);
    if (!err)
        err = kb_store_queue_article(st, id, now);
    if (!err)
        *info = (struct kb_put_info){exists ? KB_PUT_UPDATED : KB_PUT_CREATED, id, now};
out:
    free(tags);
    free(questions);
    free(cslug);
    return err;
}

enum kb_err kb_store_archive_unseen(struct kb_store *st, const char *root, int64_t run,
                                    size_t *count)
{
    *count = 0;
    int64_t now = (int64_t)time(NULL);
    sqlite3_stmt *s = kb_store_stmt(st, SQL_ARCHIVE_LIST);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, root, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, run);
    int64_t *ids = NULL;
    size_t n = 0;
    enum kb_err err = KB_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t *p = realloc(ids, (n + 1) * sizeof *p);
        if (!p) {
            err = KB_ENOMEM;
            goto out;
        }
        ids = p;
        ids[n++] = sqlite3_column_int64(s, 0);
    }
    if (rc != SQLITE_DONE) {
        err = kb_store_fail(st, "archive list");
        goto out;
    }
    for (size_t i = 0; i < n && !err; i++) {
        sqlite3_stmt *u = kb_store_stmt(st, SQL_ARCHIVE);
        if (!u) {
            err = KB_EDB;
            break;
        }
        sqlite3_bind_int64(u, 1, ids[i]);
        sqlite3_bind_int64(u, 2, now);
        err = sqlite3_step(u) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "archive");
        if (!err)
            err = kb_store_queue_article(st, ids[i], now);
    }
    if (!err)
        *count = n;
out:
    sqlite3_reset(s);
    free(ids);
    return err;
}

void kb_article_row_free(struct kb_article_row *r)
{
    if (!r)
        return;
    free(r->slug);
    free(r->title);
    free(r->lang);
    free(r->category);
    free(r->category_slug);
    free(r->audience);
    free(r->status);
    free(r->translation_of);
    free(r->tags);
    free(r->questions);
    free(r->source);
    free(r->html);
    free(r->text);
    free(r);
}

void kb_article_rows_free(struct kb_article_row **rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        kb_article_row_free(rows[i]);
    free(rows);
}

/* Build a row from the current result (columns in ROW_COLUMNS order); html and text are "",
 * source is the current revision's file where the query took it (ROW_COLUMNS_SOURCE). */
static struct kb_article_row *row_read(sqlite3_stmt *s)
{
    struct kb_article_row *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->id = sqlite3_column_int64(s, 0);
    char **strs[] = {&r->slug,          &r->title,    &r->lang,   &r->category,
                     &r->category_slug, &r->audience, &r->status, &r->translation_of,
                     &r->tags,          &r->questions, &r->source};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (!(*strs[i] = kb_store_col_dup(s, (int)i + 1))) {
            kb_article_row_free(r);
            return NULL;
        }
    }
    if (!(r->html = strdup("")) || !(r->text = strdup(""))) {
        kb_article_row_free(r);
        return NULL;
    }
    r->revision = sqlite3_column_int64(s, 12);
    r->views = sqlite3_column_int64(s, 13);
    r->helpful_yes = sqlite3_column_int64(s, 14);
    r->helpful_no = sqlite3_column_int64(s, 15);
    r->created_at = sqlite3_column_int64(s, 16);
    r->updated_at = sqlite3_column_int64(s, 17);
    return r;
}

static enum kb_err get_one(struct kb_store *st, sqlite3_stmt *s,
                           struct kb_article_row **out)
{
    int rc = sqlite3_step(s);
    enum kb_err err = KB_OK;
    if (rc == SQLITE_ROW) {
        *out = row_read(s);
        if (!*out)
            err = KB_ENOMEM;
    } else {
        err = rc == SQLITE_DONE ? KB_ENOTFOUND : kb_store_fail(st, "get article");
    }
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_get_slug(struct kb_store *st, const char *slug, enum kb_store_scope scope,
                              struct kb_article_row **out)
{
    *out = NULL;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_GET_SLUG);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int(s, 1, (int)scope);
    sqlite3_bind_text(s, 2, slug, -1, SQLITE_STATIC);
    return get_one(st, s, out);
}

enum kb_err kb_store_get_id(struct kb_store *st, int64_t id, struct kb_article_row **out)
{
    *out = NULL;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_GET_ID);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    return get_one(st, s, out);
}

/* Run a one-off statement that yields article rows. */
static enum kb_err collect_rows(struct kb_store *st, sqlite3_stmt *s,
                                struct kb_article_row ***rows, size_t *n)
{
    enum kb_err err = KB_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct kb_article_row **p = realloc(*rows, (*n + 1) * sizeof *p);
        if (!p) {
            err = KB_ENOMEM;
            break;
        }
        *rows = p;
        if (!((*rows)[*n] = row_read(s))) {
            err = KB_ENOMEM;
            break;
        }
        (*n)++;
    }
    if (!err && rc != SQLITE_DONE)
        err = kb_store_fail(st, "list articles");
    if (err) {
        kb_article_rows_free(*rows, *n);
        *rows = NULL;
        *n = 0;
    }
    return err;
}

/* The list statements, one per order and per filter given: a language or a category given
 * is an equality the planner can take to an index (articles_top for the home page's most
 * viewed, articles_category for a category page), where "?2 IS NULL OR lang = ?2" would make
 * it read every article of the base. */
#define LIST_SQL(filter, order)                                                             \
    "SELECT " ROW_COLUMNS " FROM articles WHERE " SCOPE_SQL filter " ORDER BY " order      \
    " LIMIT ?4"
#define LIST_SQL_ALL(order)                                                                 \
    {LIST_SQL("", order), LIST_SQL(" AND category_slug = ?3", order),                      \
     LIST_SQL(" AND lang = ?2", order), LIST_SQL(" AND lang = ?2 AND category_slug = ?3", order)}

enum kb_err kb_store_list(struct kb_store *st, enum kb_store_scope scope, const char *lang,
                          const char *category_slug, enum kb_list_order order, size_t limit,
                          struct kb_article_row ***rows, size_t *n)
{
    /* [order][lang given * 2 + category given] */
    static const char *const sql[][4] = {
        [KB_ORDER_TITLE] = LIST_SQL_ALL("title COLLATE NOCASE"),
        [KB_ORDER_VIEWS] = LIST_SQL_ALL("views DESC, updated_at DESC, id"),
        [KB_ORDER_UPDATED] = LIST_SQL_ALL("updated_at DESC, id"),
    };
    *rows = NULL;
    *n = 0;
    bool by_lang = lang && *lang, by_cat = category_slug && *category_slug;
    sqlite3_stmt *s = kb_store_stmt(st, sql[order][by_lang * 2 + by_cat]);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int(s, 1, (int)scope);
    if (by_lang)
        sqlite3_bind_text(s, 2, lang, -1, SQLITE_STATIC);
    if (by_cat)
        sqlite3_bind_text(s, 3, category_slug, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, limit ? (int64_t)limit : -1);
    enum kb_err err = collect_rows(st, s, rows, n);
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_translations(struct kb_store *st, const struct kb_article_row *a,
                                  enum kb_store_scope scope, struct kb_article_row ***rows,
                                  size_t *n)
{
    *rows = NULL;
    *n = 0;
    /* Cached: every article page asks, and preparing it anew was a tenth of a page view. */
    sqlite3_stmt *s = kb_store_stmt(st,
    "SELECT " ROW_COLUMNS " FROM articles WHERE " SCOPE_SQL
    " AND id <> ?2 AND lang <> ?5 AND (translation_of = ?3 OR slug = ?4 "
    "OR (?4 <> '' AND translation_of = ?4)) ORDER BY lang");
    if (!s)
        return KB_EDB;
    sqlite3_bind_int(s, 1, (int)scope);
    sqlite3_bind_int64(s, 2, a->id);
    sqlite3_bind_text(s, 3, a->slug, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, a->translation_of, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, a->lang, -1, SQLITE_STATIC);
    enum kb_err err = collect_rows(st, s, rows, n);
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_companions(struct kb_store *st, const struct kb_article_row *a,
                                enum kb_store_scope scope, size_t limit,
                                struct kb_article_row ***rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    if (scope == KB_SCOPE_PUBLIC)
        return KB_OK;
    sqlite3_stmt *s = kb_store_stmt(st,
    "SELECT " ROW_COLUMNS " FROM articles WHERE " SCOPE_SQL " AND audience = 'internal'"
    " AND id <> ?2 AND (id IN (SELECT article_id FROM article_links WHERE slug = ?3)"
    " OR slug IN (SELECT slug FROM article_links WHERE article_id = ?2))"
    " ORDER BY title COLLATE NOCASE, id LIMIT ?4");
    if (!s)
        return KB_EDB;
    sqlite3_bind_int(s, 1, (int)scope);
    sqlite3_bind_int64(s, 2, a->id);
    sqlite3_bind_text(s, 3, a->slug, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (int64_t)limit);
    enum kb_err err = collect_rows(st, s, rows, n);
    sqlite3_reset(s);
    return err;
}

void kb_categories_free(struct kb_category *cats, size_t n)
{
    for (size_t i = 0; cats && i < n; i++) {
        free(cats[i].name);
        free(cats[i].slug);
        free(cats[i].lang);
    }
    free(cats);
}

enum kb_err kb_store_categories(struct kb_store *st, enum kb_store_scope scope, const char *lang,
                                struct kb_category **cats, size_t *n)
{
    *cats = NULL;
    *n = 0;
    /* From article_counts (a few rows per category), not from the articles: the home page
     * asks at every view, and at 50,000 articles counting them took 65 ms of CPU. */
    sqlite3_stmt *s = kb_store_stmt(st,
    "SELECT min(category) AS name, category_slug, lang, sum(n) FROM article_counts WHERE "
    SCOPE_SQL " AND (?2 IS NULL OR lang = ?2) AND category_slug <> '' "
    "GROUP BY lang, category_slug HAVING sum(n) > 0 ORDER BY lang, name COLLATE NOCASE");
    if (!s)
        return KB_EDB;
    sqlite3_bind_int(s, 1, (int)scope);
    if (lang && *lang)
        sqlite3_bind_text(s, 2, lang, -1, SQLITE_STATIC);
    enum kb_err err = KB_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct kb_category *p = realloc(*cats, (*n + 1) * sizeof *p);
        if (!p) {
            err = KB_ENOMEM;
            break;
        }
        *cats = p;
        struct kb_category *c = &(*cats)[(*n)++];
        c->name = kb_store_col_dup(s, 0);
        c->slug = kb_store_col_dup(s, 1);
        c->lang = kb_store_col_dup(s, 2);
        c->count = (size_t)sqlite3_column_int64(s, 3);
        if (!c->name || !c->slug || !c->lang) {
            err = KB_ENOMEM;
            break;
        }
    }
    if (!err && rc != SQLITE_DONE)
        err = kb_store_fail(st, "categories");
    sqlite3_reset(s);
    if (err) {
        kb_categories_free(*cats, *n);
        *cats = NULL;
        *n = 0;
    }
    return err;
}

void kb_tags_free(struct kb_tag *tags, size_t n)
{
    for (size_t i = 0; tags && i < n; i++)
        free(tags[i].name);
    free(tags);
}

enum kb_err kb_store_tags(struct kb_store *st, enum kb_store_scope scope, const char *lang,
                          size_t limit, struct kb_tag **tags, size_t *n)
{
    *tags = NULL;
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st,
    "SELECT j.value, count(*) AS c FROM articles, json_each(articles.tags) j WHERE " SCOPE_SQL
    " AND (?2 IS NULL OR lang = ?2) AND j.type = 'text' GROUP BY j.value"
    " ORDER BY c DESC, j.value LIMIT ?3");
    if (!s)
        return KB_EDB;
    sqlite3_bind_int(s, 1, (int)scope);
    if (lang && *lang)
        sqlite3_bind_text(s, 2, lang, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (int64_t)limit);
    enum kb_err err = KB_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct kb_tag *p = realloc(*tags, (*n + 1) * sizeof *p);
        if (!p) {
            err = KB_ENOMEM;
            break;
        }
        *tags = p;
        struct kb_tag *t = &(*tags)[(*n)++];
        t->count = (size_t)sqlite3_column_int64(s, 1);
        if (!(t->name = kb_store_col_dup(s, 0))) {
            err = KB_ENOMEM;
            break;
        }
    }
    if (!err && rc != SQLITE_DONE)
        err = kb_store_fail(st, "tags");
    sqlite3_reset(s);
    if (err) {
        kb_tags_free(*tags, *n);
        *tags = NULL;
        *n = 0;
    }
    return err;
}

enum kb_err kb_store_record_view(struct kb_store *st, int64_t id)
{
    return kb_store_step_id(st, SQL_VIEW, id, "record view");
}

enum kb_err kb_store_counts(struct kb_store *st, int64_t *articles, int64_t *published,
                            int64_t *queue)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_COUNTS);
    if (!s)
        return KB_EDB;
    enum kb_err err = KB_OK;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *articles = sqlite3_column_int64(s, 0);
        *published = sqlite3_column_int64(s, 1);
        *queue = sqlite3_column_int64(s, 2);
    } else {
        err = kb_store_fail(st, "counts");
    }
    sqlite3_reset(s);
    return err;
}

