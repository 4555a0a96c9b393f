/* kb/http/usage.c: page views, searches, clicks and feedback through the writer thread (see
 * usage.h).
 *
 * Each event is one job for the store's writer, which groups whatever is queued into one
 * transaction: under load a commit carries hundreds of events, and a long import delays them
 * (the writer waits for its batches) without ever blocking a request. Nothing is lost while
 * the queue has room; beyond, events are dropped and counted (kb_usage_dropped, /metrics).
 *
 * Search tokens: "<id>.<16 hex>", the MAC being HMAC-SHA256(key, id) cut to 8 bytes, the key
 * random per process. Ids grow with time (milliseconds << 12, then one more per search within
 * the process), which keeps search_log's inserts at the end of its table; the MAC makes them
 * unguessable to a client. A click after a restart of kb no longer verifies and is not
 * counted: a few lost clicks, never a forged one. */
#include "kb/http/usage.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kb/base/log.h"
#include "kb/base/text.h"
#include "kb/store/articles.h"
#include "kb/store/feedback.h"
#include "kb/store/searchlog.h"

#define QUERY_MAX 500
#define COMMENT_MAX 2000
#define PURGE_EVERY_S 3600
#define PURGE_STEP 10000 /* rows a purge job deletes: short transactions */

enum kind { VIEW, SEARCH, CLICK, FEEDBACK, PURGE };

struct event {
    enum kind kind;
    int64_t id, at, results;
    bool helpful;
    char *text, *lang; /* query, slug or comment */
};

static struct {
    struct kb_store_writer *w;
    int log_days;
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
    _Atomic int64_t last_id;
    _Atomic uint64_t dropped;
    _Atomic int64_t last_purge;
    atomic_bool purging;
} us;

static void event_free(struct event *e)
{
    if (!e)
        return;
    free(e->text);
    free(e->lang);
    free(e);
}

static void purge_done(void *arg, enum kb_err err);

static enum kb_err write_event(struct kb_store *st, void *arg)
{
    struct event *e = arg;
    switch (e->kind) {
    case VIEW: return kb_store_record_view(st, e->id);
    case FEEDBACK: return kb_store_feedback(st, e->id, e->helpful, e->text);
    case SEARCH:
    case CLICK: {
        struct kb_search_log_entry le = {e->id, e->at, e->kind == SEARCH ? e->text : NULL,
                                         e->lang, e->kind == CLICK ? e->text : NULL, e->results};
        return kb_store_log_search(st, &le);
    }
    case PURGE: {
        size_t n = 0;
        enum kb_err err = kb_store_searchlog_purge(st, e->at, PURGE_STEP, &n);
        e->results = (int64_t)n;
        return err;
    }
    }
    return KB_OK;
}

static void event_done(void *arg, enum kb_err err)
{
    struct event *e = arg;
    if (err && e->kind != PURGE) {
        /* A write the database refused (an article deleted meanwhile): counted, not logged
         * with its content, which may be personal. */
        atomic_fetch_add(&us.dropped, 1);
    }
    event_free(e);
}

static void submit(struct event *e)
{
    if (!e)
        return;
    if (!us.w || kb_store_writer_submit(us.w, write_event, e->kind == PURGE ? purge_done
                                                                             : event_done,
                                        e) != KB_OK) {
        atomic_fetch_add(&us.dropped, 1);
        if (e->kind == PURGE)
            atomic_store(&us.purging, false);
        event_free(e);
    }
}

/* Purge in steps until a step finds nothing more. */
static void purge_step(void)
{
    struct event *e = calloc(1, sizeof *e);
    if (!e) {
        atomic_store(&us.purging, false);
        return;
    }
    e->kind = PURGE;
    e->at = (int64_t)time(NULL) - (int64_t)us.log_days * 86400;
    submit(e);
}

static void purge_done(void *arg, enum kb_err err)
{
    struct event *e = arg;
    bool more = !err && e->results > 0;
    if (e->results)
        kb_log(KB_LOG_INFO, "search log: %lld rows older than %d days purged",
               (long long)e->results, us.log_days);
    event_free(e);
    if (more)
        purge_step();
    else
        atomic_store(&us.purging, false);
}

/* A purge at most every hour, started by the traffic itself. */
static void maybe_purge(int64_t now)
{
    int64_t last = atomic_load(&us.last_purge);
    if (now - last < PURGE_EVERY_S || !atomic_compare_exchange_strong(&us.last_purge, &last, now))
        return;
    bool idle = false;
    if (atomic_compare_exchange_strong(&us.purging, &idle, true))
        purge_step();
}

enum kb_err kb_usage_start(struct kb_store_writer *w, int log_days)
{
    us.w = w;
    us.log_days = log_days > 0 ? log_days : 90;
    crypto_auth_hmacsha256_keygen(us.key);
    atomic_store(&us.dropped, 0);
    atomic_store(&us.last_purge, 0);
    atomic_store(&us.purging, false);
    maybe_purge((int64_t)time(NULL));
    return KB_OK;
}

void kb_usage_stop(void)
{
    us.w = NULL; /* the writer runs what was queued when it stops */
}

static struct event *event_new(enum kind kind)
{
    struct event *e = calloc(1, sizeof *e);
    if (!e) {
        atomic_fetch_add(&us.dropped, 1);
        return NULL;
    }
    e->kind = kind;
    e->at = (int64_t)time(NULL);
    maybe_purge(e->at);
    return e;
}

void kb_usage_view(int64_t article_id)
{
    struct event *e = event_new(VIEW);
    if (e)
        e->id = article_id;
    submit(e);
}

/* A copy of s cut at max bytes on a character boundary, invalid bytes replaced. */
static char *cut(const char *s, size_t max)
{
    char *clean = kb_text_sanitize(s, strlen(s));
    if (clean && strlen(clean) > max)
        clean[kb_text_utf8_prefix(clean, max)] = 0;
    return clean;
}

static void mac_hex(int64_t id, char hex[17])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", (long long)id);
    crypto_auth_hmacsha256(mac, (const unsigned char *)num, (unsigned long long)n, us.key);
    sodium_bin2hex(hex, 17, mac, 8);
}

int64_t kb_usage_search(const char *query, const char *lang, int64_t results, bool log,
                        char token[KB_USAGE_TOKEN_MAX])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t floor = ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) << 12;
    int64_t prev = atomic_load(&us.last_id), id;
    do
        id = prev >= floor ? prev + 1 : floor;
    while (!atomic_compare_exchange_weak(&us.last_id, &prev, id));
    char hex[17];
    mac_hex(id, hex);
    snprintf(token, KB_USAGE_TOKEN_MAX, "%lld.%s", (long long)id, hex);
    if (!log)
        return id;
    struct event *e = event_new(SEARCH);
    if (!e)
        return id;
    e->id = id;
    e->results = results;
    e->text = cut(query ? query : "", QUERY_MAX);
    e->lang = strdup(lang ? lang : "");
    if (!e->text || !e->lang) {
        event_free(e);
        atomic_fetch_add(&us.dropped, 1);
        return id;
    }
    submit(e);
    return id;
}

void kb_usage_click(const char *token, const char *slug)
{
    const char *dot = token ? strchr(token, '.') : NULL;
    if (!dot || strlen(dot + 1) != 16)
        return;
    char *end = NULL;
    long long id = strtoll(token, &end, 10);
    if (end != dot || id <= 0)
        return;
    char hex[17];
    mac_hex(id, hex);
    if (sodium_memcmp(hex, dot + 1, 16) != 0)
        return; /* forged, or from before a restart */
    struct event *e = event_new(CLICK);
    if (!e)
        return;
    e->id = id;
    if (!(e->text = strdup(slug))) {
        event_free(e);
        return;
    }
    submit(e);
}

void kb_usage_feedback(int64_t article_id, bool helpful, const char *comment)
{
    struct event *e = event_new(FEEDBACK);
    if (!e)
        return;
    e->id = article_id;
    e->helpful = helpful;
    if (comment && *comment && !(e->text = cut(comment, COMMENT_MAX))) {
        event_free(e);
        return;
    }
    submit(e);
}

uint64_t kb_usage_dropped(void)
{
    return atomic_load(&us.dropped);
}
