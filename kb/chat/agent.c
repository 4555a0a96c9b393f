/* kb/chat/agent.c: the agents' channel: ws://ADDR:PORT/agent, subprotocol "kb-agent", on the
 * chat's websocket thread (server.c lists the protocol; frames.c documents the frames).
 * Signed-in agents see the conversations that wait for a person, take one, and talk to its
 * customer through it.
 *
 * Authentication: a websocket is not a request of the help centre, so it carries no CSRF
 * token; what stops another site from opening this channel with the agent's cookie
 * (cross-site websocket hijacking) is the Origin check of the handshake: only a page of the
 * help centre (kb_chat_set_site) may open it. The kb_session cookie is then checked by a
 * worker (conversation.c: kb_auth_caller, a read of SQLite this thread never does), again
 * before every action, and every 10 s: a signed-out, expired or disabled agent loses the
 * channel (4401).
 *
 * Connection state machine (websocket thread):
 *
 *   handshake ──on_filter: path /agent, Origin, cookie, room──► AUTH   (else refused: the
 *                                                                  handshake fails)
 *   AUTH ──chat_agent_ready (a worker checked the session)──► READY
 *        ──chat_agent_refuse, or 10 s without an answer──► closed (4401)
 *   READY ──each frame: chat_engine_agent_frame (the worker checks the session again)
 *         ──every 10 s: chat_engine_agent_check ──chat_agent_refuse──► closed (4401)
 *
 * Other threads never touch a connection: they post to this file's inbox (under its lock)
 * and wake the thread (chat_ws_wake: the ev_async of server.c's loop), whose wake-up drains
 * this inbox too (chat_agent_drain). server.c's one-second tick calls chat_agent_sweep: the
 * 10 s limit to become ready, the session checks, keepalive as for customers (a ping after
 * --chat-ping of silence, dropped when the ping is unanswered that long again: a vanished
 * agent must not look present, see chat_engine_agent_presence), and closes a peer never
 * reads. Limits: 8 KiB a
 * frame, 20 frames a second per connection (bursts of 60, then rate_limited), 10 ready
 * connections per agent, 200 in all, 8 MiB of unread output. */
#include "kb/chat/agent.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "kb/auth/auth.h"
#include "kb/base/buf.h"
#include "kb/base/log.h"
#include "kb/base/ratelimit.h"
#include "kb/chat/chat_int.h"

#define AGENT_CONNS_MAX 200     /* agent connections in all */
#define AGENT_USER_CONNS_MAX 10 /* ready connections of one agent (tabs) */
#define AUTH_TIMEOUT_MS 10000   /* a connection not ready by then is closed */
#define CLOSE_GRACE_MS 10000    /* a close the peer does not read is forced after this */
#define CHECK_EVERY_MS 10000    /* a ready connection's session is checked again */
#define OUT_MAX (8u << 20)      /* bytes queued for one connection (transcripts are big) */
#define FRAME_RATE 20.0
#define FRAME_BURST 60.0
#define CLOSE_UNAUTHENTICATED 4401
#define SESSION_COOKIE "kb_session"

struct aout {
    size_t len;
    struct aout *next;
    unsigned char buf[]; /* LWS_PRE bytes, then the frame */
};

struct aconn {
    uint64_t id;
    struct lws *wsi;
    bool ready;
    int64_t user_id;
    char session[KB_AUTH_SECRET_LEN + 1]; /* the cookie's secret (zeroed when freed) */
    char addr[48];
    int64_t checked_ms;
    int64_t born_ms, heard_ms, closing_ms; /* monotonic: established, last heard, close began */
    int64_t pinged_ms;                     /* when the unanswered ping was due */
    bool ping_due, pinged;                 /* a ping to send; one is out, unanswered */
    struct kb_buf rx;
    bool rx_discard;
    struct aout *out, *out_tail;
    size_t out_bytes;
    bool closing;
    int close_code;
    char close_reason[64];
    struct kb_rate_bucket frames;
    struct aconn *next;
};

/* What libwebsockets keeps per connection for us: the cookie read at the handshake, then the
 * connection. */
struct pss {
    struct aconn *c;
    char session[KB_AUTH_SECRET_LEN + 1];
};
_Static_assert(sizeof(struct pss) <= CHAT_AGENT_PSS_SIZE, "CHAT_AGENT_PSS_SIZE is too small");

enum aev_kind { AEV_SEND_CONN, AEV_SEND_USER, AEV_BROADCAST, AEV_READY, AEV_REFUSE };

struct aev {
    enum aev_kind kind;
    uint64_t conn;
    int64_t user;
    char *text;
    struct aev *next;
};

static struct {
    pthread_mutex_t mu; /* the inbox, accepting and the site */
    struct aev *head, *tail;
    bool accepting;
    bool site_set;
    char site[300];     /* the help centre's origin (--base-url), "" for http://HOST:port */
    int http_port;
    /* the websocket thread's own */
    struct aconn *conns;
    size_t nconns;
    uint64_t next_id;
} ag = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the site (any thread) ------------------------------------------------------------- */

void kb_chat_set_site(const char *base_url, int http_port)
{
    char origin[300] = "";
    const char *p = base_url ? strstr(base_url, "://") : NULL;
    if (p) {
        size_t n = strcspn(p + 3, "/?#");
        snprintf(origin, sizeof origin, "%.*s", (int)(p + 3 - base_url + (ptrdiff_t)n),
                 base_url);
        /* Browsers leave a scheme's default port out of Origin. */
        size_t len = strlen(origin);
        if (strncasecmp(origin, "https://", 8) == 0 && len > 4 &&
            strcmp(origin + len - 4, ":443") == 0)
            origin[len - 4] = 0;
        else if (strncasecmp(origin, "http://", 7) == 0 && len > 3 &&
                 strcmp(origin + len - 3, ":80") == 0)
            origin[len - 3] = 0;
    }
    pthread_mutex_lock(&ag.mu);
    snprintf(ag.site, sizeof ag.site, "%s", origin);
    ag.http_port = http_port;
    ag.site_set = true;
    pthread_mutex_unlock(&ag.mu);
}

/* ---- the inbox (any thread) ------------------------------------------------------------ */

static void post(enum aev_kind kind, uint64_t conn, int64_t user, char *text)
{
    struct aev *e = calloc(1, sizeof *e);
    if (!e) {
        free(text);
        return;
    }
    *e = (struct aev){kind, conn, user, text, NULL};
    pthread_mutex_lock(&ag.mu);
    if (!ag.accepting) {
        pthread_mutex_unlock(&ag.mu);
        free(text);
        free(e);
        return;
    }
    if (ag.tail)
        ag.tail->next = e;
    else
        ag.head = e;
    ag.tail = e;
    pthread_mutex_unlock(&ag.mu);
    chat_ws_wake();
}

void chat_agent_send_conn(uint64_t conn, char *frame)
{
    if (frame)
        post(AEV_SEND_CONN, conn, 0, frame);
}

void chat_agent_send_user(int64_t user_id, char *frame)
{
    if (frame)
        post(AEV_SEND_USER, 0, user_id, frame);
}

void chat_agent_broadcast(char *frame)
{
    if (frame)
        post(AEV_BROADCAST, 0, 0, frame);
}

void chat_agent_ready(uint64_t conn, int64_t user_id, char *hello)
{
    post(AEV_READY, conn, user_id, hello);
}

void chat_agent_refuse(uint64_t conn)
{
    post(AEV_REFUSE, conn, 0, NULL);
}

/* ---- connections (websocket thread) ---------------------------------------------------- */

static struct aconn *conn_find(uint64_t id)
{
    for (struct aconn *c = ag.conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

/* Queue a frame (copied) on c; over its cap c is closed. */
static void queue(struct aconn *c, const char *text, size_t len)
{
    if (c->closing)
        return;
    if (c->out_bytes + len > OUT_MAX) {
        c->closing = true;
        c->closing_ms = mono_ms();
        c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
        snprintf(c->close_reason, sizeof c->close_reason, "too much unread output");
        lws_callback_on_writable(c->wsi);
        return;
    }
    struct aout *f = malloc(sizeof *f + LWS_PRE + len);
    if (!f)
        return;
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
}

static void queue_str(struct aconn *c, char *frame)
{
    if (frame)
        queue(c, frame, strlen(frame));
    free(frame);
}

static void send_error(struct aconn *c, const char *code, const char *message)
{
    queue_str(c, kb_chat_frame_error(code, message));
}

static void close_after_output(struct aconn *c, int code, const char *reason)
{
    if (c->closing)
        return;
    c->closing = true;
    c->closing_ms = mono_ms();
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    lws_callback_on_writable(c->wsi);
}

static void conn_free(struct aconn *c)
{
    struct aconn **pp = &ag.conns;
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = c->next;
        ag.nconns--;
    }
    if (c->ready)
        chat_engine_agent_presence(c->user_id, -1);
    for (struct aout *f = c->out, *n; f; f = n) {
        n = f->next;
        free(f);
    }
    kb_buf_release(&c->rx);
    sodium_memzero(c->session, sizeof c->session);
    free(c);
}

static void handle(struct aev *e)
{
    struct aconn *c = e->conn ? conn_find(e->conn) : NULL;
    switch (e->kind) {
    case AEV_SEND_CONN:
        if (c)
            queue(c, e->text, strlen(e->text));
        break;
    case AEV_SEND_USER:
    case AEV_BROADCAST:
        for (struct aconn *k = ag.conns; k; k = k->next)
            if (k->ready && (e->kind == AEV_BROADCAST || k->user_id == e->user))
                queue(k, e->text, strlen(e->text));
        break;
    case AEV_READY: {
        if (!c || c->ready || c->closing)
            break;
        unsigned mine = 0;
        for (struct aconn *k = ag.conns; k; k = k->next)
            mine += k->ready && k->user_id == e->user;
        if (mine >= AGENT_USER_CONNS_MAX) {
            send_error(c, "too_many_connections", "close another tab of the agents' chats first");
            close_after_output(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too many connections");
            break;
        }
        c->ready = true;
        c->user_id = e->user;
        c->checked_ms = mono_ms();
        chat_engine_agent_presence(c->user_id, 1);
        if (e->text)
            queue(c, e->text, strlen(e->text));
        break;
    }
    case AEV_REFUSE:
        if (c) {
            send_error(c, "unauthenticated", "your session has ended: sign in again");
            close_after_output(c, CLOSE_UNAUTHENTICATED, "unauthenticated");
        }
        break;
    }
}

void chat_agent_drain(void)
{
    pthread_mutex_lock(&ag.mu);
    struct aev *e = ag.head;
    ag.head = ag.tail = NULL;
    pthread_mutex_unlock(&ag.mu);
    while (e) {
        struct aev *next = e->next;
        handle(e);
        free(e->text);
        free(e);
        e = next;
    }
}

void chat_agent_sweep(int64_t now, int64_t ping_ms)
{
    struct lws *doomed[AGENT_CONNS_MAX + 16];
    size_t n = 0;
    for (struct aconn *c = ag.conns; c; c = c->next) {
        bool drop = false;
        if (c->closing) {
            drop = now - c->closing_ms > CLOSE_GRACE_MS;
        } else if (!c->ready) {
            if (now - c->born_ms > AUTH_TIMEOUT_MS) {
                send_error(c, "unauthenticated", "the session could not be checked in time");
                close_after_output(c, CLOSE_UNAUTHENTICATED, "unauthenticated");
            }
        } else if (c->pinged && now - c->pinged_ms > ping_ms) {
            drop = true; /* measured from the ping, as server.c does */
        } else {
            if (!c->pinged && now - c->heard_ms > ping_ms) {
                c->pinged = c->ping_due = true;
                c->pinged_ms = now;
                lws_callback_on_writable(c->wsi);
            }
            if (now - c->checked_ms >= CHECK_EVERY_MS) {
                c->checked_ms = now;
                chat_engine_agent_check(c->id, c->session, c->addr);
            }
        }
        if (drop && n < sizeof doomed / sizeof doomed[0])
            doomed[n++] = c->wsi;
    }
    /* After the walk: a synchronous close frees the connection (LWS_CALLBACK_CLOSED). */
    for (size_t i = 0; i < n; i++)
        lws_set_timeout(doomed[i], PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
}

/* ---- the handshake ----------------------------------------------------------------------- */

/* True when s is a secret as kb/auth makes them (base64url, 43 characters). */
static bool secret_shaped(const char *s, size_t n)
{
    if (n != KB_AUTH_SECRET_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return false;
    return true;
}

/* True when the handshake's Origin is the help centre's. */
static bool origin_ok(struct lws *wsi)
{
    char origin[300], host[300], want[340];
    if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0)
        return false;
    pthread_mutex_lock(&ag.mu);
    bool set = ag.site_set;
    int port = ag.http_port;
    snprintf(want, sizeof want, "%s", ag.site);
    pthread_mutex_unlock(&ag.mu);
    if (!set)
        return false;
    if (!want[0]) {
        /* No --base-url: the help centre is on this host, at its HTTP port. */
        if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0)
            return false;
        size_t n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)host[i]) && !strchr(".-[]:", host[i]))
                return false;
        snprintf(want, sizeof want, "http://%.*s:%d", (int)n, host, port);
    }
    return strcasecmp(origin, want) == 0;
}

/* Refuse the handshake with an HTTP status (the client sees it, and no websocket opens). */
static int refuse(struct lws *wsi, struct pss *pss, unsigned status, const char *why)
{
    sodium_memzero(pss->session, sizeof pss->session);
    lws_return_http_status(wsi, status, why);
    return -1;
}

static int on_filter(struct lws *wsi, struct pss *pss)
{
    char uri[64] = "";
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/agent") != 0)
        return refuse(wsi, pss, HTTP_STATUS_NOT_FOUND, "the agents' channel is at /agent");
    if (!origin_ok(wsi)) {
        kb_log(KB_LOG_INFO, "chat: an agents' channel refused: not from the help centre's origin");
        return refuse(wsi, pss, HTTP_STATUS_FORBIDDEN, "only the help centre's pages may connect");
    }
    size_t len = sizeof pss->session;
    if (lws_http_cookie_get(wsi, SESSION_COOKIE, pss->session, &len) != 0 ||
        !secret_shaped(pss->session, strlen(pss->session)))
        return refuse(wsi, pss, HTTP_STATUS_UNAUTHORIZED, "sign in first");
    if (ag.nconns >= AGENT_CONNS_MAX) {
        kb_log(KB_LOG_ERROR, "chat: an agents' channel refused: %d connections open already",
               AGENT_CONNS_MAX);
        return refuse(wsi, pss, HTTP_STATUS_SERVICE_UNAVAILABLE, "too many agents' connections");
    }
    return 0;
}

static int on_established(struct lws *wsi, struct pss *pss)
{
    struct aconn *c = calloc(1, sizeof *c);
    if (!c) {
        sodium_memzero(pss->session, sizeof pss->session);
        return -1;
    }
    c->id = ++ag.next_id;
    c->wsi = wsi;
    c->born_ms = c->heard_ms = mono_ms();
    memcpy(c->session, pss->session, sizeof c->session);
    sodium_memzero(pss->session, sizeof pss->session);
    lws_get_peer_simple(wsi, c->addr, sizeof c->addr);
    kb_buf_init(&c->rx, KB_CHAT_AGENT_FRAME_MAX);
    c->next = ag.conns;
    ag.conns = c;
    ag.nconns++;
    pss->c = c;
    chat_engine_agent_hello(c->id, c->session, c->addr);
    return 0;
}

/* ---- frames in ----------------------------------------------------------------------- */

static void on_frame(struct aconn *c, const char *data, size_t len)
{
    if (!c->ready) {
        send_error(c, "not_ready", "wait for hello: the session is being checked");
        return;
    }
    struct kb_chat_agent_frame f;
    const char *why = NULL;
    enum kb_err err = kb_chat_agent_frame_parse(data, len, &f, &why);
    if (err == KB_ETOOBIG) {
        send_error(c, "too_large", why);
        close_after_output(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "frame too large");
        return;
    }
    if (err) {
        send_error(c, err == KB_ENOMEM ? "server_error" : "bad_frame", why ? why : "bad frame");
        return;
    }
    chat_engine_agent_frame(c->id, c->session, c->addr, &f);
}

static int on_receive(struct aconn *c, const char *in, size_t len)
{
    if (c->closing)
        return 0;
    struct lws *wsi = c->wsi;
    c->heard_ms = mono_ms();
    c->pinged = false;
    if (lws_is_first_fragment(wsi)) {
        kb_buf_clear(&c->rx);
        c->rx_discard = false;
        if (!kb_rate_take(&c->frames, FRAME_RATE, FRAME_BURST, mono_ms()))
            c->rx_discard = true; /* answered rate_limited when it ends */
    }
    if (lws_frame_is_binary(wsi)) {
        c->rx_discard = true;
    } else if (!c->rx_discard && kb_buf_append(&c->rx, in, len) != KB_OK) {
        send_error(c, "too_large", "frame larger than 8 KiB");
        close_after_output(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "frame too large");
        return 0;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    if (lws_frame_is_binary(wsi))
        send_error(c, "bad_frame", "binary frames are not accepted: send JSON text");
    else if (c->rx_discard)
        send_error(c, "rate_limited", "too many frames: this one was not processed");
    else
        on_frame(c, c->rx.data ? c->rx.data : "", c->rx.len);
    kb_buf_clear(&c->rx);
    return 0;
}

static int on_writable(struct aconn *c)
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
    struct aout *f = c->out;
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

int chat_agent_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    struct pss *pss = user;
    switch (reason) {
    case LWS_CALLBACK_PROTOCOL_INIT:
        pthread_mutex_lock(&ag.mu);
        ag.accepting = true;
        pthread_mutex_unlock(&ag.mu);
        return 0;
    case LWS_CALLBACK_PROTOCOL_DESTROY: {
        pthread_mutex_lock(&ag.mu);
        ag.accepting = false;
        struct aev *e = ag.head;
        ag.head = ag.tail = NULL;
        ag.site_set = false;
        pthread_mutex_unlock(&ag.mu);
        while (e) {
            struct aev *n = e->next;
            free(e->text);
            free(e);
            e = n;
        }
        while (ag.conns) /* closed with the context; their wsi are gone */
            conn_free(ag.conns);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss && pss->c) {
            pss->c->heard_ms = mono_ms();
            pss->c->pinged = false;
        }
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return pss ? on_filter(wsi, pss) : -1;
    case LWS_CALLBACK_ESTABLISHED:
        return pss ? on_established(wsi, pss) : -1;
    case LWS_CALLBACK_RECEIVE:
        return pss && pss->c ? on_receive(pss->c, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss && pss->c ? on_writable(pss->c) : -1;
    case LWS_CALLBACK_CLOSED:
        if (pss && pss->c) {
            conn_free(pss->c);
            pss->c = NULL;
        }
        return 0;
    default:
        return 0;
    }
}
