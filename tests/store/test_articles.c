/* tests/store: what the home page and the category pages read. The categories and their
 * counts come from article_counts (kept by triggers): after every kind of change (create,
 * move to another category, publish, unpublish, archive, delete) they are what counting the
 * articles gives, in every scope and language; a database of the schema before it gets the
 * table filled by its migration. The lists take a language and a category as equalities
 * (their indexes) and keep their orders: most viewed first, titles without regard to case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "kb/store/articles.h"
#include "tests/testfs.h"

static char dir[64];
static char db[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", "/tmp/kb-test-articles-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/kb.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    testfs_rm_rf(dir);
    return 0;
}

/* Put an article (its file content varies with every field, so that a change is a change). */
static void put(struct kb_store *st, const char *slug, const char *title, const char *lang,
                const char *category, const char *audience, const char *status, int64_t run)
{
    char raw[512];
    snprintf(raw, sizeof raw, "%s|%s|%s|%s|%s|%s", slug, title, lang, category, audience,
             status);
    struct kb_store_article a = {.slug = slug, .title = title, .lang = lang,
                                 .category = category, .audience = audience, .status = status};
    struct kb_put_info info;
    char path[256];
    snprintf(path, sizeof path, "/content/%s.md", slug);
    assert_int_equal(kb_store_put_article(st, &a, path, raw, strlen(raw), run, &info), KB_OK);
}

/* The categories of a scope and language as "lang/slug=name:count;..." */
static void categories(struct kb_store *st, enum kb_store_scope scope, const char *lang,
                       char *out, size_t cap)
{
    struct kb_category *cats = NULL;
    size_t n = 0;
    assert_int_equal(kb_store_categories(st, scope, lang, &cats, &n), KB_OK);
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s/%s=%s:%zu;", cats[i].lang,
                                cats[i].slug, cats[i].name, cats[i].count);
    kb_categories_free(cats, n);
}

/* The same, counted from the articles themselves (the query kb_store_categories ran before
 * article_counts), through a connection of its own. */
static void counted(enum kb_store_scope scope, const char *lang, char *out, size_t cap)
{
    sqlite3 *c = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(c,
        "SELECT lang, category_slug, min(category), count(*) FROM articles"
        " WHERE (?1 = 2 OR (status = 'published' AND (audience = 'public' OR ?1 = 1)))"
        " AND (?2 IS NULL OR lang = ?2) AND category_slug <> ''"
        " GROUP BY lang, category_slug ORDER BY lang, min(category) COLLATE NOCASE",
        -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_int(s, 1, (int)scope);
    if (lang)
        sqlite3_bind_text(s, 2, lang, -1, SQLITE_STATIC);
    size_t len = 0;
    out[0] = 0;
    while (sqlite3_step(s) == SQLITE_ROW)
        len += (size_t)snprintf(out + len, cap - len, "%s/%s=%s:%lld;",
                                (const char *)sqlite3_column_text(s, 0),
                                (const char *)sqlite3_column_text(s, 1),
                                (const char *)sqlite3_column_text(s, 2),
                                (long long)sqlite3_column_int64(s, 3));
    sqlite3_finalize(s);
    sqlite3_close(c);
}

/* kb_store_categories agrees with counting, in every scope and language. */
static void agree(struct kb_store *st)
{
    static const char *const langs[] = {"fr", "en", "de", NULL};
    for (int scope = KB_SCOPE_PUBLIC; scope <= KB_SCOPE_ALL; scope++)
        for (size_t l = 0; l < sizeof langs / sizeof *langs; l++) {
            char got[2048], want[2048];
            categories(st, (enum kb_store_scope)scope, langs[l], got, sizeof got);
            counted((enum kb_store_scope)scope, langs[l], want, sizeof want);
            if (strcmp(got, want) != 0)
                fail_msg("scope %d, lang %s:\n got  %s\n want %s", scope,
                         langs[l] ? langs[l] : "any", got, want);
        }
}

static void exec(const char *sql)
{
    sqlite3 *c = NULL;
    assert_int_equal(sqlite3_open(db, &c), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(c, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(c);
}

static void counts_follow_every_change(void **state)
{
    (void)state;
    struct kb_store *st = NULL;
    assert_int_equal(kb_store_open(db, false, &st), KB_OK);
    assert_int_equal(kb_store_begin(st), KB_OK);
    put(st, "a1", "Rendez-vous", "fr", "Après-vente", "public", "published", 1);
    put(st, "a2", "entretien", "fr", "Après-vente", "public", "published", 1);
    put(st, "a3", "Atelier", "fr", "Après-vente", "public", "published", 1);
    put(st, "a4", "Procédure", "fr", "Après-vente", "internal", "published", 1);
    put(st, "g1", "Garantie", "fr", "Garantie", "public", "draft", 1);
    put(st, "w1", "Warranty", "en", "Warranty", "public", "published", 1);
    put(st, "w2", "Recall", "en", "Warranty", "public", "published", 1);
    put(st, "n1", "No category", "fr", "", "public", "published", 1);
    assert_int_equal(kb_store_commit(st), KB_OK);
    char got[2048];
    categories(st, KB_SCOPE_PUBLIC, "fr", got, sizeof got);
    assert_string_equal(got, "fr/apres-vente=Après-vente:3;");
    categories(st, KB_SCOPE_INTERNAL, "fr", got, sizeof got);
    assert_string_equal(got, "fr/apres-vente=Après-vente:4;");
    categories(st, KB_SCOPE_ALL, "fr", got, sizeof got);
    assert_string_equal(got, "fr/apres-vente=Après-vente:4;fr/garantie=Garantie:1;");
    categories(st, KB_SCOPE_PUBLIC, NULL, got, sizeof got);
    assert_string_equal(got, "en/warranty=Warranty:2;fr/apres-vente=Après-vente:3;");
    agree(st);

    /* Publish the draft, move an article to another category, make one internal. */
    assert_int_equal(kb_store_begin(st), KB_OK);
    put(st, "g1", "Garantie", "fr", "Garantie", "public", "published", 2);
    put(st, "a3", "Atelier", "fr", "Garantie", "public", "published", 2);
    put(st, "a2", "entretien", "fr", "Après-vente", "internal", "published", 2);
    assert_int_equal(kb_store_commit(st), KB_OK);
    categories(st, KB_SCOPE_PUBLIC, "fr", got, sizeof got);
    assert_string_equal(got, "fr/apres-vente=Après-vente:1;fr/garantie=Garantie:2;");
    agree(st);

    /* A rollback takes the counts back with the articles. */
    assert_int_equal(kb_store_begin(st), KB_OK);
    put(st, "x1", "Rolled back", "fr", "Garantie", "public", "published", 2);
    kb_store_rollback(st);
    categories(st, KB_SCOPE_PUBLIC, "fr", got, sizeof got);
    assert_string_equal(got, "fr/apres-vente=Après-vente:1;fr/garantie=Garantie:2;");

    /* Archive what run 3 did not see (a1 and the English ones): a category with no article
     * left in the scope is gone from it, and from the table. */
    assert_int_equal(kb_store_begin(st), KB_OK);
    put(st, "a2", "entretien", "fr", "Après-vente", "internal", "published", 3);
    put(st, "a3", "Atelier", "fr", "Garantie", "public", "published", 3);
    put(st, "a4", "Procédure", "fr", "Après-vente", "internal", "published", 3);
    put(st, "g1", "Garantie", "fr", "Garantie", "public", "published", 3);
    put(st, "n1", "No category", "fr", "", "public", "published", 3);
    size_t archived = 0;
    assert_int_equal(kb_store_archive_unseen(st, "/content/", 3, &archived), KB_OK);
    assert_int_equal(kb_store_commit(st), KB_OK);
    assert_int_equal(archived, 3);
    categories(st, KB_SCOPE_PUBLIC, NULL, got, sizeof got);
    assert_string_equal(got, "fr/garantie=Garantie:2;");
    categories(st, KB_SCOPE_ALL, "en", got, sizeof got);
    assert_string_equal(got, "en/warranty=Warranty:2;");
    agree(st);

    /* Deleted rows (kb deletes none today; a hand's repair might). */
    exec("DELETE FROM revisions WHERE article_id IN (SELECT id FROM articles WHERE lang = 'en');"
         "DELETE FROM index_queue;"
         "DELETE FROM articles WHERE lang = 'en'");
    categories(st, KB_SCOPE_ALL, "en", got, sizeof got);
    assert_string_equal(got, "");
    agree(st);
    kb_store_free(st);

    /* A database of schema 10 (no article_counts): its migration counts the articles. */
    exec("DROP TRIGGER article_counts_insert; DROP TRIGGER article_counts_update;"
         "DROP TRIGGER article_counts_delete; DROP TABLE article_counts;"
         "DROP INDEX articles_top; DROP INDEX articles_category; PRAGMA user_version = 10");
    assert_int_equal(kb_store_open(db, false, &st), KB_OK);
    categories(st, KB_SCOPE_ALL, NULL, got, sizeof got);
    assert_string_equal(got, "fr/apres-vente=Après-vente:3;fr/garantie=Garantie:2;");
    agree(st);
    kb_store_free(st);
}

/* The titles of a list, "a,b,c". */
static void titles(struct kb_store *st, enum kb_store_scope scope, const char *lang,
                   const char *cat, enum kb_list_order order, size_t limit, char *out,
                   size_t cap)
{
    struct kb_article_row **rows = NULL;
    size_t n = 0;
    assert_int_equal(kb_store_list(st, scope, lang, cat, order, limit, &rows, &n), KB_OK);
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "", rows[i]->title);
    kb_article_rows_free(rows, n);
}

static void lists_by_language_and_category(void **state)
{
    (void)state;
    struct kb_store *st = NULL;
    assert_int_equal(kb_store_open(db, false, &st), KB_OK);
    assert_int_equal(kb_store_begin(st), KB_OK);
    put(st, "b1", "bravo", "fr", "Vente", "public", "published", 1);
    put(st, "b2", "Alpha", "fr", "Vente", "public", "published", 1);
    put(st, "b3", "charlie", "fr", "Vente", "internal", "published", 1);
    put(st, "b4", "Delta", "fr", "Atelier", "public", "published", 1);
    put(st, "b5", "echo", "fr", "Vente", "public", "draft", 1);
    put(st, "b6", "Foxtrot", "en", "Vente", "public", "published", 1);
    assert_int_equal(kb_store_commit(st), KB_OK);
    struct kb_article_row *r = NULL;
    int64_t ids[7] = {0};
    const char *slugs[] = {"b1", "b2", "b3", "b4", "b5", "b6"};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(kb_store_get_slug(st, slugs[i], KB_SCOPE_ALL, &r), KB_OK);
        ids[i] = r->id;
        kb_article_row_free(r);
    }
    /* Views: Delta 3, bravo 2, charlie 5 (internal), echo 9 (draft), Foxtrot 7 (en). */
    const int views[] = {2, 0, 5, 3, 9, 7};
    assert_int_equal(kb_store_begin(st), KB_OK);
    for (int i = 0; i < 6; i++)
        for (int v = 0; v < views[i]; v++)
            assert_int_equal(kb_store_record_view(st, ids[i]), KB_OK);
    assert_int_equal(kb_store_commit(st), KB_OK);

    char got[1024];
    titles(st, KB_SCOPE_PUBLIC, "fr", NULL, KB_ORDER_VIEWS, 8, got, sizeof got);
    assert_string_equal(got, "Delta,bravo,Alpha");
    titles(st, KB_SCOPE_PUBLIC, "fr", NULL, KB_ORDER_VIEWS, 2, got, sizeof got);
    assert_string_equal(got, "Delta,bravo");
    titles(st, KB_SCOPE_INTERNAL, "fr", NULL, KB_ORDER_VIEWS, 8, got, sizeof got);
    assert_string_equal(got, "charlie,Delta,bravo,Alpha");
    titles(st, KB_SCOPE_ALL, NULL, NULL, KB_ORDER_VIEWS, 3, got, sizeof got);
    assert_string_equal(got, "echo,Foxtrot,charlie");
    titles(st, KB_SCOPE_PUBLIC, "fr", "vente", KB_ORDER_TITLE, 500, got, sizeof got);
    assert_string_equal(got, "Alpha,bravo");
    titles(st, KB_SCOPE_ALL, "fr", "vente", KB_ORDER_TITLE, 500, got, sizeof got);
    assert_string_equal(got, "Alpha,bravo,charlie,echo");
    titles(st, KB_SCOPE_PUBLIC, NULL, "vente", KB_ORDER_TITLE, 500, got, sizeof got);
    assert_string_equal(got, "Alpha,bravo,Foxtrot");
    titles(st, KB_SCOPE_PUBLIC, NULL, NULL, KB_ORDER_TITLE, 0, got, sizeof got);
    assert_string_equal(got, "Alpha,bravo,Delta,Foxtrot");
    titles(st, KB_SCOPE_PUBLIC, "de", NULL, KB_ORDER_VIEWS, 8, got, sizeof got);
    assert_string_equal(got, "");
    kb_store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(counts_follow_every_change, setup, teardown),
        cmocka_unit_test_setup_teardown(lists_by_language_and_category, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
