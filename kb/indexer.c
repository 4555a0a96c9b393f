/* kb/indexer.c: replay the SQLite index queue into Xapian (see indexer.h).
 *
 * Order matters for crash safety: read queue rows, put/delete the documents, commit Xapian,
 * and only then delete the queue rows in SQLite. A crash after the Xapian commit replays the
 * same rows next time, which is harmless since documents are replaced by article id. */
#include "kb/indexer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kb/buf.h"
#include "kb/log.h"
#include "search/search.h"

#define INDEXER_BATCH 2000

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

enum kb_err kb_indexer_run(struct kb_store *st, const char *index_dir, bool synonyms,
                           size_t *applied)
{
    struct search_index *idx = NULL;
    struct kb_queue_item *items = NULL;
    size_t total = 0;
    int64_t upto = 0;
    if (applied)
        *applied = 0;
    enum kb_err err = search_index_open(index_dir, true, &idx);
    if (err)
        return err;
    if (search_index_outdated(idx)) {
        /* Written by an older kb: rebuild it from the database, synonyms included. */
        kb_log(KB_LOG_INFO, "search index layout changed: rebuilding it from the database");
        err = search_index_clear(idx);
        if (!err)
            err = requeue_all(st);
        if (err)
            goto out;
        synonyms = true;
    } else if (!synonyms && kb_store_queue_length(st) == 0) {
        search_index_free(idx); /* nothing to do: no new revision either */
        return KB_OK;
    }
    if (synonyms) {
        err = kb_store_synonyms_each(st, load_synonyms, idx);
        if (err)
            goto out;
    }
    /* Read the queue in batches past the last applied id; rows are deleted only after the
     * Xapian commit below. */
    for (;;) {
        size_t n = 0;
        free(items);
        items = NULL;
        err = kb_store_queue_fetch(st, INDEXER_BATCH, &items, &n);
        if (err)
            goto out;
        size_t fresh = 0;
        for (size_t i = 0; i < n && !err; i++) {
            if (items[i].qid <= upto)
                continue;
            fresh++;
            struct kb_article_row *r = NULL;
            err = kb_store_get_id(st, items[i].article_id, &r);
            if (err == KB_ENOTFOUND)
                err = search_index_delete(idx, items[i].article_id);
            else if (!err)
                err = put_row(idx, r);
            kb_article_row_free(r);
            upto = items[i].qid;
            total++;
        }
        if (err)
            goto out;
        if (fresh == 0)
            break;
        /* A full batch: commit it to Xapian, then drop its queue rows, so that memory stays
         * bounded on large imports and the next fetch moves on. */
        if (n < INDEXER_BATCH)
            break;
        err = search_index_commit(idx);
        if (!err)
            err = kb_store_queue_done(st, upto);
        if (err)
            goto out;
    }
    err = search_index_commit(idx);
    if (!err && upto)
        err = kb_store_queue_done(st, upto);
    if (!err && applied)
        *applied = total;
out:
    free(items);
    search_index_free(idx);
    if (err)
        kb_log(KB_LOG_ERROR, "indexing failed: %s", kb_strerror(err));
    return err;
}

enum kb_err kb_indexer_rebuild(struct kb_store *st, const char *index_dir, size_t *count)
{
    struct search_index *idx = NULL;
    enum kb_err err = search_index_open(index_dir, true, &idx);
    if (err)
        return err;
    err = search_index_clear(idx);
    if (!err)
        err = search_index_commit(idx);
    search_index_free(idx);
    if (err)
        return err;
    err = requeue_all(st);
    if (!err)
        err = kb_indexer_run(st, index_dir, true, count);
    return err;
}
