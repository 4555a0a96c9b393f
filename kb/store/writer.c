/* kb/store/writer.c: the grouped writer thread (see writer.h).
 *
 * Producers append to a bounded FIFO under a mutex and signal. The thread swaps the whole
 * FIFO out, then:
 *
 *   BEGIN IMMEDIATE
 *     for each job: SAVEPOINT j; fn(); RELEASE j   (ROLLBACK TO j on the job's error)
 *   COMMIT
 *   for each job: done(arg, err)
 *
 * A batch is as large as what queued while the previous one committed, so that under load a
 * commit serves many jobs and when idle a job commits alone at once. When the database stays
 * locked (another process's long write) the batch is rolled back and retried: nothing is
 * lost, later jobs wait behind it. The connection runs synchronous=NORMAL in WAL mode: a
 * commit is durable against a crash of kb (SIGKILL), and a power cut can only take back the
 * last commits, consistently.
 *
 * Checkpoints run on a thread of their own (kb-checkpoint, its own connection), never on the
 * writer's. SQLite's automatic checkpoint runs on the thread that commits once the WAL holds
 * 1,000 pages, and a checkpoint ends with an fsync of the WAL and one of the database (20-60
 * ms each on the VMs kb was measured on): beside `kb import`, which fills the WAL with its
 * batches, the writer's small commits found it over the mark nearly every time and every
 * queued chat message, page view and sign-in waited for the disk. Here the writer's WAL hook
 * (called after each of its commits with the WAL's size) only wakes the checkpointer when the
 * WAL holds CHECKPOINT_PAGES or more, and the checkpointer runs a PASSIVE checkpoint: it
 * copies what no reader still needs, takes no lock a writer or a reader waits for, and gives
 * way (SQLITE_BUSY) when another connection (the import's own automatic checkpoint) is
 * checkpointing.
 *
 * How the WAL stays bounded. SQLite starts the WAL over from its beginning only when a write
 * transaction begins after a checkpoint copied every frame; with commits going on during a
 * checkpoint run by another thread that seldom happens by itself, and the WAL would keep
 * growing. So:
 *   - once it holds WAL_RESTART_PAGES (64 MB), the checkpointer follows its PASSIVE
 *     checkpoint with more PASSIVE ones while what was committed during the last one shrinks
 *     (RESTART_ROUNDS at most), then a RESTART one: it takes the write lock, copies what was
 *     committed since, waits for the readers to leave the WAL (each holds its snapshot for one
 *     request; it gives up after 100 ms, and then RESTART is not tried again for
 *     WAL_RESTART_RETRY_MS) and has the next writer start the WAL over. Writers wait for that
 *     short part only (a few frames and two fsyncs): this writer holds its next batch (else,
 *     committing without a pause, it could keep the lock from the checkpointer), another
 *     process's writer (kb import) waits for the lock;
 *   - once it holds WAL_MAX_PAGES (128 MB) after one of this writer's commits (writers faster
 *     than the disk), the writer waits before its next batch for one RESTART checkpoint.
 * The WAL thus holds at most 128 MB and one batch of this writer's (a second of its commits
 * more when a reader kept a RESTART from finishing), plus what another process writes
 * meanwhile (kb import's own automatic checkpoints copy its frames, and the
 * RESTART takes the lock between two of its batches); a checkpoint that could not finish is
 * tried again after CHECKPOINT_RETRY_MS even when no commit comes.
 */
#include "kb/store/writer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "kb/base/log.h"
#include "kb/store/store_int.h"

#define WRITER_MAX_BATCH 4096 /* jobs in one transaction: bounds its time and the WAL */
#define CHECKPOINT_RETRY_MS 200
#define WAL_RESTART_RETRY_MS 1000 /* after a RESTART that could not finish */
#define RESTART_ROUNDS 4
/* tests/store/test_writer.c includes this file with smaller marks. */
#ifndef CHECKPOINT_PAGES
#define CHECKPOINT_PAGES 1000 /* SQLite's own mark for its automatic checkpoint */
#endif
#ifndef WAL_RESTART_PAGES
#define WAL_RESTART_PAGES 16384 /* 64 MB of 4 KB pages: a RESTART checkpoint (see above) */
#endif
#define WAL_MAX_PAGES (2 * WAL_RESTART_PAGES) /* the writer waits for one (see above) */

struct job {
    kb_store_write_fn *fn;
    kb_store_done_fn *done;
    void *arg;
    enum kb_err err;
    struct job *next;
};

struct kb_store_writer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    struct job *head, *tail;
    size_t n, max;
    size_t batches;
    bool stopping;
    struct kb_store *st;
    /* The checkpointer: its thread and connection, woken by the writer's WAL hook. */
    pthread_t ckpt_thread;
    pthread_cond_t ckpt_cv;
    pthread_cond_t hold_cv; /* the writer waits on it while hold or urgent */
    bool ckpt_wanted, ckpt_started, ckpt_stopping;
    bool hold;   /* a RESTART checkpoint is running: the writer begins no batch */
    bool urgent; /* the WAL is past WAL_MAX_PAGES: the writer waits for one RESTART */
    int wal_pages;          /* the WAL's size after the writer's last commit (0 after a RESTART) */
    int64_t failed_restart; /* when a RESTART last could not finish (CLOCK_MONOTONIC ms) */
    size_t checkpoints, restarts;
    struct kb_store *ckpt_st;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Run jobs in one transaction. KB_EBUSY: nothing was committed, try again. Other errors of
 * BEGIN or COMMIT fail every job; a job's own error fails it alone. */
static enum kb_err run_batch(struct kb_store *st, struct job *jobs)
{
    enum kb_err err = kb_store_begin(st);
    if (err)
        return err;
    for (struct job *j = jobs; j; j = j->next) {
        j->err = KB_OK;
        if (!j->fn)
            continue;
        err = kb_store_exec(st, "SAVEPOINT job");
        if (err)
            goto out;
        j->err = j->fn(st, j->arg);
        if (j->err == KB_EBUSY) {
            err = KB_EBUSY;
            goto out;
        }
        if (j->err)
            err = kb_store_exec(st, "ROLLBACK TO job");
        if (!err)
            err = kb_store_exec(st, "RELEASE job");
        if (err)
            goto out;
    }
    err = kb_store_commit(st);
out:
    if (err)
        kb_store_rollback(st);
    return err;
}

static void *writer_main(void *p)
{
    struct kb_store_writer *w = p;
    pthread_setname_np(pthread_self(), "kb-writer");
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->head) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        /* Take up to WRITER_MAX_BATCH jobs from the front. */
        struct job *batch = w->head, *last = w->head;
        size_t k = 1;
        while (last->next && k < WRITER_MAX_BATCH) {
            last = last->next;
            k++;
        }
        w->head = last->next;
        if (!w->head)
            w->tail = NULL;
        last->next = NULL;
        w->n -= k;
        /* Past WAL_MAX_PAGES, wait for a RESTART checkpoint (one attempt; none while a
         * reader kept the last one from finishing); and while one runs, let it have the
         * write lock. */
        if (w->wal_pages >= WAL_MAX_PAGES &&
            mono_ms() - w->failed_restart >= WAL_RESTART_RETRY_MS) {
            w->urgent = true;
            w->ckpt_wanted = true;
            pthread_cond_signal(&w->ckpt_cv);
        }
        while (w->hold || w->urgent)
            pthread_cond_wait(&w->hold_cv, &w->mu);
        pthread_mutex_unlock(&w->mu);

        enum kb_err err;
        long wait = 1;
        while ((err = run_batch(w->st, batch)) == KB_EBUSY) {
            kb_log(KB_LOG_DEBUG, "writer: database busy, batch of %zu retried", k);
            sleep_ms(wait);
            wait = wait < 200 ? wait * 2 : 200;
        }
        if (err)
            kb_log(KB_LOG_ERROR, "writer: a batch of %zu writes failed: %s", k, kb_strerror(err));
        pthread_mutex_lock(&w->mu);
        w->batches++;
        pthread_mutex_unlock(&w->mu);
        while (batch) {
            struct job *next = batch->next;
            if (batch->done)
                batch->done(batch->arg, err ? err : batch->err);
            free(batch);
            batch = next;
        }
    }
    return NULL;
}

/* sqlite3_wal_hook of the writer's connection: after each of its commits, on its thread. It
 * replaces SQLite's automatic checkpoint there; it only wakes the checkpointer. */
static int wal_committed(void *ud, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    struct kb_store_writer *w = ud;
    pthread_mutex_lock(&w->mu);
    w->wal_pages = pages;
    if (pages >= CHECKPOINT_PAGES) {
        w->ckpt_wanted = true;
        pthread_cond_signal(&w->ckpt_cv);
    }
    pthread_mutex_unlock(&w->mu);
    return SQLITE_OK;
}

/* The checkpointer's busy handler, for its RESTART checkpoints only: polls every 250 us for
 * the write lock and for the readers to leave the WAL, and gives up after 100 ms (writers
 * wait while it holds the lock). */
static int restart_busy(void *ud, int count)
{
    (void)ud;
    if (count >= 400)
        return 0;
    struct timespec ts = {0, 250000};
    nanosleep(&ts, NULL);
    return 1;
}

static void *checkpoint_main(void *p)
{
    struct kb_store_writer *w = p;
    pthread_setname_np(pthread_self(), "kb-checkpoint");
    sqlite3 *db = w->ckpt_st->db;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->ckpt_wanted && !w->ckpt_stopping)
            pthread_cond_wait(&w->ckpt_cv, &w->mu);
        if (w->ckpt_stopping)
            break;
        w->ckpt_wanted = false;
        bool urgent = w->urgent;
        bool may_restart = mono_ms() - w->failed_restart >= WAL_RESTART_RETRY_MS;
        pthread_mutex_unlock(&w->mu);
        int rc = SQLITE_OK, log = 0, copied = 0;
        if (!urgent) {
            /* PASSIVE: the copy and its two fsyncs, holding no lock a writer waits for.
             * SQLITE_BUSY: another connection is checkpointing (kb import's own); it
             * copies. */
            sqlite3_busy_handler(db, NULL, NULL);
            rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
        }
        bool restarted = false;
        if (urgent || (rc == SQLITE_OK && log >= WAL_RESTART_PAGES && may_restart)) {
            /* Then RESTART, which holds the write lock while it copies: first PASSIVE ones
             * again while what was committed during the last one shrinks and is not small
             * yet (at most RESTART_ROUNDS), so that RESTART only has that little to copy;
             * none when the writer already waits. */
            int gap = log;
            for (int round = 0; !urgent && rc == SQLITE_OK && round < RESTART_ROUNDS; round++) {
                int before = log;
                rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                               &copied);
                if (log - before < CHECKPOINT_PAGES || log - before >= gap)
                    break; /* little left, or the writers outrun the disk: hold them now */
                gap = log - before;
            }
            /* RESTART takes the write lock, copies what was committed since, waits for the
             * readers to leave the WAL and has the next writer start it over. Writers wait
             * for that short part: this process's writer holds its next batch until it is
             * done (else, committing without a pause, it could keep the lock from the
             * checkpointer), another process's (kb import) waits for the lock. */
            pthread_mutex_lock(&w->mu);
            w->hold = true;
            pthread_mutex_unlock(&w->mu);
            sqlite3_busy_handler(db, restart_busy, NULL);
            if (rc == SQLITE_OK || rc == SQLITE_BUSY)
                rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_RESTART, &log,
                                               &copied);
            restarted = rc == SQLITE_OK;
            pthread_mutex_lock(&w->mu);
            if (restarted)
                w->wal_pages = 0;
            else
                w->failed_restart = mono_ms();
            w->hold = false;
            w->urgent = false;
            pthread_cond_broadcast(&w->hold_cv);
            pthread_mutex_unlock(&w->mu);
        }
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            kb_log(KB_LOG_ERROR, "writer: checkpoint: %s", sqlite3_errmsg(db));
        pthread_mutex_lock(&w->mu);
        w->checkpoints++;
        w->restarts += restarted;
        bool again = rc == SQLITE_BUSY || (copied < log && log >= CHECKPOINT_PAGES) ||
                     (!restarted && log >= WAL_RESTART_PAGES);
        if (again) {
            /* Readers still needed some frames, or the WAL is over its mark: again a
             * little later, commit or not. */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += CHECKPOINT_RETRY_MS * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            while (!w->ckpt_wanted && !w->ckpt_stopping &&
                   pthread_cond_timedwait(&w->ckpt_cv, &w->mu, &until) == 0)
                ;
            w->ckpt_wanted = true;
        }
    }
    /* Nobody waits for a checkpoint any more. */
    w->hold = w->urgent = false;
    pthread_cond_broadcast(&w->hold_cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

enum kb_err kb_store_writer_start(const char *db_path, size_t max_queue,
                                  struct kb_store_writer **out)
{
    *out = NULL;
    struct kb_store_writer *w = calloc(1, sizeof *w);
    if (!w)
        return KB_ENOMEM;
    w->max = max_queue ? max_queue : 1;
    w->failed_restart = -WAL_RESTART_RETRY_MS;
    enum kb_err err = kb_store_open(db_path, false, &w->st);
    if (err) {
        free(w);
        return err;
    }
    kb_store_poll_busy(w->st);
    err = kb_store_open(db_path, false, &w->ckpt_st);
    if (err) {
        kb_store_free(w->st);
        free(w);
        return err;
    }
    sqlite3_busy_timeout(w->ckpt_st->db, 0);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->ckpt_cv, NULL);
    pthread_cond_init(&w->hold_cv, NULL);
    sqlite3_wal_hook(w->st->db, wal_committed, w);
    w->ckpt_started = pthread_create(&w->ckpt_thread, NULL, checkpoint_main, w) == 0;
    if (!w->ckpt_started || pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        if (w->ckpt_started) {
            pthread_mutex_lock(&w->mu);
            w->ckpt_stopping = true;
            pthread_cond_signal(&w->ckpt_cv);
            pthread_mutex_unlock(&w->mu);
            pthread_join(w->ckpt_thread, NULL);
        }
        kb_store_free(w->st);
        kb_store_free(w->ckpt_st);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->ckpt_cv);
        pthread_cond_destroy(&w->hold_cv);
        free(w);
        return KB_ENOMEM;
    }
    *out = w;
    return KB_OK;
}

void kb_store_writer_stop(struct kb_store_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL); /* its last batches may still want a checkpoint */
    pthread_mutex_lock(&w->mu);
    w->ckpt_stopping = true;
    pthread_cond_signal(&w->ckpt_cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->ckpt_thread, NULL);
    /* The last connection to close checkpoints what is left (SQLite does it on close). */
    kb_store_free(w->ckpt_st);
    kb_store_free(w->st);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->ckpt_cv);
    pthread_cond_destroy(&w->hold_cv);
    free(w);
}

enum kb_err kb_store_writer_submit(struct kb_store_writer *w, kb_store_write_fn *fn,
                                   kb_store_done_fn *done, void *arg)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return KB_ENOMEM;
    *j = (struct job){.fn = fn, .done = done, .arg = arg};
    pthread_mutex_lock(&w->mu);
    if (w->n >= w->max || w->stopping) {
        pthread_mutex_unlock(&w->mu);
        free(j);
        return KB_EBUSY;
    }
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->n++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return KB_OK;
}

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    enum kb_err err;
};

static void wake(void *arg, enum kb_err err)
{
    struct waiter *wt = arg;
    pthread_mutex_lock(&wt->mu);
    wt->err = err;
    wt->done = true;
    pthread_cond_signal(&wt->cv);
    pthread_mutex_unlock(&wt->mu);
}

struct sync_job {
    kb_store_write_fn *fn;
    void *arg;
    struct waiter w;
};

static enum kb_err run_sync(struct kb_store *st, void *arg)
{
    struct sync_job *j = arg;
    return j->fn(st, j->arg);
}

static void sync_done(void *arg, enum kb_err err)
{
    wake(&((struct sync_job *)arg)->w, err);
}

enum kb_err kb_store_writer_run(struct kb_store_writer *w, kb_store_write_fn *fn, void *arg)
{
    struct sync_job j = {.fn = fn, .arg = arg};
    pthread_mutex_init(&j.w.mu, NULL);
    pthread_cond_init(&j.w.cv, NULL);
    enum kb_err err = kb_store_writer_submit(w, run_sync, sync_done, &j);
    if (!err) {
        pthread_mutex_lock(&j.w.mu);
        while (!j.w.done)
            pthread_cond_wait(&j.w.cv, &j.w.mu);
        err = j.w.err;
        pthread_mutex_unlock(&j.w.mu);
    }
    pthread_mutex_destroy(&j.w.mu);
    pthread_cond_destroy(&j.w.cv);
    return err;
}

size_t kb_store_writer_pending(struct kb_store_writer *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->n;
    pthread_mutex_unlock(&w->mu);
    return n;
}

size_t kb_store_writer_batches(struct kb_store_writer *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->batches;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void kb_store_writer_checkpoints(struct kb_store_writer *w, size_t *checkpoints,
                                 size_t *restarts)
{
    pthread_mutex_lock(&w->mu);
    *checkpoints = w->checkpoints;
    *restarts = w->restarts;
    pthread_mutex_unlock(&w->mu);
}
