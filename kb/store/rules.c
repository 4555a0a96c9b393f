/* kb/store/rules.c: the chatbot's rules (see rules.h).
 *
 *   bot_rules(lang, name, body, content_hash, updated_at)  PRIMARY KEY (lang, name)
 *
 * One row per file: `kb import` validates each file before it is stored, so a file that
 * fails keeps its previous row and the running server its previous rules. */
#include "kb/store/rules.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sqlite3.h>

#include "kb/store/store_int.h"

static const char SQL_RULES_PUT[] =
    "INSERT INTO bot_rules(lang, name, body, content_hash, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(lang, name) DO UPDATE SET "
    "body = excluded.body, content_hash = excluded.content_hash, "
    "updated_at = excluded.updated_at WHERE content_hash <> excluded.content_hash";

static const char SQL_RULES_NAMES[] = "SELECT name FROM bot_rules WHERE lang = ?1";

static const char SQL_RULES_DELETE[] = "DELETE FROM bot_rules WHERE lang = ?1 AND name = ?2";

static const char SQL_RULES_EACH[] =
    "SELECT lang, name, body FROM bot_rules ORDER BY lang, name";

static const char SQL_RULES_HASHES[] =
    "SELECT lang, name, content_hash FROM bot_rules ORDER BY lang, name";

static void hash_hex(const char *s, size_t n, char hex[65])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)s, n, NULL, 0);
    sodium_bin2hex(hex, 65, h, sizeof h);
}

enum kb_err kb_store_rules_put(struct kb_store *st, const char *lang, const char *name,
                               const char *body, bool *changed)
{
    *changed = false;
    char hash[65];
    hash_hex(body, strlen(body), hash);
    sqlite3_stmt *s = kb_store_stmt(st, SQL_RULES_PUT);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, lang, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, body, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, (int64_t)time(NULL));
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "rules");
    *changed = !err && sqlite3_changes(st->db) > 0;
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_rules_prune(struct kb_store *st, const char *lang, const char *const *names,
                                 size_t n, size_t *removed)
{
    *removed = 0;
    sqlite3_stmt *s = kb_store_stmt(st, SQL_RULES_NAMES);
    if (!s)
        return KB_EDB;
    sqlite3_bind_text(s, 1, lang, -1, SQLITE_STATIC);
    char **gone = NULL;
    size_t ngone = 0;
    enum kb_err err = KB_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        bool keep = false;
        for (size_t i = 0; i < n && !keep; i++)
            keep = strcmp(names[i], name) == 0;
        if (keep)
            continue;
        char **p = realloc(gone, (ngone + 1) * sizeof *p);
        if (!p || !(p[ngone] = strdup(name))) {
            if (p)
                gone = p;
            err = KB_ENOMEM;
            goto out;
        }
        gone = p;
        ngone++;
    }
    if (rc != SQLITE_DONE) {
        err = kb_store_fail(st, "rules");
        goto out;
    }
    sqlite3_reset(s);
    for (size_t i = 0; i < ngone && !err; i++) {
        sqlite3_stmt *d = kb_store_stmt(st, SQL_RULES_DELETE);
        if (!d) {
            err = KB_EDB;
            break;
        }
        sqlite3_bind_text(d, 1, lang, -1, SQLITE_STATIC);
        sqlite3_bind_text(d, 2, gone[i], -1, SQLITE_STATIC);
        err = sqlite3_step(d) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "rules");
        sqlite3_reset(d);
    }
    if (!err)
        *removed = ngone;
out:
    sqlite3_reset(s);
    for (size_t i = 0; i < ngone; i++)
        free(gone[i]);
    free(gone);
    return err;
}

enum kb_err kb_store_rules_each(struct kb_store *st,
                                enum kb_err (*fn)(void *ud, const char *lang, const char *name,
                                                  const char *body),
                                void *ud)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_RULES_EACH);
    if (!s)
        return KB_EDB;
    enum kb_err err = KB_OK;
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW)
        err = fn(ud, (const char *)sqlite3_column_text(s, 0),
                 (const char *)sqlite3_column_text(s, 1), (const char *)sqlite3_column_text(s, 2));
    if (!err && rc != SQLITE_DONE)
        err = kb_store_fail(st, "rules");
    sqlite3_reset(s);
    return err;
}

enum kb_err kb_store_rules_fingerprint(struct kb_store *st, char out[65])
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_RULES_HASHES);
    if (!s)
        return KB_EDB;
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        for (int i = 0; i < 3; i++) {
            const unsigned char *t = sqlite3_column_text(s, i);
            int n = sqlite3_column_bytes(s, i);
            crypto_generichash_update(&h, t ? t : (const unsigned char *)"", (size_t)n);
            crypto_generichash_update(&h, (const unsigned char *)"", 1); /* the NUL separates */
        }
    }
    enum kb_err err = rc == SQLITE_DONE ? KB_OK : kb_store_fail(st, "rules");
    sqlite3_reset(s);
    unsigned char d[32];
    crypto_generichash_final(&h, d, sizeof d);
    sodium_bin2hex(out, 65, d, sizeof d);
    return err;
}
