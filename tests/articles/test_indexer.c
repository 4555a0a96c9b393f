/* tests/kb/test_indexer.c: kb import indexes while it stores (kb_indexer_begin ...), in
 * batches committed before the store's transaction: what a reader of the index sees after a
 * finished import, an import that failed after a batch, and a crash after a batch. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tests/testfs.h"

#include "kb/articles/import.h"
#include "kb/articles/indexer.h"
#include "kb/store/articles.h"
#include "kb/store/queue.h"
#include "search/search.h"

/* More than one indexer batch (500 articles, kb/articles/indexer.c), so that batches are committed
 * mid-import. */
#define MANY 2100

struct fixture {
    char dir[256];
    char db[300], index[310], content[300];
    struct kb_store *st;
    FILE *devnull;
};

/* The articles of a second, large import: each names its number and a model. */
static void write_many(struct fixture *fx)
{
    static const char *const models[] = {"Cassiopée", "Orion", "Véga", "Altaïr"};
    for (int i = 0; i < MANY; i++) {
        char rel[64], text[512];
        snprintf(rel, sizeof rel, "articles/fr/flotte/lot%02d/fiche-%d.md", i / 100, i);
        snprintf(text, sizeof text,
                 "---\ntitle: Fiche entretien %d de la %s\ncategory: Flotte\n---\n"
                 "Intervalle de révision de la %s numéro %d : tous les %d km.\n",
                 i, models[i % 4], models[i % 4], i, 10000 + 5000 * (i % 3));
        testfs_write(fx->content, rel, text);
    }
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/kb-test-indexer-XXXXXX");
    if (!fx || !mkdtemp(fx->dir))
        return -1;
    snprintf(fx->db, sizeof fx->db, "%s/kb.db", fx->dir);
    snprintf(fx->index, sizeof fx->index, "%s/kb.db.index", fx->dir);
    snprintf(fx->content, sizeof fx->content, "%s/content", fx->dir);
    testfs_write(fx->content, "articles/fr/apres-vente/rendez-vous.md",
               "---\ntitle: Prendre rendez-vous pour la révision\ncategory: Après-vente\n---\n"
               "Appelez l'atelier ou réservez en ligne.\n");
    testfs_write(fx->content, "articles/fr/garantie/extension.md",
               "---\ntitle: Prolonger la garantie\ncategory: Garantie\n---\n"
               "La garantie constructeur se prolonge jusqu'à 7 ans.\n");
    testfs_write(fx->content, "articles/en/recalls/vehicle-recall.md",
               "---\ntitle: Vehicle recalls\ncategory: Recalls\n---\nCheck your VIN.\n");
    fx->devnull = fopen("/dev/null", "w");
    if (!fx->devnull || kb_store_open(fx->db, false, &fx->st))
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    kb_store_free(fx->st);
    fclose(fx->devnull);
    int rc = testfs_rm_rf(fx->dir);
    free(fx);
    return rc;
}

/* kb import as cmd_import runs it: live indexer when the index can be had. */
static enum kb_err import(struct fixture *fx, const struct kb_import_hook *hook,
                          struct kb_indexer *live, struct kb_import_report *rep)
{
    enum kb_err err = kb_import_dir(fx->st, fx->content, "fr", fx->devnull, rep, hook);
    if (err)
        return err;
    return kb_indexer_finish(live, fx->st, rep->synonyms > 0, NULL);
}

static size_t indexed(struct fixture *fx)
{
    struct search_index *r = NULL;
    assert_int_equal(search_index_open(fx->index, false, &r), KB_OK);
    size_t n = search_index_count(r);
    search_index_free(r);
    return n;
}

static bool marked(struct fixture *fx)
{
    struct search_index *w = NULL;
    assert_int_equal(search_index_open(fx->index, true, &w), KB_OK);
    bool ahead = search_index_ahead(w);
    search_index_free(w);
    return ahead;
}

/* The scores of a query's first 10 results, with the slug of each whose score no other
 * result shares, as one string. Among equal scores the order follows docids, which a merge
 * of shards numbers differently from a rebuild (search/writer.cc), and a tie may go on past
 * the 10th result. */
static char *ranking(struct fixture *fx, const char *text)
{
    struct search_index *r = NULL;
    assert_int_equal(search_index_open(fx->index, false, &r), KB_OK);
    struct search_query q = {.text = text, .lang = "fr", .scope = SEARCH_SCOPE_PUBLIC,
                             .limit = 10};
    struct search_result *res = NULL;
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    assert_non_null(f);
    fprintf(f, "%zu:", res->total);
    const struct search_hit *h = res->hits;
    for (size_t i = 0; i < res->nhits; i++) {
        bool tie = (i > 0 && h[i - 1].score == h[i].score) ||
                   (i + 1 < res->nhits && h[i + 1].score == h[i].score) ||
                   (res->total > res->nhits && h[res->nhits - 1].score == h[i].score);
        fprintf(f, " %s=%.9g", tie ? "(tie)" : h[i].slug, h[i].score);
    }
    fclose(f);
    search_result_free(res);
    search_index_free(r);
    return out;
}

static void first_import(struct fixture *fx)
{
    struct kb_indexer *live = NULL;
    struct kb_import_report rep;
    assert_int_equal(kb_indexer_begin(fx->index, &live), KB_OK);
    struct kb_import_hook hook = {kb_indexer_planned, kb_indexer_stored, live};
    assert_int_equal(import(fx, &hook, live, &rep), KB_OK);
    assert_int_equal(rep.created, 3);
    assert_int_equal(indexed(fx), 3);
}

/* Plans for a corpus large enough to be written in parallel shards (then merged). */
static enum kb_err plan_large(void *ud, size_t files)
{
    (void)files;
    return kb_indexer_planned(ud, 100000);
}

static void live_import_matches_a_rebuild(void **state)
{
    struct fixture *fx = *state;
    write_many(fx);
    struct kb_indexer *live = NULL;
    struct kb_import_report rep;
    assert_int_equal(kb_indexer_begin(fx->index, &live), KB_OK);
    struct kb_import_hook hook = {plan_large, kb_indexer_stored, live};
    assert_int_equal(import(fx, &hook, live, &rep), KB_OK);
    assert_int_equal(rep.created, MANY + 3);
    assert_int_equal(indexed(fx), MANY + 3);
    assert_false(marked(fx));
    char shard[400];
    snprintf(shard, sizeof shard, "%s/shard1", fx->index);
    struct stat sb;
    assert_int_equal(stat(shard, &sb), -1); /* written in two shards, merged into one */

    struct search_index *r = NULL;
    assert_int_equal(search_index_open(fx->index, false, &r), KB_OK);
    struct search_query q = {.text = "révision Orion numéro 1337", .lang = "fr",
                             .scope = SEARCH_SCOPE_PUBLIC, .limit = 3};
    struct search_result *res = NULL;
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    assert_true(res->nhits >= 1);
    assert_string_equal(res->hits[0].slug, "fiche-1337");
    search_result_free(res);
    /* Spelling data of every batch reached the index (it waits for the last commit). */
    struct search_query typo = {.text = "entretein", .lang = "fr",
                                .scope = SEARCH_SCOPE_PUBLIC, .limit = 3};
    assert_int_equal(search_run(r, &typo, &res), KB_OK);
    assert_non_null(res->did_you_mean);
    assert_string_equal(res->did_you_mean, "entretien");
    search_result_free(res);
    search_index_free(r);

    /* The documents the live indexer built are the ones a rebuild builds from the rows:
     * same results, same scores, same order. */
    const char *queries[] = {"garantie prolonger", "révision Véga numéro 1802",
                             "fiche entretien 77 Cassiopée", "rendez-vous atelier"};
    char *before[4];
    for (size_t i = 0; i < 4; i++)
        before[i] = ranking(fx, queries[i]);
    size_t n = 0;
    assert_int_equal(kb_indexer_rebuild(fx->st, fx->index, &n), KB_OK);
    assert_int_equal(n, MANY + 3);
    for (size_t i = 0; i < 4; i++) {
        char *after = ranking(fx, queries[i]);
        assert_string_equal(before[i], after);
        free(before[i]);
        free(after);
    }
}

/* A hook that lets the import fail after `left` articles, past the first committed batch. */
struct failing {
    struct kb_indexer *live;
    int left;
};

static enum kb_err fail_late(void *ud, const struct kb_article *a, const struct kb_put_info *put)
{
    struct failing *f = ud;
    if (f->left-- == 0)
        return KB_EIO;
    return kb_indexer_stored(f->live, a, put);
}

static enum kb_err plan(void *ud, size_t files)
{
    return kb_indexer_planned(((struct failing *)ud)->live, files);
}

/* After a first import of 3 articles, an import of MANY more that fails 50 short of the end,
 * past its first committed batch. Returns its live indexer, still to abort. */
static struct kb_indexer *import_failing_late(struct fixture *fx)
{
    first_import(fx);
    write_many(fx);
    struct failing fl = {NULL, MANY - 50};
    assert_int_equal(kb_indexer_begin(fx->index, &fl.live), KB_OK);
    struct kb_import_hook hook = {plan, fail_late, &fl};
    struct kb_import_report rep;
    assert_int_equal(kb_import_dir(fx->st, fx->content, "fr", fx->devnull, &rep, &hook),
                     KB_EIO);
    return fl.live;
}

/* Articles in the store. */
static size_t stored(struct fixture *fx)
{
    int64_t articles = 0, published = 0, queue = 0;
    assert_int_equal(kb_store_counts(fx->st, &articles, &published, &queue), KB_OK);
    return (size_t)articles;
}

static void failed_import_leaves_the_index_as_the_store(void **state)
{
    struct fixture *fx = *state;
    struct kb_indexer *live = import_failing_late(fx);
    /* The import committed in short batches (so that a running server's writes never wait
     * for all of it): the batches written before the failure stay (the failing one too: a
     * batch is written, then handed to the indexer), and so does their index; the files
     * after it were never written. */
    size_t n = stored(fx);
    assert_true(n > 3 && n <= MANY + 3);
    kb_indexer_abort(live, fx->st);
    assert_int_equal(indexed(fx), n);
    assert_false(marked(fx));
}

static void crash_after_a_batch_is_repaired(void **state)
{
    struct fixture *fx = *state;
    struct kb_indexer *live = import_failing_late(fx);
    /* What a crash leaves: the batches before it committed to the index, the mark still
     * on. */
    kb_indexer_abort(live, NULL);
    assert_true(indexed(fx) >= 2000 + 3);
    assert_true(marked(fx));
    /* The next writer (kb serve's start-up repair, kb import, kb index) rebuilds. */
    size_t applied = 0, n = stored(fx);
    assert_int_equal(kb_indexer_run(fx->st, fx->index, false, &applied), KB_OK);
    assert_true(applied >= n); /* the batches' own queue rows, and the rebuild's */
    assert_int_equal(indexed(fx), n);
    assert_false(marked(fx));
}

/* What a crash in the middle of merging shards can leave: tables that do not match the
 * version file. The next writer rebuilds the index from the store. */
static void unreadable_index_is_rebuilt(void **state)
{
    struct fixture *fx = *state;
    first_import(fx);
    char path[400];
    snprintf(path, sizeof path, "%s/postlist.glass", fx->index);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a Xapian table", f);
    fclose(f);
    struct search_index *r = NULL;
    assert_int_not_equal(search_index_open(fx->index, false, &r), KB_OK);
    size_t applied = 0;
    assert_int_equal(kb_indexer_run(fx->st, fx->index, false, &applied), KB_OK);
    assert_int_equal(applied, 3);
    assert_int_equal(indexed(fx), 3);
    char *top = ranking(fx, "prolonger garantie");
    assert_non_null(strstr(top, "extension="));
    free(top);
}

static bool exists(struct fixture *fx, const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", fx->index, name);
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* kb index --rebuild writes a new generation beside the live index and switches to it when
 * it is complete: a reader opened before answers from the old index until it reopens, then
 * from the new one, which has the changes still queued when the rebuild started; the queue
 * rows it covered are gone, the previous generation too. */
static void rebuild_beside_the_live_index(void **state)
{
    struct fixture *fx = *state;
    first_import(fx);
    struct search_index *r = NULL;
    assert_int_equal(search_index_open(fx->index, false, &r), KB_OK);
    /* A change stored but not indexed yet (an import without its live indexer). */
    testfs_write(fx->content, "articles/fr/garantie/extension.md",
                 "---\ntitle: Prolonger la garantie jusqu'à dix ans\ncategory: Garantie\n---\n"
                 "La garantie constructeur se prolonge jusqu'à 10 ans.\n");
    struct kb_import_report rep;
    assert_int_equal(kb_import_dir(fx->st, fx->content, "fr", fx->devnull, &rep, NULL), KB_OK);
    assert_true(kb_store_queue_length(fx->st) > 0);
    size_t n = 0;
    assert_int_equal(kb_indexer_rebuild(fx->st, fx->index, &n), KB_OK);
    assert_int_equal(n, 3);
    assert_int_equal(kb_store_queue_length(fx->st), 0);
    assert_true(exists(fx, "current"));
    assert_true(exists(fx, "g1"));
    assert_false(exists(fx, "iamglass")); /* the index first imported, in the directory */
    char *top = ranking(fx, "dix ans garantie");
    assert_non_null(strstr(top, "extension="));
    free(top);
    /* The reader opened before the switch: still the old index, then the new one. */
    struct search_query q = {.text = "dix", .lang = "fr", .scope = SEARCH_SCOPE_PUBLIC};
    struct search_result *res = NULL;
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    assert_int_equal(res->nhits, 0);
    search_result_free(res);
    assert_int_equal(search_index_reopen(r), KB_OK);
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    assert_int_equal(res->nhits, 1);
    search_result_free(res);
    search_index_free(r);
    /* Again: the next generation replaces this one. */
    assert_int_equal(kb_indexer_rebuild(fx->st, fx->index, &n), KB_OK);
    assert_true(exists(fx, "g2"));
    assert_false(exists(fx, "g1"));
    assert_int_equal(indexed(fx), 3);
    /* A generation gone missing is rebuilt by the next writer. */
    char gen[400];
    snprintf(gen, sizeof gen, "%s/g2", fx->index);
    assert_int_equal(testfs_rm_rf(gen), 0);
    size_t applied = 0;
    assert_int_equal(kb_indexer_run(fx->st, fx->index, false, &applied), KB_OK);
    assert_int_equal(applied, 3);
    assert_int_equal(indexed(fx), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(live_import_matches_a_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_import_leaves_the_index_as_the_store, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(crash_after_a_batch_is_repaired, setup, teardown),
        cmocka_unit_test_setup_teardown(unreadable_index_is_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(rebuild_beside_the_live_index, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
