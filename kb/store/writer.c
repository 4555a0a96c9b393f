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
 * last commits, consistently. */
#include "kb/store/writer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "kb/base/log.h"
#include "kb/store/store_int.h"

#define WRITER_MAX_BATCH 4096 /* jobs in one transaction: bounds its time and the WAL */

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
};

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
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        kb_store_free(w->st);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
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
    pthread_join(w->thread, NULL);
    kb_store_free(w->st);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
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
