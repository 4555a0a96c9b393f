/* kb/chat/server.c: the chat's websocket server on libwebsockets (ws://ADDR:PORT/chat).
 *
 * One thread runs the event loop and owns every connection: it reads frames, enforces the
 * limits, hands work to the engine (conversation.c), and writes what the engine posts to its
 * inbox. Other threads never touch a connection: they address it by id (or a conversation by
 * id) through the inbox, and wake the loop with an ev_async (coalesced: one wake-up drains
 * every event posted meanwhile). The same thread serves the agents' channel
 * (ws://ADDR:PORT/agent, subprotocol kb-agent: agent.c owns those connections); its inbox
 * shares the wake-up and its sweep the tick.
 *
 * Why libev under libwebsockets, and our own keepalive. With its default poll() loop,
 * libwebsockets hands the kernel every descriptor at every wake-up and walks them all after:
 * at 10,000 conversations each message cost that twice or three times. And it keeps every
 * connection's ping timer in one sorted list whose insertions walk it from the head; a timer
 * re-armed 30 s ahead lands at the tail, so each pong and each ping walked all 10,000 entries
 * (tests/bench/chat/README.md measured both: the websocket thread saturated one core at 200
 * messages a second). So the loop is libev's (epoll, through the libwebsockets-evlib-ev
 * plugin, on a loop we own), libwebsockets arms no timer per connection, and one sweep a second
 * over our own table does what its timers did: the 10 s start limit, a ping after --chat-ping (30 s) of
 * silence, the close when it stays unanswered that long, and the end of closes a peer never reads.
 *
 * Connection state machine:
 *
 *   ESTABLISHED ──start frame──► STARTING ──chat_ws_attach──► STARTED ──end frame──► (closing)
 *        ▲                          │
 *        └───chat_ws_unstarted──────┘  (the start failed: another start may follow)
 *
 *   NEW: messages answer not_started. STARTING: messages wait (up to 20) until the engine
 *   attaches the connection, so a client may send its first message right after start.
 *   STARTED: messages go to the conversation's queue, limited per conversation.
 *
 * Limits: a frame over 4 KiB is answered too_large and the connection closed; binary frames,
 * invalid UTF-8 and malformed JSON are answered bad_frame; a connection must start within 10 s;
 * a connection that sends more than 100 frames a second (bursts of 200) is closed; per
 * conversation, messages beyond the rate are answered rate_limited; per address, connections
 * beyond --chat-conn-max and new conversations beyond the rate are answered rate_limited. What
 * a connection has not read is capped (1 MiB): a client that stops reading is closed. */
#include "kb/chat/chat_int.h"
#include "kb/chat/agent.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <libwebsockets.h>
#include <ev.h>

#include "kb/base/buf.h"
#include "kb/base/log.h"
#include "kb/base/ratelimit.h"

#define START_TIMEOUT_MS 10000     /* a connection must send its start frame by then */
#define CLOSE_GRACE_MS 10000       /* a close the peer does not read is forced after this */
#define PENDING_MAX 20             /* frames held while a start is processed */
#define OUT_MAX (1u << 20)         /* bytes queued for one connection */
#define FRAME_RATE 100.0           /* frames a second from one connection, any kind */
#define FRAME_BURST 200.0
#define CONNS_MAX 20000            /* connections in all */
#define ADDR_STARTS 0              /* the address bucket of new conversations */

enum wstate { W_NEW, W_STARTING, W_STARTED };

struct outf {
    size_t len;
    struct outf *next;
    unsigned char buf[]; /* LWS_PRE bytes, then the frame */
};

struct wconv;

struct wconn {
    uint64_t id;
    struct lws *wsi;
    struct kb_rate_addr *addr;
    enum wstate state;
    struct wconv *conv;
    struct kb_buf rx;
    bool rx_discard;
    struct outf *out, *out_tail;
    size_t out_bytes;
    struct kb_chat_frame pending[PENDING_MAX];
    size_t npending;
    bool closing;
    bool ping_due;      /* send a ping at the next writable callback */
    bool pinged;        /* a ping is out, unanswered */
    int64_t born_ms;    /* when the connection was established */
    int64_t heard_ms;   /* when the peer last sent anything, a pong included */
    int64_t pinged_ms;  /* when the unanswered ping was due */
    int64_t closing_ms; /* when the close began */
    int close_code;
    char close_reason[64];
    struct kb_rate_bucket frames;
    struct wconn *next_id, *next_in_conv;
};

/* A conversation seen from here: its connections and its message bucket. */
struct wconv {
    int64_t id;
    struct wconn *conns;
    struct kb_rate_bucket msgs;
    struct wconv *next;
};

enum ev_kind { EV_SEND_CONN, EV_SEND_CONV, EV_ATTACH, EV_UNSTARTED, EV_CLOSE_CONV, EV_CLOSE_CONN };

struct ev {
    enum ev_kind kind;
    uint64_t conn, except;
    int64_t conv;
    char *text;
    int code;
    char reason[64];
    struct ev *next;
};

static struct {
    struct lws_context *ctx;
    pthread_t thread;
    atomic_int stop;
    bool running;
    struct kb_chat_config cfg;
    /* the inbox, any thread */
    pthread_mutex_t mu;
    struct ev *in_head, *in_tail;
    bool accepting;
    /* the websocket thread's own */
    uint64_t next_id;
    struct wconn **conns;
    struct wconv **convs;
    size_t nb, nconns;
    struct kb_rate_addrs *addrs;
    struct ev_loop *loop; /* ours, lent to libwebsockets as a foreign loop */
    ev_async wake;        /* posted by any thread: drain the inbox, or stop */
    ev_timer tick;        /* once a second: the engine's tick and the sweep */
    int64_t ping_ms;      /* silence before a ping (--chat-ping); unanswered that long again, dropped */
    struct lws **doomed;  /* the sweep's connections to drop, room for every connection */
    size_t ndoomed;
} ws = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the inbox (any thread) ---------------------------------------------------------- */

static void post(struct ev *e)
{
    pthread_mutex_lock(&ws.mu);
    if (!ws.accepting) {
        pthread_mutex_unlock(&ws.mu);
        free(e->text);
        free(e);
        return;
    }
    if (ws.in_tail)
        ws.in_tail->next = e;
    else
        ws.in_head = e;
    ws.in_tail = e;
    /* Under the lock: kb_chat_stop destroys the loop only after it stopped accepting. */
    ev_async_send(ws.loop, &ws.wake);
    pthread_mutex_unlock(&ws.mu);
}

void chat_ws_wake(void)
{
    pthread_mutex_lock(&ws.mu);
    if (ws.accepting) /* kb_chat_stop destroys the loop only after it stopped accepting */
        ev_async_send(ws.loop, &ws.wake);
    pthread_mutex_unlock(&ws.mu);
}

static struct ev *ev_new(enum ev_kind kind)
{
    struct ev *e = calloc(1, sizeof *e);
    if (e)
        e->kind = kind;
    return e;
}

void chat_ws_send_conn(uint64_t conn, char *frame)
{
    struct ev *e = ev_new(EV_SEND_CONN);
    if (!e) {
        free(frame);
        return;
    }
    e->conn = conn;
    e->text = frame;
    post(e);
}

void chat_ws_send_conv(int64_t conv, uint64_t except, char *frame)
{
    struct ev *e = ev_new(EV_SEND_CONV);
    if (!e) {
        free(frame);
        return;
    }
    e->conv = conv;
    e->except = except;
    e->text = frame;
    post(e);
}

void chat_ws_attach(uint64_t conn, int64_t conv)
{
    struct ev *e = ev_new(EV_ATTACH);
    if (!e) {
        chat_engine_detached(conv);
        return;
    }
    e->conn = conn;
    e->conv = conv;
    post(e);
}

void chat_ws_unstarted(uint64_t conn)
{
    struct ev *e = ev_new(EV_UNSTARTED);
    if (e) {
        e->conn = conn;
        post(e);
    }
}

void chat_ws_close_conv(int64_t conv, const char *reason)
{
    struct ev *e = ev_new(EV_CLOSE_CONV);
    if (e) {
        e->conv = conv;
        e->code = LWS_CLOSE_STATUS_NORMAL;
        snprintf(e->reason, sizeof e->reason, "%s", reason);
        post(e);
    }
}

void chat_ws_close_conn(uint64_t conn, int code, const char *reason)
{
    struct ev *e = ev_new(EV_CLOSE_CONN);
    if (e) {
        e->conn = conn;
        e->code = code;
        snprintf(e->reason, sizeof e->reason, "%s", reason);
        post(e);
    }
}

/* ---- connections and conversations (websocket thread) -------------------------------- */

static size_t slot_u64(uint64_t v)
{
    return (size_t)((v * 0x9E3779B97F4A7C15ull) >> 24) % ws.nb;
}

static struct wconn *conn_find(uint64_t id)
{
    for (struct wconn *c = ws.conns[slot_u64(id)]; c; c = c->next_id)
        if (c->id == id)
            return c;
    return NULL;
}

static struct wconv *conv_find(int64_t id, bool create)
{
    size_t s = slot_u64((uint64_t)id);
    for (struct wconv *v = ws.convs[s]; v; v = v->next)
        if (v->id == id)
            return v;
    if (!create)
        return NULL;
    struct wconv *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->id = id;
    v->next = ws.convs[s];
    ws.convs[s] = v;
    return v;
}

static void conv_drop_conn(struct wconn *c)
{
    struct wconv *v = c->conv;
    if (!v)
        return;
    struct wconn **pp = &v->conns;
    while (*pp && *pp != c)
        pp = &(*pp)->next_in_conv;
    if (*pp)
        *pp = c->next_in_conv;
    c->conv = NULL;
    int64_t id = v->id;
    if (!v->conns) {
        struct wconv **vp = &ws.convs[slot_u64((uint64_t)id)];
        while (*vp && *vp != v)
            vp = &(*vp)->next;
        if (*vp)
            *vp = v->next;
        free(v);
    }
    chat_engine_detached(id);
}

/* Queue a frame (copied) on c. False when c's queue is over its cap: c is closed. */
static bool queue(struct wconn *c, const char *text, size_t len)
{
    if (c->closing)
        return false;
    if (c->out_bytes + len > OUT_MAX) {
        c->closing = true;
        c->closing_ms = mono_ms();
        c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
        snprintf(c->close_reason, sizeof c->close_reason, "too much unread output");
        lws_callback_on_writable(c->wsi);
        return false;
    }
    struct outf *f = malloc(sizeof *f + LWS_PRE + len);
    if (!f)
        return false;
    f->len = len;
    f->next = NULL;
    memcpy(f->buf + LWS_PRE, text, len);
    if (c->out_tail)
        c->out_tail->next = f;
    else
        c->out = f;
    c->out_tail = f;
    c->out_bytes += len;
    lws_callback_on_writable(c->wsi);
    return true;
}

static void send_error(struct wconn *c, const char *code, const char *message)
{
    char *f = kb_chat_frame_error(code, message);
    if (f)
        queue(c, f, strlen(f));
    free(f);
}

static void close_after_output(struct wconn *c, int code, const char *reason)
{
    if (c->closing)
        return;
    c->closing = true;
    c->closing_ms = mono_ms();
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    lws_callback_on_writable(c->wsi);
}

/* ---- frames in ----------------------------------------------------------------------- */

static void dispatch(struct wconn *c, struct kb_chat_frame *f);

static void on_start(struct wconn *c, struct kb_chat_frame *f)
{
    if (c->state != W_NEW) {
        send_error(c, "bad_frame", "this connection has started already");
        kb_chat_frame_release(f);
        return;
    }
    if (!f->resume &&
        !kb_rate_take(&c->addr->b[ADDR_STARTS], ws.cfg.starts_per_min / 60.0,
                             ws.cfg.starts_per_min, mono_ms())) {
        send_error(c, "rate_limited", "too many new conversations from this address: wait a minute");
        kb_chat_frame_release(f);
        return;
    }
    c->state = W_STARTING;
    chat_engine_start_frame(c->id, f);
}

static void dispatch(struct wconn *c, struct kb_chat_frame *f)
{
    switch (f->type) {
    case KB_CHAT_START: on_start(c, f); return;
    case KB_CHAT_MESSAGE:
    case KB_CHAT_END:
        if (c->state == W_NEW) {
            send_error(c, "not_started", "send a start frame first");
            kb_chat_frame_release(f);
            return;
        }
        if (c->state == W_STARTING) {
            if (c->npending >= PENDING_MAX) {
                char *e = f->id ? kb_chat_frame_error_id("rate_limited",
                                                         "wait for the conversation to start", f->id)
                                : kb_chat_frame_error("rate_limited",
                                                      "wait for the conversation to start");
                if (e)
                    queue(c, e, strlen(e));
                free(e);
                kb_chat_frame_release(f);
                return;
            }
            c->pending[c->npending++] = *f; /* moved */
            memset(f, 0, sizeof *f);
            return;
        }
        if (f->type == KB_CHAT_END) {
            chat_engine_end(c->conv->id, c->id);
            kb_chat_frame_release(f);
            return;
        }
        if (!kb_rate_take(&c->conv->msgs, ws.cfg.msg_rate, ws.cfg.msg_burst, mono_ms())) {
            char *e = kb_chat_frame_error_id("rate_limited", "too many messages: this one was "
                                                             "not processed, send it again later",
                                             f->id);
            if (e)
                queue(c, e, strlen(e));
            free(e);
            kb_chat_frame_release(f);
            return;
        }
        chat_engine_message(c->conv->id, c->id, f);
        return;
    }
}

static void on_frame(struct wconn *c, const char *data, size_t len)
{
    struct kb_chat_frame f;
    const char *why = NULL;
    enum kb_err err = kb_chat_frame_parse(data, len, &f, &why);
    if (err == KB_ETOOBIG) {
        send_error(c, "too_large", why);
        close_after_output(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "frame too large");
        return;
    }
    if (err) {
        send_error(c, err == KB_ENOMEM ? "server_error" : "bad_frame", why ? why : "bad frame");
        return;
    }
    dispatch(c, &f);
}

/* ---- events from the inbox ----------------------------------------------------------- */

static void handle_ev(struct ev *e)
{
    struct wconn *c = e->conn ? conn_find(e->conn) : NULL;
    switch (e->kind) {
    case EV_SEND_CONN:
        if (c)
            queue(c, e->text, strlen(e->text));
        break;
    case EV_SEND_CONV: {
        struct wconv *v = conv_find(e->conv, false);
        for (struct wconn *k = v ? v->conns : NULL; k; k = k->next_in_conv)
            if (k->id != e->except)
                queue(k, e->text, strlen(e->text));
        break;
    }
    case EV_ATTACH: {
        struct wconv *v = c && c->state == W_STARTING ? conv_find(e->conv, true) : NULL;
        if (!v) {
            chat_engine_detached(e->conv); /* the connection left meanwhile */
            break;
        }
        c->state = W_STARTED;
        c->conv = v;
        c->next_in_conv = v->conns;
        v->conns = c;
        for (size_t i = 0; i < c->npending; i++) {
            struct kb_chat_frame f = c->pending[i];
            dispatch(c, &f);
        }
        c->npending = 0;
        break;
    }
    case EV_UNSTARTED:
        if (c && c->state == W_STARTING) {
            c->state = W_NEW;
            for (size_t i = 0; i < c->npending; i++) {
                send_error(c, "not_started", "the conversation did not start");
                kb_chat_frame_release(&c->pending[i]);
            }
            c->npending = 0;
        }
        break;
    case EV_CLOSE_CONV: {
        struct wconv *v = conv_find(e->conv, false);
        for (struct wconn *k = v ? v->conns : NULL; k; k = k->next_in_conv)
            close_after_output(k, e->code, e->reason);
        break;
    }
    case EV_CLOSE_CONN:
        if (c)
            close_after_output(c, e->code, e->reason);
        break;
    }
}

static void drain_inbox(void)
{
    pthread_mutex_lock(&ws.mu);
    struct ev *e = ws.in_head;
    ws.in_head = ws.in_tail = NULL;
    pthread_mutex_unlock(&ws.mu);
    while (e) {
        struct ev *next = e->next;
        handle_ev(e);
        free(e->text);
        free(e);
        e = next;
    }
}

/* ---- the libwebsockets callback ------------------------------------------------------ */

static void conn_free(struct wconn *c)
{
    conv_drop_conn(c);
    struct wconn **pp = &ws.conns[slot_u64(c->id)];
    while (*pp && *pp != c)
        pp = &(*pp)->next_id;
    if (*pp)
        *pp = c->next_id;
    ws.nconns--;
    if (c->addr && c->addr->conns)
        c->addr->conns--;
    for (struct outf *f = c->out, *n; f; f = n) {
        n = f->next;
        free(f);
    }
    for (size_t i = 0; i < c->npending; i++)
        kb_chat_frame_release(&c->pending[i]);
    kb_buf_release(&c->rx);
    free(c);
}

static int on_established(struct lws *wsi, struct wconn **slot)
{
    char addr[48] = "";
    lws_get_peer_simple(wsi, addr, sizeof addr);
    struct wconn *c = calloc(1, sizeof *c);
    struct kb_rate_addr *a = kb_rate_addrs_get(ws.addrs, addr, mono_ms());
    if (!c || !a) {
        free(c);
        return -1;
    }
    c->id = ++ws.next_id;
    c->wsi = wsi;
    c->addr = a;
    c->born_ms = c->heard_ms = mono_ms();
    kb_buf_init(&c->rx, KB_CHAT_FRAME_MAX);
    size_t s = slot_u64(c->id);
    c->next_id = ws.conns[s];
    ws.conns[s] = c;
    ws.nconns++;
    a->conns++;
    *slot = c;
    if (a->conns > ws.cfg.conn_max || ws.nconns > CONNS_MAX) {
        send_error(c, "rate_limited", "too many connections from this address");
        close_after_output(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too many connections");
        return 0;
    }
    return 0;
}

static int on_receive(struct wconn *c, const char *in, size_t len)
{
    if (c->closing)
        return 0;
    struct lws *wsi = c->wsi;
    int64_t now = mono_ms();
    c->heard_ms = now;
    c->pinged = false;
    if (lws_is_first_fragment(wsi) && !kb_rate_take(&c->frames, FRAME_RATE, FRAME_BURST, now)) {
        send_error(c, "rate_limited", "too many frames: the connection is closed");
        close_after_output(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too many frames");
        return 0;
    }
    if (lws_is_first_fragment(wsi)) {
        kb_buf_clear(&c->rx);
        c->rx_discard = false;
    }
    if (lws_frame_is_binary(wsi)) {
        c->rx_discard = true; /* answered once, when the frame ends */
    } else if (!c->rx_discard && kb_buf_append(&c->rx, in, len) != KB_OK) {
        send_error(c, "too_large", "frame larger than 4 KiB");
        close_after_output(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "frame too large");
        return 0;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    if (lws_frame_is_binary(wsi)) {
        send_error(c, "bad_frame", "binary frames are not accepted: send JSON text");
        return 0;
    }
    on_frame(c, c->rx.data ? c->rx.data : "", c->rx.len);
    kb_buf_clear(&c->rx);
    return 0;
}

static int on_writable(struct wconn *c)
{
    if (c->ping_due && !c->closing) {
        /* A payload: libwebsockets 4.1 never reports an empty pong (RECEIVE_PONG). */
        unsigned char ping[LWS_PRE + 2];
        memcpy(ping + LWS_PRE, "kb", 2);
        c->ping_due = false;
        if (lws_write(c->wsi, ping + LWS_PRE, 2, LWS_WRITE_PING) < 0)
            return -1;
        if (c->out)
            lws_callback_on_writable(c->wsi);
        return 0;
    }
    struct outf *f = c->out;
    if (f) {
        int n = lws_write(c->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
        c->out = f->next;
        if (!c->out)
            c->out_tail = NULL;
        c->out_bytes -= f->len;
        free(f);
        if (n < 0)
            return -1;
        if (c->out) {
            lws_callback_on_writable(c->wsi);
            return 0;
        }
    }
    if (c->closing) {
        lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
                         (unsigned char *)c->close_reason, strlen(c->close_reason));
        return -1;
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct wconn **slot = user;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        drain_inbox();
        return 0;
    case LWS_CALLBACK_HTTP:
        /* Only the websocket lives here. */
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "the chat is at /chat (websocket)");
        return -1;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char uri[64] = "";
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
            return -1;
        return strcmp(uri, "/chat") == 0 ? 0 : -1;
    }
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(wsi, slot);
    case LWS_CALLBACK_RECEIVE:
        return *slot ? on_receive(*slot, in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (*slot) {
            (*slot)->heard_ms = mono_ms();
            (*slot)->pinged = false;
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return *slot ? on_writable(*slot) : -1;
    case LWS_CALLBACK_CLOSED:
        if (*slot) {
            conn_free(*slot);
            *slot = NULL;
        }
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"kb-chat", callback, sizeof(struct wconn *), KB_CHAT_FRAME_MAX + 128, 0, NULL, 0},
    /* the agents' channel (agent.c): chosen by its subprotocol, served at /agent */
    {CHAT_AGENT_PROTOCOL, chat_agent_callback, CHAT_AGENT_PSS_SIZE, CHAT_AGENT_RX_BUFFER, 0, NULL,
     0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* No validity timers from libwebsockets (see the top of this file): sweep() keeps peers
 * honest instead. */
static const lws_retry_bo_t retry = {
    .secs_since_valid_ping = 0,
    .secs_since_valid_hangup = 0,
};

/* One pass over every connection (20,000 at most: well under a millisecond). A connection
 * that has not started within 10 s is closed; one silent for --chat-ping (30 s) is pinged, and
 * dropped when the ping is unanswered that long again (a client that vanished without closing); a close its peer does not read is forced.
 * Drops are collected first and done after the walk: closing a connection runs
 * LWS_CALLBACK_CLOSED at once, which frees it and unlinks it from the table being walked. They
 * are synchronous because a timeout armed from outside a libwebsockets callback is only looked
 * at when its own timer next fires, which may be a minute later. */
static void sweep(int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < ws.nb; i++)
        for (struct wconn *c = ws.conns[i]; c; c = c->next_id) {
            bool drop = false;
            if (c->closing) {
                drop = now - c->closing_ms > CLOSE_GRACE_MS;
            } else if (c->state == W_NEW && now - c->born_ms > START_TIMEOUT_MS) {
                close_after_output(c, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                                   "no start frame within 10 s");
            } else if (c->pinged) {
                /* Measured from the ping, not from the silence: a ping goes out at a tick,
                 * up to a second late, and its answer must not be judged by that delay. */
                drop = now - c->pinged_ms > ws.ping_ms;
            } else if (now - c->heard_ms > ws.ping_ms) {
                c->pinged = c->ping_due = true;
                c->pinged_ms = now;
                lws_callback_on_writable(c->wsi);
            }
            if (drop && n < ws.ndoomed)
                ws.doomed[n++] = c->wsi;
        }
    for (size_t i = 0; i < n; i++)
        lws_set_timeout(ws.doomed[i], PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)t, (void)revents;
    int64_t now = mono_ms();
    chat_engine_tick();
    /* An address unused for two minutes has its new-conversation bucket full again. */
    kb_rate_addrs_sweep(ws.addrs, 120000, now);
    sweep(now);
    chat_agent_sweep(now, ws.ping_ms);
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w, (void)revents;
    if (atomic_load(&ws.stop)) {
        ev_break(loop, EVBREAK_ALL);
    } else {
        drain_inbox();
        chat_agent_drain(); /* the agents' channel's inbox (agent.c) shares the wake-up */
    }
}

static void log_lws(int level, const char *line)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s", line);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    kb_log(level == LLL_ERR ? KB_LOG_ERROR : KB_LOG_DEBUG, "chat: websocket: %s", msg);
}

static void *service_main(void *p)
{
    (void)p;
    pthread_setname_np(pthread_self(), "kb-chat-ws");
    ev_run(ws.loop, 0);
    return NULL;
}

/* Room for 10,000 conversations and their clients: the soft file limit up to the hard one. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

enum kb_err kb_chat_start(const struct kb_chat_config *cfg, int *port)
{
    if (ws.running)
        return KB_EBUSY;
    ws.cfg = *cfg;
    if (ws.cfg.msg_rate <= 0)
        ws.cfg.msg_rate = 5;
    if (ws.cfg.msg_burst < 1)
        ws.cfg.msg_burst = 20;
    if (!ws.cfg.conn_max)
        ws.cfg.conn_max = 50;
    if (ws.cfg.starts_per_min <= 0)
        ws.cfg.starts_per_min = 30;
    struct in_addr a;
    if (inet_pton(AF_INET, cfg->bind, &a) != 1) {
        kb_log(KB_LOG_ERROR, "--bind must be an IPv4 address (got %s)", cfg->bind);
        return KB_EINVAL;
    }
    raise_nofile();
    ws.ping_ms = (int64_t)(cfg->ping_secs > 0 ? cfg->ping_secs : 30) * 1000;
    ws.nb = 4096;
    ws.conns = calloc(ws.nb, sizeof *ws.conns);
    ws.convs = calloc(ws.nb, sizeof *ws.convs);
    /* Connections past CONNS_MAX live until their refusal is written: the rest of those waits
     * for the next sweep. */
    ws.ndoomed = CONNS_MAX + 1024;
    ws.doomed = calloc(ws.ndoomed, sizeof *ws.doomed);
    enum kb_err err = KB_ENOMEM;
    if (!ws.conns || !ws.convs || !ws.doomed || kb_rate_addrs_new(&ws.addrs) != KB_OK)
        goto fail;
    /* epoll where the kernel has it; libev picks the best backend it finds. */
    ws.loop = ev_loop_new(EVFLAG_AUTO);
    if (!ws.loop)
        goto fail;
    ev_async_init(&ws.wake, on_wake);
    ev_async_start(ws.loop, &ws.wake);
    ev_timer_init(&ws.tick, on_tick, 1.0, 1.0);
    ev_timer_start(ws.loop, &ws.tick);
    err = chat_engine_start(cfg);
    if (err)
        goto fail;
    lws_set_log_level(LLL_ERR, log_lws);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = cfg->port;
    info.iface = cfg->bind;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_LIBEV;
    void *loops[1] = {ws.loop};
    info.foreign_loops = loops;
    info.retry_and_idle_policy = &retry;
    info.timeout_secs = 20;
    pthread_mutex_lock(&ws.mu);
    ws.accepting = true;
    pthread_mutex_unlock(&ws.mu);
    ws.ctx = lws_create_context(&info);
    if (!ws.ctx) {
        kb_log(KB_LOG_ERROR, "chat: cannot listen on %s:%d", cfg->bind, cfg->port);
        pthread_mutex_lock(&ws.mu);
        ws.accepting = false;
        pthread_mutex_unlock(&ws.mu);
        chat_engine_stop();
        err = KB_EIO;
        goto fail;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(ws.ctx, "default");
    *port = vh ? lws_get_vhost_listen_port(vh) : cfg->port;
    atomic_store(&ws.stop, 0);
    if (pthread_create(&ws.thread, NULL, service_main, NULL) != 0) {
        pthread_mutex_lock(&ws.mu);
        ws.accepting = false;
        pthread_mutex_unlock(&ws.mu);
        lws_context_destroy(ws.ctx);
        ws.ctx = NULL;
        chat_engine_stop();
        err = KB_ENOMEM;
        goto fail;
    }
    ws.running = true;
    return KB_OK;
fail:
    if (ws.loop)
        ev_loop_destroy(ws.loop);
    ws.loop = NULL;
    free(ws.conns);
    free(ws.convs);
    free(ws.doomed);
    kb_rate_addrs_free(ws.addrs);
    ws.conns = NULL;
    ws.convs = NULL;
    ws.doomed = NULL;
    ws.addrs = NULL;
    return err;
}

void kb_chat_stop(void)
{
    if (!ws.running)
        return;
    atomic_store(&ws.stop, 1);
    ev_async_send(ws.loop, &ws.wake);
    pthread_join(ws.thread, NULL);
    pthread_mutex_lock(&ws.mu);
    ws.accepting = false;
    pthread_mutex_unlock(&ws.mu);
    /* Destroying the context closes every connection (LWS_CALLBACK_CLOSED frees them); the
     * loop is ours, and goes after it. */
    lws_context_destroy(ws.ctx);
    ws.ctx = NULL;
    ev_timer_stop(ws.loop, &ws.tick);
    ev_async_stop(ws.loop, &ws.wake);
    ev_loop_destroy(ws.loop);
    ws.loop = NULL;
    chat_engine_stop();
    pthread_mutex_lock(&ws.mu);
    struct ev *e = ws.in_head;
    ws.in_head = ws.in_tail = NULL;
    pthread_mutex_unlock(&ws.mu);
    while (e) {
        struct ev *n = e->next;
        free(e->text);
        free(e);
        e = n;
    }
    for (size_t i = 0; i < ws.nb; i++)
        for (struct wconv *v = ws.convs[i], *n; v; v = n) {
            n = v->next;
            free(v);
        }
    free(ws.conns);
    free(ws.convs);
    free(ws.doomed);
    kb_rate_addrs_free(ws.addrs);
    ws.conns = NULL;
    ws.convs = NULL;
    ws.doomed = NULL;
    ws.addrs = NULL;
    ws.running = false;
}
