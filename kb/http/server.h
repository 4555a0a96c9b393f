/* kb/http/server.h: `kb serve`: the HTTP server (FAQ pages, JSON API, static files). */
#ifndef KB_SERVER_H
#define KB_SERVER_H

struct kb_http_config {
    const char *db_path;      /* SQLite database; the index is <db_path>.index */
    const char *bind;         /* listen address, e.g. "127.0.0.1" or "0.0.0.0" */
    int port;                 /* 0 picks a free port (printed on stdout when ready) */
    int threads;              /* worker threads; 0 = number of CPUs */
    const char *web_dir;      /* folder with templates/ and static/ */
    const char *base_url;     /* absolute URL prefix for sitemap.xml; NULL = from Host */
    const char *default_lang; /* page language when neither article nor ?lang= says */
};

/* Replay the index queue, start serving, print "listening on http://ADDR:PORT" on stdout once
 * ready, and block until SIGINT or SIGTERM. Returns 0 after a clean shutdown, -1 when the
 * server could not start (the reason is logged). */
int kb_http_run(const struct kb_http_config *cfg);

#endif
