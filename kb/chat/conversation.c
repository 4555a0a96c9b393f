/* kb/chat/conversation.c: conversations: their state machine, the workers that run the bot
 * for them, and their writes.
 *
 * Conversation state machine (the state column of conversations; waiting and agent belong to
 * the live takeover of a later issue and are only stored here):
 *
 *   start frame ──process_new──► bot ──process_message (a turn)──► bot
 *                                 │  ──process_resume (a new connection)──► bot
 *                                 │  ──process_end (the customer's end frame)──► ended
 *                                 └──process_idle (idle for --chat-idle)──► ended
 *   ended: a resume answers unknown_conversation; the token is dead.
 *
 * A turn (process_message): the duplicate check (a message id the conversation has gets its
 * ack again, nothing more), the bot's reply with the conversation's state imported into the
 * brain of its language, then one write through the store's writer thread: the customer's
 * message, the bot's reply, the bot state it left, the outcome and consent, and when a rule
 * opened a case, the case and its CRM event, all in one transaction. Only after the commit
 * are the frames sent (ack, reply, case): what the customer sees is stored.
 *
 * Scheduling: a conversation has a FIFO of jobs and is worked on by one thread at a time
 * (busy): from the moment a worker takes a job until its write committed. So a conversation's
 * messages are handled in order, each sees everything before it in the database, and a reply
 * never overtakes an earlier one. Jobs without a conversation yet (a new one, a resume of a
 * conversation not in memory, the periodic sweeps) wait in the loose queue.
 *
 * Memory: a conversation stays in memory while a connection holds it or a job is queued, and
 * 30 s after its last connection left; its bot state is in the database after every turn, so
 * a resume, a rules reload or a restart of kb continues it with the same topic and variables. */
#include "kb/chat/chat_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bot/rivescript.h"
#include "kb/articles/indexer.h"
#include "kb/base/log.h"
#include "kb/store/conversations.h"
#include "search/search.h"

#define CONV_JOBS_MAX 32        /* jobs queued on one conversation */
#define LOOSE_MAX 10000         /* jobs waiting for a conversation */
#define CONV_MESSAGES_MAX 5000  /* messages in one conversation */
#define HISTORY_MAX 5000
#define DETACHED_KEEP_MS 30000  /* a conversation without connection stays this long in memory */
#define SWEEP_MS 60000          /* ending conversations idle in the database */
#define RULES_CHECK_MS 2000     /* looking for rules an import changed */
#define TOKEN_BYTES 32

enum conv_state { CONV_BOT, CONV_WAITING, CONV_AGENT, CONV_ENDED };
static const char *const state_name[] = {"bot", "waiting", "agent", "ended"};

enum job_kind { JOB_NEW, JOB_RESUME, JOB_MESSAGE, JOB_END, JOB_IDLE, JOB_SWEEP, JOB_RULES };

struct chat_job {
    enum job_kind kind;
    uint64_t conn;
    char *id, *text;          /* message */
    char *lang, *page, *token; /* new, resume */
    bool has_after;
    int64_t after;
    struct chat_job *next;
};

struct chat_conv {
    int64_t id;
    char public_id[40];
    char token_hash[65];
    char lang[KB_CHAT_LANG_MAX + 1];
    char user[32];             /* the bot's user id: "c" + id, never the token */
    char *page;
    enum conv_state state;
    int64_t last_seq;
    char *bot_state;           /* bot_user_export JSON as committed */
    unsigned state_gen;        /* brains generation that holds bot_state in memory, 0: none */
    char state_lang[KB_CHAT_LANG_MAX + 1];
    char *last_bot_text;       /* the bot's last message (what a consent answers) */
    int64_t consent_at;
    char *consent_text;
    const char *outcome;       /* static: rule, article, case; NULL until one */
    /* under the engine lock */
    int64_t active_ms;         /* monotonic, last message or connection */
    struct chat_job *jobs, *jobs_tail;
    size_t njobs;
    bool busy, ready, idle_queued, in_tables;
    unsigned conns;
    int64_t detached_ms;
    struct chat_conv *next_id, *next_tok, *next_ready, *prev_all, *next_all;
};

struct chat_worker {
    pthread_t thread;
    struct kb_store *st;
    struct search_index *idx;
    int64_t idx_checked_ms;
    char *index_dir;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, stopping;
    struct chat_worker *workers;
    unsigned nworkers;
    struct kb_store_writer *writer;
    char *default_lang;
    int idle_secs;
    char *db_path;
    /* conversations in memory */
    struct chat_conv **by_id, **by_tok;
    size_t nb, nconvs;
    struct chat_conv *all;
    struct chat_conv *ready_head, *ready_tail;
    struct chat_job *loose_head, *loose_tail;
    size_t nloose;
    unsigned inflight; /* writes submitted and not done */
    pthread_cond_t idle_cv;
    int64_t last_sweep_ms, last_rules_ms;
    bool rules_queued, sweep_queued;
} eng = {.mu = PTHREAD_MUTEX_INITIALIZER,
         .cv = PTHREAD_COND_INITIALIZER,
         .idle_cv = PTHREAD_COND_INITIALIZER};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- what host.c reads --------------------------------------------------------------- */

int64_t chat_conv_id(const struct chat_conv *c)
{
    return c->id;
}

const char *chat_conv_lang(const struct chat_conv *c)
{
    return c->lang;
}

int64_t chat_conv_consent_at(const struct chat_conv *c)
{
    return c->consent_at;
}

const char *chat_conv_consent_text(const struct chat_conv *c)
{
    return c->consent_text;
}

void chat_conv_consent(struct chat_conv *c, const char *consent_var, int64_t now)
{
    if (c->consent_at || !consent_var || strcmp(consent_var, "yes") != 0)
        return;
    char *text = strdup(c->last_bot_text ? c->last_bot_text : "");
    if (!text)
        return; /* recorded at the next turn */
    c->consent_at = now;
    free(c->consent_text);
    c->consent_text = text;
}

/* ---- jobs and conversations ---------------------------------------------------------- */

static void job_free(struct chat_job *j)
{
    if (!j)
        return;
    free(j->id);
    free(j->text);
    free(j->lang);
    free(j->page);
    if (j->token)
        sodium_memzero(j->token, strlen(j->token));
    free(j->token);
    free(j);
}

static void conv_free(struct chat_conv *c)
{
    if (!c)
        return;
    for (struct chat_job *j = c->jobs, *n; j; j = n) {
        n = j->next;
        job_free(j);
    }
    free(c->page);
    free(c->bot_state);
    free(c->last_bot_text);
    free(c->consent_text);
    free(c);
}

static size_t hash_id(int64_t id)
{
    return (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ull >> 20);
}

static size_t hash_tok(const char *h)
{
    size_t v = 0;
    for (int i = 0; i < 12 && h[i]; i++)
        v = v * 16 + (size_t)(h[i] <= '9' ? h[i] - '0' : h[i] - 'a' + 10);
    return v;
}

/* Under the lock. */
static struct chat_conv *find_id(int64_t id)
{
    for (struct chat_conv *c = eng.by_id[hash_id(id) % eng.nb]; c; c = c->next_id)
        if (c->id == id)
            return c;
    return NULL;
}

static struct chat_conv *find_tok(const char *token_hash)
{
    for (struct chat_conv *c = eng.by_tok[hash_tok(token_hash) % eng.nb]; c; c = c->next_tok)
        if (strcmp(c->token_hash, token_hash) == 0)
            return c;
    return NULL;
}

static void tables_grow(void)
{
    size_t nb = eng.nb * 2;
    struct chat_conv **a = calloc(nb, sizeof *a), **b = calloc(nb, sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return; /* longer chains */
    }
    for (struct chat_conv *c = eng.all; c; c = c->next_all) {
        size_t i = hash_id(c->id) % nb, t = hash_tok(c->token_hash) % nb;
        c->next_id = a[i];
        a[i] = c;
        c->next_tok = b[t];
        b[t] = c;
    }
    free(eng.by_id);
    free(eng.by_tok);
    eng.by_id = a;
    eng.by_tok = b;
    eng.nb = nb;
}

static void tables_add(struct chat_conv *c)
{
    size_t i = hash_id(c->id) % eng.nb, t = hash_tok(c->token_hash) % eng.nb;
    c->next_id = eng.by_id[i];
    eng.by_id[i] = c;
    c->next_tok = eng.by_tok[t];
    eng.by_tok[t] = c;
    c->prev_all = NULL;
    c->next_all = eng.all;
    if (eng.all)
        eng.all->prev_all = c;
    eng.all = c;
    c->in_tables = true;
    if (++eng.nconvs > eng.nb * 2)
        tables_grow();
}

static void tables_remove(struct chat_conv *c)
{
    struct chat_conv **pp = &eng.by_id[hash_id(c->id) % eng.nb];
    while (*pp && *pp != c)
        pp = &(*pp)->next_id;
    if (*pp)
        *pp = c->next_id;
    pp = &eng.by_tok[hash_tok(c->token_hash) % eng.nb];
    while (*pp && *pp != c)
        pp = &(*pp)->next_tok;
    if (*pp)
        *pp = c->next_tok;
    if (c->prev_all)
        c->prev_all->next_all = c->next_all;
    else
        eng.all = c->next_all;
    if (c->next_all)
        c->next_all->prev_all = c->prev_all;
    c->in_tables = false;
    eng.nconvs--;
}

/* Under the lock: c has work and nobody works on it: hand it to a worker. */
static void make_ready(struct chat_conv *c)
{
    if (c->busy || c->ready || !c->jobs)
        return;
    c->ready = true;
    c->next_ready = NULL;
    if (eng.ready_tail)
        eng.ready_tail->next_ready = c;
    else
        eng.ready_head = c;
    eng.ready_tail = c;
    pthread_cond_signal(&eng.cv);
}

/* Under the lock: queue j on c. False when c's queue is full (j not taken). */
static bool conv_push(struct chat_conv *c, struct chat_job *j)
{
    if (c->njobs >= CONV_JOBS_MAX)
        return false;
    j->next = NULL;
    if (c->jobs_tail)
        c->jobs_tail->next = j;
    else
        c->jobs = j;
    c->jobs_tail = j;
    c->njobs++;
    make_ready(c);
    return true;
}

/* Under the lock. False when the loose queue is full. */
static bool loose_push(struct chat_job *j)
{
    if (eng.nloose >= LOOSE_MAX)
        return false;
    j->next = NULL;
    if (eng.loose_tail)
        eng.loose_tail->next = j;
    else
        eng.loose_head = j;
    eng.loose_tail = j;
    eng.nloose++;
    pthread_cond_signal(&eng.cv);
    return true;
}

/* The worker is done with c's current job (its write, if any, committed or failed). */
static void conv_done(struct chat_conv *c)
{
    pthread_mutex_lock(&eng.mu);
    c->busy = false;
    make_ready(c);
    pthread_mutex_unlock(&eng.mu);
}

/* ---- frames -------------------------------------------------------------------------- */

static void send_error(uint64_t conn, const char *code, const char *message)
{
    char *f = kb_chat_frame_error(code, message);
    if (f)
        chat_ws_send_conn(conn, f);
}

/* An error about one message: the frame names its id, so that the client knows which one to
 * send again. */
static void send_error_id(uint64_t conn, const char *code, const char *message, const char *id)
{
    char *f = id ? kb_chat_frame_error_id(code, message, id) : kb_chat_frame_error(code, message);
    if (f)
        chat_ws_send_conn(conn, f);
}

/* ---- the writes of a job ------------------------------------------------------------- */

struct msg {
    int64_t seq;
    const char *sender; /* static */
    char *client_id, *text, *extra;
};

enum target { TO_CONN, TO_CONV, TO_OTHERS };

struct out_frame {
    enum target to;
    char *text;
};

#define WRITE_MSGS 4
#define WRITE_FRAMES 8

/* One job's write and what follows its commit. Owned by the writer once submitted. */
struct write {
    struct chat_conv *conv;
    uint64_t conn;
    int64_t now;
    bool create, attach, end, kick, unstarted_on_error;
    struct msg msgs[WRITE_MSGS];
    int nmsg;
    struct chat_case *kase;
    bool update;
    char *bot_state;         /* the state the turn left (becomes the committed one) */
    int64_t last_seq;
    char *last_bot_text;
    const char *outcome;     /* static */
    char lang[KB_CHAT_LANG_MAX + 1];
    char *page;
    struct out_frame frames[WRITE_FRAMES];
    int nframes;
    int64_t end_id;          /* the sweep: end a conversation not in memory */
};

static void write_free(struct write *w)
{
    for (int i = 0; i < w->nmsg; i++) {
        free(w->msgs[i].client_id);
        free(w->msgs[i].text);
        free(w->msgs[i].extra);
    }
    for (int i = 0; i < w->nframes; i++)
        free(w->frames[i].text);
    chat_case_free(w->kase);
    free(w->bot_state);
    free(w->last_bot_text);
    free(w->page);
    free(w);
}

static bool add_frame(struct write *w, enum target to, char *text)
{
    if (!text || w->nframes >= WRITE_FRAMES) {
        free(text);
        return false;
    }
    w->frames[w->nframes++] = (struct out_frame){to, text};
    return true;
}

static enum kb_err write_fn(struct kb_store *st, void *arg)
{
    struct write *w = arg;
    struct chat_conv *c = w->conv;
    enum kb_err err = KB_OK;
    if (w->end_id)
        return kb_store_conversation_end(st, w->end_id, "abandoned", w->now);
    if (w->create) {
        err = kb_store_conversation_create(st, c->public_id, c->token_hash, c->lang, c->page,
                                           w->now, &c->id);
        if (err)
            return err;
    }
    for (int i = 0; i < w->nmsg && !err; i++)
        err = kb_store_message_add(st, c->id, w->msgs[i].seq, w->msgs[i].sender,
                                   w->msgs[i].client_id, w->msgs[i].text, w->msgs[i].extra,
                                   w->now);
    if (!err && w->kase)
        err = kb_crm_case_create(st, w->kase->ref, w->kase->year, w->kase->number,
                                 &w->kase->data, w->now);
    if (!err && w->update) {
        struct kb_conversation_update u = {
            .bot_state = w->bot_state,
            .last_seq = w->last_seq,
            .outcome = w->outcome,
            .consent_at = c->consent_at,
            .consent_text = c->consent_text,
            .state = w->end ? NULL : state_name[c->state],
            .page = w->page,
            .now = w->now,
        };
        err = kb_store_conversation_update(st, c->id, &u);
    }
    if (!err && w->end)
        err = kb_store_conversation_end(st, c->id, w->outcome ? w->outcome : "abandoned", w->now);
    return err;
}

static void post_frames(struct write *w)
{
    for (int i = 0; i < w->nframes; i++) {
        char *t = w->frames[i].text;
        w->frames[i].text = NULL;
        if (w->frames[i].to == TO_CONN)
            chat_ws_send_conn(w->conn, t);
        else
            chat_ws_send_conv(w->conv->id, w->frames[i].to == TO_OTHERS ? w->conn : 0, t);
    }
}

static void write_done(void *arg, enum kb_err err)
{
    struct write *w = arg;
    struct chat_conv *c = w->conv;
    if (w->end_id) {
        write_free(w);
        goto out;
    }
    if (err) {
        kb_log(KB_LOG_ERROR, "chat: a conversation's write failed: %s", kb_strerror(err));
        /* The connection may start again before it reads the error: unstarted goes first. */
        if (w->create && w->conn)
            chat_ws_unstarted(w->conn);
        if (w->conn)
            send_error_id(w->conn, "server_error", "the message could not be stored; send it again",
                          w->nmsg && !strcmp(w->msgs[0].sender, "customer") ? w->msgs[0].client_id
                                                                            : NULL);
        if (w->create) {
            conv_free(c);
        } else {
            c->state_gen = 0; /* the brain went ahead of what is stored: import it again */
            conv_done(c);
        }
        write_free(w);
        goto out;
    }
    if (w->update) {
        c->last_seq = w->last_seq;
        free(c->bot_state);
        c->bot_state = w->bot_state;
        w->bot_state = NULL;
        if (w->last_bot_text) {
            free(c->last_bot_text);
            c->last_bot_text = w->last_bot_text;
            w->last_bot_text = NULL;
        }
        if (w->outcome)
            c->outcome = w->outcome;
        if (w->lang[0])
            memcpy(c->lang, w->lang, sizeof c->lang);
    }
    if (w->create)
        snprintf(c->user, sizeof c->user, "c%lld", (long long)c->id);
    post_frames(w);
    if (w->kick)
        kb_crm_delivery_kick();
    pthread_mutex_lock(&eng.mu);
    if (w->end)
        c->state = CONV_ENDED; /* the tick reads it */
    if (w->create)
        tables_add(c);
    if (w->attach) {
        c->conns++;
        c->active_ms = mono_ms();
    }
    pthread_mutex_unlock(&eng.mu);
    if (w->attach)
        chat_ws_attach(w->conn, c->id);
    if (w->end)
        chat_ws_close_conv(c->id, "conversation ended");
    conv_done(c);
    write_free(w);
out:
    pthread_mutex_lock(&eng.mu);
    eng.inflight--;
    pthread_cond_broadcast(&eng.idle_cv);
    pthread_mutex_unlock(&eng.mu);
}

/* Hand w to the writer; on failure undo as write_done would for a failed write. */
static void submit(struct write *w)
{
    pthread_mutex_lock(&eng.mu);
    eng.inflight++;
    pthread_mutex_unlock(&eng.mu);
    enum kb_err err = kb_store_writer_submit(eng.writer, write_fn, write_done, w);
    if (err)
        write_done(w, err);
}

/* ---- the jobs ------------------------------------------------------------------------ */

static void random_b64(char *out, size_t n, size_t bytes)
{
    unsigned char r[TOKEN_BYTES];
    randombytes_buf(r, bytes);
    sodium_bin2base64(out, n, r, bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(r, sizeof r);
}

static void token_hash(const char *token, char hex[65])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)token, strlen(token), NULL, 0);
    sodium_bin2hex(hex, 65, h, sizeof h);
}

/* A language with rules for lang: lang itself, else the default. */
static void pick_lang(const char *lang, char out[KB_CHAT_LANG_MAX + 1])
{
    struct chat_brains *b = chat_brains_acquire();
    const char *l = lang && chat_brains_find(b, lang) ? lang : eng.default_lang;
    snprintf(out, KB_CHAT_LANG_MAX + 1, "%s", l);
    chat_brains_release(b);
}

static void process_new(struct chat_worker *wk, struct chat_job *j)
{
    (void)wk;
    struct chat_conv *c = calloc(1, sizeof *c);
    struct write *w = calloc(1, sizeof *w);
    char token[TOKEN_BYTES * 2];
    if (!c || !w)
        goto fail;
    random_b64(token, sizeof token, TOKEN_BYTES);
    token_hash(token, c->token_hash);
    char pid[32];
    random_b64(pid, sizeof pid, 16);
    snprintf(c->public_id, sizeof c->public_id, "conv_%s", pid);
    pick_lang(j->lang, c->lang);
    c->state = CONV_BOT;
    c->active_ms = mono_ms();
    if (!(c->bot_state = strdup("{}")) || !(c->page = strdup(j->page ? j->page : "")))
        goto fail;
    *w = (struct write){.conv = c, .conn = j->conn, .now = (int64_t)time(NULL), .create = true,
                        .attach = true};
    if (!add_frame(w, TO_CONN, kb_chat_frame_started(token, false, 0)))
        goto fail;
    sodium_memzero(token, sizeof token);
    submit(w);
    return;
fail:
    sodium_memzero(token, sizeof token);
    conv_free(c);
    free(w);
    chat_ws_unstarted(j->conn);
    send_error(j->conn, "server_error", "the conversation could not be started");
}

/* The messages after `after` as the history frame's array. */
static json_t *history_json(struct kb_store *st, int64_t conv_id, int64_t after)
{
    struct kb_message_row *rows = NULL;
    size_t n = 0;
    if (kb_store_messages_after(st, conv_id, after, HISTORY_MAX, &rows, &n) != KB_OK)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        char at[32];
        kb_crm_iso8601(rows[i].at, at, sizeof at);
        json_t *m = json_pack("{s:I, s:s, s:s, s:s}", "seq", (json_int_t)rows[i].seq, "from",
                              rows[i].sender, "text", rows[i].text, "at", at);
        if (m && strcmp(rows[i].sender, "system") == 0 && rows[i].extra) {
            json_t *extra = json_loads(rows[i].extra, 0, NULL);
            json_t *ref = json_object_get(extra, "ref");
            if (json_is_string(ref))
                json_object_set(m, "ref", ref);
            json_decref(extra);
        }
        if (m && strcmp(rows[i].sender, "bot") == 0) {
            json_t *extra = rows[i].extra ? json_loads(rows[i].extra, 0, NULL) : NULL;
            json_t *q = json_object_get(extra, "quick_replies"), *ar = json_object_get(extra, "articles");
            json_object_set_new(m, "quick_replies", json_is_array(q) ? json_incref(q) : json_array());
            json_object_set_new(m, "articles", json_is_array(ar) ? json_incref(ar) : json_array());
            json_decref(extra);
        }
        if (!m || json_array_append_new(a, m)) {
            json_decref(a);
            a = NULL;
        }
    }
    kb_message_rows_free(rows, n);
    return a;
}

/* A conversation loaded from its row (not in the tables yet). */
static struct chat_conv *conv_from_row(const struct kb_conversation_row *r, const char *hash)
{
    struct chat_conv *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->id = r->id;
    snprintf(c->public_id, sizeof c->public_id, "%s", r->public_id);
    snprintf(c->token_hash, sizeof c->token_hash, "%s", hash);
    snprintf(c->lang, sizeof c->lang, "%s", r->lang);
    snprintf(c->user, sizeof c->user, "c%lld", (long long)r->id);
    c->state = strcmp(r->state, "ended") == 0     ? CONV_ENDED
               : strcmp(r->state, "waiting") == 0 ? CONV_WAITING
               : strcmp(r->state, "agent") == 0   ? CONV_AGENT
                                                  : CONV_BOT;
    c->last_seq = r->last_seq;
    c->consent_at = r->consent_at;
    c->outcome = strcmp(r->outcome, "rule") == 0      ? "rule"
                 : strcmp(r->outcome, "article") == 0 ? "article"
                 : strcmp(r->outcome, "case") == 0    ? "case"
                                                      : NULL;
    c->active_ms = mono_ms();
    c->page = strdup(r->page);
    c->bot_state = strdup(r->bot_state);
    c->consent_text = r->consent_at ? strdup(r->consent_text) : NULL;
    if (!c->page || !c->bot_state || (r->consent_at && !c->consent_text)) {
        conv_free(c);
        return NULL;
    }
    return c;
}

/* c is busy for this worker: attach the job's connection and send what it missed. */
static void resume_attach(struct chat_worker *wk, struct chat_conv *c, struct chat_job *j)
{
    if (c->state == CONV_ENDED) {
        chat_ws_unstarted(j->conn);
        send_error(j->conn, "unknown_conversation", "this conversation has ended");
        conv_done(c);
        return;
    }
    if (!c->last_bot_text) { /* what a consent given now would answer */
        struct kb_message_row *rows = NULL;
        size_t n = 0;
        int64_t from = c->last_seq > 3 ? c->last_seq - 3 : 0;
        if (kb_store_messages_after(wk->st, c->id, from, 4, &rows, &n) == KB_OK)
            for (size_t i = 0; i < n; i++)
                if (strcmp(rows[i].sender, "bot") == 0) {
                    free(c->last_bot_text);
                    c->last_bot_text = strdup(rows[i].text);
                }
        kb_message_rows_free(rows, n);
    }
    json_t *hist = history_json(wk->st, c->id, j->has_after ? j->after : 0);
    struct write *w = calloc(1, sizeof *w);
    if (!hist || !w) {
        json_decref(hist);
        free(w);
        chat_ws_unstarted(j->conn);
        send_error(j->conn, "server_error", "the conversation could not be resumed");
        conv_done(c);
        return;
    }
    *w = (struct write){.conv = c, .conn = j->conn, .now = (int64_t)time(NULL), .attach = true};
    if (j->page && strcmp(j->page, c->page) != 0) {
        /* The page moves with the customer: stored with the conversation. */
        w->update = true;
        w->last_seq = c->last_seq;
        w->bot_state = strdup(c->bot_state);
        w->page = strdup(j->page);
        char *p = strdup(j->page);
        if (p) {
            free(c->page);
            c->page = p;
        }
    }
    bool ok = add_frame(w, TO_CONN, kb_chat_frame_started(j->token, true, c->last_seq)) &&
              add_frame(w, TO_CONN, kb_chat_frame_history(hist));
    json_decref(hist);
    if (!ok || (w->update && (!w->bot_state || !w->page))) {
        write_free(w);
        chat_ws_unstarted(j->conn);
        send_error(j->conn, "server_error", "the conversation could not be resumed");
        conv_done(c);
        return;
    }
    submit(w); /* no write unless the page changed: the writer orders it after the others */
}

static void process_resume_loose(struct chat_worker *wk, struct chat_job *j)
{
    char hash[65];
    token_hash(j->token, hash);
    pthread_mutex_lock(&eng.mu);
    struct chat_conv *c = find_tok(hash);
    if (c) {
        bool ok = conv_push(c, j);
        pthread_mutex_unlock(&eng.mu);
        if (!ok) {
            chat_ws_unstarted(j->conn);
            send_error(j->conn, "rate_limited", "too many requests for this conversation");
            job_free(j);
        }
        return;
    }
    pthread_mutex_unlock(&eng.mu);
    struct kb_conversation_row *row = NULL;
    enum kb_err err = kb_store_conversation_by_token(wk->st, hash, &row);
    if (err || strcmp(row->state, "ended") == 0) {
        chat_ws_unstarted(j->conn);
        if (err && err != KB_ENOTFOUND)
            send_error(j->conn, "server_error", "the conversation could not be resumed");
        else
            send_error(j->conn, "unknown_conversation", "no such conversation, or it has ended");
        kb_conversation_row_free(row);
        job_free(j);
        return;
    }
    c = conv_from_row(row, hash);
    kb_conversation_row_free(row);
    if (!c) {
        chat_ws_unstarted(j->conn);
        send_error(j->conn, "server_error", "the conversation could not be resumed");
        job_free(j);
        return;
    }
    pthread_mutex_lock(&eng.mu);
    struct chat_conv *other = find_tok(hash);
    if (other) { /* another worker loaded it meanwhile */
        bool ok = conv_push(other, j);
        pthread_mutex_unlock(&eng.mu);
        conv_free(c);
        if (!ok) {
            chat_ws_unstarted(j->conn);
            send_error(j->conn, "rate_limited", "too many requests for this conversation");
            job_free(j);
        }
        return;
    }
    tables_add(c);
    c->busy = true;
    c->detached_ms = mono_ms();
    pthread_mutex_unlock(&eng.mu);
    resume_attach(wk, c, j);
    job_free(j);
}

/* The reader of this worker, fresh enough (reopened at most once a second). */
static struct search_index *worker_index(struct chat_worker *wk)
{
    int64_t now = mono_ms();
    if (!wk->idx) {
        if (search_index_open(wk->index_dir, false, &wk->idx) != KB_OK)
            wk->idx = NULL;
        wk->idx_checked_ms = now;
    } else if (now - wk->idx_checked_ms >= 1000) {
        KB_IGNORE(search_index_reopen(wk->idx)); /* an import may have committed */
        wk->idx_checked_ms = now;
    }
    return wk->idx;
}

static const char *sys_text(const char *lang, int which)
{
    static const char *const fr[] = {"", "Conversation terminée par le client.",
                                     "Conversation terminée après une période d'inactivité."};
    static const char *const en[] = {"", "Conversation closed by the customer.",
                                     "Conversation ended after a period of inactivity."};
    return (strcmp(lang, "fr") == 0 ? fr : en)[which];
}

/* A user variable of an exported state, NULL when unset. */
static const char *state_var(json_t *state, const char *name)
{
    const char *v = json_string_value(json_object_get(json_object_get(state, "vars"), name));
    return v && *v && strcmp(v, "undefined") != 0 ? v : NULL;
}

static void process_message(struct chat_worker *wk, struct chat_conv *c, struct chat_job *j)
{
    struct chat_brains *brains = NULL;
    struct chat_turn t = {0};
    char *reply = NULL, *state = NULL;
    json_t *st_json = NULL;
    struct write *w = NULL;
    const char *code = "server_error", *why = "the message could not be processed";
    char id[KB_CHAT_ID_MAX + 1]; /* for an error frame: j->id moves into the write */
    snprintf(id, sizeof id, "%s", j->id ? j->id : "");

    if (c->state == CONV_ENDED) {
        code = "unknown_conversation";
        why = "this conversation has ended";
        goto fail;
    }
    int64_t seq = 0;
    enum kb_err err = kb_store_message_by_client_id(wk->st, c->id, j->id, &seq);
    if (!err) { /* a message it already has: the same ack, no new reply */
        char *f = kb_chat_frame_ack(j->id, seq);
        if (f)
            chat_ws_send_conn(j->conn, f);
        conv_done(c);
        return;
    }
    if (err != KB_ENOTFOUND)
        goto fail;
    if (c->last_seq + WRITE_MSGS > CONV_MESSAGES_MAX) {
        code = "rate_limited";
        why = "this conversation is too long: start a new one";
        goto fail;
    }
    brains = chat_brains_acquire();
    struct bot_brain *brain = chat_brains_find(brains, c->lang);
    if (!brain) {
        why = "the chatbot has no rules for this language";
        goto fail;
    }
    if (c->state_gen != brains->gen || strcmp(c->state_lang, c->lang) != 0) {
        if (bot_user_import(brain, c->user, c->bot_state) != KB_OK)
            goto fail;
        c->state_gen = brains->gen;
        memcpy(c->state_lang, c->lang, sizeof c->state_lang);
    }
    t = (struct chat_turn){.conv = c, .st = wk->st, .idx = worker_index(wk), .raw = j->text,
                           .customer_seq = c->last_seq + 1, .now = (int64_t)time(NULL),
                           .articles = json_array(), .quick = json_array()};
    if (!t.articles || !t.quick)
        goto fail;
    err = bot_reply_ctx(brain, c->user, j->text, &t, &reply, &state);
    if (err) {
        c->state_gen = 0;
        goto fail;
    }
    st_json = json_loads(state, 0, NULL);
    chat_conv_consent(c, state_var(st_json, "consent"), t.now);

    w = calloc(1, sizeof *w);
    if (!w)
        goto fail;
    *w = (struct write){.conv = c, .conn = j->conn, .now = t.now, .update = true,
                        .bot_state = state, .kick = t.opened != NULL};
    state = NULL;
    int64_t s = c->last_seq;
    json_t *extra = json_pack("{s:O, s:O}", "quick_replies", t.quick, "articles", t.articles);
    char *extra_s = extra ? json_dumps(extra, JSON_COMPACT) : NULL;
    json_decref(extra);
    w->msgs[w->nmsg++] = (struct msg){++s, "customer", j->id, j->text, NULL};
    j->id = j->text = NULL;
    w->msgs[w->nmsg++] = (struct msg){++s, "bot", NULL, strdup(reply), extra_s};
    int64_t bot_seq = s;
    if (!extra_s || !w->msgs[1].text)
        goto fail;
    if (t.opened) {
        char text[160];
        if (strcmp(c->lang, "fr") == 0)
            snprintf(text, sizeof text, "Dossier %s ouvert.", t.opened->ref);
        else
            snprintf(text, sizeof text, "Case %s opened.", t.opened->ref);
        json_t *ref = json_pack("{s:s}", "ref", t.opened->ref);
        w->msgs[w->nmsg++] = (struct msg){++s, "system", NULL, strdup(text),
                                          ref ? json_dumps(ref, JSON_COMPACT) : NULL};
        json_decref(ref);
        if (!w->msgs[2].text || !w->msgs[2].extra)
            goto fail;
        w->kase = t.opened;
        t.opened = NULL;
    }
    w->last_seq = s;
    w->last_bot_text = strdup(reply);
    const char *outcome = state_var(st_json, "outcome");
    w->outcome = w->kase ? "case"
                 : outcome && strcmp(outcome, "article") == 0 ? "article"
                 : outcome && strcmp(outcome, "rule") == 0    ? "rule"
                                                              : NULL;
    if (c->outcome && strcmp(c->outcome, "case") == 0)
        w->outcome = NULL; /* a case is the strongest outcome: it stays */
    /* set_lang moved the conversation to a language with rules: its rules from now on. */
    const char *lang = state_var(st_json, "lang");
    if (lang && strcmp(lang, c->lang) != 0 && chat_brains_find(brains, lang))
        snprintf(w->lang, sizeof w->lang, "%s", lang);
    if (!w->last_bot_text)
        goto fail;
    /* The sender's ack; the other tabs of this conversation see the customer's message. */
    json_t *mine = json_pack("[{s:I, s:s, s:s, s:s}]", "seq", (json_int_t)w->msgs[0].seq, "from",
                             "customer", "text", w->msgs[0].text, "at", "");
    if (mine) {
        char at[32];
        kb_crm_iso8601(t.now, at, sizeof at);
        json_object_set_new(json_array_get(mine, 0), "at", json_string(at));
    }
    bool ok = add_frame(w, TO_CONN, kb_chat_frame_ack(w->msgs[0].client_id, w->msgs[0].seq)) &&
              add_frame(w, TO_OTHERS, mine ? kb_chat_frame_history(mine) : NULL) &&
              add_frame(w, TO_CONV, kb_chat_frame_reply(bot_seq, reply, t.quick, t.articles));
    json_decref(mine);
    if (ok && w->kase)
        ok = add_frame(w, TO_CONV, kb_chat_frame_case(w->kase->ref, w->msgs[2].seq));
    if (!ok)
        goto fail;
    free(reply);
    json_decref(st_json);
    json_decref(t.articles);
    json_decref(t.quick);
    chat_brains_release(brains);
    submit(w);
    return;
fail:
    if (w)
        write_free(w);
    if (reply || state)
        c->state_gen = 0; /* the brain moved on without a commit */
    free(reply);
    free(state);
    json_decref(st_json);
    json_decref(t.articles);
    json_decref(t.quick);
    chat_case_free(t.opened);
    chat_brains_release(brains);
    send_error_id(j->conn, code, why, id[0] ? id : NULL);
    conv_done(c);
}

/* The customer's end frame (conn set) or the idle timeout (conn 0). */
static void process_end(struct chat_conv *c, struct chat_job *j, int which)
{
    if (c->state == CONV_ENDED) {
        conv_done(c);
        return;
    }
    if (j->kind == JOB_IDLE) {
        pthread_mutex_lock(&eng.mu);
        c->idle_queued = false;
        bool active = mono_ms() - c->active_ms < (int64_t)eng.idle_secs * 1000;
        pthread_mutex_unlock(&eng.mu);
        if (active) {
            conv_done(c);
            return;
        }
    }
    struct write *w = calloc(1, sizeof *w);
    if (!w) {
        conv_done(c);
        return;
    }
    *w = (struct write){.conv = c, .conn = j->conn, .now = (int64_t)time(NULL), .update = true,
                        .end = true, .bot_state = strdup(c->bot_state),
                        .last_seq = c->last_seq + 1, .outcome = c->outcome};
    w->msgs[w->nmsg++] = (struct msg){c->last_seq + 1, "system", NULL,
                                      strdup(sys_text(c->lang, which)), NULL};
    char at[32];
    kb_crm_iso8601(w->now, at, sizeof at);
    json_t *said = json_pack("[{s:I, s:s, s:s, s:s}]", "seq", (json_int_t)(c->last_seq + 1),
                             "from", "system", "text", sys_text(c->lang, which), "at", at);
    /* Its connections read why the conversation ends, then the server closes them. */
    bool ok = said && add_frame(w, TO_CONV, kb_chat_frame_history(said));
    json_decref(said);
    if (!w->bot_state || !w->msgs[0].text || !ok) {
        write_free(w);
        conv_done(c);
        return;
    }
    submit(w);
}

static void process_sweep(struct chat_worker *wk)
{
    int64_t *ids = NULL;
    size_t n = 0;
    int64_t before = (int64_t)time(NULL) - eng.idle_secs;
    if (kb_store_conversations_idle(wk->st, before, 500, &ids, &n) != KB_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&eng.mu);
        bool in_memory = find_id(ids[i]) != NULL;
        pthread_mutex_unlock(&eng.mu);
        if (in_memory)
            continue; /* the tick ends it with its connections */
        struct write *w = calloc(1, sizeof *w);
        if (!w)
            break;
        *w = (struct write){.end_id = ids[i], .now = (int64_t)time(NULL)};
        submit(w);
    }
    free(ids);
}

static void process_rules(struct chat_worker *wk)
{
    bool changed = false;
    enum kb_err err = chat_rules_refresh(wk->st, &changed);
    if (err)
        kb_log(KB_LOG_ERROR, "chat: cannot load the rules: %s", kb_strerror(err));
}

/* ---- workers ------------------------------------------------------------------------- */

static void *worker_main(void *p)
{
    struct chat_worker *wk = p;
    pthread_setname_np(pthread_self(), "kb-chat-worker");
    pthread_mutex_lock(&eng.mu);
    for (;;) {
        while (!eng.stopping && !eng.loose_head && !eng.ready_head)
            pthread_cond_wait(&eng.cv, &eng.mu);
        if (eng.stopping)
            break;
        if (eng.loose_head) {
            struct chat_job *j = eng.loose_head;
            eng.loose_head = j->next;
            if (!eng.loose_head)
                eng.loose_tail = NULL;
            eng.nloose--;
            if (j->kind == JOB_RULES)
                eng.rules_queued = false;
            if (j->kind == JOB_SWEEP)
                eng.sweep_queued = false;
            pthread_mutex_unlock(&eng.mu);
            switch (j->kind) {
            case JOB_NEW: process_new(wk, j); break;
            case JOB_RESUME:
                process_resume_loose(wk, j);
                j = NULL; /* queued or freed there */
                break;
            case JOB_SWEEP: process_sweep(wk); break;
            case JOB_RULES: process_rules(wk); break;
            default: break;
            }
            job_free(j);
            pthread_mutex_lock(&eng.mu);
            continue;
        }
        struct chat_conv *c = eng.ready_head;
        eng.ready_head = c->next_ready;
        if (!eng.ready_head)
            eng.ready_tail = NULL;
        c->ready = false;
        struct chat_job *j = c->jobs;
        c->jobs = j->next;
        if (!c->jobs)
            c->jobs_tail = NULL;
        c->njobs--;
        c->busy = true;
        pthread_mutex_unlock(&eng.mu);
        switch (j->kind) {
        case JOB_MESSAGE: process_message(wk, c, j); break;
        case JOB_RESUME: resume_attach(wk, c, j); break;
        case JOB_END: process_end(c, j, 1); break;
        case JOB_IDLE: process_end(c, j, 2); break;
        default: conv_done(c); break;
        }
        job_free(j);
        pthread_mutex_lock(&eng.mu);
    }
    pthread_mutex_unlock(&eng.mu);
    return NULL;
}

/* ---- from the websocket thread ------------------------------------------------------- */

static struct chat_job *job_new(enum job_kind kind, uint64_t conn)
{
    struct chat_job *j = calloc(1, sizeof *j);
    if (j) {
        j->kind = kind;
        j->conn = conn;
    }
    return j;
}

void chat_engine_start_frame(uint64_t conn, struct kb_chat_frame *f)
{
    struct chat_job *j = job_new(f->resume ? JOB_RESUME : JOB_NEW, conn);
    if (!j) {
        kb_chat_frame_release(f);
        chat_ws_unstarted(conn);
        send_error(conn, "server_error", "out of memory");
        return;
    }
    j->lang = f->lang;
    j->page = f->page;
    j->token = f->resume;
    j->has_after = f->has_after;
    j->after = f->after;
    f->lang = f->page = f->resume = NULL;
    kb_chat_frame_release(f);
    pthread_mutex_lock(&eng.mu);
    bool ok = loose_push(j);
    pthread_mutex_unlock(&eng.mu);
    if (!ok) {
        job_free(j);
        chat_ws_unstarted(conn);
        send_error(conn, "rate_limited", "the chat is too busy: try again in a moment");
    }
}

void chat_engine_message(int64_t conv, uint64_t conn, struct kb_chat_frame *f)
{
    struct chat_job *j = job_new(JOB_MESSAGE, conn);
    if (!j) {
        kb_chat_frame_release(f);
        send_error(conn, "server_error", "out of memory");
        return;
    }
    j->id = f->id;
    j->text = f->text;
    f->id = f->text = NULL;
    kb_chat_frame_release(f);
    pthread_mutex_lock(&eng.mu);
    struct chat_conv *c = find_id(conv);
    bool ok = c && conv_push(c, j);
    if (ok)
        c->active_ms = mono_ms();
    pthread_mutex_unlock(&eng.mu);
    if (!ok) {
        send_error_id(conn, c ? "rate_limited" : "unknown_conversation",
                      c ? "too many messages waiting: slow down" : "this conversation has ended",
                      j->id);
        job_free(j);
    }
}

void chat_engine_end(int64_t conv, uint64_t conn)
{
    struct chat_job *j = job_new(JOB_END, conn);
    if (!j)
        return;
    pthread_mutex_lock(&eng.mu);
    struct chat_conv *c = find_id(conv);
    bool ok = c && conv_push(c, j);
    pthread_mutex_unlock(&eng.mu);
    if (!ok)
        job_free(j);
}

void chat_engine_detached(int64_t conv)
{
    pthread_mutex_lock(&eng.mu);
    struct chat_conv *c = find_id(conv);
    if (c && c->conns) {
        c->conns--;
        if (!c->conns)
            c->detached_ms = mono_ms();
    }
    pthread_mutex_unlock(&eng.mu);
}

/* Under the lock: c leaves memory (its state is in the database). */
static void evict(struct chat_conv *c)
{
    tables_remove(c);
    if (c->state_gen) {
        struct chat_brains *b = chat_brains_acquire();
        struct bot_brain *brain = b && b->gen == c->state_gen ? chat_brains_find(b, c->state_lang)
                                                              : NULL;
        if (brain)
            bot_user_forget(brain, c->user);
        chat_brains_release(b);
    }
    conv_free(c);
}

void chat_engine_tick(void)
{
    int64_t now = mono_ms();
    pthread_mutex_lock(&eng.mu);
    if (!eng.running || eng.stopping) {
        pthread_mutex_unlock(&eng.mu);
        return;
    }
    for (struct chat_conv *c = eng.all, *next; c; c = next) {
        next = c->next_all;
        if (c->state != CONV_ENDED && !c->idle_queued &&
            now - c->active_ms > (int64_t)eng.idle_secs * 1000) {
            struct chat_job *j = job_new(JOB_IDLE, 0);
            if (j && conv_push(c, j))
                c->idle_queued = true;
            else
                job_free(j);
        }
        if (!c->conns && !c->busy && !c->jobs &&
            (c->state == CONV_ENDED || now - c->detached_ms > DETACHED_KEEP_MS))
            evict(c);
    }
    if (!eng.rules_queued && now - eng.last_rules_ms >= RULES_CHECK_MS) {
        struct chat_job *j = job_new(JOB_RULES, 0);
        if (j && loose_push(j)) {
            eng.rules_queued = true;
            eng.last_rules_ms = now;
        } else {
            job_free(j);
        }
    }
    if (!eng.sweep_queued && now - eng.last_sweep_ms >= SWEEP_MS) {
        struct chat_job *j = job_new(JOB_SWEEP, 0);
        if (j && loose_push(j)) {
            eng.sweep_queued = true;
            eng.last_sweep_ms = now;
        } else {
            job_free(j);
        }
    }
    pthread_mutex_unlock(&eng.mu);
}

/* ---- life cycle ---------------------------------------------------------------------- */

enum kb_err chat_engine_start(const struct kb_chat_config *cfg)
{
    enum kb_err err = KB_ENOMEM;
    eng.nb = 1024;
    eng.by_id = calloc(eng.nb, sizeof *eng.by_id);
    eng.by_tok = calloc(eng.nb, sizeof *eng.by_tok);
    eng.default_lang = strdup(cfg->default_lang ? cfg->default_lang : "fr");
    eng.db_path = strdup(cfg->db_path);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    eng.nworkers = cfg->workers ? cfg->workers : ncpu > 0 ? (unsigned)ncpu : 2;
    eng.workers = calloc(eng.nworkers, sizeof *eng.workers);
    if (!eng.by_id || !eng.by_tok || !eng.default_lang || !eng.db_path || !eng.workers)
        goto fail;
    eng.writer = cfg->writer;
    eng.idle_secs = cfg->idle_secs > 0 ? cfg->idle_secs : 1800;
    eng.stopping = false;
    eng.last_sweep_ms = eng.last_rules_ms = mono_ms();
    /* The rules first: a conversation started at once must find them. */
    struct kb_store *st = NULL;
    err = kb_store_open(cfg->db_path, false, &st);
    bool changed = false;
    if (!err)
        err = chat_rules_refresh(st, &changed);
    kb_store_free(st);
    if (err)
        goto fail;
    for (unsigned i = 0; i < eng.nworkers; i++) {
        struct chat_worker *wk = &eng.workers[i];
        wk->index_dir = kb_indexer_dir_for(cfg->db_path);
        err = wk->index_dir ? kb_store_open(cfg->db_path, false, &wk->st) : KB_ENOMEM;
        if (!err && pthread_create(&wk->thread, NULL, worker_main, wk) != 0)
            err = KB_ENOMEM;
        if (err) {
            kb_store_free(wk->st);
            free(wk->index_dir);
            wk->st = NULL;
            wk->index_dir = NULL;
            eng.nworkers = i;
            chat_engine_stop();
            return err;
        }
    }
    eng.running = true;
    return KB_OK;
fail:
    free(eng.by_id);
    free(eng.by_tok);
    free(eng.default_lang);
    free(eng.db_path);
    free(eng.workers);
    eng.by_id = eng.by_tok = NULL;
    eng.default_lang = eng.db_path = NULL;
    eng.workers = NULL;
    return err;
}

void chat_engine_stop(void)
{
    pthread_mutex_lock(&eng.mu);
    eng.stopping = true;
    pthread_cond_broadcast(&eng.cv);
    pthread_mutex_unlock(&eng.mu);
    for (unsigned i = 0; i < eng.nworkers; i++)
        pthread_join(eng.workers[i].thread, NULL);
    /* Writes in flight finish (the writer calls write_done), then memory goes. */
    pthread_mutex_lock(&eng.mu);
    while (eng.inflight)
        pthread_cond_wait(&eng.idle_cv, &eng.mu);
    for (struct chat_conv *c = eng.all, *next; c; c = next) {
        next = c->next_all;
        conv_free(c);
    }
    eng.all = NULL;
    for (struct chat_job *j = eng.loose_head, *n; j; j = n) {
        n = j->next;
        job_free(j);
    }
    eng.loose_head = eng.loose_tail = NULL;
    eng.nloose = 0;
    eng.ready_head = eng.ready_tail = NULL;
    eng.nconvs = 0;
    eng.running = false;
    pthread_mutex_unlock(&eng.mu);
    for (unsigned i = 0; i < eng.nworkers; i++) {
        search_index_free(eng.workers[i].idx);
        kb_store_free(eng.workers[i].st);
        free(eng.workers[i].index_dir);
    }
    free(eng.workers);
    free(eng.by_id);
    free(eng.by_tok);
    free(eng.default_lang);
    free(eng.db_path);
    eng.workers = NULL;
    eng.by_id = eng.by_tok = NULL;
    eng.default_lang = eng.db_path = NULL;
    eng.nworkers = 0;
    chat_rules_clear();
}
