/* tests/search/test_search.c: what a customer or agent sees from search: which articles come
 * back, in which order, with which excerpt, for French, English and other languages, and
 * that hostile input never fails. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/testfs.h"

#include "search/internal.h"
#include "search/fresh.h"
#include "search/search.h"

static char dir[128];

struct doc {
    int64_t id;
    const char *slug, *title, *lang, *category, *audience, *status, *body;
    const char *question;
    const char *tag;
};

static const struct doc docs[] = {
    {1, "rendez-vous-revision", "Comment prendre rendez-vous pour la révision de mon véhicule ?",
     "fr", "Après-vente", "public", "published",
     "La révision du véhicule se fait tous les 15 000 km. Prenez rendez-vous à l'atelier "
     "ou en ligne. <script>alert(1)</script> n'est pas exécuté.",
     "Quand faire l'entretien ?", "atelier"},
    {2, "garantie-constructeur", "Que couvre la garantie constructeur ?", "fr", "Garantie",
     "public", "published",
     "La garantie couvre les pièces et la main-d'œuvre pendant trois ans.", NULL, NULL},
    {3, "contact-sav", "Comment joindre le service après-vente ?", "fr", "Contact", "public",
     "published",
     "Le service après-vente répond du lundi au samedi, télécommunications comprises.", NULL,
     NULL},
    {4, "remise-maximale", "Remise maximale autorisée sur un véhicule neuf", "fr",
     "Procédures internes", "internal", "published",
     "La remise sur un véhicule neuf ne dépasse pas 8 %.", NULL, NULL},
    {5, "brouillon", "Nouveau véhicule électrique (brouillon)", "fr", "Véhicules neufs",
     "public", "draft", "Le futur véhicule électrique arrive.", NULL, NULL},
    {6, "vehicle-recall", "What to do about a vehicle recall", "en", "Recalls", "public",
     "published", "A recall is free of charge. Book an appointment with your dealer.", NULL,
     NULL},
    {7, "werkstatt", "Wie buche ich einen Werkstatttermin für mein Fahrzeug?", "de",
     "Kundendienst", "public", "published",
     "Werkstatttermine buchen Sie online. Die Fahrzeuge werden geprüft.", NULL, NULL},
    {8, "essai", "Réserver un essai du véhicule", "fr", "Essai", "public", "published",
     "Essayez le véhicule de votre choix pendant 30 minutes en concession.", NULL, NULL},
};

/* Every test runs twice: on an index of one shard, and on one laid out for a large corpus
 * (shards: search/writer.cc), which must behave as one index. */
static size_t layout_docs;

/* A new writable index laid out for layout_docs documents. */
static struct search_index *open_writer(const char *path)
{
    struct search_index *w = NULL;
    assert_int_equal(search_index_open(path, true, &w), KB_OK);
    assert_int_equal(search_index_clear(w, layout_docs), KB_OK);
    char shard[300];
    snprintf(shard, sizeof shard, "%s/shard1", path);
    assert_int_equal(access(shard, F_OK) == 0, layout_docs > 0);
    return w;
}

static void put_all(struct search_index *w)
{
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        const struct doc *d = &docs[i];
        const char *q[1] = {d->question};
        const char *t[1] = {d->tag};
        struct search_doc sd = {.id = d->id, .slug = d->slug, .title = d->title,
                                .lang = d->lang, .category = d->category,
                                .audience = d->audience, .status = d->status,
                                .body = d->body, .questions = q, .nquestions = d->question != NULL,
                                .tags = t, .ntags = d->tag != NULL};
        assert_int_equal(search_index_put(w, &sd), KB_OK);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/kb-test-search-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char syn[200];
    snprintf(syn, sizeof syn, "%s/fr.txt", dir);
    FILE *f = fopen(syn, "w");
    fputs("# test synonyms\nvéhicule, voiture, auto\naprès-vente, sav\nessai, prise en main\n", f);
    fclose(f);
    struct search_index *w = open_writer(dir);
    assert_int_equal(search_synonyms_load(w, "fr", syn), KB_OK);
    put_all(w);
    put_all(w); /* replaying a change is harmless: replaced by id */
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return testfs_rm_rf(dir);
}

static struct search_result *run(const char *text, const char *lang, enum search_scope scope,
                                 const char *category)
{
    struct search_index *r = NULL;
    assert_int_equal(search_index_open(dir, false, &r), KB_OK);
    struct search_query q = {.text = text, .lang = lang, .category = category, .scope = scope};
    struct search_result *res = NULL;
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    search_index_free(r);
    return res;
}

static int has(const struct search_result *r, const char *slug)
{
    for (size_t i = 0; i < r->nhits; i++)
        if (strcmp(r->hits[i].slug, slug) == 0)
            return 1;
    return 0;
}

static void stemming_and_synonyms(void **state)
{
    (void)state;
    struct search_result *r = run("réviser ma voiture", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_true(r->nhits >= 1);
    assert_string_equal(r->hits[0].slug, "rendez-vous-revision");
    search_result_free(r);
    r = run("recalls", "en", SEARCH_SCOPE_PUBLIC, NULL);
    assert_int_equal(r->nhits, 1);
    assert_string_equal(r->hits[0].slug, "vehicle-recall");
    search_result_free(r);
    r = run("sav", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_true(r->nhits >= 1);
    assert_string_equal(r->hits[0].slug, "contact-sav");
    search_result_free(r);
    /* A synonym with a stop word in it works both ways: typed as written ("en" is dropped
     * from the query), it finds what its group's other entries find. */
    r = run("prise en main", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_true(r->nhits >= 1);
    assert_string_equal(r->hits[0].slug, "essai");
    search_result_free(r);
    /* The synonyms table is keyed by stems: a plural or another inflection of an entry
     * finds its group too ("voitures" and "prises en main" are not in the file). */
    r = run("voitures", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_true(has(r, "rendez-vous-revision") && has(r, "essai"));
    search_result_free(r);
    r = run("prises en main", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_true(r->nhits >= 1);
    assert_string_equal(r->hits[0].slug, "essai");
    search_result_free(r);
    /* Words longer than the stem memo keeps inline (19 bytes) are stemmed like the others:
     * "télécommunications" is 20 bytes, the singular 19. */
    const char *longs[] = {"télécommunication", "TÉLÉCOMMUNICATIONS"};
    for (size_t i = 0; i < 2; i++) {
        r = run(longs[i], "fr", SEARCH_SCOPE_PUBLIC, NULL);
        assert_int_equal(r->nhits, 1);
        assert_string_equal(r->hits[0].slug, "contact-sav");
        search_result_free(r);
    }
    /* Alternative questions are searchable. */
    r = run("entretien", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_true(r->nhits >= 1);
    assert_string_equal(r->hits[0].slug, "rendez-vous-revision");
    search_result_free(r);
}

static void accents_and_case(void **state)
{
    (void)state;
    /* œ is typed "oe": "main-d'œuvre" in the text is found by "oeuvre" as by "ŒUVRE", as
     * a word of the text, not through a spelling correction. */
    const char *oe[] = {"oeuvre", "ŒUVRE"};
    for (size_t i = 0; i < 2; i++) {
        struct search_result *m = run(oe[i], "fr", SEARCH_SCOPE_PUBLIC, NULL);
        assert_true(m->nhits >= 1);
        assert_string_equal(m->hits[0].slug, "garantie-constructeur");
        assert_null(m->did_you_mean);
        search_result_free(m);
    }
    struct search_result *a = run("VEHICULE", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    struct search_result *b = run("véhicule", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_int_equal(a->nhits, 2);
    assert_int_equal(a->nhits, b->nhits);
    for (size_t i = 0; i < a->nhits; i++)
        assert_string_equal(a->hits[i].slug, b->hits[i].slug);
    search_result_free(a);
    search_result_free(b);
}

/* A query of stop words only searches them in titles, questions and tags: bodies index none
 * (search/writer.cc). "comment" finds the two articles titled "Comment ...", "pas" (in two
 * bodies) finds nothing, and a stop word beside another word changes nothing. */
static void stop_words_alone(void **state)
{
    (void)state;
    struct search_result *r = run("Comment ?", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_int_equal(r->nhits, 2);
    assert_true(has(r, "rendez-vous-revision"));
    assert_true(has(r, "contact-sav"));
    search_result_free(r);
    r = run("pas", "fr", SEARCH_SCOPE_INTERNAL, NULL);
    assert_int_equal(r->nhits, 0);
    search_result_free(r);
    /* Beside other words, stop words match nothing more: they only rank the titles that
     * have them ("Que couvre la garantie constructeur ?" has "la") higher. */
    struct search_result *a = run("la garantie pour les pièces", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    struct search_result *b = run("garantie pièces", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_int_equal(a->nhits, b->nhits);
    assert_int_equal(a->total, b->total);
    assert_string_equal(a->hits[0].slug, "garantie-constructeur");
    assert_string_equal(b->hits[0].slug, "garantie-constructeur");
    assert_true(a->hits[0].score > b->hits[0].score);
    search_result_free(a);
    search_result_free(b);
}

static void audience_and_status(void **state)
{
    (void)state;
    struct search_result *r = run("remise véhicule neuf électrique", "fr", SEARCH_SCOPE_PUBLIC,
                                  NULL);
    assert_false(has(r, "remise-maximale"));
    assert_false(has(r, "brouillon"));
    search_result_free(r);
    r = run("remise véhicule neuf électrique", "fr", SEARCH_SCOPE_INTERNAL, NULL);
    assert_true(has(r, "remise-maximale"));
    assert_false(has(r, "brouillon"));
    search_result_free(r);
}

static void categories_and_facets(void **state)
{
    (void)state;
    struct search_result *r = run("véhicule", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    size_t apres = 0, essai = 0;
    for (size_t i = 0; i < r->nfacets; i++) {
        if (strcmp(r->facets[i].value, "Après-vente") == 0)
            apres = r->facets[i].count;
        if (strcmp(r->facets[i].value, "Essai") == 0)
            essai = r->facets[i].count;
    }
    assert_int_equal(apres, 1);
    assert_int_equal(essai, 1);
    search_result_free(r);
    r = run("véhicule", "fr", SEARCH_SCOPE_PUBLIC, "Essai");
    assert_int_equal(r->nhits, 1);
    assert_string_equal(r->hits[0].slug, "essai");
    assert_string_equal(r->hits[0].category, "Essai");
    search_result_free(r);
}

static struct search_result *run_query(const struct search_query *q)
{
    struct search_index *r = NULL;
    assert_int_equal(search_index_open(dir, false, &r), KB_OK);
    struct search_result *res = NULL;
    assert_int_equal(search_run(r, q, &res), KB_OK);
    search_index_free(r);
    return res;
}

static void spelling_correction(void **state)
{
    (void)state;
    /* Alone, a misspelt word finds nothing as typed: corrected, and offered as did_you_mean. */
    struct search_result *r = run("garentie", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_non_null(r->did_you_mean);
    assert_string_equal(r->did_you_mean, "garantie");
    assert_string_equal(r->corrected_query, "garantie");
    assert_true(has(r, "garantie-constructeur"));
    search_result_free(r);
    r = run("garantie", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_null(r->did_you_mean);
    assert_null(r->corrected_query);
    search_result_free(r);
    /* Every word is corrected on its own, accents and case aside, the others kept as typed;
     * the warranty article comes first although "véhicule" finds others. */
    r = run("GARENTIE pieces", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_string_equal(r->corrected_query, "garantie pieces");
    assert_string_equal(r->hits[0].slug, "garantie-constructeur");
    search_result_free(r);
    /* A transposition is one edit; two edits from 8 letters ("révsiion" is 8). */
    r = run("révsiion", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_string_equal(r->corrected_query, "révision");
    assert_string_equal(r->hits[0].slug, "rendez-vous-revision");
    search_result_free(r);
    /* Verbatim: searched as typed, nothing found, did_you_mean says what to try. */
    struct search_query v = {.text = "garentie", .lang = "fr", .verbatim = true};
    r = run_query(&v);
    assert_int_equal(r->nhits, 0);
    assert_null(r->corrected_query);
    assert_string_equal(r->did_you_mean, "garantie");
    search_result_free(r);
    /* Stop words are never corrected, and nothing is corrected into one: "avecc" and
     * "pourr" stay as typed (and find nothing), words of fewer than 4 letters too, and the
     * commonest words of the language ("veux" is no typo of "deux"). */
    const char *never[] = {"avecc", "pourr", "rév", "je veux", "voudrait"};
    for (size_t i = 0; i < 5; i++) {
        r = run(never[i], "fr", SEARCH_SCOPE_PUBLIC, NULL);
        assert_null(r->corrected_query);
        assert_null(r->did_you_mean);
        search_result_free(r);
    }
    /* An inflection of a word the articles have is no typo ("garanties", "révisions"). */
    r = run("garanties révisions", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_null(r->corrected_query);
    assert_true(has(r, "garantie-constructeur") && has(r, "rendez-vous-revision"));
    search_result_free(r);
}

/* Search as you type: the last word, unless followed by a space, also stands for the
 * words of the scope it begins. */
static void prefix_last_word(void **state)
{
    (void)state;
    struct search_query q = {.text = "garantie constr", .lang = "fr", .prefix_last = true};
    struct search_result *r = run_query(&q);
    assert_true(r->nhits >= 1);
    assert_string_equal(r->hits[0].slug, "garantie-constructeur");
    assert_null(r->corrected_query);
    assert_non_null(strstr(r->hits[0].snippet, "<mark>"));
    search_result_free(r);
    q.text = "télécomm";
    r = run_query(&q);
    assert_int_equal(r->nhits, 1);
    assert_string_equal(r->hits[0].slug, "contact-sav");
    search_result_free(r);
    /* A space after it: a word like the others (here one no article has). */
    q.text = "télécomm ";
    r = run_query(&q);
    assert_int_equal(r->nhits, 0);
    search_result_free(r);
    /* Without the flag, nothing is completed. */
    q.text = "télécomm";
    q.prefix_last = false;
    r = run_query(&q);
    assert_int_equal(r->nhits, 0);
    search_result_free(r);
}

static void snippets_are_escaped_and_marked(void **state)
{
    (void)state;
    struct search_result *r = run("révision", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_true(r->nhits >= 1);
    const char *s = r->hits[0].snippet;
    assert_non_null(strstr(s, "<mark>révision</mark>"));
    assert_null(strstr(s, "<script>"));
    assert_non_null(strstr(s, "&lt;script&gt;"));
    search_result_free(r);
}

/* search_query.lead (the chat's answers): the same hits in the same order, each with the start
 * of its plain text (not escaped: the caller escapes what it prints), cut on a character
 * boundary; no snippet, no facets. */
static void leads_instead_of_snippets(void **state)
{
    (void)state;
    struct search_result *full = run("révision véhicule", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    struct search_query q = {.text = "révision véhicule", .lang = "fr", .lead = 200};
    struct search_result *r = run_query(&q);
    assert_true(full->nfacets > 0);
    assert_int_equal(r->nfacets, 0);
    assert_int_equal(r->nhits, full->nhits);
    for (size_t i = 0; i < r->nhits; i++) {
        assert_string_equal(r->hits[i].slug, full->hits[i].slug);
        assert_null(r->hits[i].snippet);
        assert_non_null(r->hits[i].lead);
        assert_null(full->hits[i].lead);
    }
    assert_string_equal(r->hits[0].slug, "rendez-vous-revision");
    assert_string_equal(r->hits[0].lead,
                        "La révision du véhicule se fait tous les 15 000 km. Prenez rendez-vous "
                        "à l'atelier ou en ligne. <script>alert(1)</script> n'est pas exécuté.");
    search_result_free(r);
    search_result_free(full);
    q.lead = 5; /* "La r" and the first byte of "é" */
    r = run_query(&q);
    assert_string_equal(r->hits[0].lead, "La r");
    search_result_free(r);
    q.lead = 6;
    r = run_query(&q);
    assert_string_equal(r->hits[0].lead, "La ré");
    search_result_free(r);
}

/* The snippet of the hit slug in r, or NULL. */
static const char *snippet_of(const struct search_result *r, const char *slug)
{
    for (size_t i = 0; i < r->nhits; i++)
        if (strcmp(r->hits[i].slug, slug) == 0)
            return r->hits[i].snippet;
    return NULL;
}

/* One reader, the same documents in the results of one query after the other: their words'
 * stem ids are kept with them after the first snippet (search/snippet.cc), and each query
 * still marks its own words and none of the query before; every snippet is the one a fresh
 * reader cuts for that query. */
static void snippets_of_documents_seen_before(void **state)
{
    (void)state;
    static const char *const queries[] = {"révision", "atelier", "révision atelier", "km",
                                          "pièces", "véhicule neuf", "révision"};
    struct search_index *idx = NULL;
    assert_int_equal(search_index_open(dir, false, &idx), KB_OK);
    for (size_t k = 0; k < sizeof queries / sizeof *queries; k++) {
        struct search_query q = {.text = queries[k], .lang = "fr", .scope = SEARCH_SCOPE_ALL};
        struct search_result *again = NULL;
        assert_int_equal(search_run(idx, &q, &again), KB_OK);
        struct search_result *fresh = run(queries[k], "fr", SEARCH_SCOPE_ALL, NULL);
        assert_int_equal(again->nhits, fresh->nhits);
        for (size_t i = 0; i < fresh->nhits; i++) {
            assert_string_equal(again->hits[i].slug, fresh->hits[i].slug);
            assert_string_equal(again->hits[i].snippet, fresh->hits[i].snippet);
        }
        const char *s = snippet_of(again, "rendez-vous-revision");
        bool revision = strstr(queries[k], "révision"), atelier = strstr(queries[k], "atelier");
        if (revision || atelier) {
            assert_non_null(s);
            assert_int_equal(strstr(s, "<mark>révision</mark>") != NULL, revision);
            assert_int_equal(strstr(s, "<mark>atelier</mark>") != NULL, atelier);
        }
        if (strcmp(queries[k], "km") == 0) {
            assert_non_null(s);
            assert_non_null(strstr(s, "<mark>km</mark>"));
            assert_null(strstr(s, "<mark>révision</mark>"));
        }
        search_result_free(again);
        search_result_free(fresh);
    }
    search_index_free(idx);
}

static void other_languages_stem(void **state)
{
    (void)state;
    /* German Snowball: "Fahrzeug" finds "Fahrzeuge"; "Werkstatttermin" its plural. */
    struct search_result *r = run("Fahrzeug Werkstatttermine", "de", SEARCH_SCOPE_PUBLIC, NULL);
    assert_int_equal(r->nhits, 1);
    assert_string_equal(r->hits[0].slug, "werkstatt");
    search_result_free(r);
    /* No language: each language's documents are searched with their own stemmer. */
    r = run("recall", NULL, SEARCH_SCOPE_PUBLIC, NULL);
    assert_true(has(r, "vehicle-recall"));
    search_result_free(r);
    assert_true(search_lang_supported("fr"));
    assert_true(search_lang_supported("german"));
    assert_false(search_lang_supported("klingon"));
}

static void hostile_queries(void **state)
{
    (void)state;
    static const char *const q[] = {"\"\"\"", "((((", "NEAR", "a NEAR b", "*", "-", "title:x",
                                    "'; DROP TABLE articles; --", "véhicule AND OR NOT",
                                    "\xff\xfe\xc3", "", "   "};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        struct search_result *r = run(q[i], "fr", SEARCH_SCOPE_PUBLIC, NULL);
        assert_non_null(r);
        search_result_free(r);
    }
    size_t n = 100 * 1024;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = "véhicule "[i % 9];
    big[n] = 0;
    struct search_result *r = run(big, "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_non_null(r);
    search_result_free(r);
    free(big);
}

static void writer_changes_are_seen(void **state)
{
    (void)state;
    struct search_index *rd = NULL, *w = NULL;
    assert_int_equal(search_index_open(dir, false, &rd), KB_OK);
    size_t before = search_index_count(rd);
    assert_int_equal(before, 8);
    assert_int_equal(search_index_open(dir, true, &w), KB_OK);
    assert_int_equal(search_index_delete(w, 8), KB_OK);
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);
    assert_int_equal(search_index_reopen(rd), KB_OK);
    assert_int_equal(search_index_count(rd), 7);
    struct search_query q = {.text = "essai", .lang = "fr"};
    struct search_result *r = NULL;
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    assert_false(has(r, "essai"));
    search_result_free(r);
    search_index_free(rd);
    /* Put it back for the other tests. */
    assert_int_equal(search_index_open(dir, true, &w), KB_OK);
    put_all(w);
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);
}

/* search/fresh.h: a slot's reader follows the index without the slot's owner reopening it:
 * the refresher leaves a new reader in the slot, taken at the next search_fresh_reader. */
static void fresh_readers_follow_the_index(void **state)
{
    (void)state;
    struct search_fresh *f = NULL;
    assert_int_equal(search_fresh_start(dir, 5, &f), KB_OK);
    struct search_fresh_slot *a = search_fresh_slot_new(f), *b = search_fresh_slot_new(f);
    assert_non_null(a);
    assert_non_null(b);
    struct search_index *ra = search_fresh_reader(a);
    assert_non_null(ra);
    assert_int_equal(search_index_count(ra), 8);
    /* A slot freed between the two keeps the others' readers coming (handed by identity). */
    struct search_fresh_slot *c = search_fresh_slot_new(f);
    assert_non_null(search_fresh_reader(c));
    search_fresh_slot_free(c);
    struct search_index *w = NULL;
    assert_int_equal(search_index_open(dir, true, &w), KB_OK);
    assert_int_equal(search_index_delete(w, 8), KB_OK);
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);
    /* Within a few refreshes, both slots see 7 documents (b never opened one before; the
     * reader it finds may be one the refresher left before the change, then the next). */
    size_t na = 8, nb = 8;
    for (int i = 0; i < 2000 && (na != 7 || nb != 7); i++) { /* 10 s at most: sanitizers */
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
        na = search_index_count(search_fresh_reader(a));
        nb = search_index_count(search_fresh_reader(b));
    }
    assert_int_equal(na, 7);
    assert_int_equal(nb, 7);
    search_fresh_slot_free(a);
    search_fresh_slot_free(b);
    search_fresh_stop(f);
    /* Put it back for the other tests. */
    assert_int_equal(search_index_open(dir, true, &w), KB_OK);
    put_all(w);
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);
}

static void suggest_and_related(void **state)
{
    (void)state;
    struct search_index *rd = NULL;
    assert_int_equal(search_index_open(dir, false, &rd), KB_OK);
    struct search_result *r = NULL;
    assert_int_equal(search_suggest(rd, "rendez-vous rév", "fr", SEARCH_SCOPE_PUBLIC, 5, &r),
                     KB_OK);
    assert_true(r->nhits >= 1);
    assert_string_equal(r->hits[0].slug, "rendez-vous-revision");
    search_result_free(r);
    assert_int_equal(search_suggest(rd, "gara", "fr", SEARCH_SCOPE_PUBLIC, 5, &r), KB_OK);
    assert_true(has(r, "garantie-constructeur"));
    search_result_free(r);
    /* Earlier words are corrected; a last word of one letter waits for the next. */
    assert_int_equal(search_suggest(rd, "garentie c", "fr", SEARCH_SCOPE_PUBLIC, 5, &r),
                     KB_OK);
    assert_true(has(r, "garantie-constructeur"));
    search_result_free(r);
    assert_int_equal(search_suggest(rd, "garantie constr", "fr", SEARCH_SCOPE_PUBLIC, 5, &r),
                     KB_OK);
    assert_string_equal(r->hits[0].slug, "garantie-constructeur");
    search_result_free(r);
    assert_int_equal(search_related(rd, 1, SEARCH_SCOPE_PUBLIC, 5, &r), KB_OK);
    assert_false(has(r, "rendez-vous-revision"));
    assert_false(has(r, "remise-maximale"));
    assert_false(has(r, "vehicle-recall")); /* same language only */
    assert_true(r->nhits >= 1);
    search_result_free(r);
    search_index_free(rd);
}

static void clear_and_uncommitted(void **state)
{
    (void)state;
    /* A separate index: clearing must not disturb the other tests. */
    char own[128];
    snprintf(own, sizeof own, "/tmp/kb-test-search-clear-XXXXXX");
    assert_non_null(mkdtemp(own));
    struct search_index *w = open_writer(own), *rd = NULL;
    put_all(w);
    assert_int_equal(search_index_commit(w), KB_OK);
    assert_int_equal(search_index_open(own, false, &rd), KB_OK);
    assert_int_equal(search_index_count(rd), 8);

    /* A rebuild: clear, commit, and readers see an empty index that still answers. */
    assert_int_equal(search_index_clear(w, 0), KB_OK);
    assert_int_equal(search_index_commit(w), KB_OK);
    assert_int_equal(search_index_reopen(rd), KB_OK);
    assert_int_equal(search_index_count(rd), 0);
    struct search_query q = {.text = "véhicule", .lang = "fr"};
    struct search_result *r = NULL;
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    assert_int_equal(r->nhits, 0);
    search_result_free(r);

    /* Freeing a writer discards what it did not commit. */
    put_all(w);
    search_index_free(w);
    assert_int_equal(search_index_reopen(rd), KB_OK);
    assert_int_equal(search_index_count(rd), 0);
    search_index_free(rd);

    assert_int_equal(testfs_rm_rf(own), 0);
}

/* A reader keeps display data, synonyms and which filters are no-ops in memory: after a
 * commit and a reopen it must show the new title, apply new synonyms, and filter an article
 * that became internal even when every article used to be public and published. */
static void reader_memory_follows_changes(void **state)
{
    (void)state;
    char d2[64];
    snprintf(d2, sizeof d2, "/tmp/kb-test-cache-XXXXXX");
    assert_non_null(mkdtemp(d2));
    struct search_index *w = NULL, *rd = NULL;
    struct search_doc sd = {.id = 1, .slug = "essai", .title = "Réserver un essai",
                            .lang = "fr", .category = "Essai", .audience = "public",
                            .status = "published", .body = "Essayez la voiture en concession."};
    w = open_writer(d2);
    assert_int_equal(search_index_put(w, &sd), KB_OK);
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);

    assert_int_equal(search_index_open(d2, false, &rd), KB_OK);
    struct search_query q = {.text = "essai concession", .lang = "fr"};
    struct search_result *r = NULL;
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    assert_int_equal(r->nhits, 1);
    assert_string_equal(r->hits[0].title, "Réserver un essai");
    search_result_free(r);
    /* Related articles, which the reader remembers per article (none: it is alone). */
    assert_int_equal(search_related(rd, 1, SEARCH_SCOPE_INTERNAL, 5, &r), KB_OK);
    assert_int_equal(r->nhits, 0);
    search_result_free(r);

    /* The article changes title and becomes internal; a second one appears. */
    char syn[128];
    snprintf(syn, sizeof syn, "%s.txt", d2);
    FILE *f = fopen(syn, "w");
    assert_non_null(f);
    fputs("essai, galop\n", f);
    fclose(f);
    assert_int_equal(search_index_open(d2, true, &w), KB_OK);
    sd.title = "Réserver un essai (procédure agent)";
    sd.audience = "internal";
    assert_int_equal(search_index_put(w, &sd), KB_OK);
    struct search_doc sd2 = sd;
    sd2.id = 2;
    sd2.slug = "essai-public";
    sd2.title = "Essai en concession";
    sd2.category = "Concession";
    sd2.audience = "public";
    assert_int_equal(search_index_put(w, &sd2), KB_OK);
    assert_int_equal(search_synonyms_load(w, "fr", syn), KB_OK);
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);
    unlink(syn);

    /* search_index_refresh says when it moved to another revision (kb serve's refresher
     * opens new readers for its workers then), and only then. */
    bool changed = false;
    assert_int_equal(search_index_refresh(rd, &changed), KB_OK);
    assert_true(changed);
    assert_int_equal(search_index_refresh(rd, &changed), KB_OK);
    assert_false(changed);
    assert_int_equal(search_index_reopen(rd), KB_OK);
    /* The related articles remembered before the change are forgotten; the new ones are
     * remembered in their turn (asked twice: computed, then remembered). */
    for (int twice = 0; twice < 2; twice++) {
        assert_int_equal(search_related(rd, 1, SEARCH_SCOPE_INTERNAL, 5, &r), KB_OK);
        assert_int_equal(r->nhits, 1);
        assert_string_equal(r->hits[0].slug, "essai-public");
        assert_string_equal(r->hits[0].title, "Essai en concession");
        assert_string_equal(r->hits[0].audience, "public");
        assert_null(r->hits[0].snippet);
        search_result_free(r);
        /* Public scope: article 1 is internal now, so it has none. */
        assert_int_equal(search_related(rd, 1, SEARCH_SCOPE_PUBLIC, 5, &r), KB_OK);
        assert_int_equal(r->nhits, 0);
        search_result_free(r);
    }
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    assert_int_equal(r->nhits, 1);
    assert_string_equal(r->hits[0].slug, "essai-public");
    /* Facets come from the reader's memory of categories: the new one, counted once. */
    assert_int_equal(r->nfacets, 1);
    assert_string_equal(r->facets[0].value, "Concession");
    assert_int_equal(r->facets[0].count, 1);
    search_result_free(r);
    q.scope = SEARCH_SCOPE_INTERNAL;
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    assert_int_equal(r->nhits, 2);
    assert_int_equal(r->nfacets, 2); /* equal counts: by name */
    assert_string_equal(r->facets[0].value, "Concession");
    assert_string_equal(r->facets[1].value, "Essai");
    assert_true(has(r, "essai"));
    for (size_t i = 0; i < r->nhits; i++)
        if (strcmp(r->hits[i].slug, "essai") == 0)
            assert_string_equal(r->hits[i].title, "Réserver un essai (procédure agent)");
    search_result_free(r);
    /* New synonyms reach the reader too. */
    struct search_query g = {.text = "galop", .lang = "fr"};
    assert_int_equal(search_run(rd, &g, &r), KB_OK);
    assert_true(has(r, "essai-public"));
    search_result_free(r);
    /* A word new to the titles scores there as for a reader opened after the change (the
     * reader skips field terms it believes absent). */
    struct search_index *fresh = NULL;
    assert_int_equal(search_index_open(d2, false, &fresh), KB_OK);
    struct search_query p = {.text = "procédure", .lang = "fr", .scope = SEARCH_SCOPE_INTERNAL};
    struct search_result *a = NULL, *b = NULL;
    assert_int_equal(search_run(rd, &p, &a), KB_OK);
    assert_int_equal(search_run(fresh, &p, &b), KB_OK);
    assert_int_equal(a->nhits, 1);
    assert_int_equal(b->nhits, 1);
    assert_true(a->hits[0].score == b->hits[0].score);
    search_result_free(a);
    search_result_free(b);
    search_index_free(fresh);
    search_index_free(rd);
    assert_int_equal(testfs_rm_rf(d2), 0);
}

/* A phrase of the synonyms table is searched as its words plus its group (search/query.cc,
 * analyse): the article that answers comes first among articles that all have the phrase,
 * any entry of the group finds them, and an article with only one of the phrase's words is
 * still found, after them (it was not when the group replaced the words). */
static void synonym_phrases_keep_their_words(void **state)
{
    (void)state;
    char own[128];
    snprintf(own, sizeof own, "/tmp/kb-test-search-phrase-XXXXXX");
    assert_non_null(mkdtemp(own));
    char syn[200];
    snprintf(syn, sizeof syn, "%s/fr.txt", own);
    FILE *f = fopen(syn, "w");
    assert_non_null(f);
    fputs("crédit auto, prêt auto, financement automobile\n", f);
    fclose(f);
    static const struct {
        const char *slug, *title, *body;
    } loans[] = {
        {"remboursement-anticipe", "Rembourser son crédit auto par anticipation",
         "Vous pouvez rembourser votre crédit auto avant son terme, en partie ou en totalité. "
         "Des indemnités peuvent s'appliquer selon votre contrat."},
        {"renegocier", "Renégocier son crédit auto",
         "Le crédit auto se renégocie : comparez les offres de crédit auto, le taux du crédit "
         "auto, la durée du crédit auto et son assurance."},
        {"obtenir", "Obtenir un crédit auto",
         "Le crédit auto finance l'achat du véhicule : dossier de crédit auto, simulation de "
         "crédit auto, accord du crédit auto en 48 heures."},
        {"entretien", "L'entretien de votre auto",
         "L'entretien de votre auto se fait en atelier, tous les 15 000 km."},
    };
    struct search_index *w = open_writer(own), *rd = NULL;
    assert_int_equal(search_synonyms_load(w, "fr", syn), KB_OK);
    for (size_t i = 0; i < 4; i++) {
        struct search_doc sd = {.id = (int64_t)i + 1, .slug = loans[i].slug,
                                .title = loans[i].title, .lang = "fr", .category = "Financement",
                                .audience = "public", .status = "published",
                                .body = loans[i].body};
        assert_int_equal(search_index_put(w, &sd), KB_OK);
    }
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);
    assert_int_equal(search_index_open(own, false, &rd), KB_OK);

    struct search_query q = {.text = "rembourser mon prêt auto avant la fin", .lang = "fr"};
    struct search_result *r = NULL;
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    assert_true(r->nhits >= 3);
    assert_string_equal(r->hits[0].slug, "remboursement-anticipe");
    search_result_free(r);

    /* Typed as another entry of the group, the loans come first; the article with only
     * "auto" is still found, after them. */
    q.text = "financement automobile";
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    assert_int_equal(r->nhits, 3);
    search_result_free(r);
    q.text = "prêt auto";
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    assert_int_equal(r->nhits, 4);
    assert_string_equal(r->hits[3].slug, "entretien");
    search_result_free(r);
    search_index_free(rd);
    assert_int_equal(testfs_rm_rf(own), 0);
}

/* The plain dynamic programme of the optimal string alignment distance (bytes: the words
 * below are ASCII but the last pairs). */
static unsigned osa_reference(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    unsigned d[70][70];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            unsigned v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

/* The corrector's bit-vector distance (search/vocab.cc) is the dynamic programme's, on
 * random words over small alphabets (many repeated letters and transpositions), of every
 * length up to 64, and counts code points, not bytes. */
static void typo_distances(void **state)
{
    (void)state;
    unsigned seed = 12345;
    for (int t = 0; t < 200000; t++) {
        char a[65], b[65];
        seed = seed * 1103515245u + 12345u;
        size_t n = t < 100000 ? seed % 12 : seed % 65;
        seed = seed * 1103515245u + 12345u;
        size_t m = t < 100000 ? seed % 12 : seed % 65;
        unsigned alpha = 2 + (seed >> 16) % 5;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            a[i] = (char)('a' + (seed >> 16) % alpha);
        }
        for (size_t i = 0; i < m; i++) {
            seed = seed * 1103515245u + 12345u;
            b[i] = (char)('a' + (seed >> 16) % alpha);
        }
        a[n] = b[m] = 0;
        unsigned ref = osa_reference(a, b);
        assert_int_equal(search_edit_distance(a, b, 64), ref);
        assert_int_equal(search_edit_distance(a, b, 2), ref > 2 ? 3 : ref);
    }
    assert_int_equal(search_edit_distance("garentie", "garantie", 2), 1);
    assert_int_equal(search_edit_distance("revsiion", "revision", 2), 1);
    assert_int_equal(search_edit_distance("rapel", "rappel", 2), 1);
    assert_int_equal(search_edit_distance("éte", "été", 2), 1);   /* one code point */
    assert_int_equal(search_edit_distance("日本語", "日語本", 2), 1);
}

/* ---- scope ---------------------------------------------------------------------------- */

/* An index of its own for the scope tests: "immobilisation" is only in an internal article,
 * "zéphyrine" only in a draft; "mirage" is in one public article and five internal ones,
 * "ménage" in two public ones (so "minage", one edit from both, is "ménage" for the public
 * and "mirage" for agents); "garantie" in 20 public articles, one of which also has the typo
 * "garentie". */
static char sdir[128];

static void put_one(struct search_index *w, int64_t id, const char *slug, const char *title,
                    const char *category, const char *audience, const char *status,
                    const char *body)
{
    struct search_doc sd = {.id = id, .slug = slug, .title = title, .lang = "fr",
                            .category = category, .audience = audience, .status = status,
                            .body = body};
    assert_int_equal(search_index_put(w, &sd), KB_OK);
}

static void scope_index(void)
{
    snprintf(sdir, sizeof sdir, "/tmp/kb-test-scope-XXXXXX");
    assert_non_null(mkdtemp(sdir));
    struct search_index *w = open_writer(sdir);
    put_one(w, 1, "immobilisation", "Procédure d'immobilisation", "Procédures internes",
            "internal", "published", "L'immobilisation du véhicule se déclare au siège.");
    put_one(w, 2, "zephyrine", "Le modèle Zéphyrine", "Lancements", "public", "draft",
            "La Zéphyrine arrive au printemps.");
    put_one(w, 3, "mirage-public", "Un mirage sur la route", "Conduite", "public",
            "published", "Par forte chaleur, un mirage peut surprendre.");
    for (int i = 0; i < 5; i++) {
        char slug[32];
        snprintf(slug, sizeof slug, "mirage-interne-%d", i);
        put_one(w, 10 + i, slug, "Note interne", "Procédures internes", "internal",
                "published", "Le mirage est le nom de code du projet.");
    }
    put_one(w, 20, "menage-1", "Le ménage de l'habitacle", "Entretien", "public", "published",
            "Faire le ménage de l'habitacle deux fois par mois.");
    put_one(w, 21, "menage-2", "Ménage et aspirateur", "Entretien", "public", "published",
            "Le ménage complet se fait en atelier.");
    for (int i = 0; i < 20; i++) {
        char slug[32];
        snprintf(slug, sizeof slug, "garantie-%d", i);
        put_one(w, 30 + i, slug, "Garantie", "Garantie", "public", "published",
                i == 0 ? "La garentie et la garantie couvrent les pièces."
                       : "La garantie couvre les pièces.");
    }
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);
}

static struct search_result *srun(struct search_index *rd, const char *text,
                                  enum search_scope scope, bool prefix)
{
    struct search_query q = {.text = text, .lang = "fr", .scope = scope, .prefix_last = prefix};
    struct search_result *r = NULL;
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    return r;
}

/* Nothing of a result names, counts or leads to an article outside the scope. */
static void assert_only(const struct search_result *r, const char *const *forbidden, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < r->nhits; i++)
            assert_null(strstr(r->hits[i].slug, forbidden[k]));
        if (r->did_you_mean)
            assert_null(strstr(r->did_you_mean, forbidden[k]));
        if (r->corrected_query)
            assert_null(strstr(r->corrected_query, forbidden[k]));
    }
    for (size_t i = 0; i < r->nfacets; i++) {
        assert_string_not_equal(r->facets[i].value, "Procédures internes");
        assert_string_not_equal(r->facets[i].value, "Lancements");
    }
}

static void scope_decides_everything(void **state)
{
    (void)state;
    scope_index();
    struct search_index *rd = NULL;
    assert_int_equal(search_index_open(sdir, false, &rd), KB_OK);
    static const char *const hidden[] = {"immobilis", "zephyr", "zéphyr", "interne"};
    /* Public: one edit from the internal word, one from the draft's, their prefixes, the
     * words themselves: no correction, completion, did_you_mean, hit, facet or count. */
    static const char *const probes[] = {"immobilisasion", "immobilisation", "immobil",
                                         "zéphyrinne", "zephyrine", "zéphy", "mirage projet"};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        for (int prefix = 0; prefix < 2; prefix++) {
            struct search_result *r = srun(rd, probes[i], SEARCH_SCOPE_PUBLIC, prefix);
            assert_only(r, hidden, 4);
            if (i < 6) {
                assert_int_equal(r->nhits, 0);
                assert_int_equal(r->total, 0);
                assert_int_equal(r->nfacets, 0);
                assert_null(r->corrected_query);
                assert_null(r->did_you_mean);
            }
            search_result_free(r);
            assert_int_equal(search_suggest(rd, probes[i], "fr", SEARCH_SCOPE_PUBLIC, 5, &r),
                             KB_OK);
            assert_only(r, hidden, 4);
            if (i < 6)
                assert_int_equal(r->nhits, 0);
            search_result_free(r);
        }
    /* "mirage" is public once: public facets and counts know that article only. */
    struct search_result *r = srun(rd, "mirage", SEARCH_SCOPE_PUBLIC, false);
    assert_int_equal(r->total, 1);
    assert_int_equal(r->nfacets, 1);
    assert_string_equal(r->facets[0].value, "Conduite");
    assert_int_equal(r->facets[0].count, 1);
    search_result_free(r);
    /* Related articles: none for an article outside the scope, none outside it for one in. */
    assert_int_equal(search_related(rd, 10, SEARCH_SCOPE_PUBLIC, 5, &r), KB_OK);
    assert_int_equal(r->nhits, 0);
    search_result_free(r);
    assert_int_equal(search_related(rd, 3, SEARCH_SCOPE_PUBLIC, 5, &r), KB_OK);
    assert_only(r, hidden, 4);
    search_result_free(r);
    assert_int_equal(search_related(rd, 3, SEARCH_SCOPE_INTERNAL, 5, &r), KB_OK);
    assert_true(r->nhits >= 1);
    assert_non_null(strstr(r->hits[0].slug, "mirage-interne"));
    search_result_free(r);

    /* A correction weighs words by the caller's articles only: "minage" is "ménage" (two
     * public articles) for the public, "mirage" (one public, five internal) for agents. */
    r = srun(rd, "minage", SEARCH_SCOPE_PUBLIC, false);
    assert_string_equal(r->corrected_query, "ménage");
    assert_true(has(r, "menage-1") && has(r, "menage-2"));
    search_result_free(r);
    r = srun(rd, "minage", SEARCH_SCOPE_INTERNAL, false);
    assert_string_equal(r->corrected_query, "mirage");
    search_result_free(r);

    /* Agents get the internal word, but not the draft's; editors get both. */
    r = srun(rd, "immobilisasion", SEARCH_SCOPE_INTERNAL, false);
    assert_string_equal(r->corrected_query, "immobilisation");
    assert_string_equal(r->did_you_mean, "immobilisation");
    assert_true(has(r, "immobilisation"));
    search_result_free(r);
    r = srun(rd, "immobil", SEARCH_SCOPE_INTERNAL, true);
    assert_true(has(r, "immobilisation"));
    search_result_free(r);
    assert_int_equal(search_suggest(rd, "immob", "fr", SEARCH_SCOPE_INTERNAL, 5, &r), KB_OK);
    assert_true(has(r, "immobilisation"));
    search_result_free(r);
    r = srun(rd, "zéphyrinne", SEARCH_SCOPE_INTERNAL, false);
    assert_null(r->corrected_query);
    assert_int_equal(r->nhits, 0);
    search_result_free(r);
    r = srun(rd, "zephyrinne", SEARCH_SCOPE_ALL, false);
    assert_string_equal(r->corrected_query, "zéphyrine");
    assert_true(has(r, "zephyrine"));
    search_result_free(r);
    /* The commonest words of the language are no typos ("veux" is one edit from "deux"). */
    r = srun(rd, "je veux", SEARCH_SCOPE_PUBLIC, false);
    assert_null(r->corrected_query);
    assert_null(r->did_you_mean);
    search_result_free(r);
    /* Scopes the API does not know are public (3: the only unknown value C++ may hold in
     * this enum without undefined behaviour, which UBSan reports). */
    r = srun(rd, "immobilisasion", (enum search_scope)3, false);
    assert_int_equal(r->nhits, 0);
    assert_null(r->corrected_query);
    search_result_free(r);

    /* A typo an article has is a word of the scope, but one 20 times rarer than its
     * neighbour: both are searched, so the article with the typo still comes first. Not
     * replaced: no corrected_query; found as typed in one article only: did_you_mean. */
    r = srun(rd, "garentie", SEARCH_SCOPE_PUBLIC, false);
    assert_null(r->corrected_query);
    assert_string_equal(r->did_you_mean, "garantie");
    assert_int_equal(r->total, 20);
    assert_string_equal(r->hits[0].slug, "garantie-0");
    search_result_free(r);
    search_index_free(rd);
    assert_int_equal(testfs_rm_rf(sdir), 0);
}

/* The vocabulary follows every change: an article that leaves the public takes its words
 * out of the public vocabulary at once (a replaced or deleted document's words are taken
 * away, not only new ones added), and putting the same article twice counts it once. */
/* Slugs of a search of text in dir's index, in order, joined by spaces; limit and offset as
 * the API takes them. */
static char *slugs_of(struct search_index *rd, const char *text, size_t offset, size_t limit)
{
    struct search_query q = {.text = text, .lang = "fr", .scope = SEARCH_SCOPE_PUBLIC,
                             .offset = offset, .limit = limit};
    struct search_result *r = NULL;
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    char *out = calloc(1, 4096);
    assert_non_null(out);
    size_t len = 0;
    for (size_t i = 0; i < r->nhits && len < 4096; i++)
        len += (size_t)snprintf(out + len, 4096 - len, "%s%s", i ? " " : "", r->hits[i].slug);
    search_result_free(r);
    return out;
}

/* A help centre of short answers under question titles (tests/bench/relevance: the FAQ
 * bases). The query's stop words say what kind of answer is wanted ("pourquoi" is not
 * "comment"), so the titles that have them come first, but they find nothing alone; a short
 * title holding every word of the query ranks above articles whose bodies repeat one of
 * them; and pages follow one order. */
static void faq_titles(void **state)
{
    (void)state;
    char fdir[128];
    snprintf(fdir, sizeof fdir, "/tmp/kb-test-faq-XXXXXX");
    assert_non_null(mkdtemp(fdir));
    struct search_index *w = open_writer(fdir);
    put_one(w, 1, "payer-facture", "Comment payer ma facture ?", "Facture", "public",
            "published",
            "Payez votre facture par carte ou par prélèvement depuis l'espace client. Une "
            "facture non payée est relancée par courrier.");
    put_one(w, 2, "facture-elevee", "Pourquoi ma facture est-elle élevée ?", "Facture",
            "public", "published",
            "Les options ajoutées en cours de mois et les appels hors forfait s'ajoutent à "
            "la facture ; le détail figure dans l'espace client, rubrique consommation.");
    put_one(w, 3, "resilier-abonnement", "Résilier mon abonnement", "Abonnement", "public",
            "published",
            "Envoyez votre demande depuis l'espace client ; elle prend effet sous dix jours.");
    put_one(w, 4, "frais-ligne", "Les frais de la ligne", "Abonnement", "public", "published",
            "Votre abonnement comprend la ligne. Résilier avant douze mois coûte le reste "
            "dû ; résilier après douze mois ne coûte rien ; résilier pour un déménagement ne "
            "coûte rien non plus ; résilier en cas de décès est gratuit.");
    put_one(w, 5, "changer-offre", "Changer d'offre", "Abonnement", "public", "published",
            "Changez d'offre à tout moment : résilier n'est pas nécessaire, votre abonnement "
            "continue. Résilier l'ancienne offre est automatique.");
    for (int i = 0; i < 30; i++) {
        char slug[32];
        snprintf(slug, sizeof slug, "autre-%d", i);
        put_one(w, 10 + i, slug, "Comment utiliser mon téléphone ?", "Mobile", "public",
                "published", "Allumez votre téléphone, puis suivez les étapes à l'écran.");
    }
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);
    struct search_index *rd = NULL;
    assert_int_equal(search_index_open(fdir, false, &rd), KB_OK);

    char *s = slugs_of(rd, "facture", 0, 10);
    assert_string_equal(s, "payer-facture facture-elevee"); /* "facture" alone: the payment */
    free(s);
    s = slugs_of(rd, "pourquoi la facture", 0, 10);
    assert_string_equal(s, "facture-elevee payer-facture");
    free(s);
    s = slugs_of(rd, "comment payer la facture", 0, 10);
    assert_string_equal(s, "payer-facture facture-elevee");
    free(s);
    /* "comment" is in 31 titles: none of them is found for it. */
    struct search_query q = {.text = "comment payer", .lang = "fr",
                             .scope = SEARCH_SCOPE_PUBLIC, .verbatim = true};
    struct search_result *r = NULL;
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    assert_int_equal(r->nhits, 1);
    assert_int_equal(r->total, 1);
    assert_string_equal(r->hits[0].slug, "payer-facture");
    search_result_free(r);

    s = slugs_of(rd, "résilier mon abonnement", 0, 10);
    assert_string_equal(s, "resilier-abonnement changer-offre frais-ligne");
    free(s);
    /* Pages of one result follow the same order (the first ones are ranked again). */
    for (size_t i = 0; i < 3; i++) {
        s = slugs_of(rd, "résilier mon abonnement", i, 1);
        static const char *const order[] = {"resilier-abonnement", "changer-offre",
                                            "frais-ligne"};
        assert_string_equal(s, order[i]);
        free(s);
    }
    search_index_free(rd);
    assert_int_equal(testfs_rm_rf(fdir), 0);
}

static void vocabulary_follows_changes(void **state)
{
    (void)state;
    char own[128];
    snprintf(own, sizeof own, "/tmp/kb-test-vocab-XXXXXX");
    assert_non_null(mkdtemp(own));
    struct search_index *w = open_writer(own), *rd = NULL;
    put_one(w, 1, "orchidee", "Les orchidées du parking", "Site", "public", "published",
            "Des orchidées bordent le parking.");
    put_one(w, 2, "autre", "Horaires", "Site", "public", "published", "Ouvert le lundi.");
    assert_int_equal(search_index_commit(w), KB_OK);
    assert_int_equal(search_index_open(own, false, &rd), KB_OK);
    struct search_result *r = srun(rd, "orhcidées", SEARCH_SCOPE_PUBLIC, false);
    assert_string_equal(r->corrected_query, "orchidées");
    search_result_free(r);

    /* Now internal. An import's batches (search_index_flush) take words away at once; the
     * words they add wait for search_index_commit. */
    put_one(w, 1, "orchidee", "Les orchidées du parking", "Site", "internal", "published",
            "Des orchidées bordent le parking.");
    assert_int_equal(search_index_flush(w), KB_OK);
    assert_int_equal(search_index_count(w), 2); /* waits for the writer's work */
    assert_int_equal(search_index_reopen(rd), KB_OK);
    r = srun(rd, "orhcidées", SEARCH_SCOPE_PUBLIC, false);
    assert_null(r->corrected_query);
    assert_int_equal(r->nhits, 0);
    search_result_free(r);
    assert_int_equal(search_index_commit(w), KB_OK);
    assert_int_equal(search_index_reopen(rd), KB_OK);
    r = srun(rd, "orhcidées", SEARCH_SCOPE_INTERNAL, true);
    assert_string_equal(r->corrected_query, "orchidées");
    assert_true(has(r, "orchidee"));
    search_result_free(r);

    /* Put twice, then deleted: gone from every scope. */
    put_one(w, 1, "orchidee", "Les orchidées", "Site", "public", "published", "Orchidées.");
    put_one(w, 1, "orchidee", "Les orchidées", "Site", "public", "published", "Orchidées.");
    assert_int_equal(search_index_commit(w), KB_OK);
    assert_int_equal(search_index_delete(w, 1), KB_OK);
    assert_int_equal(search_index_commit(w), KB_OK);
    /* A writer handle searches too, with its own committed vocabulary. */
    struct search_query q = {.text = "orhcidées", .lang = "fr", .scope = SEARCH_SCOPE_ALL};
    assert_int_equal(search_run(w, &q, &r), KB_OK);
    assert_null(r->corrected_query);
    search_result_free(r);
    search_index_free(w);
    assert_int_equal(search_index_reopen(rd), KB_OK);
    r = srun(rd, "orhcidées", SEARCH_SCOPE_ALL, false);
    assert_null(r->corrected_query);
    assert_int_equal(r->nhits, 0);
    search_result_free(r);
    assert_int_equal(search_suggest(rd, "orch", "fr", SEARCH_SCOPE_ALL, 5, &r), KB_OK);
    assert_int_equal(r->nhits, 0);
    search_result_free(r);
    search_index_free(rd);
    assert_int_equal(testfs_rm_rf(own), 0);
}

/* The slugs and scores of a query's results, as one string. */
static char *ranking_of(struct search_index *rd, const char *text, enum search_scope scope)
{
    struct search_query q = {.text = text, .lang = "fr", .scope = scope};
    struct search_result *r = NULL;
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    assert_non_null(f);
    fprintf(f, "%zu:", r->total);
    for (size_t i = 0; i < r->nhits; i++)
        fprintf(f, " %s=%.9g", r->hits[i].slug, r->hits[i].score);
    for (size_t i = 0; i < r->nfacets; i++)
        fprintf(f, " [%s %zu]", r->facets[i].value, (size_t)r->facets[i].count);
    fprintf(f, " (%s)", r->corrected_query ? r->corrected_query : "-");
    fclose(f);
    search_result_free(r);
    return out;
}

/* Shards written in parallel are merged into one: same results, and the merged index takes
 * updates and deletions by article id like any other. */
static void merged_shards_answer_the_same(void **state)
{
    (void)state;
    char own[128];
    snprintf(own, sizeof own, "/tmp/kb-test-search-merge-XXXXXX");
    assert_non_null(mkdtemp(own));
    struct search_index *w = open_writer(own), *rd = NULL;
    put_all(w);
    assert_int_equal(search_index_commit(w), KB_OK);
    assert_int_equal(search_index_open(own, false, &rd), KB_OK);
    /* The vocabulary of the shards is summed by the merge (a correction is the same). */
    const char *queries[] = {"véhicule", "garentie pièces", "révision atelier", "essai"};
    char *before[4];
    for (size_t i = 0; i < 4; i++)
        before[i] = ranking_of(rd, queries[i], SEARCH_SCOPE_INTERNAL);
    assert_non_null(strstr(before[1], "(garantie pièces)"));

    assert_int_equal(search_index_merge(w), KB_OK);
    char shard[200];
    snprintf(shard, sizeof shard, "%s/shard1", own);
    assert_int_equal(access(shard, F_OK), -1);
    assert_int_equal(search_index_reopen(rd), KB_OK);
    assert_int_equal(search_index_count(rd), 8);
    for (size_t i = 0; i < 4; i++) {
        char *after = ranking_of(rd, queries[i], SEARCH_SCOPE_INTERNAL);
        assert_string_equal(before[i], after);
        free(before[i]);
        free(after);
    }

    struct search_doc sd = {.id = 2, .slug = "garantie-constructeur",
                            .title = "Garantie constructeur de sept ans", .lang = "fr",
                            .category = "Garantie", .audience = "public",
                            .status = "published", .body = "Sept ans, pièces et main-d'œuvre."};
    assert_int_equal(search_index_put(w, &sd), KB_OK);
    assert_int_equal(search_index_delete(w, 8), KB_OK);
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);
    assert_int_equal(search_index_reopen(rd), KB_OK);
    assert_int_equal(search_index_count(rd), 7);
    struct search_query q = {.text = "garantie sept ans", .lang = "fr"};
    struct search_result *r = NULL;
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    assert_int_equal(r->nhits, 1);
    assert_string_equal(r->hits[0].title, "Garantie constructeur de sept ans");
    search_result_free(r);
    char *essai = ranking_of(rd, "essai", SEARCH_SCOPE_PUBLIC);
    assert_null(strstr(essai, " essai="));
    free(essai);
    search_index_free(rd);
    assert_int_equal(testfs_rm_rf(own), 0);
}

/* The title of the first result of text (public scope), or "" when nothing is found. */
static char *first_title(struct search_index *rd, const char *text)
{
    struct search_query q = {.text = text, .lang = "fr"};
    struct search_result *r = NULL;
    assert_int_equal(search_run(rd, &q, &r), KB_OK);
    char *t = strdup(r->nhits ? r->hits[0].title : "");
    search_result_free(r);
    return t;
}

static bool exists(const char *root, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, name);
    return access(path, F_OK) == 0;
}

/* A rebuild writes a new generation beside the live index: readers keep answering from the
 * live one until it is published, then switch at their next reopen; the previous one is
 * removed, and a rebuild never published (a crash) is discarded by the next writer. One
 * writer at a time has the directory, whatever generation it writes. */
static void rebuild_beside_the_live_index(void **state)
{
    (void)state;
    char own[128];
    snprintf(own, sizeof own, "/tmp/kb-test-search-gen-XXXXXX");
    assert_non_null(mkdtemp(own));
    struct search_index *w = open_writer(own), *rd = NULL, *late = NULL, *g = NULL;
    struct search_index *other = NULL;
    put_all(w);
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);
    assert_int_equal(search_index_open(own, false, &rd), KB_OK);
    assert_int_equal(search_index_count(rd), 8);
    const char *old_title = "Que couvre la garantie constructeur ?";
    const char *new_title = "Garantie constructeur de sept ans";
    struct search_doc two = {.id = 2, .slug = "garantie-constructeur", .title = new_title,
                             .lang = "fr", .category = "Garantie", .audience = "public",
                             .status = "published", .body = "Sept ans, pièces et main-d'œuvre."};
    struct search_doc six = {.id = 6, .slug = "vehicle-recall", .title = "Recalls",
                             .lang = "en", .audience = "public", .status = "published",
                             .body = "Free of charge."};

    /* Written, committed, never published: nobody sees it; the next writer removes it. */
    assert_int_equal(search_index_open_new(own, layout_docs, &g), KB_OK);
    assert_int_equal(search_index_open(own, true, &other), KB_EBUSY);
    assert_int_equal(search_index_open_new(own, 0, &other), KB_EBUSY);
    assert_int_equal(search_index_put(g, &two), KB_OK);
    assert_int_equal(search_index_commit(g), KB_OK);
    assert_int_equal(search_index_reopen(rd), KB_OK);
    assert_int_equal(search_index_count(rd), 8);
    char *t = first_title(rd, "garantie");
    assert_string_equal(t, old_title);
    free(t);
    assert_int_equal(search_index_open(own, false, &late), KB_OK);
    assert_int_equal(search_index_count(late), 8);
    search_index_free(late);
    search_index_free(g);
    assert_true(exists(own, "g1"));
    assert_int_equal(search_index_open(own, true, &w), KB_OK);
    assert_false(exists(own, "g1"));
    search_index_free(w);

    /* Published: the new generation is the index, the old files are gone; a reader that has
     * not reopened yet still answers from them. */
    assert_int_equal(search_index_open(own, false, &late), KB_OK);
    assert_int_equal(search_index_open_new(own, layout_docs, &g), KB_OK);
    assert_int_equal(search_index_put(g, &two), KB_OK);
    assert_int_equal(search_index_put(g, &six), KB_OK);
    assert_int_equal(search_index_publish(g), KB_OK);
    assert_int_equal(search_index_publish(g), KB_EINVAL); /* once */
    assert_true(exists(own, "current"));
    assert_true(exists(own, "g1")); /* the name of the one never published, free again */
    assert_false(exists(own, "g1/shard1")); /* merged */
    assert_false(exists(own, "iamglass"));
    assert_false(exists(own, "postlist.glass"));
    assert_int_equal(search_index_count(late), 8);
    t = first_title(late, "garantie");
    assert_string_equal(t, old_title);
    free(t);
    search_index_free(late);
    assert_int_equal(search_index_reopen(rd), KB_OK);
    assert_int_equal(search_index_count(rd), 2);
    t = first_title(rd, "garantie");
    assert_string_equal(t, new_title);
    free(t);
    /* The handle writes the live index now, as a writer opened later does. */
    assert_int_equal(search_index_delete(g, 6), KB_OK);
    assert_int_equal(search_index_commit(g), KB_OK);
    search_index_free(g);
    assert_int_equal(search_index_reopen(rd), KB_OK);
    assert_int_equal(search_index_count(rd), 1);
    assert_int_equal(search_index_open(own, true, &w), KB_OK);
    assert_int_equal(search_index_put(w, &six), KB_OK);
    assert_int_equal(search_index_commit(w), KB_OK);
    search_index_free(w);
    assert_int_equal(search_index_reopen(rd), KB_OK);
    assert_int_equal(search_index_count(rd), 2);

    /* A generation that went missing is reported, not made again empty. */
    char gen[200];
    snprintf(gen, sizeof gen, "%s/g1", own);
    assert_int_equal(testfs_rm_rf(gen), 0);
    assert_int_equal(search_index_open(own, true, &w), KB_EINDEX);
    assert_int_not_equal(search_index_open(own, false, &late), KB_OK);
    search_index_free(rd);
    assert_int_equal(testfs_rm_rf(own), 0);
}

/* ?lang= of a language no article is written in: nothing, and no spelling suggestion that
 * would lead nowhere either. */
static void unknown_language_finds_nothing(void **state)
{
    (void)state;
    const char *langs[] = {"zz", "xx-yy", "FR", "french"};
    for (size_t i = 0; i < 4; i++) {
        struct search_result *r = run("garentie véhicule", langs[i], SEARCH_SCOPE_PUBLIC, NULL);
        assert_int_equal(r->nhits, 0);
        assert_int_equal(r->total, 0);
        assert_null(r->did_you_mean);
        search_result_free(r);
    }
    struct search_result *r = run("garentie véhicule", "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_true(r->nhits > 0);
    search_result_free(r);
}

/* A customer's e-mail pasted into the search box: only its rarest words are matched
 * (search/query.cc, keep_rarest), and yet the article comes first and every word of the
 * message that the excerpt shows is marked, the frequent "véhicule" included. */
static void long_messages_find_and_mark(void **state)
{
    (void)state;
    struct search_result *r = run(
        "Bonjour, révision de mon véhicule à 15 000 km : prendre rendez-vous en ligne ou à "
        "l'atelier ? Essai prévu ; la garantie couvre les pièces ? Merci",
        "fr", SEARCH_SCOPE_PUBLIC, NULL);
    assert_true(r->nhits >= 2);
    assert_string_equal(r->hits[0].slug, "rendez-vous-revision");
    assert_non_null(strstr(r->hits[0].snippet, "<mark>véhicule</mark>"));
    assert_non_null(strstr(r->hits[0].snippet, "<mark>révision</mark>"));
    search_result_free(r);
}

/* The caller's filters (tag, audience, category) narrow its scope, never widen it; each hit
 * says its audience and status. */
static void filters_and_hit_audience(void **state)
{
    (void)state;
    struct search_index *r = NULL;
    assert_int_equal(search_index_open(dir, false, &r), KB_OK);
    struct search_query q = {.text = "véhicule", .lang = "fr", .scope = SEARCH_SCOPE_ALL};
    struct search_result *res = NULL;
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    assert_true(has(res, "remise-maximale") && has(res, "brouillon") && has(res, "essai"));
    for (size_t i = 0; i < res->nhits; i++) {
        const struct search_hit *h = &res->hits[i];
        bool internal = strcmp(h->slug, "remise-maximale") == 0;
        bool draft = strcmp(h->slug, "brouillon") == 0;
        assert_string_equal(h->audience, internal ? "internal" : "public");
        assert_string_equal(h->status, draft ? "draft" : "published");
    }
    search_result_free(res);
    /* audience=internal: the internal article alone; for a public caller, nothing. */
    q.audience = "internal";
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    assert_int_equal(res->nhits, 1);
    assert_string_equal(res->hits[0].slug, "remise-maximale");
    assert_int_equal(res->total, 1);
    search_result_free(res);
    q.scope = SEARCH_SCOPE_PUBLIC;
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    assert_int_equal(res->nhits, 0);
    assert_int_equal(res->nfacets, 0);
    search_result_free(res);
    /* audience=public leaves the internal one out of an agent's results. */
    q.scope = SEARCH_SCOPE_INTERNAL;
    q.audience = "public";
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    assert_true(res->nhits > 0 && !has(res, "remise-maximale"));
    search_result_free(res);
    /* A tag, folded as the tags are ("Atelier" is the tag "atelier"), with the scope's
     * filter still applied; an unknown audience or tag matches nothing. */
    q.audience = NULL;
    q.tag = "Atelier";
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    assert_int_equal(res->nhits, 1);
    assert_string_equal(res->hits[0].slug, "rendez-vous-revision");
    search_result_free(res);
    q.tag = "nothing-tagged";
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    assert_int_equal(res->nhits, 0);
    search_result_free(res);
    q.tag = NULL;
    q.audience = "secret";
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    assert_int_equal(res->nhits, 0);
    search_result_free(res);
    /* Tag and category together: both must hold. */
    q.audience = NULL;
    q.tag = "atelier";
    q.category = "Garantie";
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    assert_int_equal(res->nhits, 0);
    search_result_free(res);
    q.category = "Après-vente";
    assert_int_equal(search_run(r, &q, &res), KB_OK);
    assert_int_equal(res->nhits, 1);
    search_result_free(res);
    /* Suggestions say the audience too. */
    assert_int_equal(search_suggest(r, "remise", "fr", SEARCH_SCOPE_INTERNAL, 5, &res), KB_OK);
    assert_int_equal(res->nhits, 1);
    assert_string_equal(res->hits[0].audience, "internal");
    search_result_free(res);
    search_index_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stemming_and_synonyms),  cmocka_unit_test(accents_and_case),
        cmocka_unit_test(audience_and_status),    cmocka_unit_test(categories_and_facets),
        cmocka_unit_test(spelling_correction),    cmocka_unit_test(snippets_are_escaped_and_marked),
        cmocka_unit_test(snippets_of_documents_seen_before),
        cmocka_unit_test(leads_instead_of_snippets),
        cmocka_unit_test(other_languages_stem),   cmocka_unit_test(hostile_queries),
        cmocka_unit_test(writer_changes_are_seen),
        cmocka_unit_test(fresh_readers_follow_the_index), cmocka_unit_test(suggest_and_related),
        cmocka_unit_test(clear_and_uncommitted), cmocka_unit_test(reader_memory_follows_changes),
        cmocka_unit_test(merged_shards_answer_the_same), cmocka_unit_test(stop_words_alone),
        cmocka_unit_test(synonym_phrases_keep_their_words),
        cmocka_unit_test(long_messages_find_and_mark),
        cmocka_unit_test(unknown_language_finds_nothing),
        cmocka_unit_test(prefix_last_word),
        cmocka_unit_test(typo_distances),
        cmocka_unit_test(scope_decides_everything),
        cmocka_unit_test(faq_titles),
        cmocka_unit_test(vocabulary_follows_changes),
        cmocka_unit_test(rebuild_beside_the_live_index),
        cmocka_unit_test(filters_and_hit_audience),
    };
    layout_docs = 0;
    int failed = cmocka_run_group_tests_name("one shard", tests, setup, teardown);
    layout_docs = 1000000;
    failed += cmocka_run_group_tests_name("shards", tests, setup, teardown);
    return failed;
}
