/* kb/chat/conversation.c: conversations: their state machine, the workers that run the bot
 * for them, and their writes.
 *
 * Conversation state machine (the state column of conversations), with the function behind
 * each transition:
 *
 *   start frame ──process_new──► bot ──process_message (a turn)──► bot
 *                                 │  ──process_resume (a new connection)──► bot
 *                                 │  ──process_end (the customer's end frame)──► ended
 *                                 │  ──process_end (idle for --chat-idle)──► ended
 *                                 └──process_message: a turn whose rules ran
 *                                      <call>handoff</call> within --chat-hours──► waiting
 *   waiting ──process_take (an agent's take; the writer's conditional update decides)──► agent
 *           ──process_expire (nobody took it within --chat-wait: the bot is sent
 *                "kbevent wait expired" and offers a case)──► bot
 *           ──process_end (the customer's end frame; idle)──► ended
 *   agent ──process_release (the agent's leave)──► bot
 *         ──process_release (the agent had no channel open for --chat-wait: gone)──► bot
 *         ──process_end (the agent's end, the customer's end frame, idle)──► ended
 *   ended: a resume answers unknown_conversation; the token is dead.
 *
 * Waiting and agent: the customer's messages are stored and acknowledged, and the bot stays
 * silent (process_held_message); a waiting one's last customer messages are shown in the
 * agents' queue, a held one's go to its agent. Idle: a held conversation ends after
 * --chat-idle without a message from either side (the agent's messages count, as the
 * customer's); a waiting one gives up after --chat-wait first. Both stay in memory until they
 * leave those states (never evicted), and start-up loads them again from the database
 * (chat_engine_start): after a restart a waiting conversation still waits (its clock is the
 * stored waiting_since), a held one is still held and its agent finds it when his channel
 * reconnects (the hello job sends him every conversation he holds).
 *
 * The race of two agents for one conversation: their takes are jobs of the conversation,
 * worked on one at a time, and the take's write is an UPDATE ... WHERE state = 'waiting'
 * whose row count the writer checks (kb_store_conversation_take): exactly one agent takes it,
 * the other gets the error taken. Agents' jobs check the agent's session first
 * (kb_auth_caller): a session that ended loses the channel.
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
 * 30 s after its last connection left (waiting and held ones stay until they leave those
 * states); its bot state is in the database after every turn, so
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
#include "kb/articles/article.h"
#include "kb/articles/indexer.h"
#include "kb/auth/auth.h"
#include "kb/base/log.h"
#include "kb/store/articles.h"
#include "kb/store/conversations.h"
#include "search/fresh.h"
#include "search/search.h"

#define CONV_JOBS_MAX 32        /* jobs queued on one conversation */
#define LOOSE_MAX 10000         /* jobs waiting for a conversation */
#define CONV_MESSAGES_MAX 5000  /* messages in one conversation */
#define HISTORY_MAX 5000
#define DETACHED_KEEP_MS 30000  /* a conversation without connection stays this long in memory */
#define SWEEP_MS 60000          /* ending conversations idle in the database */
#define RULES_CHECK_MS 2000     /* looking for rules an import changed */
#define CHAT_REFRESH_MS 250     /* the search readers follow the index this closely */
#define TOKEN_BYTES 32
#define RECENT_MAX 3            /* last customer messages of a conversation, for the queue */
#define HANDOFF_LOAD_MAX 10000  /* waiting and held conversations loaded at start-up */
#define QUEUE_MAX 200           /* conversations listed in a queue frame */
#define PRESENCE_MAX 2000       /* agents whose channels are counted */
#define WAIT_EVENT "kbevent wait expired" /* the bot's input when a wait ends unanswered */

enum conv_state { CONV_BOT, CONV_WAITING, CONV_AGENT, CONV_ENDED };
static const char *const state_name[] = {"bot", "waiting", "agent", "ended"};

enum job_kind { JOB_NEW, JOB_RESUME, JOB_MESSAGE, JOB_END, JOB_IDLE, JOB_SWEEP, JOB_RULES,
                /* the live takeover: loose (an agent's channel) ... */
                JOB_AGENT_HELLO, JOB_AGENT_CHECK,
                /* ... and of a conversation */
                JOB_AGENT, JOB_EXPIRE, JOB_GONE };

struct chat_job {
    enum job_kind kind;
    uint64_t conn;
    char *id, *text;          /* message */
    char *lang, *page, *token; /* new, resume */
    bool has_after;
    int64_t after;
    /* an agent's job: the connection, its session's secret (checked by the worker) and
     * address, and the frame */
    uint64_t agent_conn;
    char *session;
    char addr[48];
    struct kb_chat_agent_frame af;
    struct chat_job *next;
};

/* A customer message, as the agents' queue shows it. */
struct recent {
    int64_t seq, at;
    char *text;
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
    /* The live takeover. Written by the worker holding busy and under the lock (the tick, the
     * queue and agents' hellos read them under the lock); state, lang and page too. */
    int64_t agent_id;                        /* the agent holding it (agent), 0 otherwise */
    char agent_login[KB_AUTH_LOGIN_MAX + 1];
    char agent_name[128];                    /* display name (else the login) */
    int64_t waiting_since;                   /* unix seconds (waiting), 0 otherwise */
    struct recent recent[RECENT_MAX];        /* the last customer messages, oldest first */
    int nrecent;
    bool handoff_queued;                     /* an expiry or a release job is queued */
    bool in_handoff;                         /* in the list of waiting and held ones */
    struct chat_conv *prev_h, *next_h;
};

/* Agents whose channel is open (agent.c counts them), to release the conversations of an
 * agent gone for good. Under the engine lock. */
struct presence {
    int64_t user_id;
    unsigned conns;
    int64_t away_ms; /* monotonic, since when conns is 0 */
};

struct chat_worker {
    pthread_t thread;
    struct kb_store *st;
    struct search_fresh_slot *reader; /* its search reader, kept fresh by eng.readers */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, stopping;
    struct chat_worker *workers;
    struct search_fresh *readers; /* the workers' search readers (search/fresh.h) */
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
    /* the live takeover */
    struct kb_chat_hours hours;
    int wait_secs;
    struct chat_conv *handoff, *handoff_tail; /* waiting and held conversations */
    struct presence *presence;
    size_t npresence;
    int64_t started_ms;
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
    if (j->session)
        sodium_memzero(j->session, strlen(j->session));
    free(j->session);
    kb_chat_agent_frame_release(&j->af);
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
    for (int i = 0; i < c->nrecent; i++)
        free(c->recent[i].text);
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

/* Under the lock: c is in the list of waiting and held conversations exactly when it is in one
 * of those states (and in the tables). */
static void handoff_sync(struct chat_conv *c)
{
    bool want = c->in_tables && (c->state == CONV_WAITING || c->state == CONV_AGENT);
    if (want == c->in_handoff)
        return;
    if (want) {
        c->prev_h = eng.handoff_tail;
        c->next_h = NULL;
        if (eng.handoff_tail)
            eng.handoff_tail->next_h = c;
        else
            eng.handoff = c;
        eng.handoff_tail = c;
    } else {
        if (c->prev_h)
            c->prev_h->next_h = c->next_h;
        else
            eng.handoff = c->next_h;
        if (c->next_h)
            c->next_h->prev_h = c->prev_h;
        else
            eng.handoff_tail = c->prev_h;
        c->prev_h = c->next_h = NULL;
    }
    c->in_handoff = want;
}

/* Under the lock: the waiting or held conversation whose public id is pid, NULL when none. */
static struct chat_conv *find_handoff(const char *pid)
{
    for (struct chat_conv *c = eng.handoff; c; c = c->next_h)
        if (strcmp(c->public_id, pid) == 0)
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
    handoff_sync(c);
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
    handoff_sync(c);
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

/* TO_AGENT_CONN: the agent connection the job came from; TO_AGENT_USER: every channel of
 * the agent w->to_user. */
enum target { TO_CONN, TO_CONV, TO_OTHERS, TO_AGENT_CONN, TO_AGENT_USER };

struct out_frame {
    enum target to;
    char *text;
};

#define WRITE_MSGS 4
#define WRITE_FRAMES 10

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
    /* the live takeover */
    uint64_t agent_conn;     /* the agent connection the job came from (0: none) */
    int64_t to_user;         /* the agent TO_AGENT_USER frames go to */
    bool handoff;            /* the state moves to new_state with these: */
    enum conv_state new_state;
    int64_t agent_id, waiting_since;
    char agent_login[KB_AUTH_LOGIN_MAX + 1], agent_name[128];
    bool take;               /* only if still waiting: the race of two agents */
    bool queue_changed;      /* agents get the new queue after the commit */
    bool active;             /* a message of either side: the idle clock starts again */
    int recent;              /* msgs[recent - 1] is a customer message for the queue (0: none) */
    char audit[24];          /* an audit action of the agent (chat.take, chat.case), "" none */
    char audit_target[40];   /* its target ("": the conversation's public id) */
    char audit_addr[48];
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

/* ---- what agents see ------------------------------------------------------------------ */

/* An error frame of the agents' channel about conversation pid (NULL: none) and message id. */
static void agent_error(uint64_t conn, const char *code, const char *message, const char *pid,
                        const char *id)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);
    if (o && pid)
        json_object_set_new(o, "conversation", json_string(pid));
    if (o && id)
        json_object_set_new(o, "id", json_string(id));
    char *f = kb_chat_frame_dump(o);
    if (f)
        chat_agent_send_conn(conn, f);
}

/* Under the lock: remember customer message m for the queue (the last RECENT_MAX). */
static void recent_push(struct chat_conv *c, const struct msg *m)
{
    char *text = strdup(m->text);
    if (!text)
        return;
    if (c->nrecent == RECENT_MAX) {
        free(c->recent[0].text);
        memmove(&c->recent[0], &c->recent[1], sizeof c->recent[0] * (RECENT_MAX - 1));
        c->nrecent--;
    }
    c->recent[c->nrecent++] = (struct recent){m->seq, (int64_t)time(NULL), text};
}

static int by_waiting_since(const void *a, const void *b)
{
    const struct chat_conv *x = *(struct chat_conv *const *)a, *y = *(struct chat_conv *const *)b;
    return x->waiting_since != y->waiting_since ? (x->waiting_since < y->waiting_since ? -1 : 1)
                                                : (x->id < y->id ? -1 : x->id > y->id);
}

/* Under the lock: the queue frame: every waiting conversation, oldest first. NULL when out of
 * memory. */
static char *queue_frame_locked(void)
{
    struct chat_conv *waiting[QUEUE_MAX];
    size_t n = 0, total = 0;
    for (struct chat_conv *c = eng.handoff; c; c = c->next_h)
        if (c->state == CONV_WAITING) {
            if (n < QUEUE_MAX)
                waiting[n++] = c;
            total++;
        }
    qsort(waiting, n, sizeof waiting[0], by_waiting_since);
    int64_t now = (int64_t)time(NULL);
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        struct chat_conv *c = waiting[i];
        char since[32];
        kb_crm_iso8601(c->waiting_since, since, sizeof since);
        json_t *msgs = json_array();
        for (int k = 0; msgs && k < c->nrecent; k++) {
            char at[32];
            kb_crm_iso8601(c->recent[k].at, at, sizeof at);
            json_array_append_new(msgs, json_pack("{s:I, s:s, s:s}", "seq",
                                                  (json_int_t)c->recent[k].seq, "text",
                                                  c->recent[k].text, "at", at));
        }
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "conversation",
                                              c->public_id, "lang", c->lang, "page",
                                              c->page ? c->page : "", "waiting_since", since,
                                              "waited",
                                              (json_int_t)(now > c->waiting_since
                                                               ? now - c->waiting_since
                                                               : 0),
                                              "messages", msgs ? msgs : json_array()));
    }
    return kb_chat_frame_dump(json_pack("{s:s, s:o, s:I}", "type", "queue", "conversations",
                                        list ? list : json_array(), "total", (json_int_t)total));
}

/* Under the lock: every agent gets the queue. */
static void broadcast_queue_locked(void)
{
    char *f = queue_frame_locked();
    if (f)
        chat_agent_broadcast(f);
}

/* A message as agents (and history frames) show it: {seq, from, text, at} and what its
 * extra says: a bot's quick replies and articles, an agent's name and articles, a system
 * message's ref or handoff and name. New reference, NULL when out of memory. */
static json_t *message_json(int64_t seq, const char *sender, const char *text, int64_t t,
                            const char *extra_s)
{
    char at[32];
    kb_crm_iso8601(t, at, sizeof at);
    json_t *m = json_pack("{s:I, s:s, s:s, s:s}", "seq", (json_int_t)seq, "from", sender, "text",
                          text, "at", at);
    json_t *extra = extra_s ? json_loads(extra_s, 0, NULL) : NULL;
    if (m && strcmp(sender, "system") == 0) {
        for (const char *const *k = (const char *const[]){"ref", "handoff", "name", NULL}; *k;
             k++) {
            json_t *v = json_object_get(extra, *k);
            if (json_is_string(v))
                json_object_set(m, *k, v);
        }
    } else if (m && strcmp(sender, "bot") == 0) {
        json_t *q = json_object_get(extra, "quick_replies"), *ar = json_object_get(extra, "articles");
        json_object_set_new(m, "quick_replies", json_is_array(q) ? json_incref(q) : json_array());
        json_object_set_new(m, "articles", json_is_array(ar) ? json_incref(ar) : json_array());
    } else if (m && strcmp(sender, "agent") == 0) {
        json_t *name = json_object_get(extra, "name"), *ar = json_object_get(extra, "articles");
        json_object_set_new(m, "name", json_is_string(name) ? json_incref(name) : json_string(""));
        json_object_set_new(m, "articles", json_is_array(ar) ? json_incref(ar) : json_array());
    }
    json_decref(extra);
    return m;
}

/* The message frame of the agents' channel for message m of conversation pid (id: the
 * agent's own message's id, or NULL). */
static char *agent_message_frame(const char *pid, const struct msg *m, int64_t t,
                                 const char *id)
{
    json_t *o = message_json(m->seq, m->sender, m->text, t, m->extra);
    if (o) {
        json_object_set_new(o, "type", json_string("message"));
        json_object_set_new(o, "conversation", json_string(pid));
        if (id)
            json_object_set_new(o, "id", json_string(id));
    }
    return kb_chat_frame_dump(o);
}

static char *released_frame(const char *pid, const char *reason)
{
    return kb_chat_frame_dump(json_pack("{s:s, s:s, s:s}", "type", "released", "conversation",
                                        pid, "reason", reason));
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
    if (w->take) {
        bool taken = false;
        err = kb_store_conversation_take(st, c->id, w->agent_id, w->now, &taken);
        if (!err && !taken)
            err = KB_EEXISTS; /* another agent was first: nothing of this job is written */
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
            .state = w->end ? NULL : state_name[w->handoff ? w->new_state : c->state],
            .page = w->page,
            .now = w->now,
            .handoff = w->handoff,
            .agent_id = w->agent_id,
            .waiting_since = w->waiting_since,
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
        else if (w->frames[i].to == TO_AGENT_CONN)
            chat_agent_send_conn(w->agent_conn, t);
        else if (w->frames[i].to == TO_AGENT_USER)
            chat_agent_send_user(w->to_user, t);
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
        bool lost_race = w->take && err == KB_EEXISTS;
        if (!lost_race)
            kb_log(KB_LOG_ERROR, "chat: a conversation's write failed: %s", kb_strerror(err));
        /* The connection may start again before it reads the error: unstarted goes first. */
        if (w->create && w->conn)
            chat_ws_unstarted(w->conn);
        if (w->conn)
            send_error_id(w->conn, "server_error", "the message could not be stored; send it again",
                          w->nmsg && !strcmp(w->msgs[0].sender, "customer") ? w->msgs[0].client_id
                                                                            : NULL);
        if (w->agent_conn)
            agent_error(w->agent_conn, lost_race ? "taken" : "server_error",
                        lost_race ? "another agent took this conversation first"
                                  : "the action could not be stored; try again",
                        c->public_id, NULL);
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
        if (w->bot_state) { /* NULL: the bot state did not change (no turn) */
            free(c->bot_state);
            c->bot_state = w->bot_state;
            w->bot_state = NULL;
        }
        if (w->last_bot_text) {
            free(c->last_bot_text);
            c->last_bot_text = w->last_bot_text;
            w->last_bot_text = NULL;
        }
        if (w->outcome)
            c->outcome = w->outcome;
    }
    if (w->create)
        snprintf(c->user, sizeof c->user, "c%lld", (long long)c->id);
    post_frames(w);
    if (w->kick)
        kb_crm_delivery_kick();
    pthread_mutex_lock(&eng.mu);
    if (w->update && w->lang[0])
        memcpy(c->lang, w->lang, sizeof c->lang);
    if (w->handoff) {
        c->state = w->new_state;
        c->agent_id = w->agent_id;
        memcpy(c->agent_login, w->agent_login, sizeof c->agent_login);
        memcpy(c->agent_name, w->agent_name, sizeof c->agent_name);
        c->waiting_since = w->waiting_since;
        handoff_sync(c);
    }
    if (w->recent > 0 && w->recent <= w->nmsg)
        recent_push(c, &w->msgs[w->recent - 1]);
    if (w->active)
        c->active_ms = mono_ms();
    if (w->end) {
        c->state = CONV_ENDED; /* the tick reads it */
        handoff_sync(c);
    }
    if (w->create)
        tables_add(c);
    if (w->attach) {
        c->conns++;
        c->active_ms = mono_ms();
    }
    /* Under the lock: agents get the queues in the order of its changes. */
    if (w->queue_changed)
        broadcast_queue_locked();
    pthread_mutex_unlock(&eng.mu);
    if (w->audit[0])
        kb_auth_audit(eng.writer, w->agent_login, w->audit,
                      w->audit_target[0] ? w->audit_target : c->public_id, w->audit_addr);
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
    /* Busy until its creation committed (write_done's conv_done): once in the tables, its
     * connection attaches and messages are queued on it, and none may start before that
     * write is done, or two workers would run two of its messages at once (the same seq). */
    c->busy = true;
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

/* The messages after `after` as the history frame's array (message_json each). */
static json_t *history_json(struct kb_store *st, int64_t conv_id, int64_t after)
{
    struct kb_message_row *rows = NULL;
    size_t n = 0;
    if (kb_store_messages_after(st, conv_id, after, HISTORY_MAX, &rows, &n) != KB_OK)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *m = message_json(rows[i].seq, rows[i].sender, rows[i].text, rows[i].at,
                                 rows[i].extra);
        if (!m || json_array_append_new(a, m)) {
            json_decref(a);
            a = NULL;
        }
    }
    kb_message_rows_free(rows, n);
    return a;
}

/* The last customer messages of c from the database into c->recent (c not in the tables yet,
 * or busy for this worker and then under the lock). */
static void load_recent(struct kb_store *st, struct chat_conv *c)
{
    struct kb_message_row *rows = NULL;
    size_t n = 0;
    int64_t from = c->last_seq > 40 ? c->last_seq - 40 : 0;
    if (kb_store_messages_after(st, c->id, from, 41, &rows, &n) != KB_OK)
        return;
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].sender, "customer") == 0) {
            struct msg m = {rows[i].seq, "customer", NULL, rows[i].text, NULL};
            recent_push(c, &m);
            c->recent[c->nrecent - 1].at = rows[i].at;
        }
    kb_message_rows_free(rows, n);
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
    c->agent_id = r->agent_id;
    snprintf(c->agent_login, sizeof c->agent_login, "%s", r->agent_login);
    snprintf(c->agent_name, sizeof c->agent_name, "%s", r->agent_name);
    c->waiting_since = r->waiting_since;
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
            pthread_mutex_lock(&eng.mu); /* the agents' queue reads it */
            free(c->page);
            c->page = p;
            pthread_mutex_unlock(&eng.mu);
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
    if (c)
        load_recent(wk->st, c);
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

/* The reader of this worker: a refresher thread opens the new ones as the index moves (an
 * import), so that no message waits for a reopen (14-61 ms at 5,000 articles while an import
 * grew the index, once a second per worker when the worker did it). */
static struct search_index *worker_index(struct chat_worker *wk)
{
    return search_fresh_reader(wk->reader);
}

static const char *sys_text(const char *lang, int which)
{
    static const char *const fr[] = {"", "Conversation terminée par le client.",
                                     "Conversation terminée après une période d'inactivité.",
                                     "Conversation terminée par le conseiller."};
    static const char *const en[] = {"", "Conversation closed by the customer.",
                                     "Conversation ended after a period of inactivity.",
                                     "Conversation closed by the adviser."};
    return (strcmp(lang, "fr") == 0 ? fr : en)[which];
}

/* The system message of a handoff change (waiting, joined, left; name NULL for a wait that
 * ended without an agent), in the conversation's language. Static storage: used at once. */
static const char *handoff_text(const char *lang, const char *state, const char *name)
{
    static _Thread_local char buf[256];
    bool fr = strcmp(lang, "fr") == 0;
    if (strcmp(state, "waiting") == 0)
        return fr ? "En attente d'un conseiller…" : "Waiting for an adviser…";
    if (strcmp(state, "joined") == 0)
        snprintf(buf, sizeof buf, fr ? "%s a rejoint la conversation." : "%s joined the conversation.",
                 name);
    else if (name)
        snprintf(buf, sizeof buf, fr ? "%s a quitté la conversation." : "%s left the conversation.",
                 name);
    else
        snprintf(buf, sizeof buf, "%s", fr ? "Aucun conseiller n'a pu vous répondre."
                                           : "No adviser could answer.");
    return buf;
}

/* Run c's rules on input (raw: what the customer typed, for the <call>s that read it): the
 * reply and the bot state it leaves into *reply and *state, the turn's attachments in t (its
 * arrays are the caller's to release, also on error), and *brains a reference the caller
 * releases. KB_ENOTFOUND: no rules for c's language. */
static enum kb_err bot_turn(struct chat_worker *wk, struct chat_conv *c, const char *input,
                            const char *raw, struct chat_brains **brains, struct chat_turn *t,
                            char **reply, char **state)
{
    *brains = chat_brains_acquire();
    struct bot_brain *brain = chat_brains_find(*brains, c->lang);
    if (!brain)
        return KB_ENOTFOUND;
    if (c->state_gen != (*brains)->gen || strcmp(c->state_lang, c->lang) != 0) {
        enum kb_err err = bot_user_import(brain, c->user, c->bot_state);
        if (err)
            return err;
        c->state_gen = (*brains)->gen;
        memcpy(c->state_lang, c->lang, sizeof c->state_lang);
    }
    *t = (struct chat_turn){.conv = c, .st = wk->st, .idx = worker_index(wk), .raw = raw,
                            .customer_seq = c->last_seq + 1, .now = (int64_t)time(NULL),
                            .articles = json_array(), .quick = json_array()};
    if (!t->articles || !t->quick)
        return KB_ENOMEM;
    enum kb_err err = bot_reply_ctx(brain, c->user, input, t, reply, state);
    if (err)
        c->state_gen = 0;
    return err;
}

/* A customer's message while the conversation waits for a person or is held by one: stored
 * and acknowledged, the bot silent; the holder gets it, or the queue shows it. */
static void process_held_message(struct chat_conv *c, struct chat_job *j)
{
    char id[KB_CHAT_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", j->id);
    struct write *w = calloc(1, sizeof *w);
    if (!w)
        goto fail;
    int64_t now = (int64_t)time(NULL);
    *w = (struct write){.conv = c, .conn = j->conn, .now = now, .update = true,
                        .last_seq = c->last_seq + 1, .active = true, .recent = 1,
                        .queue_changed = c->state == CONV_WAITING, .to_user = c->agent_id};
    w->msgs[w->nmsg++] = (struct msg){c->last_seq + 1, "customer", j->id, j->text, NULL};
    j->id = j->text = NULL;
    json_t *mine = message_json(w->msgs[0].seq, "customer", w->msgs[0].text, now, NULL);
    json_t *arr = mine ? json_pack("[o]", mine) : NULL;
    bool ok = add_frame(w, TO_CONN, kb_chat_frame_ack(w->msgs[0].client_id, w->msgs[0].seq)) &&
              add_frame(w, TO_OTHERS, arr ? kb_chat_frame_history(arr) : NULL);
    json_decref(arr);
    if (ok && c->state == CONV_AGENT)
        ok = add_frame(w, TO_AGENT_USER, agent_message_frame(c->public_id, &w->msgs[0], now, NULL));
    if (!ok) {
        write_free(w);
        goto fail;
    }
    submit(w);
    return;
fail:
    send_error_id(j->conn, "server_error", "the message could not be processed", id);
    conv_done(c);
}

/* v (a user variable's value), or NULL when unset. */
static const char *set_var(const char *v)
{
    return v && *v && strcmp(v, "undefined") != 0 ? v : NULL;
}

/* A user variable of an exported state, NULL when unset. */
static const char *state_var(json_t *state, const char *name)
{
    return set_var(json_string_value(json_object_get(json_object_get(state, "vars"), name)));
}

static void process_message(struct chat_worker *wk, struct chat_conv *c, struct chat_job *j)
{
    struct chat_brains *brains = NULL;
    struct chat_turn t = {0};
    char *reply = NULL, *state = NULL;
    char *vars[3] = {NULL, NULL, NULL}; /* consent, outcome, lang as the reply left them */
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
    if (c->state == CONV_WAITING || c->state == CONV_AGENT) {
        process_held_message(c, j); /* a person answers: the bot stays silent */
        return;
    }
    err = bot_turn(wk, c, j->text, j->text, &brains, &t, &reply, &state);
    if (err == KB_ENOTFOUND)
        why = "the chatbot has no rules for this language";
    if (err)
        goto fail;
    /* Three variables of the state the reply left, asked of the brain: the exported state
     * (3-5 KB of JSON with the bot's history) was parsed again at every message for them.
     * Nothing else changes this user meanwhile: the conversation is busy until its write. */
    struct bot_brain *brain = chat_brains_find(brains, c->lang);
    static const char *const names[3] = {"consent", "outcome", "lang"};
    for (int i = 0; i < 3; i++)
        vars[i] = brain ? bot_uservar_get(brain, c->user, names[i]) : NULL;
    chat_conv_consent(c, set_var(vars[0]), t.now);

    w = calloc(1, sizeof *w);
    if (!w)
        goto fail;
    *w = (struct write){.conv = c, .conn = j->conn, .now = t.now, .update = true,
                        .bot_state = state, .kick = t.opened != NULL, .recent = 1};
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
    const char *outcome = set_var(vars[1]);
    w->outcome = w->kase ? "case"
                 : outcome && strcmp(outcome, "article") == 0 ? "article"
                 : outcome && strcmp(outcome, "rule") == 0    ? "rule"
                                                              : NULL;
    if (c->outcome && strcmp(c->outcome, "case") == 0)
        w->outcome = NULL; /* a case is the strongest outcome: it stays */
    /* set_lang moved the conversation to a language with rules: its rules from now on. */
    const char *lang = set_var(vars[2]);
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
    if (ok && t.handoff) {
        /* <call>handoff</call>: once this reply is sent, the conversation waits for a person */
        json_t *hx = json_pack("{s:s}", "handoff", "waiting");
        w->msgs[w->nmsg] = (struct msg){++s, "system", NULL, strdup(handoff_text(c->lang, "waiting", NULL)),
                                        hx ? json_dumps(hx, JSON_COMPACT) : NULL};
        json_decref(hx);
        ok = w->msgs[w->nmsg].text && w->msgs[w->nmsg].extra;
        w->nmsg++;
        w->last_seq = s;
        w->handoff = true;
        w->new_state = CONV_WAITING;
        w->waiting_since = t.now;
        w->queue_changed = true;
        ok = ok && add_frame(w, TO_CONV, kb_chat_frame_handoff("waiting", NULL, s));
    }
    if (!ok)
        goto fail;
    free(reply);
    for (int i = 0; i < 3; i++)
        free(vars[i]);
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
    for (int i = 0; i < 3; i++)
        free(vars[i]);
    json_decref(t.articles);
    json_decref(t.quick);
    chat_case_free(t.opened);
    chat_brains_release(brains);
    send_error_id(j->conn, code, why, id[0] ? id : NULL);
    conv_done(c);
}

/* The customer's end frame (conn set), the idle timeout (conn 0) or the agent's end (which
 * 3, checked by process_agent). */
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
    if (j->agent_conn)
        w->agent_conn = j->agent_conn;
    if (ok && c->state == CONV_AGENT) { /* its agent reads it too, and holds it no more */
        w->to_user = c->agent_id;
        ok = add_frame(w, TO_AGENT_USER,
                       agent_message_frame(c->public_id, &w->msgs[0], w->now, NULL)) &&
             add_frame(w, TO_AGENT_USER, released_frame(c->public_id, "ended"));
    }
    w->queue_changed = c->state == CONV_WAITING;
    if (!w->bot_state || !w->msgs[0].text || !ok) {
        write_free(w);
        conv_done(c);
        return;
    }
    submit(w);
}

/* ---- the live takeover: agents' jobs ---------------------------------------------------- */

/* The agent of job j, checked now (kb_auth_caller): an open session of an enabled user of
 * role agent or more, never an API token. False when it is not (the channel is refused and
 * closed) or when the database failed (an error frame). who->name is the display name
 * (the login when the user has none). */
static bool agent_auth(struct chat_worker *wk, struct chat_job *j, struct kb_auth_caller *who)
{
    enum kb_err err = kb_auth_caller(wk->st, eng.writer, j->session, NULL, j->addr,
                                     (int64_t)time(NULL), who);
    if (err) {
        agent_error(j->agent_conn, "server_error", "the session could not be checked; try again",
                    j->af.conversation, NULL);
        return false;
    }
    if (who->role < KB_ROLE_AGENT || !who->user_id || who->by_token) {
        chat_agent_refuse(j->agent_conn);
        return false;
    }
    if (!who->name[0])
        snprintf(who->name, sizeof who->name, "%s", who->login);
    return true;
}

/* What a conversation frame shows of a conversation (copied: page owned). */
struct conv_view {
    int64_t id;
    char pid[40], lang[KB_CHAT_LANG_MAX + 1];
    char *page;
    char login[KB_AUTH_LOGIN_MAX + 1], name[128];
};

/* c's view (the caller holds busy on c, or the lock). */
static void view_of(const struct chat_conv *c, struct conv_view *v)
{
    v->id = c->id;
    snprintf(v->pid, sizeof v->pid, "%s", c->public_id);
    snprintf(v->lang, sizeof v->lang, "%s", c->lang);
    v->page = strdup(c->page ? c->page : "");
    snprintf(v->login, sizeof v->login, "%s", c->agent_login);
    snprintf(v->name, sizeof v->name, "%s", c->agent_name);
}

/* The conversation frame for its holder: its whole history (with more, a message the caller's
 * write is about to store, appended: borrowed). NULL when out of memory or the database
 * failed. */
static char *conversation_frame(struct kb_store *st, const struct conv_view *v, json_t *more)
{
    json_t *hist = history_json(st, v->id, 0);
    if (!hist)
        return NULL;
    if (more)
        json_array_append(hist, more);
    return kb_chat_frame_dump(json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o}", "type",
                                        "conversation", "conversation", v->pid, "lang", v->lang,
                                        "page", v->page ? v->page : "", "state", "agent", "agent",
                                        "login", v->login, "name", v->name, "messages", hist));
}

/* A system message of a handoff change into w->msgs (the next seq), with its extra
 * {"handoff": state, "name"}. False when out of memory. */
static bool handoff_msg(struct write *w, const char *lang, int64_t seq, const char *state,
                        const char *name)
{
    json_t *x = json_pack("{s:s}", "handoff", state);
    if (x && name)
        json_object_set_new(x, "name", json_string(name));
    w->msgs[w->nmsg] = (struct msg){seq, "system", NULL, strdup(handoff_text(lang, state, name)),
                                    x ? json_dumps(x, JSON_COMPACT) : NULL};
    json_decref(x);
    return w->msgs[w->nmsg++].text && w->msgs[w->nmsg - 1].extra;
}

/* take: an agent takes a waiting conversation (the write decides the race). */
static void process_take(struct chat_worker *wk, struct chat_conv *c, struct chat_job *j)
{
    struct kb_auth_caller who;
    struct write *w = NULL;
    json_t *joined = NULL;
    if (!agent_auth(wk, j, &who))
        goto done;
    if (c->state == CONV_AGENT && c->agent_id == who.user_id) { /* his already: sent again */
        struct conv_view v;
        view_of(c, &v);
        char *f = v.page ? conversation_frame(wk->st, &v, NULL) : NULL;
        free(v.page);
        if (f)
            chat_agent_send_conn(j->agent_conn, f);
        else
            agent_error(j->agent_conn, "server_error", "the conversation could not be read",
                        c->public_id, NULL);
        goto done;
    }
    if (c->state != CONV_WAITING) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "type", "error", "code",
                              c->state == CONV_AGENT ? "taken" : "unknown_conversation",
                              "message",
                              c->state == CONV_AGENT ? "another agent took this conversation first"
                                                     : "this conversation no longer waits",
                              "conversation", c->public_id);
        if (o && c->state == CONV_AGENT)
            json_object_set_new(o, "name", json_string(c->agent_name));
        char *f = kb_chat_frame_dump(o);
        if (f)
            chat_agent_send_conn(j->agent_conn, f);
        goto done;
    }
    if (!(w = calloc(1, sizeof *w)))
        goto fail;
    int64_t now = (int64_t)time(NULL), seq = c->last_seq + 1;
    *w = (struct write){.conv = c, .agent_conn = j->agent_conn, .now = now, .update = true,
                        .last_seq = seq, .take = true, .handoff = true,
                        .new_state = CONV_AGENT, .agent_id = who.user_id, .queue_changed = true,
                        .active = true, .to_user = who.user_id};
    snprintf(w->agent_login, sizeof w->agent_login, "%s", who.login);
    snprintf(w->agent_name, sizeof w->agent_name, "%s", who.name);
    snprintf(w->audit, sizeof w->audit, "chat.take");
    snprintf(w->audit_addr, sizeof w->audit_addr, "%s", j->addr);
    if (!handoff_msg(w, c->lang, seq, "joined", who.name))
        goto fail;
    joined = message_json(seq, "system", w->msgs[0].text, now, w->msgs[0].extra);
    struct conv_view v;
    view_of(c, &v);
    snprintf(v.login, sizeof v.login, "%s", who.login);
    snprintf(v.name, sizeof v.name, "%s", who.name);
    char *conv_f = joined && v.page ? conversation_frame(wk->st, &v, joined) : NULL;
    free(v.page);
    json_decref(joined);
    if (!add_frame(w, TO_CONV, kb_chat_frame_handoff("joined", who.name, seq)) ||
        !add_frame(w, TO_AGENT_USER, conv_f))
        goto fail;
    submit(w);
    return;
fail:
    write_free(w);
    agent_error(j->agent_conn, "server_error", "the conversation could not be taken; try again",
                c->public_id, NULL);
done:
    conv_done(c);
}

/* The card of a published public article, or why not: KB_EDENIED for an article customers may
 * not see (internal, a draft, archived), KB_ENOTFOUND for none. */
static enum kb_err public_card(struct kb_store *st, const char *slug, json_t **card)
{
    struct kb_article_row *row = NULL;
    enum kb_err err = kb_store_get_slug(st, slug, KB_SCOPE_PUBLIC, &row);
    if (err == KB_ENOTFOUND) {
        err = kb_store_get_slug(st, slug, KB_SCOPE_ALL, &row);
        kb_article_row_free(row);
        return err == KB_OK ? KB_EDENIED : err;
    }
    if (!err)
        err = kb_article_render_row(row, KB_ARTICLE_TEXT);
    if (!err && !(*card = chat_card(row->slug, row->title, row->text)))
        err = KB_ENOMEM;
    kb_article_row_free(row);
    return err;
}

/* message: the holder writes to the customer, with article cards (public ones only). */
static void process_agent_message(struct chat_worker *wk, struct chat_conv *c,
                                  struct chat_job *j)
{
    struct kb_auth_caller who;
    struct write *w = NULL;
    json_t *cards = NULL;
    const char *pid = c->public_id, *id = j->af.id;
    if (!agent_auth(wk, j, &who))
        goto done;
    if (c->state != CONV_AGENT || c->agent_id != who.user_id) {
        agent_error(j->agent_conn, "not_held", "you do not hold this conversation", pid, id);
        goto done;
    }
    if (c->last_seq + WRITE_MSGS > CONV_MESSAGES_MAX) {
        agent_error(j->agent_conn, "rate_limited", "this conversation is too long", pid, id);
        goto done;
    }
    if (!(cards = json_array()))
        goto fail;
    for (size_t i = 0; i < j->af.nslugs; i++) {
        json_t *card = NULL;
        enum kb_err err = public_card(wk->st, j->af.slugs[i], &card);
        if (err == KB_EDENIED || err == KB_ENOTFOUND) {
            agent_error(j->agent_conn, err == KB_EDENIED ? "not_public" : "unknown_article",
                        err == KB_EDENIED
                            ? "only public articles can be sent to a customer: nothing was sent"
                            : "no published article has this slug: nothing was sent",
                        pid, id);
            goto done;
        }
        if (err || json_array_append_new(cards, card))
            goto fail;
    }
    int64_t now = (int64_t)time(NULL), seq = c->last_seq + 1;
    json_t *x = json_pack("{s:s, s:s, s:O}", "name", who.name, "login", who.login, "articles",
                          cards);
    char *extra = x ? json_dumps(x, JSON_COMPACT) : NULL;
    json_decref(x);
    if (!(w = calloc(1, sizeof *w))) {
        free(extra);
        goto fail;
    }
    *w = (struct write){.conv = c, .agent_conn = j->agent_conn, .now = now, .update = true,
                        .last_seq = seq, .active = true, .to_user = who.user_id};
    w->msgs[w->nmsg++] = (struct msg){seq, "agent", NULL, j->af.text, extra};
    j->af.text = NULL;
    if (!extra || !add_frame(w, TO_CONV, kb_chat_frame_agent(seq, w->msgs[0].text, who.name, cards)) ||
        !add_frame(w, TO_AGENT_USER, agent_message_frame(pid, &w->msgs[0], now, id)))
        goto fail;
    json_decref(cards);
    submit(w);
    return;
fail:
    write_free(w);
    agent_error(j->agent_conn, "server_error", "the message could not be sent; try again", pid, id);
done:
    json_decref(cards);
    conv_done(c);
}

/* Under the lock: how long (ms) agent user_id has had no channel open, 0 while he has one. */
static int64_t away_ms_locked(int64_t user_id, int64_t now)
{
    for (size_t i = 0; i < eng.npresence; i++)
        if (eng.presence[i].user_id == user_id)
            return eng.presence[i].conns ? 0 : now - eng.presence[i].away_ms;
    return now - eng.started_ms; /* not seen since start-up */
}

/* leave (the holder's frame), or gone (the tick: the holder had no channel for --chat-wait):
 * the bot answers again. */
static void process_release(struct chat_worker *wk, struct chat_conv *c, struct chat_job *j,
                            bool gone)
{
    struct kb_auth_caller who;
    struct write *w = NULL;
    if (gone) {
        pthread_mutex_lock(&eng.mu);
        c->handoff_queued = false;
        bool still = c->state == CONV_AGENT &&
                     away_ms_locked(c->agent_id, mono_ms()) >= (int64_t)eng.wait_secs * 1000;
        pthread_mutex_unlock(&eng.mu);
        if (!still)
            goto done;
    } else {
        if (!agent_auth(wk, j, &who))
            goto done;
        if (c->state != CONV_AGENT || c->agent_id != who.user_id) {
            agent_error(j->agent_conn, "not_held", "you do not hold this conversation",
                        c->public_id, NULL);
            goto done;
        }
    }
    if (!(w = calloc(1, sizeof *w)))
        goto fail;
    int64_t now = (int64_t)time(NULL), seq = c->last_seq + 1;
    *w = (struct write){.conv = c, .agent_conn = gone ? 0 : j->agent_conn, .now = now,
                        .update = true, .last_seq = seq, .handoff = true, .new_state = CONV_BOT,
                        .active = true, .to_user = c->agent_id};
    if (!handoff_msg(w, c->lang, seq, "left", c->agent_name) ||
        !add_frame(w, TO_CONV, kb_chat_frame_handoff("left", c->agent_name, seq)) ||
        !add_frame(w, TO_AGENT_USER, agent_message_frame(c->public_id, &w->msgs[0], now, NULL)) ||
        !add_frame(w, TO_AGENT_USER, released_frame(c->public_id, gone ? "gone" : "left")))
        goto fail;
    submit(w);
    return;
fail:
    write_free(w);
    if (!gone)
        agent_error(j->agent_conn, "server_error", "the conversation could not be left; try again",
                    c->public_id, NULL);
done:
    conv_done(c);
}

/* The tick: nobody took c within --chat-wait: the bot takes it back, and its rules are sent
 * WAIT_EVENT (the shipped ones offer a case). */
static void process_expire(struct chat_worker *wk, struct chat_conv *c)
{
    struct chat_brains *brains = NULL;
    struct chat_turn t = {0};
    char *reply = NULL, *state = NULL;
    struct write *w = NULL;
    pthread_mutex_lock(&eng.mu);
    c->handoff_queued = false;
    pthread_mutex_unlock(&eng.mu);
    int64_t now = (int64_t)time(NULL);
    if (c->state != CONV_WAITING || now - c->waiting_since < eng.wait_secs ||
        c->last_seq + WRITE_MSGS > CONV_MESSAGES_MAX)
        goto done;
    /* Without rules for it the wait still ends: the system message alone says so. */
    if (bot_turn(wk, c, WAIT_EVENT, WAIT_EVENT, &brains, &t, &reply, &state) != KB_OK) {
        free(reply);
        free(state);
        reply = state = NULL;
    }
    if (!(w = calloc(1, sizeof *w)))
        goto fail;
    int64_t seq = c->last_seq + 1;
    *w = (struct write){.conv = c, .now = now, .update = true, .last_seq = seq, .handoff = true,
                        .new_state = CONV_BOT, .queue_changed = true, .bot_state = state,
                        .active = true};
    state = NULL;
    if (!handoff_msg(w, c->lang, seq, "left", NULL) ||
        !add_frame(w, TO_CONV, kb_chat_frame_handoff("left", NULL, seq)))
        goto fail;
    if (reply) {
        json_t *x = json_pack("{s:O, s:O}", "quick_replies", t.quick, "articles", t.articles);
        w->msgs[w->nmsg++] = (struct msg){seq + 1, "bot", NULL, strdup(reply),
                                          x ? json_dumps(x, JSON_COMPACT) : NULL};
        json_decref(x);
        w->last_seq = seq + 1;
        w->last_bot_text = strdup(reply);
        if (!w->msgs[1].text || !w->msgs[1].extra || !w->last_bot_text ||
            !add_frame(w, TO_CONV, kb_chat_frame_reply(seq + 1, reply, t.quick, t.articles)))
            goto fail;
    }
    free(reply);
    json_decref(t.articles);
    json_decref(t.quick);
    chat_case_free(t.opened); /* rules open no case on this event */
    chat_brains_release(brains);
    submit(w);
    return;
fail:
    if (w && w->bot_state)
        c->state_gen = 0; /* the brain moved on without a commit */
    write_free(w);
done:
    free(reply);
    free(state);
    json_decref(t.articles);
    json_decref(t.quick);
    chat_case_free(t.opened);
    chat_brains_release(brains);
    conv_done(c);
}

/* case: the holder opens a case from the conversation (the same one kb_crm_case_create opens
 * for the bot): every message in its transcript, the agents' with their names, and the
 * contact details the customer gave the bot, only when the customer consented. */
static void process_agent_case(struct chat_worker *wk, struct chat_conv *c, struct chat_job *j)
{
    struct kb_auth_caller who;
    struct write *w = NULL;
    struct chat_case *k = NULL;
    json_t *vars = NULL;
    const char *pid = c->public_id;
    if (!agent_auth(wk, j, &who))
        goto done;
    if (c->state != CONV_AGENT || c->agent_id != who.user_id) {
        agent_error(j->agent_conn, "not_held", "you do not hold this conversation", pid, NULL);
        goto done;
    }
    if (c->last_seq + WRITE_MSGS > CONV_MESSAGES_MAX) {
        agent_error(j->agent_conn, "rate_limited", "this conversation is too long", pid, NULL);
        goto done;
    }
    if (!(k = calloc(1, sizeof *k)) ||
        chat_transcript(wk->st, c->id, &k->transcript, &k->articles) != KB_OK ||
        kb_crm_ref_next(wk->st, k->ref, &k->year, &k->number) != KB_OK)
        goto fail;
    json_t *st_json = json_loads(c->bot_state, 0, NULL);
    vars = json_incref(json_object_get(st_json, "vars"));
    json_decref(st_json);
    const char *contact[3] = {NULL, NULL, NULL}; /* name, email, phone */
    if (c->consent_at) {
        json_t *fake = json_pack("{s:O}", "vars", vars ? vars : json_null());
        contact[0] = state_var(fake, "name");
        contact[1] = state_var(fake, "email");
        contact[2] = state_var(fake, "phone");
        k->name = contact[0] ? strdup(contact[0]) : NULL;
        k->email = contact[1] ? strdup(contact[1]) : NULL;
        k->phone = contact[2] ? strdup(contact[2]) : NULL;
        json_decref(fake);
        k->consent_text = c->consent_text ? strdup(c->consent_text) : NULL;
    }
    k->subject = strdup(j->af.subject);
    if (!k->subject || (contact[0] && !k->name) || (contact[1] && !k->email) ||
        (contact[2] && !k->phone))
        goto fail;
    k->data = (struct kb_crm_case_new){
        .subject = k->subject, .lang = c->lang, .name = k->name, .email = k->email,
        .phone = k->phone, .consent_at = c->consent_text ? c->consent_at : 0,
        .consent_text = k->consent_text, .conversation_id = c->id,
        .transcript = k->transcript, .articles = k->articles};
    if (!(w = calloc(1, sizeof *w)))
        goto fail;
    int64_t now = (int64_t)time(NULL), seq = c->last_seq + 1;
    *w = (struct write){.conv = c, .agent_conn = j->agent_conn, .now = now, .update = true,
                        .last_seq = seq, .outcome = "case", .kick = true, .active = true,
                        .to_user = who.user_id, .kase = k};
    k = NULL;
    snprintf(w->agent_login, sizeof w->agent_login, "%s", who.login);
    snprintf(w->audit, sizeof w->audit, "chat.case");
    snprintf(w->audit_target, sizeof w->audit_target, "%s", w->kase->ref);
    snprintf(w->audit_addr, sizeof w->audit_addr, "%s", j->addr);
    char text[160];
    snprintf(text, sizeof text, strcmp(c->lang, "fr") == 0 ? "Dossier %s ouvert." : "Case %s opened.",
             w->kase->ref);
    json_t *ref = json_pack("{s:s}", "ref", w->kase->ref);
    w->msgs[w->nmsg++] = (struct msg){seq, "system", NULL, strdup(text),
                                      ref ? json_dumps(ref, JSON_COMPACT) : NULL};
    json_decref(ref);
    if (!w->msgs[0].text || !w->msgs[0].extra ||
        !add_frame(w, TO_CONV, kb_chat_frame_case(w->kase->ref, seq)) ||
        !add_frame(w, TO_AGENT_USER, agent_message_frame(pid, &w->msgs[0], now, NULL)) ||
        !add_frame(w, TO_AGENT_USER,
                   kb_chat_frame_dump(json_pack("{s:s, s:s, s:s, s:I}", "type", "case",
                                                "conversation", pid, "ref", w->kase->ref, "seq",
                                                (json_int_t)seq))))
        goto fail;
    json_decref(vars);
    submit(w);
    return;
fail:
    write_free(w);
    chat_case_free(k);
    agent_error(j->agent_conn, "server_error", "the case could not be opened; try again", pid, NULL);
done:
    json_decref(vars);
    conv_done(c);
}

/* An agent's frame about conversation c (busy for this worker). */
static void process_agent(struct chat_worker *wk, struct chat_conv *c, struct chat_job *j)
{
    struct kb_auth_caller who;
    if (c->state == CONV_ENDED) {
        agent_error(j->agent_conn, "unknown_conversation", "this conversation has ended",
                    c->public_id, j->af.id);
        conv_done(c);
        return;
    }
    switch (j->af.type) {
    case KB_AGENT_TAKE: process_take(wk, c, j); return;
    case KB_AGENT_MESSAGE: process_agent_message(wk, c, j); return;
    case KB_AGENT_LEAVE: process_release(wk, c, j, false); return;
    case KB_AGENT_CASE: process_agent_case(wk, c, j); return;
    case KB_AGENT_END:
        if (!agent_auth(wk, j, &who)) {
            conv_done(c);
        } else if (c->state != CONV_AGENT || c->agent_id != who.user_id) {
            agent_error(j->agent_conn, "not_held", "you do not hold this conversation",
                        c->public_id, NULL);
            conv_done(c);
        } else {
            process_end(c, j, 3);
        }
        return;
    }
    conv_done(c);
}

#define HELD_MAX 100 /* conversations one agent's hello lists */

/* A new channel: its session checked, it is ready: hello (naming the conversations this agent
 * holds, so that a page that reconnects drops the ones it holds no more), the queue, and every
 * conversation this agent holds. */
static void process_agent_hello(struct chat_worker *wk, struct chat_job *j)
{
    struct kb_auth_caller who;
    if (!agent_auth(wk, j, &who))
        return;
    struct conv_view *held = calloc(HELD_MAX, sizeof *held);
    size_t n = 0;
    pthread_mutex_lock(&eng.mu);
    for (struct chat_conv *c = eng.handoff; held && c && n < HELD_MAX; c = c->next_h)
        if (c->state == CONV_AGENT && c->agent_id == who.user_id)
            view_of(c, &held[n++]);
    pthread_mutex_unlock(&eng.mu);
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < n; i++)
        json_array_append_new(ids, json_string(held[i].pid));
    chat_agent_ready(j->agent_conn, who.user_id,
                     kb_chat_frame_dump(json_pack("{s:s, s:{s:s, s:s}, s:i, s:o}", "type",
                                                  "hello", "agent", "login", who.login, "name",
                                                  who.name, "wait", eng.wait_secs, "holding",
                                                  ids ? ids : json_array())));
    pthread_mutex_lock(&eng.mu);
    /* Under the lock: queues broadcast after this one are newer. */
    char *q = queue_frame_locked();
    if (q)
        chat_agent_send_conn(j->agent_conn, q);
    pthread_mutex_unlock(&eng.mu);
    for (size_t i = 0; i < n; i++) {
        char *f = held[i].page ? conversation_frame(wk->st, &held[i], NULL) : NULL;
        if (f)
            chat_agent_send_conn(j->agent_conn, f);
        free(held[i].page);
    }
    free(held);
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
            case JOB_AGENT_HELLO: process_agent_hello(wk, j); break;
            case JOB_AGENT_CHECK: {
                struct kb_auth_caller who;
                (void)agent_auth(wk, j, &who); /* refused and closed when it ended */
                break;
            }
            case JOB_AGENT: { /* about a conversation that neither waits nor is held */
                struct kb_auth_caller who;
                if (agent_auth(wk, j, &who))
                    agent_error(j->agent_conn, "unknown_conversation",
                                "no conversation with this id waits for an agent or is held "
                                "by one",
                                j->af.conversation, j->af.id);
                break;
            }
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
        case JOB_AGENT: process_agent(wk, c, j); break;
        case JOB_EXPIRE: process_expire(wk, c); break;
        case JOB_GONE: process_release(wk, c, j, true); break;
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

/* ---- from the agents' channel (agent.c, on the websocket thread) ---------------------- */

bool chat_engine_hours_open(int64_t now)
{
    return kb_chat_hours_open(&eng.hours, (time_t)now);
}

/* A job of agent connection conn (session and addr copied), NULL when out of memory. */
static struct chat_job *agent_job(enum job_kind kind, uint64_t conn, const char *session,
                                  const char *addr)
{
    struct chat_job *j = job_new(kind, 0);
    if (!j)
        return NULL;
    j->agent_conn = conn;
    snprintf(j->addr, sizeof j->addr, "%s", addr ? addr : "");
    j->session = strdup(session ? session : "");
    if (!j->session) {
        free(j);
        return NULL;
    }
    return j;
}

/* A loose job of an agent's channel; false when it cannot be queued. */
static bool agent_loose(enum job_kind kind, uint64_t conn, const char *session, const char *addr)
{
    struct chat_job *j = agent_job(kind, conn, session, addr);
    pthread_mutex_lock(&eng.mu);
    bool ok = j && eng.running && loose_push(j);
    pthread_mutex_unlock(&eng.mu);
    if (!ok)
        job_free(j);
    return ok;
}

void chat_engine_agent_hello(uint64_t conn, const char *session, const char *addr)
{
    if (!agent_loose(JOB_AGENT_HELLO, conn, session, addr))
        agent_error(conn, "server_error", "the chat is too busy: try again in a moment", NULL,
                    NULL);
}

void chat_engine_agent_check(uint64_t conn, const char *session, const char *addr)
{
    (void)agent_loose(JOB_AGENT_CHECK, conn, session, addr); /* the next check will do */
}

void chat_engine_agent_frame(uint64_t conn, const char *session, const char *addr,
                             struct kb_chat_agent_frame *f)
{
    struct chat_job *j = agent_job(JOB_AGENT, conn, session, addr);
    if (!j) {
        kb_chat_agent_frame_release(f);
        agent_error(conn, "server_error", "out of memory", NULL, NULL);
        return;
    }
    j->af = *f;
    memset(f, 0, sizeof *f);
    pthread_mutex_lock(&eng.mu);
    struct chat_conv *c = find_handoff(j->af.conversation);
    /* None: a loose job still checks the session before it answers unknown_conversation. */
    bool ok = c ? conv_push(c, j) : loose_push(j);
    pthread_mutex_unlock(&eng.mu);
    if (!ok) {
        agent_error(conn, "rate_limited",
                    c ? "too many actions waiting on this conversation: slow down"
                      : "the chat is too busy: try again in a moment",
                    j->af.conversation, j->af.id);
        job_free(j);
    }
}

void chat_engine_agent_presence(int64_t user_id, int delta)
{
    int64_t now = mono_ms();
    pthread_mutex_lock(&eng.mu);
    size_t i = 0;
    while (i < eng.npresence && eng.presence[i].user_id != user_id)
        i++;
    if (i == eng.npresence && delta > 0 && eng.presence && eng.npresence < PRESENCE_MAX)
        eng.presence[eng.npresence++] = (struct presence){.user_id = user_id};
    if (i < eng.npresence) {
        struct presence *p = &eng.presence[i];
        if (delta > 0)
            p->conns++;
        else if (p->conns && !--p->conns)
            p->away_ms = now;
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
        if (!c->conns && !c->busy && !c->jobs && c->state != CONV_WAITING &&
            c->state != CONV_AGENT &&
            (c->state == CONV_ENDED || now - c->detached_ms > DETACHED_KEEP_MS))
            evict(c);
    }
    /* The live takeover: waits that last too long, holders gone for good. */
    int64_t wall = (int64_t)time(NULL);
    for (struct chat_conv *c = eng.handoff; c; c = c->next_h) {
        if (c->handoff_queued)
            continue;
        bool due = c->state == CONV_WAITING
                       ? wall - c->waiting_since >= eng.wait_secs
                       : away_ms_locked(c->agent_id, now) >= (int64_t)eng.wait_secs * 1000;
        if (!due)
            continue;
        struct chat_job *j = job_new(c->state == CONV_WAITING ? JOB_EXPIRE : JOB_GONE, 0);
        if (j && conv_push(c, j))
            c->handoff_queued = true;
        else
            job_free(j);
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

/* At start-up (no thread yet): the conversations waiting for an agent or held by one, back in
 * memory where they were (a wait's clock is its stored waiting_since). */
static enum kb_err load_handoff(struct kb_store *st)
{
    struct kb_conversation_row **rows = NULL;
    size_t n = 0;
    enum kb_err err = kb_store_conversations_handoff(st, HANDOFF_LOAD_MAX, &rows, &n);
    for (size_t i = 0; !err && i < n; i++) {
        struct chat_conv *c = conv_from_row(rows[i], rows[i]->token_hash);
        if (!c) {
            err = KB_ENOMEM;
            break;
        }
        load_recent(st, c);
        c->detached_ms = mono_ms();
        tables_add(c);
    }
    kb_conversation_rows_free(rows, n);
    if (n)
        kb_log(KB_LOG_INFO, "chat: %zu conversations wait for an agent or are held by one", n);
    return err;
}

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
    eng.hours = cfg->hours;
    eng.wait_secs = cfg->wait_secs > 0 ? cfg->wait_secs : 180;
    eng.presence = calloc(PRESENCE_MAX, sizeof *eng.presence);
    eng.npresence = 0;
    eng.handoff = eng.handoff_tail = NULL;
    eng.stopping = false;
    eng.last_sweep_ms = eng.last_rules_ms = eng.started_ms = mono_ms();
    if (!eng.presence)
        goto fail;
    /* The rules first: a conversation started at once must find them. */
    struct kb_store *st = NULL;
    err = kb_store_open(cfg->db_path, false, &st);
    bool changed = false;
    if (!err)
        err = chat_rules_refresh(st, &changed);
    /* Then the conversations waiting for an agent or held by one, where a stop left them. */
    if (!err)
        err = load_handoff(st);
    kb_store_free(st);
    if (err)
        goto fail;
    char *index_dir = kb_indexer_dir_for(cfg->db_path);
    err = index_dir ? search_fresh_start(index_dir, CHAT_REFRESH_MS, &eng.readers) : KB_ENOMEM;
    free(index_dir);
    if (err)
        goto fail;
    for (unsigned i = 0; i < eng.nworkers; i++) {
        struct chat_worker *wk = &eng.workers[i];
        wk->reader = search_fresh_slot_new(eng.readers);
        err = wk->reader ? kb_store_open(cfg->db_path, false, &wk->st) : KB_ENOMEM;
        if (!err && pthread_create(&wk->thread, NULL, worker_main, wk) != 0)
            err = KB_ENOMEM;
        if (err) {
            kb_store_free(wk->st);
            search_fresh_slot_free(wk->reader);
            wk->st = NULL;
            wk->reader = NULL;
            eng.nworkers = i;
            chat_engine_stop();
            return err;
        }
    }
    eng.running = true;
    return KB_OK;
fail:
    search_fresh_stop(eng.readers);
    eng.readers = NULL;
    for (struct chat_conv *c = eng.all, *next; c; c = next) {
        next = c->next_all;
        conv_free(c);
    }
    eng.all = eng.handoff = eng.handoff_tail = NULL;
    eng.nconvs = 0;
    free(eng.by_id);
    free(eng.by_tok);
    free(eng.default_lang);
    free(eng.db_path);
    free(eng.workers);
    free(eng.presence);
    eng.presence = NULL;
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
    eng.handoff = eng.handoff_tail = NULL;
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
        search_fresh_slot_free(eng.workers[i].reader);
        kb_store_free(eng.workers[i].st);
    }
    search_fresh_stop(eng.readers);
    eng.readers = NULL;
    free(eng.workers);
    free(eng.by_id);
    free(eng.by_tok);
    free(eng.default_lang);
    free(eng.db_path);
    free(eng.presence);
    eng.presence = NULL;
    eng.npresence = 0;
    eng.workers = NULL;
    eng.by_id = eng.by_tok = NULL;
    eng.default_lang = eng.db_path = NULL;
    eng.nworkers = 0;
    chat_rules_clear();
}
