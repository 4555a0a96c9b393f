/* kb/store/queue.c: the index queue (see queue.h for the invariant).
 *
 *   index_queue(id, article_id, queued_at) */
#include "kb/store/queue.h"

#include <stdlib.h>

#include <sqlite3.h>

#include "kb/store/store_int.h"

static const char SQL_QUEUE[] =
    "INSERT INTO index_queue(article_id, queued_at) VALUES (?1, ?2)";

static const char SQL_QUEUE_FETCH[] =
    "SELECT id, article_id FROM index_queue WHERE id > ?2 ORDER BY id LIMIT ?1";

static const char SQL_QUEUE_DONE[] =
    "DELETE FROM index_queue WHERE id <= ?1";

static const char SQL_QUEUE_LAST[] =
    "SELECT coalesce(max(id), 0) FROM index_queue";

static const char SQL_ARTICLE_IDS[] =
    "SELECT id FROM articles WHERE id > ?2 ORDER BY id LIMIT ?1";

static const char SQL_QUEUE_LEN[] =
    "SELECT count(*) FROM index_queue";

enum kb_err kb_store_queue_article(struct kb_store *st, int64_t id, int64_t now)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_QUEUE);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "queue");
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_queue_fetch(struct kb_store *st, int64_t after, size_t max,
                                 struct kb_queue_item **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_QUEUE_FETCH);
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
    return kb_store_step_id(st, SQL_QUEUE_DONE, upto, "queue done");
}

enum kb_err kb_store_queue_last(struct kb_store *st, int64_t *qid)
{
    *qid = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_QUEUE_LAST);
    if (!s)
        return KB_EDB;
    enum kb_err err = KB_OK;
    if (sqlite3_step(s) == SQLITE_ROW)
        *qid = sqlite3_column_int64(s, 0);
    else
        err = kb_store_fail(st, "queue last");
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_article_ids(struct kb_store *st, int64_t after, size_t max, int64_t **ids,
                                 size_t *n)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_ARTICLE_IDS);
    if (!s)
        return KB_EDB;
    int64_t *v = calloc(max ? max : 1, sizeof *v);
    if (!v)
        return KB_ENOMEM;
    sqlite3_bind_int64(s, 1, (int64_t)max);
    sqlite3_bind_int64(s, 2, after);
    int rc = SQLITE_ROW;
    size_t k = 0;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        v[k++] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        free(v);
        return kb_store_fail(st, "article ids");
    }
    *ids = v;
    *n = k;
    return KB_OK;
}

size_t kb_store_queue_length(struct kb_store *st)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_QUEUE_LEN);
    size_t n = 0;
    if (s && sqlite3_step(s) == SQLITE_ROW)
        n = (size_t)sqlite3_column_int64(s, 0);
    if (s)
        sqlite3_reset(s);
    return n;
}

