/* tests/fuzz/fuzz_search.c: libFuzzer target over the public search path (query analysis,
 * synonyms, spelling correction, snippets, suggestions) on a small index of French, English
 * and German articles. The query text is what any anonymous caller of /api/v1/search sends:
 * any bytes must give results or an empty list, and what comes back must be fit for a page
 * and for JSON (valid UTF-8, no markup but <mark>, no non-public article). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kb/base/text.h"
#include "search/search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct doc {
    const char *slug, *title, *lang, *category, *audience, *status, *question, *tag, *body;
};

static const struct doc docs[] = {
    {"revision", "Comment prendre rendez-vous pour la révision de mon véhicule ?", "fr",
     "Après-vente", "public", "published", "Quand faire l'entretien ?", "atelier",
     "La révision du véhicule se fait tous les 15 000 km. Prenez rendez-vous à l'atelier ou "
     "en ligne. <script>alert(1)</script> & \"guillemets\" n'est pas exécuté."},
    {"garantie", "Que couvre la garantie constructeur ?", "fr", "Garantie", "public",
     "published", NULL, NULL,
     "La garantie couvre les pièces et la main-d'œuvre pendant trois ans. Œuvre, cœur, æ."},
    {"sav", "Comment joindre le service après-vente ?", "fr", "Contact", "public", "published",
     NULL, "sav", "Le service après-vente répond du lundi au samedi de 8 h à 19 h."},
    {"remise", "Remise maximale autorisée", "fr", "Interne", "internal", "published", NULL,
     NULL, "La remise sur un véhicule neuf ne dépasse pas 8 %. Secret interne."},
    {"brouillon", "Nouveau véhicule électrique (brouillon)", "fr", "Véhicules neufs", "public",
     "draft", NULL, NULL, "Le futur véhicule électrique arrive. Secret brouillon."},
    {"recall", "What to do about a vehicle recall", "en", "Recalls", "public", "published",
     "Is my car recalled?", NULL, "A recall is free of charge. Book an appointment."},
    {"werkstatt", "Wie buche ich einen Werkstatttermin?", "de", "Kundendienst", "public",
     "published", NULL, NULL, "Werkstatttermine buchen Sie online. Fahrzeuge geprüft."},
    {"essai", "Réserver un essai du véhicule", "fr", "Essai", "public", "published", NULL,
     NULL, "Essayez le véhicule de votre choix pendant 30 minutes en concession. 日本語 ✓"},
};

static const char synonyms[] =
    "sav, service après-vente, après-vente\n"
    "voiture, véhicule, auto, automobile\n"
    "prêt immobilier, crédit immobilier\n"
    "main-d'œuvre, main d'oeuvre\n";

static struct search_index *reader;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_search: %s\n", what);
    abort();
}

static void setup(void)
{
    static char dir[] = "/tmp/fuzz-search-XXXXXX";
    if (!mkdtemp(dir))
        fail("mkdtemp");
    char path[64];
    snprintf(path, sizeof path, "%s/fr.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(synonyms, f) < 0 || fclose(f))
        fail("synonyms file");
    struct search_index *w = NULL;
    if (search_index_open(dir, true, &w) || search_synonyms_load(w, "fr", path))
        fail("writer");
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        const struct doc *d = &docs[i];
        const char *q[1] = {d->question};
        const char *t[1] = {d->tag};
        struct search_doc sd = {
            .id = (int64_t)i + 1, .slug = d->slug, .title = d->title, .lang = d->lang,
            .category = d->category, .audience = d->audience, .status = d->status,
            .tags = t, .ntags = d->tag != NULL, .questions = q,
            .nquestions = d->question != NULL, .body = d->body, .popularity = (double)i,
            .updated_at = 1700000000};
        if (search_index_put(w, &sd))
            fail("put");
    }
    if (search_index_commit(w))
        fail("commit");
    search_index_free(w);
    if (search_index_open(dir, false, &reader))
        fail("reader");
}

/* Only <mark> and </mark> may appear as markup in a snippet; everything else is escaped. */
static void check_snippet(const char *s)
{
    if (!kb_text_valid_utf8(s, strlen(s)))
        fail("snippet is not valid UTF-8");
    for (const char *p = strchr(s, '<'); p; p = strchr(p + 1, '<'))
        if (strncmp(p, "<mark>", 6) != 0 && strncmp(p, "</mark>", 7) != 0)
            fail("markup in a snippet");
    if (strstr(s, "Secret"))
        fail("text of a non-public article in a snippet");
}

static void check_result(const struct search_result *r, size_t limit)
{
    if (r->nhits > limit)
        fail("more hits than the limit");
    for (size_t i = 0; i < r->nhits; i++) {
        const struct search_hit *h = &r->hits[i];
        if (!strcmp(h->slug, "remise") || !strcmp(h->slug, "brouillon"))
            fail("non-public article in public results");
        if (h->snippet)
            check_snippet(h->snippet);
        if (!kb_text_valid_utf8(h->title, strlen(h->title)))
            fail("title is not valid UTF-8");
    }
    if (r->did_you_mean && !kb_text_valid_utf8(r->did_you_mean, strlen(r->did_you_mean)))
        fail("did_you_mean is not valid UTF-8");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const langs[] = {NULL, "", "fr", "en", "de", "xx", "french", "zz-ZZ"};
    if (!reader)
        setup();
    if (size < 2)
        return 0;
    /* Two bytes of parameters, then the query text (any bytes, NUL-terminated). */
    const char *lang = langs[data[0] & 7];
    size_t limit = (size_t)(data[0] >> 3) % 12;
    size_t offset = data[1] % 8;
    char *text = strndup((const char *)data + 2, size - 2);
    if (!text)
        return 0;
    struct search_query q = {.text = text, .lang = lang, .category = data[1] & 8 ? "Garantie" : NULL,
                             .scope = SEARCH_SCOPE_PUBLIC, .offset = offset, .limit = limit};
    struct search_result *r = NULL;
    if (search_run(reader, &q, &r) == KB_OK) {
        check_result(r, limit ? limit : 10);
        search_result_free(r);
    } else {
        fail("search_run failed on a query");
    }
    r = NULL;
    if (search_suggest(reader, text, lang, SEARCH_SCOPE_PUBLIC, 5, &r) == KB_OK) {
        check_result(r, 5);
        search_result_free(r);
    }
    free(text);
    return 0;
}
