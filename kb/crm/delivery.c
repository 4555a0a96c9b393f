/* kb/crm/delivery.c: the delivery thread: signs and POSTs due outbox events to the CRM with
 * libcurl, records every attempt, and retries.
 *
 * Event state machine (the state column of the outbox; "sending" lives only in this thread,
 * between kb_store_outbox_attempt_begin and _end):
 *
 *   kb_crm_case_create ──► due ──deliver_one──► sending ──2xx──────────────────► delivered
 *                           ▲                      │ ──410 Gone, or the URL was
 *                           │                      │   disabled by an earlier 410 ──► disabled
 *                           │                      │ ──anything else (non-2xx, timeout, reset):
 *                           └──── next_at ◄────────┘     attempts < 10: due at next_at
 *                                                         attempts = 10: ──────────► failed
 *   failed, disabled ──kb_store_outbox_redeliver (kb case redeliver)──► due, attempts 0
 *
 * Schedule (Standard Webhooks 1.0, "Deliverability and reliability"): attempt 1 at once, then
 * 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h after each failure, each delay times
 * KB_CRM_RETRY_SCALE and +-10% jitter; a Retry-After on 429 or 503 pushes the next attempt to at
 * least that (never scaled: it is the receiver's word). A 2xx within 15 s is a delivery.
 *
 * Crash safety: the event row is committed with the case; an attempt is recorded before its
 * POST and its outcome after. A crash (SIGKILL) before, during or after a POST leaves the
 * event due, and the next start sends it again with the same webhook-id and body: the CRM
 * sees an event at least once and deduplicates on webhook-id; an event whose 2xx was recorded
 * is never sent again. */
#include "kb/crm/crm.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "kb/base/log.h"
#include "kb/store/outbox.h"

#define DELIVERY_TIMEOUT_MS 15000
#define DELIVERY_ATTEMPTS 10
#define DELIVERY_IDLE_MS 2000        /* look at the outbox at least this often: `kb case
                                      * redeliver` from another process is seen soon */
#define DELIVERY_RETRY_AFTER_MAX 86400 /* seconds: a receiver cannot park an event longer */
#define DELIVERY_BODY_MAX 65536      /* bytes of an answer read (then ignored) */

/* Seconds to wait after the n-th failed attempt (n = 1..9). */
static const double schedule[DELIVERY_ATTEMPTS] = {0, 5, 300, 1800, 7200, 18000, 36000, 50400,
                                                   72000, 86400};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stopping, kicked;
    char *db_path, *url;
    unsigned char key[KB_CRM_KEY_MAX];
    size_t keylen;
    double scale;
} dl = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stopping(void)
{
    pthread_mutex_lock(&dl.mu);
    bool s = dl.stopping;
    pthread_mutex_unlock(&dl.mu);
    return s;
}

/* Sleep until at_ms (realtime), a kick or a stop. */
static void wait_until(int64_t at_ms)
{
    struct timespec ts = {(time_t)(at_ms / 1000), (long)(at_ms % 1000) * 1000000L};
    pthread_mutex_lock(&dl.mu);
    while (!dl.stopping && !dl.kicked) {
        if (pthread_cond_timedwait(&dl.cv, &dl.mu, &ts) == ETIMEDOUT)
            break;
    }
    dl.kicked = false;
    pthread_mutex_unlock(&dl.mu);
}

/* ---- one POST ------------------------------------------------------------------------ */

struct answer {
    size_t body;
    long retry_after; /* seconds, -1 when absent */
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    struct answer *a = ud;
    a->body += size * n;
    return a->body > DELIVERY_BODY_MAX ? 0 : size * n; /* 0 aborts: we read enough */
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct answer *a = ud;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof name - 1 && len < 200 && strncasecmp(p, name, sizeof name - 1) == 0) {
        char v[200];
        memcpy(v, p + sizeof name - 1, len - (sizeof name - 1));
        v[len - (sizeof name - 1)] = 0;
        char *s = v;
        while (*s == ' ' || *s == '\t')
            s++;
        char *e = s + strlen(s);
        while (e > s && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
            *--e = 0;
        char *end = NULL;
        errno = 0;
        long long secs = strtoll(s, &end, 10);
        if (!errno && end != s && !*end && secs >= 0) {
            a->retry_after = secs > DELIVERY_RETRY_AFTER_MAX ? DELIVERY_RETRY_AFTER_MAX : (long)secs;
        } else {
            time_t at = curl_getdate(s, NULL); /* an HTTP-date */
            if (at > 0) {
                long d = (long)(at - time(NULL));
                a->retry_after = d < 0 ? 0 : d > DELIVERY_RETRY_AFTER_MAX ? DELIVERY_RETRY_AFTER_MAX : d;
            }
        }
    }
    return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)ud, (void)a, (void)b, (void)c, (void)d;
    return stopping() ? 1 : 0; /* kb is stopping: abandon, the event stays due */
}

/* POST body to url with the Standard Webhooks headers. *status: the HTTP status, 0 when no
 * answer came (then err describes why). */
static void post(const char *url, const char *id, const char *body, long *status,
                 long *retry_after, char *err, size_t errn)
{
    *status = 0;
    *retry_after = -1;
    err[0] = 0;
    int64_t ts = (int64_t)time(NULL);
    char sig[128], h_id[96], h_ts[64], h_sig[160], h_idem[96];
    if (kb_crm_sign(dl.key, dl.keylen, id, ts, body, strlen(body), sig, sizeof sig) != KB_OK) {
        snprintf(err, errn, "cannot sign");
        return;
    }
    snprintf(h_id, sizeof h_id, "webhook-id: %s", id);
    snprintf(h_ts, sizeof h_ts, "webhook-timestamp: %lld", (long long)ts);
    snprintf(h_sig, sizeof h_sig, "webhook-signature: %s", sig);
    snprintf(h_idem, sizeof h_idem, "Idempotency-Key: %s", id);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    const char *const lines[] = {"Content-Type: application/json", "User-Agent: kb-crm/1",
                                 "Expect:", h_id, h_ts, h_sig, h_idem};
    for (size_t i = 0; c && i < sizeof lines / sizeof lines[0]; i++) {
        struct curl_slist *n = curl_slist_append(h, lines[i]);
        if (!n) {
            curl_slist_free_all(h);
            curl_easy_cleanup(c);
            snprintf(err, errn, "out of memory");
            return;
        }
        h = n;
    }
    if (!c) {
        snprintf(err, errn, "out of memory");
        return;
    }
    struct answer a = {0, -1};
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)DELIVERY_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)DELIVERY_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && code > 0)) {
        *status = code;
        *retry_after = a.retry_after;
        if (code < 200 || code > 299)
            snprintf(err, errn, "HTTP %ld", code);
    } else {
        snprintf(err, errn, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

/* ---- the state machine --------------------------------------------------------------- */

/* When the event is due again after `attempt` failed attempts. */
static int64_t next_time(int attempt, long retry_after, int64_t now)
{
    double secs = schedule[attempt < DELIVERY_ATTEMPTS ? attempt : DELIVERY_ATTEMPTS - 1];
    secs *= dl.scale;
    double jitter = 0.9 + 0.2 * ((double)randombytes_uniform(10001) / 10000.0);
    int64_t delay = (int64_t)(secs * jitter * 1000.0);
    if (retry_after >= 0 && delay < (int64_t)retry_after * 1000)
        delay = (int64_t)retry_after * 1000;
    return now + delay;
}

/* Write an attempt's outcome, retrying while the database is busy (the event must not be
 * sent twice for want of a record). */
static void record_end(struct kb_store *st, const char *id, int attempt, int status,
                       const char *error, const char *state, int64_t next_at)
{
    enum kb_err err;
    while ((err = kb_store_outbox_attempt_end(st, id, attempt, status, error, state, next_at,
                                              now_ms())) == KB_EBUSY && !stopping())
        ;
    if (err)
        kb_log(KB_LOG_ERROR, "crm: cannot record the attempt on %s: %s", id, kb_strerror(err));
}

static void deliver_one(struct kb_store *st, const struct kb_outbox_row *ev)
{
    bool disabled = false;
    if (kb_store_endpoint_disabled(st, dl.url, &disabled) != KB_OK)
        return;
    int attempt = ev->attempts + 1;
    if (disabled) {
        record_end(st, ev->event_id, attempt, 0, "endpoint disabled: it answered 410 Gone",
                   "disabled", ev->next_at);
        kb_log(KB_LOG_WARN, "crm: event %s not sent: the endpoint answered 410 Gone before",
               ev->event_id);
        return;
    }
    if (kb_store_outbox_attempt_begin(st, ev->event_id, attempt, dl.url, now_ms()) != KB_OK)
        return; /* busy: the event is still due, the loop comes back to it */
    long status = 0, retry_after = -1;
    char err[CURL_ERROR_SIZE + 32];
    post(dl.url, ev->event_id, ev->payload, &status, &retry_after, err, sizeof err);
    if (stopping() && status == 0) {
        record_end(st, ev->event_id, attempt, 0, "interrupted: kb stopped", "due", now_ms());
        return;
    }
    int64_t now = now_ms();
    if (status >= 200 && status <= 299) {
        record_end(st, ev->event_id, attempt, (int)status, NULL, "delivered", ev->next_at);
        kb_log(KB_LOG_INFO, "crm: event %s (%s) delivered at attempt %d", ev->event_id, ev->type,
               attempt);
    } else if (status == 410) {
        record_end(st, ev->event_id, attempt, (int)status, err, "disabled", ev->next_at);
        KB_IGNORE(kb_store_endpoint_disable(st, dl.url, "410 Gone", now));
        kb_log(KB_LOG_WARN, "crm: the endpoint answered 410 Gone: delivery to it stops "
                            "(kb case redeliver resumes it)");
    } else if (attempt >= DELIVERY_ATTEMPTS) {
        record_end(st, ev->event_id, attempt, (int)status, err, "failed", ev->next_at);
        kb_log(KB_LOG_ERROR, "crm: event %s failed after %d attempts (%s)", ev->event_id,
               attempt, err);
    } else {
        long ra = (status == 429 || status == 503) ? retry_after : -1;
        int64_t next = next_time(attempt, ra, now);
        record_end(st, ev->event_id, attempt, (int)status, err, "due", next);
        kb_log(KB_LOG_WARN, "crm: event %s attempt %d failed (%s); next in %.1f s", ev->event_id,
               attempt, err, (double)(next - now) / 1000.0);
    }
}

static void *delivery_main(void *p)
{
    (void)p;
    pthread_setname_np(pthread_self(), "kb-crm-delivery");
    struct kb_store *st = NULL;
    while (!stopping() && kb_store_open(dl.db_path, false, &st) != KB_OK)
        wait_until(now_ms() + 1000);
    while (!stopping()) {
        if (!dl.url) {
            wait_until(now_ms() + DELIVERY_IDLE_MS);
            continue;
        }
        struct kb_outbox_row *ev = NULL;
        enum kb_err err = kb_store_outbox_next(st, now_ms(), &ev);
        if (!err) {
            deliver_one(st, ev);
            kb_outbox_row_free(ev);
            continue;
        }
        int64_t at = now_ms() + DELIVERY_IDLE_MS;
        if (err == KB_ENOTFOUND) {
            int64_t next = 0;
            if (kb_store_outbox_next_time(st, &next) == KB_OK && next < at)
                at = next;
        } else {
            at = now_ms() + 1000; /* the database is busy: look again soon */
        }
        wait_until(at);
    }
    kb_store_free(st);
    return NULL;
}

enum kb_err kb_crm_delivery_start(const struct kb_crm_config *cfg)
{
    if (dl.running)
        return KB_EBUSY;
    dl.keylen = 0;
    if (cfg->url) {
        if (strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0) {
            kb_log(KB_LOG_ERROR, "--crm-url must be an http:// or https:// URL");
            return KB_EINVAL;
        }
        if (kb_crm_secret_decode(cfg->secret, dl.key, &dl.keylen) != KB_OK) {
            kb_log(KB_LOG_ERROR, "--crm-secret must be whsec_ followed by the base64 of 24 to "
                                 "64 bytes");
            return KB_EINVAL;
        }
    }
    dl.scale = cfg->retry_scale > 0 ? cfg->retry_scale : 1.0;
    dl.db_path = strdup(cfg->db_path);
    dl.url = cfg->url ? strdup(cfg->url) : NULL;
    if (!dl.db_path || (cfg->url && !dl.url)) {
        free(dl.db_path);
        free(dl.url);
        return KB_ENOMEM;
    }
    dl.stopping = dl.kicked = false;
    if (pthread_create(&dl.thread, NULL, delivery_main, NULL) != 0) {
        free(dl.db_path);
        free(dl.url);
        return KB_ENOMEM;
    }
    dl.running = true;
    if (!dl.url)
        kb_log(KB_LOG_WARN, "crm: no --crm-url: cases are kept and their events wait");
    return KB_OK;
}

void kb_crm_delivery_kick(void)
{
    pthread_mutex_lock(&dl.mu);
    dl.kicked = true;
    pthread_cond_signal(&dl.cv);
    pthread_mutex_unlock(&dl.mu);
}

void kb_crm_delivery_stop(void)
{
    if (!dl.running)
        return;
    pthread_mutex_lock(&dl.mu);
    dl.stopping = true;
    pthread_cond_signal(&dl.cv);
    pthread_mutex_unlock(&dl.mu);
    pthread_join(dl.thread, NULL);
    dl.running = false;
    free(dl.db_path);
    free(dl.url);
    dl.db_path = dl.url = NULL;
    sodium_memzero(dl.key, sizeof dl.key);
}
