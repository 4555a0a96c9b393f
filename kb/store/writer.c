/* kb/store/writer.c: the grouped writer thread (see writer.h), and its checkpointer.
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
 * Checkpoints. With synchronous=NORMAL a commit never waits for the disk, but a checkpoint
 * (copying the WAL back into the database) syncs it twice, and SQLite runs its automatic one
 * inside the COMMIT that crosses 1,000 pages of WAL: on the writer thread, before the batch's
 * callbacks. The chat writes ~10 pages a message; at 1,000 messages a second that was 20
 * checkpoints a second, each 40-120 ms of fdatasync on the VMs we measured, and every chat
 * message queued behind one waited for it (tests/bench/chat/README.md). So the writer's
 * connection has no automatic checkpoint; a second thread with its own connection runs
 * PASSIVE checkpoints when the WAL passed CKPT_FRAMES: they copy and sync while the writer
 * goes on committing. A PASSIVE checkpoint cannot finish while commits keep landing, and
 * SQLite only rewinds the WAL once everything in it was copied; so when the WAL reaches
 * WAL_HIGH_FRAMES the writer waits while the checkpointer finishes its pass and runs a RESTART
 * (the pages its last pass left, two syncs): a pause of one or two checkpoints, once per
 * WAL_HIGH_FRAMES pages written, and the writer's next commit starts the WAL over. That bounds
 * the WAL (about WAL_HIGH_FRAMES pages) at the price of a short pause when writes never stop
 * for long; when they do, the checkpointer's pass catches up and the WAL starts over alone. */
#include "kb/store/writer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "kb/base/log.h"
#include "kb/store/store_int.h"

#define WRITER_MAX_BATCH 4096 /* jobs in one transaction: bounds its time and the WAL */
#define CKPT_FRAMES 1000       /* WAL pages that wake the checkpointer (SQLite's own default) */
#define WAL_HIGH_FRAMES 16000  /* WAL pages (64 MB) at which the checkpointer rewinds it */

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
    int wal_frames; /* pages in the WAL after the last commit: the WAL hook's count */
    /* The checkpointer: its thread and connection; ckpt_wanted is set by the writer and
     * cleared by the checkpointer when it starts a pass (under mu). */
    pthread_t ckpt_thread;
    pthread_cond_t ckpt_cv;
    pthread_cond_t ckpt_done_cv; /* a rewind done, or the checkpointer gone */
    bool ckpt_wanted, ckpt_rewind, ckpt_exited;
    unsigned long ckpt_rewinds;
    bool ckpt_running; /* its thread was started */
    struct kb_store *ckpt_st;
};

/* SQLite's WAL hook, on the writer thread after each commit: the WAL's size in pages. */
static int on_wal(void *p, sqlite3 *db, const char *name, int frames)
{
    (void)db, (void)name;
    ((struct kb_store_writer *)p)->wal_frames = frames;
    return SQLITE_OK;
}

static void *checkpoint_main(void *p)
{
    struct kb_store_writer *w = p;
    pthread_setname_np(pthread_self(), "kb-checkpoint");
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->ckpt_wanted && !w->stopping)
            pthread_cond_wait(&w->ckpt_cv, &w->mu);
        if (!w->ckpt_wanted)
            break; /* stopping, and nothing asked */
        bool rewind = w->ckpt_rewind;
        w->ckpt_wanted = w->ckpt_rewind = false;
        pthread_mutex_unlock(&w->mu);
        /* RESTART waits (busy handler) for the readers of older pages and for the write lock,
         * which the writer, waiting in after_batch, does not take meanwhile: SQLite's locks
         * are not fair, and a writer committing back to back would starve it. */
        int log = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2(
            w->ckpt_st->db, NULL, rewind ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE,
            &log, &copied);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            kb_log(KB_LOG_WARN, "checkpoint: %s", sqlite3_errmsg(w->ckpt_st->db));
        pthread_mutex_lock(&w->mu);
        if (rewind) {
            w->ckpt_rewinds++;
            pthread_cond_broadcast(&w->ckpt_done_cv);
        }
    }
    w->ckpt_exited = true;
    pthread_cond_broadcast(&w->ckpt_done_cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* After a batch, on the writer thread: past CKPT_FRAMES, wake the checkpointer; past
 * WAL_HIGH_FRAMES, have it rewind the WAL and wait for that before the next batch. */
static void after_batch(struct kb_store_writer *w)
{
    if (w->wal_frames < CKPT_FRAMES)
        return;
    pthread_mutex_lock(&w->mu);
    w->ckpt_wanted = true;
    pthread_cond_signal(&w->ckpt_cv);
    if (w->wal_frames >= WAL_HIGH_FRAMES && !w->ckpt_exited) {
        w->ckpt_rewind = true;
        unsigned long n = w->ckpt_rewinds;
        while (w->ckpt_rewinds == n && !w->ckpt_exited)
            pthread_cond_wait(&w->ckpt_done_cv, &w->mu);
        w->wal_frames = 0;
    }
    pthread_mutex_unlock(&w->mu);
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
        after_batch(w);
    }
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
    enum kb_err err = kb_store_open(db_path, false, &w->st);
    if (err) {
        free(w);
        return err;
    }
    kb_store_poll_busy(w->st);
    /* Checkpoints are the checkpointer's (and after_batch's), never inside a COMMIT. */
    err = kb_store_exec(w->st, "PRAGMA wal_autocheckpoint = 0");
    /* A WAL that was rewound is cut back to 64 MB: the disk it takes stays bounded too. */
    if (!err)
        err = kb_store_exec(w->st, "PRAGMA journal_size_limit = 67108864");
    if (!err)
        err = kb_store_open(db_path, false, &w->ckpt_st);
    if (!err)
        kb_store_poll_busy(w->ckpt_st);
    if (err) {
        kb_store_free(w->st);
        free(w);
        return err;
    }
    sqlite3_wal_hook(w->st->db, on_wal, w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->ckpt_cv, NULL);
    pthread_cond_init(&w->ckpt_done_cv, NULL);
    w->ckpt_running = pthread_create(&w->ckpt_thread, NULL, checkpoint_main, w) == 0;
    if (!w->ckpt_running || pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        if (w->ckpt_running) {
            pthread_mutex_lock(&w->mu);
            w->stopping = true;
            pthread_cond_signal(&w->ckpt_cv);
            pthread_mutex_unlock(&w->mu);
            pthread_join(w->ckpt_thread, NULL);
        }
        kb_store_free(w->ckpt_st);
        kb_store_free(w->st);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->ckpt_cv);
        pthread_cond_destroy(&w->ckpt_done_cv);
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
    pthread_cond_signal(&w->ckpt_cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_join(w->ckpt_thread, NULL);
    /* The last connection to close checkpoints what is left and removes the WAL. */
    kb_store_free(w->ckpt_st);
    kb_store_free(w->st);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->ckpt_cv);
    pthread_cond_destroy(&w->ckpt_done_cv);
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
