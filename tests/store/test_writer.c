/* tests/store: the grouped writer thread: jobs commit in order, grouped; a failing job takes
 * nothing else with it; `done` runs after the commit (another connection sees the write); many
 * producer threads at once (run under ThreadSanitizer too); the checkpointer copies the WAL
 * back while the writer goes on, and the WAL stays bounded. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kb/store/conversations.h"
#include "kb/store/writer.h"
#include "tests/testfs.h"

#define PRODUCERS 4
#define PER_PRODUCER 500

struct job {
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
    struct job *j = arg;
    enum kb_err e = kb_store_message_add(st, j->conv, j->seq, "customer", NULL, "bonjour", NULL, 1);
    return j->fail ? KB_EINVAL : e;
}

static void done(void *arg, enum kb_err err)
{
    struct job *j = arg;
    j->got = err;
    pthread_mutex_lock(j->mu);
    (*j->left)--;
    pthread_cond_signal(j->cv);
    pthread_mutex_unlock(j->mu);
}

static void done_reads(void *arg, enum kb_err err)
{
    struct job *j = arg;
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
    struct job j[4];
    for (int i = 0; i < 4; i++)
        j[i] = (struct job){.conv = e->conv, .seq = i + 1, .fail = i == 1, .db = e->db,
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
    struct job jobs[PER_PRODUCER];
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
            pr[p].jobs[i] = (struct job){.conv = e->conv, .seq = 1000 + p * PER_PRODUCER + i,
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

/* A 16 KiB message: four or five pages of WAL each. */
static char big_text[16384];

static enum kb_err add_big(struct kb_store *st, void *arg)
{
    struct job *j = arg;
    return kb_store_message_add(st, j->conv, j->seq, "customer", NULL, big_text, NULL, 1);
}

static long long file_size(const char *dir, const char *name)
{
    char path[256];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* 128 MB written without a pause: the checkpointer copies the WAL into the database while the
 * writer goes on (the database file grows before the writer stops), and the WAL never grows
 * far past its bound (16,000 pages, 64 MB; then the writer rewinds it). */
static void the_wal_is_copied_back_while_writing_and_stays_bounded(void **state)
{
    struct env *e = *state;
    enum { N = 8000 };
    memset(big_text, 'a', sizeof big_text - 1);
    struct kb_store_writer *w = NULL;
    assert_int_equal(kb_store_writer_start(e->db, 64, &w), KB_OK);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int left = N;
    struct job *jobs = calloc(N, sizeof *jobs);
    long long wal_max = 0;
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){.conv = e->conv, .seq = i + 1, .mu = &mu, .cv = &cv, .left = &left};
        while (kb_store_writer_submit(w, add_big, done, &jobs[i]) == KB_EBUSY)
            usleep(100);
        long long ws = file_size(e->dir, "kb.db-wal");
        if (ws > wal_max)
            wal_max = ws;
    }
    wait_all(&mu, &cv, &left);
    for (int i = 0; i < N; i++)
        assert_int_equal(jobs[i].got, KB_OK);
    /* Copied back before the writer stopped (its connection, open, would otherwise hold
     * everything in the WAL). */
    assert_true(file_size(e->dir, "kb.db") > 40LL * 1024 * 1024);
    /* 16,000 pages of 4 KiB and their frame headers, and what lands while the checkpointer
     * finishes its pass before the rewind (73 MB here): far below the 128 MB written. */
    assert_true(wal_max > 0);
    assert_true(wal_max < 96LL * 1024 * 1024);
    kb_store_writer_stop(w);
    free(jobs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_failing_job_fails_alone_and_done_follows_the_commit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(many_producers_are_grouped_into_few_commits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_wal_is_copied_back_while_writing_and_stays_bounded,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
