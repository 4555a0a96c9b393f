/* kb/http/searchlog.c: batched, asynchronous search log (see searchlog.h).
 *
 * Producers (HTTP worker threads) append to a bounded array under a mutex and signal; the
 * writer thread swaps the array out and writes it in one transaction every 500 ms or when
 * 1,024 entries wait. Clicks go through the same queue, so a click is never written before the
 * query it belongs to. */
#include "kb/http/searchlog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kb/base/log.h"
#include "kb/store/searchlog.h"

#define LOG_MAX_QUEUE 10000
#define LOG_BATCH 1024 /* each commit rewrites the table's last pages and the index's */
#define LOG_MAX_QUERY 500 /* bytes of a query kept in the log */

struct entry {
    int64_t id, at, results;
    char *query, *lang, *slug; /* slug set: a click */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    struct entry *q;
    size_t n;
    int running, stopping;
    struct kb_store *st;
} lg = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static _Atomic uint64_t dropped;

uint64_t kb_searchlog_dropped(void)
{
    return atomic_load(&dropped);
}

/* Ids grow with time (milliseconds << 12, then one more per search within the process):
 * search_log's rowid is the id, and rows appended at the end of the table cost one page
 * write per batch where random ids cost one per row. Unique across restarts unless a
 * process averaged more than 4,096 searches a millisecond. */
int64_t kb_searchlog_new_id(void)
{
    static _Atomic int64_t last;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t floor = ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) << 12;
    int64_t prev = atomic_load(&last), next;
    do
        next = prev >= floor ? prev + 1 : floor;
    while (!atomic_compare_exchange_weak(&last, &prev, next));
    return next;
}

static void entries_free(struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].query);
        free(e[i].lang);
        free(e[i].slug);
    }
    free(e);
}

/* Write e[0..n) in one transaction. KB_EBUSY: the database stayed locked (a large kb import
 * holds it for its whole run), the caller keeps the entries for the next round; any other
 * failure drops them (counted). */
static enum kb_err write_batch(struct entry *e, size_t n)
{
    struct kb_search_log_entry *v = calloc(n, sizeof *v);
    if (!v) {
        atomic_fetch_add(&dropped, n);
        return KB_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (struct kb_search_log_entry){e[i].id, e[i].at, e[i].query, e[i].lang, e[i].slug,
                                            e[i].results};
    enum kb_err err = kb_store_log_searches(lg.st, v, n);
    if (err && err != KB_EBUSY) {
        kb_log(KB_LOG_WARN, "search log: %zu entries lost", n);
        atomic_fetch_add(&dropped, n);
    }
    free(v);
    return err;
}

/* Entries a locked database refused, written first next round (writer thread only). At
 * most LOG_MAX_QUEUE are held: past that the oldest batch is dropped, counted. */
static struct entry *held;
static size_t nheld;

/* batch (n entries) after what is held, as one array; NULL when out of memory. */
static struct entry *after_held(struct entry *batch, size_t *n)
{
    if (!nheld)
        return batch;
    struct entry *all = realloc(held, (nheld + *n) * sizeof *all);
    if (!all)
        return NULL;
    if (*n)
        memcpy(all + nheld, batch, *n * sizeof *all);
    free(batch);
    *n += nheld;
    held = NULL;
    nheld = 0;
    return all;
}

static void *writer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lg.mu);
    for (;;) {
        while (!lg.stopping && lg.n < LOG_BATCH) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 500 * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&lg.cv, &lg.mu, &until) != 0)
                break; /* time-out: write what is there */
        }
        struct entry *batch = lg.q;
        size_t n = lg.n;
        lg.q = NULL;
        lg.n = 0;
        int stop = lg.stopping;
        pthread_mutex_unlock(&lg.mu);
        struct entry *all = after_held(batch, &n);
        if (!all) { /* out of memory: the held entries go */
            atomic_fetch_add(&dropped, nheld);
            entries_free(held, nheld);
            held = NULL;
            nheld = 0;
            all = batch;
        }
        enum kb_err err = n ? write_batch(all, n) : KB_OK;
        if (err == KB_EBUSY && !stop && n <= LOG_MAX_QUEUE) {
            held = all;
            nheld = n;
        } else {
            if (err == KB_EBUSY) {
                kb_log(KB_LOG_WARN, "search log: %zu entries lost (database locked)", n);
                atomic_fetch_add(&dropped, n);
            }
            entries_free(all, n);
        }
        if (stop)
            return NULL;
        pthread_mutex_lock(&lg.mu);
    }
}

enum kb_err kb_searchlog_start(const char *db_path)
{
    enum kb_err err = kb_store_open(db_path, false, &lg.st);
    if (err)
        return err;
    lg.stopping = 0;
    if (pthread_create(&lg.thread, NULL, writer, NULL) != 0) {
        kb_store_free(lg.st);
        lg.st = NULL;
        return KB_ENOMEM;
    }
    lg.running = 1;
    return KB_OK;
}

void kb_searchlog_stop(void)
{
    if (!lg.running)
        return;
    pthread_mutex_lock(&lg.mu);
    lg.stopping = 1;
    pthread_cond_signal(&lg.cv);
    pthread_mutex_unlock(&lg.mu);
    pthread_join(lg.thread, NULL);
    lg.running = 0;
    kb_store_free(lg.st);
    lg.st = NULL;
}

static void push(struct entry e)
{
    pthread_mutex_lock(&lg.mu);
    if (!lg.running || lg.n >= LOG_MAX_QUEUE)
        goto drop;
    if (lg.n % LOG_BATCH == 0) {
        struct entry *p = realloc(lg.q, (lg.n + LOG_BATCH) * sizeof *p);
        if (!p)
            goto drop;
        lg.q = p;
    }
    lg.q[lg.n++] = e;
    if (lg.n >= LOG_BATCH)
        pthread_cond_signal(&lg.cv);
    pthread_mutex_unlock(&lg.mu);
    return;
drop:
    pthread_mutex_unlock(&lg.mu);
    atomic_fetch_add(&dropped, 1);
    free(e.query);
    free(e.lang);
    free(e.slug);
}

void kb_searchlog_query(int64_t id, const char *query, const char *lang, int64_t results)
{
    struct entry e = {.id = id, .at = (int64_t)time(NULL), .results = results};
    e.query = strndup(query ? query : "", LOG_MAX_QUERY);
    e.lang = strdup(lang ? lang : "");
    if (!e.query || !e.lang) {
        free(e.query);
        free(e.lang);
        atomic_fetch_add(&dropped, 1);
        return;
    }
    push(e);
}

void kb_searchlog_click(int64_t id, const char *slug)
{
    struct entry e = {.id = id, .at = (int64_t)time(NULL)};
    e.slug = strdup(slug);
    if (!e.slug) {
        atomic_fetch_add(&dropped, 1);
        return;
    }
    push(e);
}
