/* kb/http/server.h: `kb serve`: the HTTP server (FAQ pages, JSON API, static files). */
#ifndef KB_SERVER_H
#define KB_SERVER_H

#include "kb/base/err.h"
#include "kb/store/writer.h"

struct kb_http_config {
    const char *db_path;      /* SQLite database; the index is <db_path>.index */
    const char *bind;         /* listen address, e.g. "127.0.0.1" or "0.0.0.0" */
    int port;                 /* 0 picks a free port (printed on stdout when ready) */
    int threads;              /* worker threads; 0 = number of CPUs */
    const char *web_dir;      /* folder with templates/ and static/ */
    const char *base_url;     /* absolute URL prefix for sitemap.xml; NULL = from Host */
    const char *default_lang; /* page language when neither article nor ?lang= says */
    const char *chat_url;     /* the chat's public address (--chat-url); NULL: ws://HOST:chat_port
                               * /chat with the host the browser asked for */
    int chat_port;            /* the chat's port, for that default */
    struct kb_store_writer *writer; /* borrowed: page views, feedback, the search log */
    int search_log_days;      /* the search log's retention (0: 90 days) */
};

/* Replay the index queue and start serving (threads of its own); *port receives the port
 * listened on. cfg is borrowed until kb_http_stop. Errors are logged. */
enum kb_err kb_http_start(const struct kb_http_config *cfg, int *port) KB_MUST_CHECK;
/* Stop serving (requests in flight finish). No-op when not started. */
void kb_http_stop(void);

#endif
