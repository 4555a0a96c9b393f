/* kb/store/store.c: opening the SQLite store, its schema and migrations, and the helpers the
 * family files share (see store.h and store_int.h).
 *
 * Schema (PRAGMA user_version; migrations run in order inside one transaction). Each family
 * file documents its own tables:
 *
 *   articles.c   articles(id, slug UNIQUE, lang, title, category, category_slug, tags JSON,
 *                         questions JSON, audience, status, translation_of, extra JSON,
 *                         source_path, content_hash, revision, seen_run, views, helpful_yes,
 *                         helpful_no, created_at, updated_at)
 *                revisions(article_id, revision, content_hash, source, created_at)
 *   queue.c      index_queue(id, article_id, queued_at)
 *   feedback.c   feedback(article_id, helpful, comment, at)
 *   searchlog.c  search_log(id, at, query, lang, results), search_clicks(search_id, slug, at)
 *   synonyms.c   synonyms(lang, body)
 *   rules.c      bot_rules(lang, name, body, content_hash, updated_at)
 *   conversations.c  conversations(id, public_id, token_hash, lang, page, state, bot_state,
 *                         last_seq, outcome, consent_at, consent_text, agent_id,
 *                         waiting_since, ...),
 *                messages(conversation_id, seq, sender, client_id, text, extra, at)
 *   cases.c      cases(id, ref, year, number, status, subject, lang, contact, consent,
 *                      conversation_id, transcript, articles, assignee_id, ...),
 *                case_inbox(id, status, assignee_id, lang, text) kept by triggers, and
 *                case_inbox_search (trigram FTS5 of its text)
 *   casework.c   case_notes(case_id, author, text, at), case_history(case_id, at, actor,
 *                change, from_value, to_value), case_articles(case_id, article_id, ...)
 *   accounts.c   users(id, login, name, role, pwhash, disabled, ...), sessions(id_hash,
 *                user_id, csrf, created_at, seen_at, ended_at), api_tokens(name, role,
 *                token_hash, ...)
 *   audit.c      audit(at, actor, action, target, address, detail)
 *   articles.c   article_links(article_id, slug): each article's see_also
 *   articles.c   article_counts(lang, category_slug, category, status, audience, n), kept
 *                by triggers on articles
 *   desk.c       agent_recent(user_id, article_id, at), agent_pins(user_id, article_id, at)
 *   flags.c      article_flags(id, article_id, reason, comment, author, at, status, ...)
 *   outbox.c     outbox(event_id, type, case_id, payload, state, attempts, next_at, ...),
 *                outbox_attempts(event_id, attempt, url, started_at, finished_at, status,
 *                error), crm_endpoints(url, disabled_at, reason)
 *
 * Statements are prepared once per connection (SQLITE_PREPARE_PERSISTENT, kb_store_stmt)
 * and always take their values through bound parameters. */
#include "kb/store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "kb/base/log.h"
#include "kb/store/store_int.h"

static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE articles("
    " id INTEGER PRIMARY KEY,"
    " slug TEXT NOT NULL UNIQUE,"
    " lang TEXT NOT NULL,"
    " title TEXT NOT NULL,"
    " category TEXT NOT NULL DEFAULT '',"
    " category_slug TEXT NOT NULL DEFAULT '',"
    " tags TEXT NOT NULL DEFAULT '[]',"
    " questions TEXT NOT NULL DEFAULT '[]',"
    " audience TEXT NOT NULL CHECK (audience IN ('public','internal')),"
    " status TEXT NOT NULL CHECK (status IN ('draft','review','published','archived')),"
    " translation_of TEXT NOT NULL DEFAULT '',"
    " body_md TEXT NOT NULL,"
    " html TEXT NOT NULL,"
    " text TEXT NOT NULL,"
    " extra TEXT NOT NULL DEFAULT '{}',"
    " source_path TEXT,"
    " content_hash TEXT NOT NULL,"
    " revision INTEGER NOT NULL DEFAULT 1,"
    " seen_run INTEGER NOT NULL DEFAULT 0,"
    " views INTEGER NOT NULL DEFAULT 0,"
    " helpful_yes INTEGER NOT NULL DEFAULT 0,"
    " helpful_no INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX articles_list ON articles(status, audience, lang, category_slug);"
    "CREATE INDEX articles_source ON articles(source_path);"
    "CREATE INDEX articles_translation ON articles(translation_of);"
    "CREATE TABLE revisions("
    " article_id INTEGER NOT NULL REFERENCES articles(id),"
    " revision INTEGER NOT NULL,"
    " content_hash TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (article_id, revision)) WITHOUT ROWID;"
    "CREATE TABLE index_queue("
    " id INTEGER PRIMARY KEY,"
    " article_id INTEGER NOT NULL,"
    " queued_at INTEGER NOT NULL);"
    "CREATE TABLE feedback("
    " id INTEGER PRIMARY KEY,"
    " article_id INTEGER NOT NULL REFERENCES articles(id),"
    " helpful INTEGER NOT NULL,"
    " comment TEXT,"
    " at INTEGER NOT NULL);"
    "CREATE TABLE search_log("
    " id INTEGER PRIMARY KEY,"
    " at INTEGER NOT NULL,"
    " query TEXT NOT NULL,"
    " lang TEXT NOT NULL DEFAULT '',"
    " results INTEGER NOT NULL);"
    "CREATE INDEX search_log_zero ON search_log(results, at);"
    "CREATE TABLE search_clicks("
    " search_id INTEGER NOT NULL,"
    " slug TEXT NOT NULL,"
    " at INTEGER NOT NULL);"
    "CREATE TABLE synonyms("
    " lang TEXT PRIMARY KEY,"
    " body TEXT NOT NULL,"
    " updated_at INTEGER NOT NULL);",
    /* 2: the Markdown source is the current revision's (revisions.source holds the whole
     * file); a copy per article was a quarter of what an import wrote. */
    "ALTER TABLE articles DROP COLUMN body_md;",
    /* 3: the HTML is rendered from that source when an article is shown (kb_store_get_slug):
     * stored, it was as large as the Markdown, and an import writes everything twice (the
     * WAL, then the database): 6% of a 50,000-article import (tests/bench/README.md). */
    "ALTER TABLE articles DROP COLUMN html;",
    /* 4: the plain text too is the source's, rendered when it is read (row_read): a third of
     * what a large import wrote, twice. */
    "ALTER TABLE articles DROP COLUMN text;",
    /* 5: the live chat and cases: the bot's rules as imported, conversations and their
     * messages, cases, and the outbox that delivers case events to the CRM (rules.c,
     * conversations.c, cases.c, outbox.c document them). */
    "CREATE TABLE bot_rules("
    " lang TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " body TEXT NOT NULL,"
    " content_hash TEXT NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (lang, name)) WITHOUT ROWID;"
    "CREATE TABLE conversations("
    " id INTEGER PRIMARY KEY,"
    " public_id TEXT NOT NULL UNIQUE,"
    " token_hash TEXT NOT NULL UNIQUE,"
    " lang TEXT NOT NULL,"
    " page TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL CHECK (state IN ('bot','waiting','agent','ended')),"
    " bot_state TEXT NOT NULL DEFAULT '{}',"
    " last_seq INTEGER NOT NULL DEFAULT 0,"
    " outcome TEXT CHECK (outcome IN ('rule','article','case','abandoned')),"
    " consent_at INTEGER,"
    " consent_text TEXT,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " ended_at INTEGER);"
    "CREATE INDEX conversations_idle ON conversations(state, updated_at);"
    "CREATE TABLE messages("
    " conversation_id INTEGER NOT NULL REFERENCES conversations(id),"
    " seq INTEGER NOT NULL,"
    " sender TEXT NOT NULL CHECK (sender IN ('customer','bot','agent','system')),"
    " client_id TEXT,"
    " text TEXT NOT NULL,"
    " extra TEXT,"
    " at INTEGER NOT NULL,"
    " PRIMARY KEY (conversation_id, seq)) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX messages_client ON messages(conversation_id, client_id)"
    " WHERE client_id IS NOT NULL;"
    "CREATE TABLE cases("
    " id INTEGER PRIMARY KEY,"
    " ref TEXT NOT NULL UNIQUE,"
    " year INTEGER NOT NULL,"
    " number INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('new','open','pending','solved','closed')),"
    " subject TEXT NOT NULL,"
    " lang TEXT NOT NULL,"
    " name TEXT,"
    " email TEXT,"
    " phone TEXT,"
    " consent_at INTEGER,"
    " consent_text TEXT,"
    " conversation_id INTEGER REFERENCES conversations(id),"
    " transcript TEXT NOT NULL,"
    " articles TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " UNIQUE (year, number));"
    "CREATE INDEX cases_status ON cases(status, created_at);"
    "CREATE INDEX cases_conversation ON cases(conversation_id);"
    "CREATE TABLE outbox("
    " id INTEGER PRIMARY KEY,"
    " event_id TEXT NOT NULL UNIQUE,"
    " type TEXT NOT NULL,"
    " case_id INTEGER REFERENCES cases(id),"
    " payload TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('due','delivered','failed','disabled')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_at INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " delivered_at INTEGER,"
    " last_status INTEGER,"
    " last_error TEXT);"
    "CREATE INDEX outbox_due ON outbox(state, next_at);"
    "CREATE INDEX outbox_case ON outbox(case_id);"
    "CREATE TABLE outbox_attempts("
    " event_id TEXT NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " url TEXT NOT NULL,"
    " started_at INTEGER NOT NULL,"
    " finished_at INTEGER,"
    " status INTEGER,"
    " error TEXT,"
    " PRIMARY KEY (event_id, attempt)) WITHOUT ROWID;"
    "CREATE TABLE crm_endpoints("
    " url TEXT PRIMARY KEY,"
    " disabled_at INTEGER NOT NULL,"
    " reason TEXT NOT NULL) WITHOUT ROWID;",
    /* 6: the search log is purged after its retention period, oldest first (searchlog.c). */
    "CREATE INDEX search_clicks_search ON search_clicks(search_id);",
    /* 7: accounts (accounts.c) and the audit log (audit.c). */
    "CREATE TABLE users("
    " id INTEGER PRIMARY KEY,"
    " login TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " name TEXT NOT NULL DEFAULT '',"
    " role TEXT NOT NULL CHECK (role IN ('agent','editor','publisher','admin')),"
    " pwhash TEXT NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE sessions("
    " id_hash TEXT PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id),"
    " csrf TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " seen_at INTEGER NOT NULL,"
    " ended_at INTEGER) WITHOUT ROWID;"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE api_tokens("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL CHECK (role IN ('agent','editor','publisher','admin')),"
    " token_hash TEXT NOT NULL UNIQUE,"
    " created_at INTEGER NOT NULL,"
    " used_at INTEGER,"
    " revoked_at INTEGER);"
    "CREATE TABLE audit("
    " id INTEGER PRIMARY KEY,"
    " at INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " target TEXT NOT NULL DEFAULT '',"
    " address TEXT NOT NULL DEFAULT '',"
    " detail TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX audit_at ON audit(at);",
    /* 8: the agents' cases inbox (cases.c, casework.c): who a case is assigned to (a user's
     * id: the login is the users row's, and a FOREIGN KEY keeps it real); case_inbox, one
     * narrow row per case (status, assignee, language and the text agents search: reference,
     * name, email, phone, subject), kept by triggers, with its indexes and a trigram index of
     * its text (FTS5, external content), so that filtering, searching and counting never read
     * the cases' transcripts; the notes, the history of every change (each existing case gets
     * its "created" row) and the articles that answered a case. */
    "ALTER TABLE cases ADD COLUMN assignee_id INTEGER REFERENCES users(id);"
    "CREATE TABLE case_inbox("
    " id INTEGER PRIMARY KEY REFERENCES cases(id),"
    " status TEXT NOT NULL,"
    " assignee_id INTEGER,"
    " lang TEXT NOT NULL,"
    " text TEXT NOT NULL);"
    "CREATE INDEX case_inbox_status ON case_inbox(status, assignee_id);"
    "CREATE INDEX case_inbox_assignee ON case_inbox(assignee_id, status);"
    "CREATE VIRTUAL TABLE case_inbox_search USING fts5(text, content = 'case_inbox',"
    " content_rowid = 'id', tokenize = 'trigram');"
    "CREATE TRIGGER case_inbox_insert AFTER INSERT ON case_inbox BEGIN"
    " INSERT INTO case_inbox_search(rowid, text) VALUES (new.id, new.text); END;"
    "CREATE TRIGGER case_inbox_delete AFTER DELETE ON case_inbox BEGIN"
    " INSERT INTO case_inbox_search(case_inbox_search, rowid, text)"
    " VALUES ('delete', old.id, old.text); END;"
    "CREATE TRIGGER case_inbox_text AFTER UPDATE OF text ON case_inbox BEGIN"
    " INSERT INTO case_inbox_search(case_inbox_search, rowid, text)"
    " VALUES ('delete', old.id, old.text);"
    " INSERT INTO case_inbox_search(rowid, text) VALUES (new.id, new.text); END;"
    "INSERT INTO case_inbox(id, status, assignee_id, lang, text)"
    " SELECT id, status, NULL, lang, ref || char(10) || coalesce(name, '') || char(10) ||"
    " coalesce(email, '') || char(10) || coalesce(phone, '') || char(10) || subject FROM cases;"
    "CREATE TRIGGER cases_inbox_insert AFTER INSERT ON cases BEGIN"
    " INSERT INTO case_inbox(id, status, assignee_id, lang, text)"
    " VALUES (new.id, new.status, new.assignee_id, new.lang, new.ref || char(10) ||"
    " coalesce(new.name, '') || char(10) || coalesce(new.email, '') || char(10) ||"
    " coalesce(new.phone, '') || char(10) || new.subject); END;"
    "CREATE TRIGGER cases_inbox_state AFTER UPDATE OF status, assignee_id, lang ON cases BEGIN"
    " UPDATE case_inbox SET status = new.status, assignee_id = new.assignee_id,"
    " lang = new.lang WHERE id = new.id; END;"
    "CREATE TRIGGER cases_inbox_text AFTER UPDATE OF ref, name, email, phone, subject ON cases"
    " BEGIN UPDATE case_inbox SET text = new.ref || char(10) || coalesce(new.name, '') ||"
    " char(10) || coalesce(new.email, '') || char(10) || coalesce(new.phone, '') || char(10) ||"
    " new.subject WHERE id = new.id; END;"
    "CREATE TRIGGER cases_inbox_delete AFTER DELETE ON cases BEGIN"
    " DELETE FROM case_inbox WHERE id = old.id; END;"
    "CREATE TABLE case_notes("
    " id INTEGER PRIMARY KEY,"
    " case_id INTEGER NOT NULL REFERENCES cases(id),"
    " author TEXT NOT NULL,"
    " text TEXT NOT NULL,"
    " at INTEGER NOT NULL);"
    "CREATE INDEX case_notes_case ON case_notes(case_id);"
    "CREATE TABLE case_history("
    " id INTEGER PRIMARY KEY,"
    " case_id INTEGER NOT NULL REFERENCES cases(id),"
    " at INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " change TEXT NOT NULL CHECK (change IN ('created','status','assignee','note','article')),"
    " from_value TEXT,"
    " to_value TEXT);"
    "CREATE INDEX case_history_case ON case_history(case_id);"
    "INSERT INTO case_history(case_id, at, actor, change, to_value)"
    " SELECT id, created_at, 'chat', 'created', 'new' FROM cases;"
    "CREATE TABLE case_articles("
    " case_id INTEGER NOT NULL REFERENCES cases(id),"
    " article_id INTEGER NOT NULL REFERENCES articles(id),"
    " linked_by TEXT NOT NULL,"
    " linked_at INTEGER NOT NULL,"
    " PRIMARY KEY (case_id, article_id)) WITHOUT ROWID;"
    "CREATE INDEX case_articles_article ON case_articles(article_id);",
    /* 9: the agents' console (articles.c, desk.c, flags.c): the articles each article goes
     * with (front matter see_also; a file imported before kb knew the key kept it in extra,
     * moved here), each agent's recently viewed and pinned articles, and the flags agents
     * raise on articles (wrong, outdated, missing) for the editors. */
    "CREATE TABLE article_links("
    " article_id INTEGER NOT NULL REFERENCES articles(id),"
    " slug TEXT NOT NULL,"
    " PRIMARY KEY (article_id, slug)) WITHOUT ROWID;"
    "CREATE INDEX article_links_slug ON article_links(slug);"
    "INSERT OR IGNORE INTO article_links(article_id, slug)"
    " SELECT a.id, j.value FROM articles a, json_each(a.extra, '$.see_also') j"
    " WHERE json_valid(a.extra) AND json_type(a.extra, '$.see_also') = 'array'"
    " AND j.type = 'text';"
    "INSERT OR IGNORE INTO article_links(article_id, slug)"
    " SELECT id, json_extract(extra, '$.see_also') FROM articles"
    " WHERE json_valid(extra) AND json_type(extra, '$.see_also') = 'text';"
    "UPDATE articles SET extra = json_remove(extra, '$.see_also')"
    " WHERE json_valid(extra) AND json_type(extra, '$.see_also') IS NOT NULL;"
    "CREATE TABLE agent_recent("
    " user_id INTEGER NOT NULL REFERENCES users(id),"
    " article_id INTEGER NOT NULL REFERENCES articles(id),"
    " at INTEGER NOT NULL,"
    " PRIMARY KEY (user_id, article_id)) WITHOUT ROWID;"
    "CREATE INDEX agent_recent_at ON agent_recent(user_id, at);"
    "CREATE TABLE agent_pins("
    " user_id INTEGER NOT NULL REFERENCES users(id),"
    " article_id INTEGER NOT NULL REFERENCES articles(id),"
    " at INTEGER NOT NULL,"
    " PRIMARY KEY (user_id, article_id)) WITHOUT ROWID;"
    "CREATE TABLE article_flags("
    " id INTEGER PRIMARY KEY,"
    " article_id INTEGER NOT NULL REFERENCES articles(id),"
    " reason TEXT NOT NULL CHECK (reason IN ('wrong','outdated','missing')),"
    " comment TEXT NOT NULL DEFAULT '',"
    " author TEXT NOT NULL,"
    " at INTEGER NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','handled')),"
    " handled_by TEXT,"
    " handled_at INTEGER);"
    "CREATE INDEX article_flags_status ON article_flags(status, id);"
    "CREATE INDEX article_flags_article ON article_flags(article_id);",
    /* 10: the live takeover of chats (conversations.c): the agent who holds a conversation
     * (a user's id, state agent) and since when it waits for one (state waiting). */
    "ALTER TABLE conversations ADD COLUMN agent_id INTEGER REFERENCES users(id);"
    "ALTER TABLE conversations ADD COLUMN waiting_since INTEGER;",
    /* 11: what the home page and the category pages read, in time independent of the number
     * of articles (articles.c): the count of articles per language, category, status and
     * audience, kept by triggers in the transaction that changes an article (at 50,000
     * articles, counting them at each view of the home page took 65 ms of CPU), and indexes
     * for the most viewed and for a category's titles. */
    "CREATE TABLE article_counts("
    " lang TEXT NOT NULL,"
    " category_slug TEXT NOT NULL,"
    " category TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " audience TEXT NOT NULL,"
    " n INTEGER NOT NULL,"
    " PRIMARY KEY (lang, category_slug, category, status, audience)) WITHOUT ROWID;"
    "INSERT INTO article_counts(lang, category_slug, category, status, audience, n)"
    " SELECT lang, category_slug, category, status, audience, count(*) FROM articles"
    " GROUP BY lang, category_slug, category, status, audience;"
    "CREATE TRIGGER article_counts_insert AFTER INSERT ON articles BEGIN"
    " INSERT INTO article_counts(lang, category_slug, category, status, audience, n)"
    " VALUES (new.lang, new.category_slug, new.category, new.status, new.audience, 1)"
    " ON CONFLICT (lang, category_slug, category, status, audience) DO UPDATE SET n = n + 1;"
    " END;"
    "CREATE TRIGGER article_counts_delete AFTER DELETE ON articles BEGIN"
    " UPDATE article_counts SET n = n - 1 WHERE lang = old.lang"
    " AND category_slug = old.category_slug AND category = old.category"
    " AND status = old.status AND audience = old.audience;"
    " DELETE FROM article_counts WHERE n <= 0;"
    " END;"
    "CREATE TRIGGER article_counts_update AFTER UPDATE OF lang, category_slug, category,"
    " status, audience ON articles WHEN old.lang <> new.lang"
    " OR old.category_slug <> new.category_slug OR old.category <> new.category"
    " OR old.status <> new.status OR old.audience <> new.audience BEGIN"
    " UPDATE article_counts SET n = n - 1 WHERE lang = old.lang"
    " AND category_slug = old.category_slug AND category = old.category"
    " AND status = old.status AND audience = old.audience;"
    " DELETE FROM article_counts WHERE n <= 0;"
    " INSERT INTO article_counts(lang, category_slug, category, status, audience, n)"
    " VALUES (new.lang, new.category_slug, new.category, new.status, new.audience, 1)"
    " ON CONFLICT (lang, category_slug, category, status, audience) DO UPDATE SET n = n + 1;"
    " END;"
    "CREATE INDEX articles_top ON articles(lang, views DESC, updated_at DESC);"
    "CREATE INDEX articles_category ON articles(lang, category_slug, title COLLATE NOCASE);",
};

const char *kb_store_errmsg(struct kb_store *st)
{
    return st && st->db ? sqlite3_errmsg(st->db) : "no database";
}

enum kb_err kb_store_dberr(struct kb_store *st)
{
    int rc = sqlite3_errcode(st->db) & 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? KB_EBUSY : KB_EDB;
}

enum kb_err kb_store_fail(struct kb_store *st, const char *what)
{
    kb_log(KB_LOG_ERROR, "sqlite: %s: %s", what, sqlite3_errmsg(st->db));
    return kb_store_dberr(st);
}

sqlite3_stmt *kb_store_stmt(struct kb_store *st, const char *sql)
{
    size_t mask = STORE_STMT_SLOTS - 1;
    size_t i = ((uintptr_t)sql >> 3) & mask;
    for (size_t probe = 0; probe < STORE_STMT_SLOTS; probe++, i = (i + 1) & mask) {
        if (st->stmts[i].sql == sql) {
            sqlite3_reset(st->stmts[i].s);
            sqlite3_clear_bindings(st->stmts[i].s);
            return st->stmts[i].s;
        }
        if (!st->stmts[i].sql) {
            sqlite3_stmt *s = NULL;
            if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
                SQLITE_OK) {
                kb_log(KB_LOG_ERROR, "sqlite: prepare: %s", sqlite3_errmsg(st->db));
                return NULL;
            }
            st->stmts[i].sql = sql;
            st->stmts[i].s = s;
            return s;
        }
    }
    kb_log(KB_LOG_ERROR, "sqlite: more than %d cached statements", STORE_STMT_SLOTS);
    return NULL;
}

static int busy_poll(void *ud, int count)
{
    (void)ud;
    if (count >= 40000)
        return 0; /* 10 s: give up, the caller gets SQLITE_BUSY */
    struct timespec ts = {0, 250000};
    nanosleep(&ts, NULL);
    return 1;
}

void kb_store_poll_busy(struct kb_store *st)
{
    sqlite3_busy_handler(st->db, busy_poll, NULL);
}

enum kb_err kb_store_exec(struct kb_store *st, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        kb_log(KB_LOG_ERROR, "sqlite: %s", msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return kb_store_dberr(st);
    }
    return KB_OK;
}

char *kb_store_col_dup(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return strdup(t ? t : "");
}

enum kb_err kb_store_step_id(struct kb_store *st, const char *sql, int64_t v, const char *what)
{
    sqlite3_stmt *s = kb_store_stmt(st, sql);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, v);
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, what);
    sqlite3_reset(s);
    return err;
}

static enum kb_err migrate(struct kb_store *st)
{
    sqlite3_stmt *s = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return kb_store_fail(st, "user_version");
    if (sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    int latest = (int)(sizeof migrations / sizeof migrations[0]);
    if (version > latest) {
        kb_log(KB_LOG_ERROR, "database schema %d is newer than this kb (%d)", version, latest);
        return KB_EDB;
    }
    if (version == latest)
        return KB_OK;
    enum kb_err err = kb_store_exec(st, "BEGIN IMMEDIATE");
    if (err)
        return err;
    for (int v = version; v < latest && !err; v++) {
        err = kb_store_exec(st, migrations[v]);
        if (!err) {
            char pragma[64];
            snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
            err = kb_store_exec(st, pragma);
        }
    }
    if (err) {
        KB_IGNORE(kb_store_exec(st, "ROLLBACK"));
        return err;
    }
    return kb_store_exec(st, "COMMIT");
}

enum kb_err kb_store_open(const char *path, bool readonly, struct kb_store **out)
{
    *out = NULL;
    struct kb_store *st = calloc(1, sizeof *st);
    if (!st)
        return KB_ENOMEM;
    int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX; /* one connection per thread */
    enum kb_err err = KB_OK;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        kb_log(KB_LOG_ERROR, "cannot open database %s: %s", path,
               st->db ? sqlite3_errmsg(st->db) : "out of memory");
        err = st->db ? KB_EDB : KB_ENOMEM;
        goto out;
    }
    sqlite3_busy_timeout(st->db, 10000);
    sqlite3_extended_result_codes(st->db, 1);
    if (!readonly) {
        /* journal_size_limit: once a checkpoint let the WAL start over, the file it left
         * (an import's can reach hundreds of MB) is cut back to 64 MB. */
        err = kb_store_exec(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                                "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; "
                                "PRAGMA journal_size_limit = 67108864;");
        if (!err)
            err = migrate(st);
    }
out:
    if (err) {
        kb_store_free(st);
        return err;
    }
    *out = st;
    return KB_OK;
}

void kb_store_free(struct kb_store *st)
{
    if (!st)
        return;
    for (int i = 0; i < STORE_STMT_SLOTS; i++)
        sqlite3_finalize(st->stmts[i].s);
    sqlite3_close_v2(st->db);
    free(st);
}

enum kb_err kb_store_begin(struct kb_store *st)
{
    return kb_store_exec(st, "BEGIN IMMEDIATE");
}

enum kb_err kb_store_commit(struct kb_store *st)
{
    return kb_store_exec(st, "COMMIT");
}

enum kb_err kb_store_durable(struct kb_store *st)
{
    return kb_store_exec(st, "PRAGMA synchronous = FULL");
}

/* fsync the file at path when it exists. */
static enum kb_err sync_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? KB_OK : KB_EIO;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? KB_OK : KB_EIO;
}

enum kb_err kb_store_sync(struct kb_store *st)
{
    /* fsync applies to the file, whatever descriptor asks: what SQLite wrote is flushed. */
    const char *db = sqlite3_db_filename(st->db, "main");
    if (!db || !*db)
        return KB_OK; /* in memory */
    char wal[4096];
    if ((size_t)snprintf(wal, sizeof wal, "%s-wal", db) >= sizeof wal)
        return KB_EINVAL;
    enum kb_err err = sync_file(wal);
    return err ? err : sync_file(db);
}

void kb_store_rollback(struct kb_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        KB_IGNORE(kb_store_exec(st, "ROLLBACK"));
}
