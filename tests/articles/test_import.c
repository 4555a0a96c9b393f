/* tests/kb/test_import.c: kb import / kb check over a folder, as an editor experiences it:
 * counts, revisions, archiving of deleted files, malformed files reported without stopping
 * the rest, and what each audience can read afterwards. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/testfs.h"

#include "kb/articles/import.h"
#include "kb/store/articles.h"
#include "kb/store/queue.h"

struct fixture {
    char dir[256];
    char db[300];
    struct kb_store *st;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/kb-test-import-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->db, sizeof fx->db, "%s/kb.db", fx->dir);
    char content[300];
    snprintf(content, sizeof content, "%s/content", fx->dir);
    testfs_write(content, "articles/fr/apres-vente/rendez-vous.md",
               "---\ntitle: Prendre rendez-vous pour la révision\ncategory: Après-vente\n"
               "translation_of: booking\n---\nAppelez l'atelier.\n");
    testfs_write(content, "articles/en/after-sales/booking.md",
               "---\ntitle: Book a service\ncategory: After-sales\n"
               "translation_of: rendez-vous\n---\nCall the workshop.\n");
    testfs_write(content, "articles/fr/interne/remise.md",
               "---\ntitle: Remise maximale autorisée\ncategory: Procédures internes\n"
               "audience: internal\n---\nJusqu'à 8 %.\n");
    testfs_write(content, "articles/fr/apres-vente/brouillon.md",
               "---\ntitle: Nouveau modèle\nstatus: draft\n---\nSecret.\n");
    testfs_write(content, "articles/fr/apres-vente/casse.md",
               "---\ntitle: \"Guillemet non fermé\nlang: fr\n---\nx\n");
    testfs_write(content, "synonyms/fr.txt", "véhicule, voiture\n");
    if (kb_store_open(fx->db, false, &fx->st))
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    kb_store_free(fx->st);
    int rc = testfs_rm_rf(fx->dir);
    free(fx);
    return rc;
}

static FILE *capture(char **buf, size_t *len)
{
    FILE *f = open_memstream(buf, len);
    assert_non_null(f);
    return f;
}

static void import_counts_and_errors(void **state)
{
    struct fixture *fx = *state;
    char content[300];
    snprintf(content, sizeof content, "%s/content", fx->dir);
    char *out = NULL;
    size_t outn = 0;
    FILE *f = capture(&out, &outn);
    struct kb_import_report rep;
    assert_int_equal(kb_import_dir(fx->st, content, "fr", f, &rep, NULL), KB_OK);
    fclose(f);
    assert_int_equal(rep.files, 5);
    assert_int_equal(rep.created, 4);
    assert_int_equal(rep.failed, 1);
    assert_int_equal(rep.synonyms, 1);
    /* The broken file is named with a line number and a reason. */
    assert_non_null(strstr(out, "apres-vente/casse.md:"));
    assert_non_null(strstr(out, "front matter"));
    free(out);

    /* The public sees 2 published public articles; agents also see the internal one. */
    struct kb_article_row **rows = NULL;
    size_t n = 0;
    assert_int_equal(kb_store_list(fx->st, KB_SCOPE_PUBLIC, NULL, NULL, KB_ORDER_TITLE, 0,
                                   &rows, &n), KB_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0]->slug, "booking");
    kb_article_rows_free(rows, n);
    assert_int_equal(kb_store_list(fx->st, KB_SCOPE_INTERNAL, "fr", NULL, KB_ORDER_TITLE, 0,
                                   &rows, &n), KB_OK);
    assert_int_equal(n, 2);
    kb_article_rows_free(rows, n);

    struct kb_article_row *a = NULL;
    assert_int_equal(kb_store_get_slug(fx->st, "remise", KB_SCOPE_PUBLIC, &a), KB_ENOTFOUND);
    assert_int_equal(kb_store_get_slug(fx->st, "brouillon", KB_SCOPE_INTERNAL, &a),
                     KB_ENOTFOUND);
    assert_int_equal(kb_store_get_slug(fx->st, "rendez-vous", KB_SCOPE_PUBLIC, &a), KB_OK);
    assert_string_equal(a->category_slug, "apres-vente");
    assert_string_equal(a->lang, "fr");
    struct kb_article_row **tr = NULL;
    assert_int_equal(kb_store_translations(fx->st, a, KB_SCOPE_PUBLIC, &tr, &n), KB_OK);
    assert_int_equal(n, 1);
    assert_string_equal(tr[0]->slug, "booking");
    kb_article_rows_free(tr, n);
    kb_article_row_free(a);

    struct kb_category *cats = NULL;
    assert_int_equal(kb_store_categories(fx->st, KB_SCOPE_PUBLIC, "fr", &cats, &n), KB_OK);
    assert_int_equal(n, 1);
    assert_string_equal(cats[0].name, "Après-vente");
    assert_int_equal(cats[0].count, 1);
    kb_categories_free(cats, n);
    /* Every change is queued for the index in the same transaction. */
    assert_int_equal(kb_store_queue_length(fx->st), 4);
}

static void reimport_revisions_and_archive(void **state)
{
    struct fixture *fx = *state;
    char content[300];
    snprintf(content, sizeof content, "%s/content", fx->dir);
    struct kb_import_report rep;
    FILE *devnull = fopen("/dev/null", "w");
    assert_int_equal(kb_import_dir(fx->st, content, "fr", devnull, &rep, NULL), KB_OK);
    struct kb_queue_item *items = NULL;
    size_t n = 0;
    assert_int_equal(kb_store_queue_fetch(fx->st, 0, 100, &items, &n), KB_OK);
    assert_int_equal(kb_store_queue_done(fx->st, items[n - 1].qid), KB_OK);
    free(items);

    /* Unchanged files change nothing and queue nothing. */
    assert_int_equal(kb_import_dir(fx->st, content, "fr", devnull, &rep, NULL), KB_OK);
    assert_int_equal(rep.unchanged, 4);
    assert_int_equal(rep.created + rep.updated + rep.archived, 0);
    assert_int_equal(kb_store_queue_length(fx->st), 0);

    /* A changed file makes a new revision. */
    testfs_write(content, "articles/fr/apres-vente/rendez-vous.md",
               "---\ntitle: Prendre rendez-vous à l'atelier\ncategory: Après-vente\n---\n"
               "Appelez l'atelier ou réservez en ligne.\n");
    assert_int_equal(kb_import_dir(fx->st, content, "fr", devnull, &rep, NULL), KB_OK);
    assert_int_equal(rep.updated, 1);
    assert_int_equal(rep.unchanged, 3);
    struct kb_article_row *a = NULL;
    assert_int_equal(kb_store_get_slug(fx->st, "rendez-vous", KB_SCOPE_PUBLIC, &a), KB_OK);
    assert_string_equal(a->title, "Prendre rendez-vous à l'atelier");
    assert_int_equal(a->revision, 2);
    kb_article_row_free(a);

    /* A file that disappeared archives its article. */
    char path[512];
    snprintf(path, sizeof path, "%s/articles/en/after-sales/booking.md", content);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(kb_import_dir(fx->st, content, "fr", devnull, &rep, NULL), KB_OK);
    assert_int_equal(rep.archived, 1);
    assert_int_equal(kb_store_get_slug(fx->st, "booking", KB_SCOPE_PUBLIC, &a), KB_ENOTFOUND);
    assert_int_equal(kb_store_get_slug(fx->st, "booking", KB_SCOPE_ALL, &a), KB_OK);
    assert_string_equal(a->status, "archived");
    kb_article_row_free(a);

    /* Another file claiming a used slug is refused, the original stays. */
    testfs_write(content, "articles/fr/autre/rendez-vous.md", "---\ntitle: Doublon\n---\nx\n");
    assert_int_equal(kb_import_dir(fx->st, content, "fr", devnull, &rep, NULL), KB_OK);
    assert_int_equal(rep.failed, 2);
    assert_int_equal(kb_store_get_slug(fx->st, "rendez-vous", KB_SCOPE_PUBLIC, &a), KB_OK);
    assert_string_equal(a->title, "Prendre rendez-vous à l'atelier");
    kb_article_row_free(a);
    fclose(devnull);
}

static void check_writes_nothing(void **state)
{
    struct fixture *fx = *state;
    char content[300];
    snprintf(content, sizeof content, "%s/content", fx->dir);
    struct kb_import_report rep;
    FILE *devnull = fopen("/dev/null", "w");
    assert_int_equal(kb_import_dir(NULL, content, "fr", devnull, &rep, NULL), KB_OK);
    fclose(devnull);
    assert_int_equal(rep.files, 5);
    assert_int_equal(rep.failed, 1);
    assert_int_equal(rep.created, 0);
    struct kb_article_row **rows = NULL;
    size_t n = 0;
    assert_int_equal(kb_store_list(fx->st, KB_SCOPE_ALL, NULL, NULL, KB_ORDER_TITLE, 0, &rows,
                                   &n), KB_OK);
    assert_int_equal(n, 0);
    kb_article_rows_free(rows, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(import_counts_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(reimport_revisions_and_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(check_writes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
