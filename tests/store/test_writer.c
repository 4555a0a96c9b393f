/* tests/store: the grouped writer thread: jobs commit in order, grouped; a failing job takes
 * nothing else with it; `done` runs after the commit (another connection sees the write); many
 * producer threads at once (run under ThreadSanitizer too); the WAL stays bounded by the
 * checkpointer thread, the writer's commits running none. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "kb/store/conversations.h"
#include "tests/testfs.h"
/* The writer itself, with marks small enough for the WAL's bound to show in a few seconds
 * (this object's definitions stand in for the library's writer.o, which is not linked). */
#define CHECKPOINT_PAGES 250
#define WAL_RESTART_PAGES 2048
#include "kb/store/writer.c"

#define PRODUCERS 4
#define PER_PRODUCER 500

struct test_job {
    int64_t conv, seq;
    bool fail;
    enum kb_err got;
    const char *db;
    int seen; /* rows another connection sees when done runs */
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *left;
};

static enum kb_err add_message(struct kb_store *st, void *arg)
{
    struct test_job *j = arg;
    enum kb_err e = kb_store_message_add(st, j->conv, j->seq, "customer", NULL, "bonjour", NULL, 1);
    return j->fail ? KB_EINVAL : e;
}

static void done(void *arg, enum kb_err err)
{
    struct test_job *j = arg;
    j->got = err;
    pthread_mutex_lock(j->mu);
    (*j->left)--;
    pthread_cond_signal(j->cv);
    pthread_mutex_unlock(j->mu);
}

static void done_reads(void *arg, enum kb_err err)
{
    struct test_job *j = arg;
    struct kb_store *st = NULL;
    struct kb_message_row *rows = NULL;
    size_t n = 0;
    if (kb_store_open(j->db, true, &st) == KB_OK &&
        kb_store_messages_after(st, j->conv, 0, 100, &rows, &n) == KB_OK)
        j->seen = (int)n;
    kb_message_rows_free(rows, n);
    kb_store_free(st);
    done(arg, err);
}

struct env {
    char dir[64], db[128];
    int64_t conv;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/kb-test-writer-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->db, sizeof e->db, "%s/kb.db", e->dir);
    struct kb_store *st = NULL;
    assert_int_equal(kb_store_open(e->db, false, &st), KB_OK);
    assert_int_equal(kb_store_conversation_create(st, "conv_x", "hash", "fr", "/", 1, &e->conv),
                     KB_OK);
    kb_store_free(st);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    testfs_rm_rf(e->dir);
    free(e);
    return 0;
}

static void wait_all(pthread_mutex_t *mu, pthread_cond_t *cv, int *left)
{
    pthread_mutex_lock(mu);
    while (*left)
        pthread_cond_wait(cv, mu);
    pthread_mutex_unlock(mu);
}

static void a_failing_job_fails_alone_and_done_follows_the_commit(void **state)
{
    struct env *e = *state;
    struct kb_store_writer *w = NULL;
    assert_int_equal(kb_store_writer_start(e->db, 100, &w), KB_OK);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int left = 4;
    struct test_job j[4];
    for (int i = 0; i < 4; i++)
        j[i] = (struct test_job){.conv = e->conv, .seq = i + 1, .fail = i == 1, .db = e->db,
                            .mu = &mu, .cv = &cv, .left = &left};
    j[3].seq = 1; /* a duplicate seq: the store refuses it */
    for (int i = 0; i < 4; i++)
        assert_int_equal(kb_store_writer_submit(w, add_message, i == 2 ? done_reads : done, &j[i]),
                         KB_OK);
    wait_all(&mu, &cv, &left);
    assert_int_equal(j[0].got, KB_OK);
    assert_int_equal(j[1].got, KB_EINVAL);
    assert_int_equal(j[2].got, KB_OK);
    assert_int_equal(j[3].got, KB_EEXISTS);
    assert_int_equal(j[2].seen, 2); /* seq 1 and 3, committed before done ran */
    kb_store_writer_stop(w);
}

struct producer {
    struct kb_store_writer *w;
    struct test_job jobs[PER_PRODUCER];
};

static void *produce(void *p)
{
    struct producer *pr = p;
    for (int i = 0; i < PER_PRODUCER; i++)
        while (kb_store_writer_submit(pr->w, add_message, done, &pr->jobs[i]) == KB_EBUSY)
            ;
    return NULL;
}

static void many_producers_are_grouped_into_few_commits(void **state)
{
    struct env *e = *state;
    struct kb_store_writer *w = NULL;
    assert_int_equal(kb_store_writer_start(e->db, 64, &w), KB_OK);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int left = PRODUCERS * PER_PRODUCER;
    struct producer *pr = calloc(PRODUCERS, sizeof *pr);
    pthread_t t[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++) {
        pr[p].w = w;
        for (int i = 0; i < PER_PRODUCER; i++)
            pr[p].jobs[i] = (struct test_job){.conv = e->conv, .seq = 1000 + p * PER_PRODUCER + i,
                                         .mu = &mu, .cv = &cv, .left = &left};
        pthread_create(&t[p], NULL, produce, &pr[p]);
    }
    for (int p = 0; p < PRODUCERS; p++)
        pthread_join(t[p], NULL);
    wait_all(&mu, &cv, &left);
    for (int p = 0; p < PRODUCERS; p++)
        for (int i = 0; i < PER_PRODUCER; i++)
            assert_int_equal(pr[p].jobs[i].got, KB_OK);
    assert_true(kb_store_writer_batches(w) < PRODUCERS * PER_PRODUCER);
    kb_store_writer_stop(w);
    struct kb_store *st = NULL;
    struct kb_message_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(kb_store_open(e->db, true, &st), KB_OK);
    assert_int_equal(kb_store_messages_after(st, e->conv, 999, 10000, &rows, &n), KB_OK);
    assert_int_equal(n, PRODUCERS * PER_PRODUCER);
    kb_message_rows_free(rows, n);
    kb_store_free(st);
    free(pr);
}

static enum kb_err add_long_message(struct kb_store *st, void *arg)
{
    static char text[3001];
    if (!text[0])
        memset(text, 'x', sizeof text - 1);
    struct test_job *j = arg;
    return kb_store_message_add(st, j->conv, j->seq, "customer", NULL, text, NULL, 1);
}

/* 120 MB of commits, one at a time: the writer's connection runs no automatic checkpoint and
 * its commits follow each other with no pause (far faster than kb's writer ever commits), so
 * without the checkpointer the WAL would hold them all, and with PASSIVE checkpoints alone it
 * would seldom start over. Here (marks of 250 pages and 8 MB) the WAL, whose file keeps the
 * largest size it reached, never holds more than 16 MB. */
static void the_checkpointer_bounds_the_wal(void **state)
{
    struct env *e = *state;
    struct kb_store_writer *w = NULL;
    assert_int_equal(kb_store_writer_start(e->db, 100, &w), KB_OK);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", e->db);
    off_t most = 0;
    for (int i = 0; i < 30000; i++) {
        struct test_job j = {.conv = e->conv, .seq = 5000 + i};
        assert_int_equal(kb_store_writer_run(w, add_long_message, &j), KB_OK);
        struct stat sb;
        if (i % 100 == 0 && stat(wal, &sb) == 0 && sb.st_size > most)
            most = sb.st_size;
    }
    size_t checkpoints = 0, restarts = 0;
    kb_store_writer_checkpoints(w, &checkpoints, &restarts);
    kb_store_writer_stop(w);
    struct stat sb;
    assert_int_equal(stat(e->db, &sb), 0);
    print_message("# database %.1f MB, WAL at most %.1f MB, %zu checkpoints, %zu restarts\n",
                  (double)sb.st_size / 1048576.0, (double)most / 1048576.0, checkpoints,
                  restarts);
    assert_true(sb.st_size > 100 * 1048576);
    assert_true(checkpoints >= 10);
    assert_true(restarts >= 3);
    /* Past WAL_MAX_PAGES the writer waits for a RESTART: at most that, and one commit (a
     * WAL frame is a page and its 24-byte header). */
    assert_true(most <= 32 + (WAL_MAX_PAGES + 64) * (4096 + 24));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_failing_job_fails_alone_and_done_follows_the_commit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(many_producers_are_grouped_into_few_commits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_checkpointer_bounds_the_wal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
