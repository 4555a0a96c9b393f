/* kb/store.c: the SQLite store (see store.h).
 *
 * Schema (version 4, PRAGMA user_version; migrations run in order inside one transaction):
 *
 *   articles(id, slug UNIQUE, lang, title, category, category_slug, tags JSON, questions JSON,
 *            audience, status, translation_of, extra JSON,
 *            source_path, content_hash, revision, seen_run, views, helpful_yes, helpful_no,
 *            created_at, updated_at)
 *   revisions(article_id, revision, content_hash, source, created_at)  -- every version kept
 *   index_queue(id, article_id, queued_at)   -- changes not yet in the Xapian index
 *   feedback(article_id, helpful, comment, at)
 *   search_log(id, at, query, lang, results), search_clicks(search_id, slug, at)
 *   synonyms(lang, body)   -- content/synonyms/<lang>.txt as last imported, for rebuilds
 *
 * Invariant: every statement that changes what the index shows of an article inserts an
 * index_queue row in the same transaction; the indexer deletes rows only after the Xapian
 * commit, so a crash between the two commits leaves rows that the next start replays.
 *
 * Statements are prepared once per connection (SQLITE_PREPARE_PERSISTENT) and always take
 * their values through bound parameters. */
#include "kb/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

#include "kb/article.h"
#include "kb/base/log.h"
#include "kb/base/text.h"

static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE articles("
    " id INTEGER PRIMARY KEY,"
    " slug TEXT NOT NULL UNIQUE,"
    " lang TEXT NOT NULL,"
    " title TEXT NOT NULL,"
    " category TEXT NOT NULL DEFAULT '',"
    " category_slug TEXT NOT NULL DEFAULT '',"
    " tags TEXT NOT NULL DEFAULT '[]',"
    " questions TEXT NOT NULL DEFAULT '[]',"
    " audience TEXT NOT NULL CHECK (audience IN ('public','internal')),"
    " status TEXT NOT NULL CHECK (status IN ('draft','review','published','archived')),"
    " translation_of TEXT NOT NULL DEFAULT '',"
    " body_md TEXT NOT NULL,"
    " html TEXT NOT NULL,"
    " text TEXT NOT NULL,"
    " extra TEXT NOT NULL DEFAULT '{}',"
    " source_path TEXT,"
    " content_hash TEXT NOT NULL,"
    " revision INTEGER NOT NULL DEFAULT 1,"
    " seen_run INTEGER NOT NULL DEFAULT 0,"
    " views INTEGER NOT NULL DEFAULT 0,"
    " helpful_yes INTEGER NOT NULL DEFAULT 0,"
    " helpful_no INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX articles_list ON articles(status, audience, lang, category_slug);"
    "CREATE INDEX articles_source ON articles(source_path);"
    "CREATE INDEX articles_translation ON articles(translation_of);"
    "CREATE TABLE revisions("
    " article_id INTEGER NOT NULL REFERENCES articles(id),"
    " revision INTEGER NOT NULL,"
    " content_hash TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (article_id, revision)) WITHOUT ROWID;"
    "CREATE TABLE index_queue("
    " id INTEGER PRIMARY KEY,"
    " article_id INTEGER NOT NULL,"
    " queued_at INTEGER NOT NULL);"
    "CREATE TABLE feedback("
    " id INTEGER PRIMARY KEY,"
    " article_id INTEGER NOT NULL REFERENCES articles(id),"
    " helpful INTEGER NOT NULL,"
    " comment TEXT,"
    " at INTEGER NOT NULL);"
    "CREATE TABLE search_log("
    " id INTEGER PRIMARY KEY,"
    " at INTEGER NOT NULL,"
    " query TEXT NOT NULL,"
    " lang TEXT NOT NULL DEFAULT '',"
    " results INTEGER NOT NULL);"
    "CREATE INDEX search_log_zero ON search_log(results, at);"
    "CREATE TABLE search_clicks("
    " search_id INTEGER NOT NULL,"
    " slug TEXT NOT NULL,"
    " at INTEGER NOT NULL);"
    "CREATE TABLE synonyms("
    " lang TEXT PRIMARY KEY,"
    " body TEXT NOT NULL,"
    " updated_at INTEGER NOT NULL);",
    /* 2: the Markdown source is the current revision's (revisions.source holds the whole
     * file); a copy per article was a quarter of what an import wrote. */
    "ALTER TABLE articles DROP COLUMN body_md;",
    /* 3: the HTML is rendered from that source when an article is shown (kb_store_get_slug):
     * stored, it was as large as the Markdown, and an import writes everything twice (the
     * WAL, then the database): 6% of a 50,000-article import (tests/bench/README.md). */
    "ALTER TABLE articles DROP COLUMN html;",
    /* 4: the plain text too is the source's, rendered when it is read (row_read): a third of
     * what a large import wrote, twice. */
    "ALTER TABLE articles DROP COLUMN text;",
};

enum stmt_id {
    S_FIND_SLUG,
    S_INSERT,
    S_UPDATE,
    S_SEEN,
    S_REVISION,
    S_QUEUE,
    S_ARCHIVE_LIST,
    S_ARCHIVE,
    S_GET_SLUG,
    S_GET_ID,
    S_VIEW,
    S_FEEDBACK_ROW,
    S_FEEDBACK_YES,
    S_FEEDBACK_NO,
    S_QUEUE_FETCH,
    S_QUEUE_DONE,
    S_QUEUE_ALL,
    S_QUEUE_LEN,
    S_LOG,
    S_CLICK,
    S_COUNTS,
    S_SYN_PUT,
    S_SYN_LIST,
    S_COUNT
};

/* Column 11 is the current source, whose body row_read renders as html and text: only for
 * one article (ROW_COLUMNS_SOURCE); lists take NULL (ROW_COLUMNS). */
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

static const char *const stmt_sql[S_COUNT] = {
    [S_FIND_SLUG] = "SELECT id, source_path, content_hash, status, revision FROM articles "
                    "WHERE slug = ?1",
    [S_INSERT] = "INSERT INTO articles(slug, lang, title, category, category_slug, tags, "
                 "questions, audience, status, translation_of, extra, "
                 "source_path, content_hash, revision, seen_run, created_at, updated_at) "
                 "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,1,?14,?15,?15)",
    [S_UPDATE] = "UPDATE articles SET lang=?2, title=?3, category=?4, category_slug=?5, "
                 "tags=?6, questions=?7, audience=?8, status=?9, translation_of=?10, "
                 "extra=?11, source_path=?12, "
                 "content_hash=?13, seen_run=?14, updated_at=?15, revision=revision+1 "
                 "WHERE slug=?1 RETURNING id, revision",
    [S_SEEN] = "UPDATE articles SET seen_run = ?2 WHERE id = ?1",
    [S_REVISION] = "INSERT OR REPLACE INTO revisions(article_id, revision, content_hash, "
                   "source, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_QUEUE] = "INSERT INTO index_queue(article_id, queued_at) VALUES (?1, ?2)",
    [S_ARCHIVE_LIST] = "SELECT id FROM articles WHERE source_path IS NOT NULL "
                       "AND substr(source_path, 1, length(?1)) = ?1 AND seen_run <> ?2 "
                       "AND status <> 'archived'",
    [S_ARCHIVE] = "UPDATE articles SET status = 'archived', updated_at = ?2, "
                  "revision = revision + 1 WHERE id = ?1",
    [S_GET_SLUG] = "SELECT " ROW_COLUMNS_SOURCE " FROM articles WHERE slug = ?2 AND " SCOPE_SQL,
    [S_GET_ID] = "SELECT " ROW_COLUMNS_SOURCE " FROM articles WHERE id = ?1",
    [S_VIEW] = "UPDATE articles SET views = views + 1 WHERE id = ?1",
    [S_FEEDBACK_ROW] = "INSERT INTO feedback(article_id, helpful, comment, at) "
                       "VALUES (?1, ?2, ?3, ?4)",
    [S_FEEDBACK_YES] = "UPDATE articles SET helpful_yes = helpful_yes + 1 WHERE id = ?1",
    [S_FEEDBACK_NO] = "UPDATE articles SET helpful_no = helpful_no + 1 WHERE id = ?1",
    [S_QUEUE_FETCH] = "SELECT id, article_id FROM index_queue WHERE id > ?2 ORDER BY id LIMIT ?1",
    [S_QUEUE_DONE] = "DELETE FROM index_queue WHERE id <= ?1",
    [S_QUEUE_ALL] = "INSERT INTO index_queue(article_id, queued_at) "
                    "SELECT id, ?1 FROM articles ORDER BY id",
    [S_QUEUE_LEN] = "SELECT count(*) FROM index_queue",
    [S_LOG] = "INSERT OR IGNORE INTO search_log(id, at, query, lang, results) "
              "VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_CLICK] = "INSERT INTO search_clicks(search_id, slug, at) VALUES (?1, ?2, ?3)",
    [S_COUNTS] = "SELECT count(*), count(*) FILTER (WHERE status = 'published'), "
                 "(SELECT count(*) FROM index_queue) FROM articles",
    [S_SYN_PUT] = "INSERT INTO synonyms(lang, body, updated_at) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT(lang) DO UPDATE SET body = excluded.body, "
                  "updated_at = excluded.updated_at WHERE body <> excluded.body",
    [S_SYN_LIST] = "SELECT lang, body FROM synonyms ORDER BY lang",
};

struct kb_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
};

const char *kb_store_errmsg(struct kb_store *st)
{
    return st && st->db ? sqlite3_errmsg(st->db) : "no database";
}

/* KB_EBUSY when another connection held the database past the busy timeout (a caller may
 * try again later), else KB_EDB. */
static enum kb_err db_err(struct kb_store *st)
{
    int rc = sqlite3_errcode(st->db) & 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? KB_EBUSY : KB_EDB;
}

static enum kb_err db_fail(struct kb_store *st, const char *what)
{
    kb_log(KB_LOG_ERROR, "sqlite: %s: %s", what, sqlite3_errmsg(st->db));
    return db_err(st);
}

/* The cached statement, reset and unbound, ready for binding. */
static sqlite3_stmt *stmt(struct kb_store *st, enum stmt_id id)
{
    if (!st->stmt[id]) {
        if (sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                               &st->stmt[id], NULL) != SQLITE_OK) {
            kb_log(KB_LOG_ERROR, "sqlite: prepare: %s", sqlite3_errmsg(st->db));
            return NULL;
        }
    } else {
        sqlite3_reset(st->stmt[id]);
        sqlite3_clear_bindings(st->stmt[id]);
    }
    return st->stmt[id];
}

static enum kb_err exec_sql(struct kb_store *st, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        kb_log(KB_LOG_ERROR, "sqlite: %s", msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return db_err(st);
    }
    return KB_OK;
}

static enum kb_err migrate(struct kb_store *st)
{
    sqlite3_stmt *s = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return db_fail(st, "user_version");
    if (sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    int latest = (int)(sizeof migrations / sizeof migrations[0]);
    if (version > latest) {
        kb_log(KB_LOG_ERROR, "database schema %d is newer than this kb (%d)", version, latest);
        return KB_EDB;
    }
    if (version == latest)
        return KB_OK;
    enum kb_err err = exec_sql(st, "BEGIN IMMEDIATE");
    if (err)
        return err;
    for (int v = version; v < latest && !err; v++) {
        err = exec_sql(st, migrations[v]);
        if (!err) {
            char pragma[64];
            snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
            err = exec_sql(st, pragma);
        }
    }
    if (err) {
        exec_sql(st, "ROLLBACK");
        return err;
    }
    return exec_sql(st, "COMMIT");
}

enum kb_err kb_store_open(const char *path, bool readonly, struct kb_store **out)
{
    *out = NULL;
    struct kb_store *st = calloc(1, sizeof *st);
    if (!st)
        return KB_ENOMEM;
    int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX; /* one connection per thread */
    enum kb_err err = KB_OK;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        kb_log(KB_LOG_ERROR, "cannot open database %s: %s", path,
               st->db ? sqlite3_errmsg(st->db) : "out of memory");
        err = st->db ? KB_EDB : KB_ENOMEM;
        goto out;
    }
    sqlite3_busy_timeout(st->db, 10000);
    sqlite3_extended_result_codes(st->db, 1);
    if (!readonly) {
        err = exec_sql(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                           "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;");
        if (!err)
            err = migrate(st);
    }
out:
    if (err) {
        kb_store_free(st);
        return err;
    }
    *out = st;
    return KB_OK;
}

void kb_store_free(struct kb_store *st)
{
    if (!st)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close_v2(st->db);
    free(st);
}

enum kb_err kb_store_begin(struct kb_store *st)
{
    return exec_sql(st, "BEGIN IMMEDIATE");
}

enum kb_err kb_store_commit(struct kb_store *st)
{
    return exec_sql(st, "COMMIT");
}

enum kb_err kb_store_durable(struct kb_store *st)
{
    return exec_sql(st, "PRAGMA synchronous = FULL");
}

void kb_store_rollback(struct kb_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        (void)exec_sql(st, "ROLLBACK");
}

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

static enum kb_err queue_article(struct kb_store *st, int64_t id, int64_t now)
{
    sqlite3_stmt *s = stmt(st, S_QUEUE);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    return sqlite3_step(s) == SQLITE_DONE ? KB_OK : db_fail(st, "queue");
}

enum kb_err kb_store_put_article(struct kb_store *st, const struct kb_article *a,
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

    sqlite3_stmt *s = stmt(st, S_FIND_SLUG);
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
            sqlite3_stmt *u = stmt(st, S_SEEN);
            if (!u)
                return KB_EDB;
            sqlite3_bind_int64(u, 1, id);
            sqlite3_bind_int64(u, 2, run);
            return sqlite3_step(u) == SQLITE_DONE ? KB_OK : db_fail(st, "seen");
        }
    } else if (rc != SQLITE_DONE) {
        return db_fail(st, "find slug");
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
    s = stmt(st, exists ? S_UPDATE : S_INSERT);
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
        err = db_fail(st, "write article");
        goto out;
    }
    sqlite3_reset(s);
    if (!exists)
        id = sqlite3_last_insert_rowid(st->db);

    s = stmt(st, S_REVISION);
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
        err = db_fail(st, "revision");
        goto out;
    }
    err = queue_article(st, id, now);
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
    sqlite3_stmt *s = stmt(st, S_ARCHIVE_LIST);
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
        err = db_fail(st, "archive list");
        goto out;
    }
    for (size_t i = 0; i < n && !err; i++) {
        sqlite3_stmt *u = stmt(st, S_ARCHIVE);
        if (!u) {
            err = KB_EDB;
            break;
        }
        sqlite3_bind_int64(u, 1, ids[i]);
        sqlite3_bind_int64(u, 2, now);
        err = sqlite3_step(u) == SQLITE_DONE ? KB_OK : db_fail(st, "archive");
        if (!err)
            err = queue_article(st, ids[i], now);
    }
    if (!err)
        *count = n;
out:
    sqlite3_reset(s);
    free(ids);
    return err;
}

/* ---- reading ------------------------------------------------------------------------ */

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

static char *col_dup(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return strdup(t ? t : "");
}

/* What row_read renders of a row's source. */
enum { ROW_HTML = 1, ROW_TEXT = 2 };

/* Build a row from the current result (columns in ROW_COLUMNS order), html and text rendered
 * from the source as `render` asks (ROW_HTML, ROW_TEXT), "" otherwise. */
static struct kb_article_row *row_read(sqlite3_stmt *s, int render)
{
    struct kb_article_row *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->id = sqlite3_column_int64(s, 0);
    /* Columns 1-10; column 11 is the source, rendered below. */
    char **strs[] = {&r->slug, &r->title, &r->lang, &r->category, &r->category_slug,
                     &r->audience, &r->status, &r->translation_of, &r->tags, &r->questions};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (!(*strs[i] = col_dup(s, (int)i + 1))) {
            kb_article_row_free(r);
            return NULL;
        }
    }
    /* The html and text of the article's current source (ROW_COLUMNS_SOURCE), rendered as
     * the import rendered its text; "" where the query took no source. */
    const char *src = (const char *)sqlite3_column_text(s, 11);
    size_t n = (size_t)sqlite3_column_bytes(s, 11), body = 0;
    if (src && render && kb_article_body(src, n, &body) &&
        kb_markdown_render(src + body, n - body, (render & ROW_HTML) ? &r->html : NULL,
                           (render & ROW_TEXT) ? &r->text : NULL) != KB_OK) {
        kb_article_row_free(r);
        return NULL;
    }
    if ((!r->html && !(r->html = strdup(""))) || (!r->text && !(r->text = strdup("")))) {
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

static enum kb_err get_one(struct kb_store *st, sqlite3_stmt *s, int render,
                           struct kb_article_row **out)
{
    int rc = sqlite3_step(s);
    enum kb_err err = KB_OK;
    if (rc == SQLITE_ROW) {
        *out = row_read(s, render);
        if (!*out)
            err = KB_ENOMEM;
    } else {
        err = rc == SQLITE_DONE ? KB_ENOTFOUND : db_fail(st, "get article");
    }
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_get_slug(struct kb_store *st, const char *slug, enum kb_store_scope scope,
                              struct kb_article_row **out)
{
    *out = NULL;
    sqlite3_stmt *s = stmt(st, S_GET_SLUG);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int(s, 1, (int)scope);
    sqlite3_bind_text(s, 2, slug, -1, SQLITE_STATIC);
    return get_one(st, s, ROW_HTML | ROW_TEXT, out);
}

enum kb_err kb_store_get_id(struct kb_store *st, int64_t id, struct kb_article_row **out)
{
    *out = NULL;
    sqlite3_stmt *s = stmt(st, S_GET_ID);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    return get_one(st, s, ROW_TEXT, out);
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
        if (!((*rows)[*n] = row_read(s, 0))) {
            err = KB_ENOMEM;
            break;
        }
        (*n)++;
    }
    if (!err && rc != SQLITE_DONE)
        err = db_fail(st, "list articles");
    if (err) {
        kb_article_rows_free(*rows, *n);
        *rows = NULL;
        *n = 0;
    }
    return err;
}

enum kb_err kb_store_list(struct kb_store *st, enum kb_store_scope scope, const char *lang,
                          const char *category_slug, enum kb_list_order order, size_t limit,
                          struct kb_article_row ***rows, size_t *n)
{
    static const char *const sql[] = {
        [KB_ORDER_TITLE] = "SELECT " ROW_COLUMNS " FROM articles WHERE " SCOPE_SQL
                           " AND (?2 IS NULL OR lang = ?2) AND (?3 IS NULL OR category_slug = ?3)"
                           " ORDER BY title COLLATE NOCASE LIMIT ?4",
        [KB_ORDER_VIEWS] = "SELECT " ROW_COLUMNS " FROM articles WHERE " SCOPE_SQL
                           " AND (?2 IS NULL OR lang = ?2) AND (?3 IS NULL OR category_slug = ?3)"
                           " ORDER BY views DESC, updated_at DESC, id LIMIT ?4",
        [KB_ORDER_UPDATED] = "SELECT " ROW_COLUMNS " FROM articles WHERE " SCOPE_SQL
                             " AND (?2 IS NULL OR lang = ?2) AND (?3 IS NULL OR "
                             "category_slug = ?3) ORDER BY updated_at DESC, id LIMIT ?4",
    };
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql[order], -1, &s, NULL) != SQLITE_OK)
        return db_fail(st, "list");
    sqlite3_bind_int(s, 1, (int)scope);
    if (lang && *lang)
        sqlite3_bind_text(s, 2, lang, -1, SQLITE_STATIC);
    if (category_slug && *category_slug)
        sqlite3_bind_text(s, 3, category_slug, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, limit ? (int64_t)limit : -1);
    enum kb_err err = collect_rows(st, s, rows, n);
    sqlite3_finalize(s);
    return err;
}

enum kb_err kb_store_translations(struct kb_store *st, const struct kb_article_row *a,
                                  enum kb_store_scope scope, struct kb_article_row ***rows,
                                  size_t *n)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT " ROW_COLUMNS " FROM articles WHERE " SCOPE_SQL
                           " AND id <> ?2 AND lang <> ?5 AND (translation_of = ?3 OR slug = ?4 "
                           "OR (?4 <> '' AND translation_of = ?4)) ORDER BY lang",
                           -1, &s, NULL) != SQLITE_OK)
        return db_fail(st, "translations");
    sqlite3_bind_int(s, 1, (int)scope);
    sqlite3_bind_int64(s, 2, a->id);
    sqlite3_bind_text(s, 3, a->slug, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, a->translation_of, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, a->lang, -1, SQLITE_STATIC);
    enum kb_err err = collect_rows(st, s, rows, n);
    sqlite3_finalize(s);
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
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT category, category_slug, lang, count(*) FROM articles WHERE "
                           SCOPE_SQL " AND (?2 IS NULL OR lang = ?2) AND category_slug <> '' "
                           "GROUP BY lang, category_slug ORDER BY lang, category COLLATE NOCASE",
                           -1, &s, NULL) != SQLITE_OK)
        return db_fail(st, "categories");
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
        c->name = col_dup(s, 0);
        c->slug = col_dup(s, 1);
        c->lang = col_dup(s, 2);
        c->count = (size_t)sqlite3_column_int64(s, 3);
        if (!c->name || !c->slug || !c->lang) {
            err = KB_ENOMEM;
            break;
        }
    }
    if (!err && rc != SQLITE_DONE)
        err = db_fail(st, "categories");
    sqlite3_finalize(s);
    if (err) {
        kb_categories_free(*cats, *n);
        *cats = NULL;
        *n = 0;
    }
    return err;
}

static enum kb_err step_id(struct kb_store *st, enum stmt_id id, int64_t v, const char *what)
{
    sqlite3_stmt *s = stmt(st, id);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, v);
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : db_fail(st, what);
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_record_view(struct kb_store *st, int64_t id)
{
    return step_id(st, S_VIEW, id, "record view");
}

enum kb_err kb_store_feedback(struct kb_store *st, int64_t id, bool helpful, const char *comment)
{
    enum kb_err err = kb_store_begin(st);
    if (err)
        return err;
    sqlite3_stmt *s = stmt(st, S_FEEDBACK_ROW);
    if (!s) {
        err = KB_EDB;
        goto out;
    }
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, helpful);
    if (comment && *comment)
        sqlite3_bind_text(s, 3, comment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
    err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : db_fail(st, "feedback");
    sqlite3_reset(s);
    if (!err)
        err = step_id(st, helpful ? S_FEEDBACK_YES : S_FEEDBACK_NO, id, "feedback count");
out:
    if (err) {
        kb_store_rollback(st);
        return err;
    }
    return kb_store_commit(st);
}

/* ---- index queue --------------------------------------------------------------------- */

enum kb_err kb_store_queue_fetch(struct kb_store *st, int64_t after, size_t max,
                                 struct kb_queue_item **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    sqlite3_stmt *s = stmt(st, S_QUEUE_FETCH);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, (int64_t)max);
    sqlite3_bind_int64(s, 2, after);
    struct kb_queue_item *v = calloc(max ? max : 1, sizeof *v);
    if (!v)
        return KB_ENOMEM;
    int rc;
    size_t k = 0;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        v[k].qid = sqlite3_column_int64(s, 0);
        v[k].article_id = sqlite3_column_int64(s, 1);
        k++;
    }
    sqlite3_reset(s);
    *items = v;
    *n = k;
    return KB_OK;
}

enum kb_err kb_store_queue_done(struct kb_store *st, int64_t upto)
{
    return step_id(st, S_QUEUE_DONE, upto, "queue done");
}

enum kb_err kb_store_queue_all(struct kb_store *st)
{
    return step_id(st, S_QUEUE_ALL, (int64_t)time(NULL), "queue all");
}

size_t kb_store_queue_length(struct kb_store *st)
{
    sqlite3_stmt *s = stmt(st, S_QUEUE_LEN);
    size_t n = 0;
    if (s && sqlite3_step(s) == SQLITE_ROW)
        n = (size_t)sqlite3_column_int64(s, 0);
    if (s)
        sqlite3_reset(s);
    return n;
}

/* ---- search log ---------------------------------------------------------------------- */

enum kb_err kb_store_log_searches(struct kb_store *st, const struct kb_search_log_entry *e,
                                  size_t n)
{
    enum kb_err err = kb_store_begin(st);
    if (err)
        return err;
    for (size_t i = 0; i < n && !err; i++) {
        sqlite3_stmt *s = stmt(st, e[i].clicked_slug ? S_CLICK : S_LOG);
        if (!s) {
            err = KB_EDB;
            break;
        }
        sqlite3_bind_int64(s, 1, e[i].id);
        if (e[i].clicked_slug) {
            sqlite3_bind_text(s, 2, e[i].clicked_slug, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 3, e[i].at);
        } else {
            sqlite3_bind_int64(s, 2, e[i].at);
            sqlite3_bind_text(s, 3, e[i].query ? e[i].query : "", -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 4, e[i].lang ? e[i].lang : "", -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 5, e[i].results);
        }
        err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : db_fail(st, "search log");
        sqlite3_reset(s);
    }
    if (err) {
        kb_store_rollback(st);
        return err;
    }
    return kb_store_commit(st);
}

enum kb_err kb_store_counts(struct kb_store *st, int64_t *articles, int64_t *published,
                            int64_t *queue)
{
    sqlite3_stmt *s = stmt(st, S_COUNTS);
    if (!s)
        return KB_EDB;
    enum kb_err err = KB_OK;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *articles = sqlite3_column_int64(s, 0);
        *published = sqlite3_column_int64(s, 1);
        *queue = sqlite3_column_int64(s, 2);
    } else {
        err = db_fail(st, "counts");
    }
    sqlite3_reset(s);
    return err;
}

/* ---- synonyms ------------------------------------------------------------------------ */

enum kb_err kb_store_synonyms_put(struct kb_store *st, const char *lang, const char *body,
                                  bool *changed)
{
    sqlite3_stmt *s = stmt(st, S_SYN_PUT);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, lang, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : db_fail(st, "synonyms");
    sqlite3_reset(s);
    *changed = !err && sqlite3_changes(st->db) > 0;
    return err;
}

enum kb_err kb_store_synonyms_each(struct kb_store *st,
                                   enum kb_err (*fn)(void *ud, const char *lang,
                                                     const char *body),
                                   void *ud)
{
    sqlite3_stmt *s = stmt(st, S_SYN_LIST);
    if (!s)
        return KB_EDB;
    enum kb_err err = KB_OK;
    int rc;
    while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW)
        err = fn(ud, (const char *)sqlite3_column_text(s, 0),
                 (const char *)sqlite3_column_text(s, 1));
    sqlite3_reset(s);
    return err;
}
