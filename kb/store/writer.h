/* kb/store/writer.h: the one writer thread that groups short writes into short transactions.
 *
 * Chat messages, and the small writes of serving (page views, clicks, feedback), must never
 * wait on each other nor hold SQLite's write lock while a request is answered: producers hand
 * a job to the writer and go on; the writer takes every job queued, runs them in one
 * transaction (each in its own savepoint, so that a failing job takes nothing else with it),
 * commits, then tells each job how it went. Jobs of one producer run in submission order.
 * The WAL its commits grow is checkpointed by a thread of its own, never on the writer's. */
#ifndef KB_STORE_WRITER_H
#define KB_STORE_WRITER_H

#include <stddef.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

struct kb_store_writer; /* opaque: the thread, its connection and its queue */

/* Runs inside the batch's transaction, on the writer thread; arg is the job's. An error rolls
 * back this job alone. KB_EBUSY (the database locked past the busy timeout) retries the whole
 * batch later, so fn must not have effects outside the database. */
typedef enum kb_err kb_store_write_fn(struct kb_store *st, void *arg);
/* Called once per job on the writer thread after the batch committed (err KB_OK) or after the
 * job failed (its error, or the commit's); arg is the job's, which done may free. Must be
 * quick: the next batch waits for it. */
typedef void kb_store_done_fn(void *arg, enum kb_err err);

/* Open db_path (its own connection) and start the thread. max_queue bounds the jobs waiting.
 * *out owned by the caller: kb_store_writer_stop(). */
enum kb_err kb_store_writer_start(const char *db_path, size_t max_queue,
                                  struct kb_store_writer **out) KB_MUST_CHECK;
/* Run every job queued so far, stop the thread, close the connection, free w. No-op on NULL.
 * No submit may race with it. */
void kb_store_writer_stop(struct kb_store_writer *w);
/* Queue a job (fn may be NULL: done runs after every job queued before it committed, which
 * orders a reply after the writes it depends on). KB_EBUSY when the queue is full (nothing
 * queued, done not called), KB_ENOMEM. Thread-safe. */
enum kb_err kb_store_writer_submit(struct kb_store_writer *w, kb_store_write_fn *fn,
                                   kb_store_done_fn *done, void *arg) KB_MUST_CHECK;
/* Queue fn and wait until its batch committed (or it failed): for a request that must answer
 * with what was written (a login's session). Returns fn's error, the commit's, or KB_EBUSY when
 * the queue is full. Not from the writer thread. */
enum kb_err kb_store_writer_run(struct kb_store_writer *w, kb_store_write_fn *fn,
                                void *arg) KB_MUST_CHECK;
/* Jobs waiting, and batches committed so far (for metrics). */
size_t kb_store_writer_pending(struct kb_store_writer *w);
size_t kb_store_writer_batches(struct kb_store_writer *w);

#endif
