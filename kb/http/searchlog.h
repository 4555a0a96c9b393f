/* kb/http/searchlog.h: the search log (every query with its result count, and clicks), written
 * to SQLite by a background thread in batches so that logging never slows a search down.
 * When the queue is full (the database is stuck), entries are dropped and counted. */
#ifndef KB_SEARCHLOG_H
#define KB_SEARCHLOG_H

#include <stdint.h>

#include "kb/base/err.h"

/* Start the writer thread on its own connection to db_path. */
enum kb_err kb_searchlog_start(const char *db_path) KB_MUST_CHECK;
/* Flush what is queued and stop the thread. No-op when not started. */
void kb_searchlog_stop(void);
/* A new search id: positive, unique, increasing (see searchlog.c). */
int64_t kb_searchlog_new_id(void);
/* Queue a query (strings copied). */
void kb_searchlog_query(int64_t id, const char *query, const char *lang, int64_t results);
/* Queue a click on a result of search `id`. */
void kb_searchlog_click(int64_t id, const char *slug);
/* Entries dropped because the queue was full. */
uint64_t kb_searchlog_dropped(void);

#endif
