/* kb/articles/indexer.c: replay the SQLite index queue into Xapian, and kb import's live indexer
 * (see indexer.h).
 *
 * Order matters for crash safety: read queue rows, put/delete the documents, commit Xapian,
 * and only then delete the queue rows in SQLite. A crash after the Xapian commit replays the
 * same rows next time, which is harmless since documents are replaced by article id.
 *
 * A rebuild (kb index --rebuild, or an index that must be rebuilt: unreadable, of an older
 * layout, or marked ahead) never empties the index readers see: it writes a new generation
 * beside the live one (search_index_open_new), from the articles themselves in batches of
 * INDEXER_BATCH, and publishes it when complete. It writes nothing to SQLite but the final
 * deletion of the queue rows it covered: every row there was when it started (it reads the
 * articles after), and the rows of changes made meanwhile, which it replays before
 * publishing; those are deleted only after the switch.
 *
 * The live indexer breaks "Xapian never ahead of SQLite": it commits batches of articles
 * whose store transaction is still open, so that a large import's memory stays bounded
 * while both run side by side. The index is marked ahead first (a commit of its own,
 * before any document), and the mark is cleared only once the store committed and every
 * document is in. Whoever opens the index next for writing and finds the mark (a crash, or
 * an import that failed after a batch) rebuilds it from the store. */
#include "kb/articles/indexer.h"

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

/* Put article id as the store has it now into idx, or delete it from idx when the store
 * no longer has it. */
static enum kb_err index_article(struct kb_store *st, struct search_index *idx, int64_t id)
{
    struct kb_article_row *r = NULL;
    enum kb_err err = kb_store_get_id(st, id, &r);
    if (!err)
        err = kb_article_render_row(r, KB_ARTICLE_TEXT);
    if (err == KB_ENOTFOUND)
        err = search_index_delete(idx, id);
    else if (!err)
        err = put_row(idx, r);
    kb_article_row_free(r);
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

/* Apply the queue rows above `after` to idx: rows of articles in skip (ids, ascending:
 * already indexed with their stored content) are only consumed. *upto receives the last row
 * applied (after when none), *total counts them. Each full batch is committed on its way,
 * so that memory stays bounded: normally with its queue rows deleted after it, so that a
 * crash replays only the rest; in bulk (a new generation, which nobody reads before it is
 * published) without waiting, the spelling data written once (search_index_flush), and
 * the rows left for the caller to delete once it is published. */
static enum kb_err replay(struct kb_store *st, struct search_index *idx, const int64_t *skip,
                          size_t nskip, int64_t after, bool bulk, int64_t *upto, size_t *total)
{
    struct kb_queue_item *items = NULL;
    enum kb_err err = KB_OK;
    *upto = after;
    *total = 0;
    for (;;) {
        size_t n = 0;
        free(items);
        items = NULL;
        err = kb_store_queue_fetch(st, *upto, INDEXER_BATCH, &items, &n);
        if (err)
            goto out;
        size_t before = *total;
        for (size_t i = 0; i < n && !err; i++) {
            *upto = items[i].qid;
            if (nskip && bsearch(&items[i].article_id, skip, nskip, sizeof *skip, cmp_id))
                continue;
            err = index_article(st, idx, items[i].article_id);
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
                err = kb_store_queue_done(st, *upto);
        }
        if (err)
            goto out;
    }
    if (err || bulk)
        goto out;
    err = search_index_commit(idx);
    if (!err && *upto > after)
        err = kb_store_queue_done(st, *upto);
out:
    free(items);
    return err;
}

/* Rebuild the index in index_dir from the store, in a new generation published when
 * complete (see the top of this file). *count (may be NULL): the articles indexed. */
static enum kb_err rebuild(struct kb_store *st, const char *index_dir, size_t *count)
{
    struct search_index *idx = NULL;
    int64_t *ids = NULL, start = 0, upto = 0, after = 0;
    size_t n = 0, indexed = 0, replayed = 0;
    /* The queue's end before any article is read: rows up to it are covered by the pass. */
    enum kb_err err = kb_store_queue_last(st, &start);
    if (!err)
        err = search_index_open_new(index_dir, store_articles(st), &idx);
    if (!err)
        err = kb_store_synonyms_each(st, load_synonyms, idx);
    while (!err) {
        free(ids);
        ids = NULL;
        err = kb_store_article_ids(st, after, INDEXER_BATCH, &ids, &n);
        for (size_t i = 0; i < n && !err; i++) {
            err = index_article(st, idx, ids[i]);
            indexed++;
        }
        if (err || n == 0)
            break;
        after = ids[n - 1];
        err = search_index_flush(idx); /* a batch's documents leave memory */
    }
    /* What changed while the articles were read. */
    if (!err)
        err = replay(st, idx, NULL, 0, start, true, &upto, &replayed);
    if (!err)
        err = search_index_publish(idx);
    if (!err && upto > 0)
        err = kb_store_queue_done(st, upto);
    free(ids);
    search_index_free(idx);
    if (!err && count)
        *count = indexed;
    return err;
}

enum kb_err kb_indexer_run(struct kb_store *st, const char *index_dir, bool synonyms,
                           size_t *applied)
{
    struct search_index *idx = NULL;
    size_t total = 0;
    int64_t upto = 0;
    if (applied)
        *applied = 0;
    enum kb_err err = search_index_open(index_dir, true, &idx);
    const char *why = err == KB_EINDEX ? "cannot be opened"
                      : err              ? NULL
                      : search_index_ahead(idx) ? "may hold articles of an unfinished import"
                      : search_index_outdated(idx) ? "layout changed"
                                                   : NULL;
    if (why) {
        /* Unreadable, written by an older kb, or by an import that did not finish: rebuilt
         * from the database, synonyms included, beside it. */
        kb_log(KB_LOG_INFO, "search index %s: rebuilding it from the database", why);
        search_index_free(idx); /* its lock: the rebuild takes it again */
        err = rebuild(st, index_dir, &total);
        if (!err && applied)
            *applied = total;
        goto done;
    }
    if (err)
        return err;
    if (!synonyms && kb_store_queue_length(st) == 0) {
        search_index_free(idx); /* nothing to do: no new revision either */
        return KB_OK;
    }
    if (synonyms)
        err = kb_store_synonyms_each(st, load_synonyms, idx);
    if (!err)
        err = replay(st, idx, NULL, 0, 0, false, &upto, &total);
    if (!err)
        err = search_index_merge(idx); /* an index written in shards: one to search */
    if (!err && applied)
        *applied = total;
    search_index_free(idx);
done:
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
    int64_t upto = 0;
    enum kb_err err = KB_OK;
    if (ix->nids)
        qsort(ix->ids, ix->nids, sizeof *ix->ids, cmp_id);
    if (synonyms || ix->cleared)
        err = kb_store_synonyms_each(st, load_synonyms, ix->idx);
    if (!err)
        err = replay(st, ix->idx, ix->ids, ix->nids, 0, false, &upto, &total); /* commits */
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
    enum kb_err err = rebuild(st, index_dir, count);
    if (err)
        kb_log(KB_LOG_ERROR, "rebuilding the index failed: %s", kb_strerror(err));
    return err;
}
