/* kb/articles/indexer.c: replay the SQLite index queue into Xapian, and kb import's live indexer
 * (see indexer.h).
 *
 * Order matters for crash safety: read queue rows, put/delete the documents, commit Xapian,
 * and only then delete the queue rows in SQLite. A crash after the Xapian commit replays the
 * same rows next time, which is harmless since documents are replaced by article id.
 *
 * The live indexer breaks "Xapian never ahead of SQLite": it commits batches of articles
 * whose store transaction is still open, so that a large import's memory stays bounded
 * while both run side by side. The index is marked ahead first (a commit of its own,
 * before any document), and the mark is cleared only once the store committed and every
 * document is in. Whoever opens the index next for writing and finds the mark (a crash, or
 * an import that failed after a batch) rebuilds it from the store. */
#include "kb/articles/indexer.h"

#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kb/articles/article.h"
#include "kb/base/buf.h"
#include "kb/base/log.h"
#include "kb/store/queue.h"
#include "kb/store/synonyms.h"
#include "search/search.h"

/* Articles per index commit. Xapian holds a commit's postings in maps (a node per posting)
 * until it writes them: with 2,000 articles (1,000 per shard) they outgrew the caches; with
 * 500, 50,000-article imports took 0.87x the time (runs alternated: mean of 7, 25.1 s, against
 * 28.8 s for 5). Below that, each commit's fsyncs cost more than it saves (250: +10%). */
#define INDEXER_BATCH 500

char *kb_indexer_dir_for(const char *db_path)
{
    struct kb_buf b;
    kb_buf_init(&b, 4096);
    if (kb_buf_printf(&b, "%s.index", db_path)) {
        kb_buf_release(&b);
        return NULL;
    }
    return kb_buf_detach(&b);
}

/* JSON array of strings (as stored) to a borrowed-pointer vector into `owner`. */
static const char **json_strings(const char *json, json_t **owner, size_t *n)
{
    *n = 0;
    *owner = json_loads(json, 0, NULL);
    if (!*owner || !json_is_array(*owner))
        return NULL;
    size_t k = json_array_size(*owner);
    const char **v = calloc(k ? k : 1, sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < k; i++) {
        const char *s = json_string_value(json_array_get(*owner, i));
        if (s)
            v[(*n)++] = s;
    }
    return v;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static enum kb_err put_row(struct search_index *idx, const struct kb_article_row *r)
{
    json_t *jt = NULL, *jq = NULL;
    struct search_doc d = {
        .id = r->id,
        .slug = r->slug,
        .title = r->title,
        .lang = r->lang,
        .category = r->category,
        .audience = r->audience,
        .status = r->status,
        .body = r->text,
        .popularity = (double)r->views,
        .updated_at = r->updated_at,
    };
    const char **tags = json_strings(r->tags, &jt, &d.ntags);
    const char **qs = json_strings(r->questions, &jq, &d.nquestions);
    d.tags = tags;
    d.questions = qs;
    enum kb_err err = search_index_put(idx, &d);
    free(tags);
    free(qs);
    json_decref(jt);
    json_decref(jq);
    return err;
}

/* Load one stored synonyms text: the search API reads files, so hand it a private copy. */
static enum kb_err load_synonyms(void *ud, const char *lang, const char *body)
{
    struct search_index *idx = ud;
    char path[] = "/tmp/kb-synonyms-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return KB_EIO;
    size_t n = strlen(body);
    enum kb_err err = KB_OK;
    if (write(fd, body, n) != (ssize_t)n)
        err = KB_EIO;
    close(fd);
    if (!err)
        err = search_synonyms_load(idx, lang, path);
    unlink(path);
    return err;
}

/* How many articles the store holds: what a rebuilt index is laid out for. */
static size_t store_articles(struct kb_store *st)
{
    int64_t articles = 0, published = 0, queue = 0;
    if (kb_store_counts(st, &articles, &published, &queue) != KB_OK || articles < 0)
        return 0;
    return (size_t)articles;
}

/* Queue every article in one transaction. */
static enum kb_err requeue_all(struct kb_store *st)
{
    enum kb_err err = kb_store_begin(st);
    if (err)
        return err;
    err = kb_store_queue_all(st);
    if (err) {
        kb_store_rollback(st);
        return err;
    }
    return kb_store_commit(st);
}

/* Apply the queue to idx: rows of articles in skip (ids, ascending: already indexed with
 * their stored content) are only consumed. Commits, deletes the applied rows; *total counts
 * the rows applied. Each full batch is committed on its way, so that memory stays bounded:
 * normally with its queue rows deleted after it, so that a crash replays only the rest; in
 * bulk (a rebuild, under the "ahead" mark: a crash starts it again) without waiting, the
 * rows all deleted at the end, and the spelling data written once (search_index_flush). */
static enum kb_err replay(struct kb_store *st, struct search_index *idx, const int64_t *skip,
                          size_t nskip, bool bulk, size_t *total)
{
    struct kb_queue_item *items = NULL;
    int64_t upto = 0;
    enum kb_err err = KB_OK;
    *total = 0;
    for (;;) {
        size_t n = 0;
        free(items);
        items = NULL;
        err = kb_store_queue_fetch(st, upto, INDEXER_BATCH, &items, &n);
        if (err)
            goto out;
        size_t before = *total;
        for (size_t i = 0; i < n && !err; i++) {
            upto = items[i].qid;
            if (nskip && bsearch(&items[i].article_id, skip, nskip, sizeof *skip, cmp_id))
                continue;
            struct kb_article_row *r = NULL;
            err = kb_store_get_id(st, items[i].article_id, &r);
            if (!err)
                err = kb_article_render_row(r, KB_ARTICLE_TEXT);
            if (err == KB_ENOTFOUND)
                err = search_index_delete(idx, items[i].article_id);
            else if (!err)
                err = put_row(idx, r);
            kb_article_row_free(r);
            (*total)++;
        }
        if (err || n < INDEXER_BATCH)
            break;
        /* A batch the live import had all applied leaves its rows to the final deletion: a
         * transaction per batch, each with its fsync, was 0.3 s of a 50,000-article import. */
        if (bulk) {
            err = search_index_flush(idx);
        } else if (*total > before) {
            err = search_index_commit(idx);
            if (!err)
                err = kb_store_queue_done(st, upto);
        }
        if (err)
            goto out;
    }
    if (err)
        goto out;
    err = search_index_commit(idx);
    if (!err && upto)
        err = kb_store_queue_done(st, upto);
out:
    free(items);
    return err;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Open the index for writing. The index is derived data: one that Xapian cannot open (a
 * crash in the middle of a merge of shards, a damaged disk block) is removed, created empty
 * and *wiped set, for the caller to rebuild it from the store. A lock held by another
 * writer is only reported. */
static enum kb_err open_writer(const char *dir, struct search_index **idx, bool *wiped)
{
    *wiped = false;
    enum kb_err err = search_index_open(dir, true, idx);
    if (err != KB_EINDEX)
        return err;
    kb_log(KB_LOG_WARN, "search index %s cannot be opened: removing it, to rebuild it from "
                        "the database", dir);
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return KB_EIO;
    *wiped = true;
    return search_index_open(dir, true, idx);
}

enum kb_err kb_indexer_run(struct kb_store *st, const char *index_dir, bool synonyms,
                           size_t *applied)
{
    struct search_index *idx = NULL;
    size_t total = 0;
    bool wiped = false, rebuild = false;
    if (applied)
        *applied = 0;
    enum kb_err err = open_writer(index_dir, &idx, &wiped);
    if (err)
        return err;
    bool ahead = search_index_ahead(idx);
    if (wiped || ahead || search_index_outdated(idx)) {
        /* Unreadable, written by an older kb, or by an import that did not finish: rebuild
         * it from the database, synonyms included. */
        kb_log(KB_LOG_INFO, "search index %s: rebuilding it from the database",
               wiped ? "was removed" : ahead ? "may hold articles of an unfinished import"
                                             : "layout changed");
        err = search_index_clear(idx, store_articles(st));
        if (!err) /* the mark again, on disk before any document: a crash starts over */
            err = search_index_set_ahead(idx, true);
        if (!err)
            err = search_index_commit(idx);
        if (!err)
            err = requeue_all(st);
        if (err)
            goto out;
        synonyms = true;
        rebuild = true;
    } else if (!synonyms && kb_store_queue_length(st) == 0) {
        search_index_free(idx); /* nothing to do: no new revision either */
        return KB_OK;
    }
    if (synonyms) {
        err = kb_store_synonyms_each(st, load_synonyms, idx);
        if (err)
            goto out;
    }
    err = replay(st, idx, NULL, 0, rebuild, &total);
    if (!err)
        err = search_index_merge(idx); /* a rebuild written in shards: one to search */
    if (!err && rebuild) {
        err = search_index_set_ahead(idx, false);
        if (!err)
            err = search_index_commit(idx);
    }
    if (!err && applied)
        *applied = total;
out:
    search_index_free(idx);
    if (err)
        kb_log(KB_LOG_ERROR, "indexing failed: %s", kb_strerror(err));
    return err;
}

/* ---- kb import's live indexer ---------------------------------------------------------- */

struct kb_indexer {
    char *dir;
    struct search_index *idx;
    int64_t *ids; /* articles indexed here */
    size_t nids, cap;
    size_t unflushed;
    bool marked;  /* our "ahead" mark is on disk */
    bool cleared; /* laid out again for the import: synonyms must be loaded again */
    bool flushed; /* a batch was committed: the index may be ahead of the store */
};

enum kb_err kb_indexer_begin(const char *index_dir, struct kb_indexer **out)
{
    *out = NULL;
    struct kb_indexer *ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->dir = strdup(index_dir))) {
        free(ix);
        return KB_ENOMEM;
    }
    enum kb_err err = search_index_open(index_dir, true, &ix->idx);
    if (!err && (search_index_ahead(ix->idx) || search_index_outdated(ix->idx)))
        err = KB_EBUSY; /* to be rebuilt first: kb_indexer_run after the import does it */
    if (!err)
        err = search_index_set_ahead(ix->idx, true);
    if (!err)
        err = search_index_commit(ix->idx); /* the mark is on disk before any document */
    if (err) {
        search_index_free(ix->idx);
        free(ix->dir);
        free(ix);
        return err;
    }
    ix->marked = true;
    *out = ix;
    return KB_OK;
}

enum kb_err kb_indexer_planned(void *ud, size_t files)
{
    struct kb_indexer *ix = ud;
    /* A first import: lay the empty index out for what is coming (shards). */
    if (files == 0 || search_index_count(ix->idx) > 0)
        return KB_OK;
    enum kb_err err = search_index_clear(ix->idx, files);
    if (!err)
        err = search_index_set_ahead(ix->idx, true);
    if (!err)
        err = search_index_commit(ix->idx);
    ix->cleared = true;
    return err;
}

enum kb_err kb_indexer_stored(void *ud, const struct kb_article *a,
                              const struct kb_put_info *put)
{
    struct kb_indexer *ix = ud;
    /* Only new articles: an update's popularity is in its row, the queue replay reads it. */
    if (put->res != KB_PUT_CREATED)
        return KB_OK;
    if (ix->nids == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 1024;
        int64_t *v = realloc(ix->ids, cap * sizeof *v);
        if (!v)
            return KB_ENOMEM;
        ix->ids = v;
        ix->cap = cap;
    }
    /* The same document put_row builds from the row the store just wrote. */
    struct search_doc d = {
        .id = put->id,
        .slug = a->slug,
        .title = a->title,
        .lang = a->lang,
        .category = a->category,
        .audience = a->audience,
        .status = a->status,
        .tags = (const char *const *)a->tags,
        .ntags = a->ntags,
        .questions = (const char *const *)a->questions,
        .nquestions = a->nquestions,
        .body = a->text,
        .popularity = 0,
        .updated_at = put->at,
    };
    enum kb_err err = search_index_put(ix->idx, &d);
    if (err)
        return err;
    ix->ids[ix->nids++] = put->id;
    if (++ix->unflushed >= INDEXER_BATCH) {
        err = search_index_flush(ix->idx);
        ix->unflushed = 0;
        ix->flushed = true;
    }
    return err;
}

/* Free ix after a failure. The index is left right for the store as it now is: when a batch
 * may have reached the disk, or the store committed, it is rebuilt from the store; when only
 * our mark did, the mark is taken back. */
static void drop(struct kb_indexer *ix, struct kb_store *st, bool store_committed)
{
    search_index_free(ix->idx); /* discards what was not committed */
    enum kb_err err = KB_OK;
    if (!st) {
        /* No store to rebuild from: the mark stays, the next writer rebuilds. */
    } else if (ix->marked && (ix->flushed || store_committed)) {
        err = kb_indexer_run(st, ix->dir, true, NULL); /* sees the mark: rebuilds */
    } else if (ix->marked) {
        struct search_index *idx = NULL;
        err = search_index_open(ix->dir, true, &idx);
        if (!err)
            err = search_index_set_ahead(idx, false);
        if (!err)
            err = search_index_commit(idx);
        search_index_free(idx);
    }
    if (err)
        kb_log(KB_LOG_WARN, "search index left marked for a rebuild: %s", kb_strerror(err));
    free(ix->ids);
    free(ix->dir);
    free(ix);
}

enum kb_err kb_indexer_finish(struct kb_indexer *ix, struct kb_store *st, bool synonyms,
                              size_t *applied)
{
    size_t total = 0;
    enum kb_err err = KB_OK;
    if (ix->nids)
        qsort(ix->ids, ix->nids, sizeof *ix->ids, cmp_id);
    if (synonyms || ix->cleared)
        err = kb_store_synonyms_each(st, load_synonyms, ix->idx);
    if (!err)
        err = replay(st, ix->idx, ix->ids, ix->nids, false, &total); /* commits all */
    if (!err)
        err = search_index_merge(ix->idx);
    if (!err)
        err = search_index_set_ahead(ix->idx, false);
    if (!err)
        err = search_index_commit(ix->idx);
    if (err) {
        /* The store has committed: a rebuild from it is always right. */
        kb_log(KB_LOG_ERROR, "indexing failed: %s", kb_strerror(err));
        drop(ix, st, true);
        return err;
    }
    if (applied)
        *applied = ix->nids + total;
    search_index_free(ix->idx);
    free(ix->ids);
    free(ix->dir);
    free(ix);
    return KB_OK;
}

void kb_indexer_abort(struct kb_indexer *ix, struct kb_store *st)
{
    if (ix)
        drop(ix, st, false);
}

enum kb_err kb_indexer_rebuild(struct kb_store *st, const char *index_dir, size_t *count)
{
    /* Mark the index for a rebuild, which the run then does (clear, requeue, bulk replay). */
    struct search_index *idx = NULL;
    bool wiped = false;
    enum kb_err err = open_writer(index_dir, &idx, &wiped);
    if (err)
        return err;
    err = search_index_set_ahead(idx, true);
    if (!err)
        err = search_index_commit(idx);
    search_index_free(idx);
    if (!err)
        err = kb_indexer_run(st, index_dir, true, count);
    return err;
}
