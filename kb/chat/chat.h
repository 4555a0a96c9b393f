/* kb/chat/chat.h: the live chat: a websocket server (libwebsockets) where customers talk to
 * the bot, whose rules answer, search the knowledge base and open cases.
 *
 *   server.c        the websocket glue: connections, frames in and out, limits per address
 *   frames.c        the protocol (documented there and in the README)
 *   conversation.c  conversations: the state machine, the workers that run the bot, and the
 *                   writes (through the store's writer thread)
 *   host.c          the functions rules <call> (kb_search, quick, contact, case_open ...)
 *   rules.c         rules from the database: import, load, reload when an import changes them
 *   agent.c         the agents' channel (ws://ADDR:PORT/agent): signed-in agents see the
 *                   conversations waiting for a person, take one and talk to the customer
 *   hours.c         the opening hours of that live takeover (--chat-hours)
 *   ratelimit.c     token buckets and the address table */
#ifndef KB_CHAT_H
#define KB_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "kb/base/err.h"
#include "kb/store/store.h"
#include "kb/store/writer.h"

/* Opening hours of the live takeover, per weekday, in the server's local time (hours.c
 * documents the format). A plain value: no allocation. */
#define KB_CHAT_HOURS_RANGES 4
struct kb_chat_hours {
    bool set;               /* false: no opening hours: nobody is offered to wait */
    unsigned char n[7];     /* ranges of each weekday (0 = Sunday, as struct tm) */
    short from[7][KB_CHAT_HOURS_RANGES], to[7][KB_CHAT_HOURS_RANGES]; /* minutes of the day */
};
/* Parse spec ("mon-fri 09:00-18:00, sat 10:00-12:30"; "" or "none": no hours) into *out.
 * KB_EINVAL with *why a static lowercase reason when malformed. */
enum kb_err kb_chat_hours_parse(const char *spec, struct kb_chat_hours *out,
                                const char **why) KB_MUST_CHECK;
/* True when t falls in the opening hours (local time). */
bool kb_chat_hours_open(const struct kb_chat_hours *h, time_t t);

struct kb_chat_config {
    const char *db_path;      /* the database; the index is <db_path>.index */
    const char *bind;         /* IPv4 address to listen on */
    int port;                 /* 0 picks a free port */
    const char *default_lang; /* conversations in a language without rules use this one */
    unsigned workers;         /* threads running the bot; 0: number of CPUs */
    int idle_secs;            /* a conversation idle that long ends (default 1800) */
    int ping_secs;            /* a connection silent that long is pinged (30), and dropped
                               * when its ping is unanswered that long again */
    double msg_rate, msg_burst;  /* messages a second per conversation, and burst (5, 20) */
    unsigned conn_max;        /* connections open per address (50) */
    double starts_per_min;    /* new conversations a minute per address (30) */
    struct kb_store_writer *writer; /* borrowed: where messages are written; must outlive */
    struct kb_chat_hours hours; /* when customers may wait for an agent (none: never) */
    int wait_secs;            /* how long one waits before the bot offers a case (180) */
};

/* Load the rules from the database, start the workers and the websocket thread, listen.
 * *port receives the port listened on. Returns once listening; KB_EIO when the address cannot
 * be bound. One chat per process. */
enum kb_err kb_chat_start(const struct kb_chat_config *cfg, int *port) KB_MUST_CHECK;
/* Close every connection, finish the work in flight, stop the threads. No-op when not
 * started. */
void kb_chat_stop(void);
/* The help centre's address, which the agents' pages are served from: the agents' channel
 * accepts a websocket only from a page of that origin (the Origin header): base_url's
 * scheme://host[:port] when given, else http://HOST:http_port with the host the browser
 * asked the chat for. Until it is called, the agents' channel refuses every connection.
 * base_url is copied. Thread-safe. */
void kb_chat_set_site(const char *base_url, int http_port);

/* kb import: the rules of dir/bot/<lang>/NAME.rive into the database, each language loaded
 * and checked as `kb check` does. A file with errors keeps its previous version (reported on
 * out as "file:line: error: reason"); files gone from a language folder are removed. */
struct kb_chat_rules_report {
    size_t files, stored, unchanged, failed, removed;
    unsigned warnings;
};
enum kb_err kb_chat_rules_import(struct kb_store *st, const char *dir, FILE *out,
                                 struct kb_chat_rules_report *rep) KB_MUST_CHECK;

#endif
