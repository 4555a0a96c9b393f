/* kb/store/store_int.h: what the files of kb/store share and nobody else sees: the
 * connection's layout, the statement cache and the error helpers. */
#ifndef KB_STORE_INT_H
#define KB_STORE_INT_H

#include <stdint.h>

#include <sqlite3.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

#define STORE_STMT_SLOTS 128 /* power of two, more than the statements of every family */

struct kb_store {
    sqlite3 *db;
    /* Statements prepared once per connection, keyed by the address of their static SQL
     * text: each family keeps its SQL in its own file and no central list is needed. */
    struct {
        const char *sql;
        sqlite3_stmt *s;
    } stmts[STORE_STMT_SLOTS];
};

/* The cached statement for sql (a static string: its address is the key), reset and
 * unbound, ready for binding; NULL when it does not prepare (logged). Borrowed: valid until
 * the connection closes. */
sqlite3_stmt *kb_store_stmt(struct kb_store *st, const char *sql);
/* KB_EBUSY when another connection held the database past the busy timeout (a caller may try
 * again later), else KB_EDB. */
enum kb_err kb_store_dberr(struct kb_store *st);
/* Log "sqlite: what: message" and return kb_store_dberr. */
enum kb_err kb_store_fail(struct kb_store *st, const char *what);
/* Run SQL without results (schema, transactions). */
enum kb_err kb_store_exec(struct kb_store *st, const char *sql) KB_MUST_CHECK;
/* strdup of a text column, "" for NULL; NULL only when out of memory. */
char *kb_store_col_dup(sqlite3_stmt *s, int i);
/* Step a cached statement that takes one integer and returns no row. */
enum kb_err kb_store_step_id(struct kb_store *st, const char *sql, int64_t v, const char *what) KB_MUST_CHECK;
/* Wait for the write lock by polling every 250 us (up to 10 s) instead of SQLite's default
 * back-off (sleeps growing to 100 ms): a writer that must get the lock between two batches of
 * an import (the writer thread) would otherwise sleep through the gap. */
void kb_store_poll_busy(struct kb_store *st);
/* Queue an article for the indexer, in the caller's transaction (queue.c). */
enum kb_err kb_store_queue_article(struct kb_store *st, int64_t id, int64_t now) KB_MUST_CHECK;

#endif
