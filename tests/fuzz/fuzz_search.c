/* tests/fuzz/fuzz_search.c: libFuzzer target over the public search path (query analysis,
 * synonyms, typo correction of every word, completion of the last word, snippets,
 * suggestions) on a small index of French, English and German articles. The query text is
 * what any anonymous caller of /api/v1/search sends: any bytes must give results or an
 * empty list, in bounded time, and what comes back must be fit for a page and for JSON
 * (valid UTF-8, no markup but <mark>, no non-public article, no correction into a word that
 * only a non-public article has). Inputs can be stretched (a flag repeats the text to
 * about 12 KB), and setup runs the large cases the fuzzer's 4 KB inputs cannot reach:
 * 10,000 one-letter words, words of 10,000 letters and more, invalid UTF-8. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* Words of 3 letters and more that only the internal and the draft article have (folded):
 * no public correction may bring one into a query. */
static const char *const hidden[] = {"arrive",  "autorisee", "brouillon", "depasse",
                                     "electrique", "futur",  "interne",   "maximale",
                                     "neuf",    "nouveau",   "remise",    "secret"};

/* A search (or suggestion) slower than this is a failure (sanitizers included). */
#define MAX_MS 2000.0

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_search: %s\n", what);
    abort();
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void large_inputs(void);

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
    large_inputs();
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

/* A correction (corrected_query or did_you_mean of a public search) brings in no word that
 * only a non-public article has, unless the caller typed it. */
static void check_correction(const char *c, const char *typed_folded)
{
    if (!c)
        return;
    if (!kb_text_valid_utf8(c, strlen(c)))
        fail("correction is not valid UTF-8");
    char *f = kb_text_fold(c);
    if (!f)
        fail("correction cannot be folded");
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
        size_t n = strlen(hidden[i]);
        for (const char *p = strstr(f, hidden[i]); p; p = strstr(p + 1, hidden[i]))
            if ((p == f || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ') &&
                !strstr(typed_folded, hidden[i]))
                fail("public correction into a word of a non-public article");
    }
    free(f);
}

static void check_result(const struct search_result *r, size_t limit, bool public_scope,
                         const char *typed_folded)
{
    if (r->nhits > limit)
        fail("more hits than the limit");
    for (size_t i = 0; i < r->nhits; i++) {
        const struct search_hit *h = &r->hits[i];
        if (public_scope && (!strcmp(h->slug, "remise") || !strcmp(h->slug, "brouillon")))
            fail("non-public article in public results");
        if (h->snippet) {
            if (public_scope)
                check_snippet(h->snippet);
            else if (!kb_text_valid_utf8(h->snippet, strlen(h->snippet)))
                fail("snippet is not valid UTF-8");
        }
        if (!kb_text_valid_utf8(h->title, strlen(h->title)))
            fail("title is not valid UTF-8");
    }
    if (public_scope) {
        check_correction(r->did_you_mean, typed_folded);
        check_correction(r->corrected_query, typed_folded);
    } else {
        if (r->did_you_mean && !kb_text_valid_utf8(r->did_you_mean, strlen(r->did_you_mean)))
            fail("did_you_mean is not valid UTF-8");
        if (r->corrected_query &&
            !kb_text_valid_utf8(r->corrected_query, strlen(r->corrected_query)))
            fail("corrected_query is not valid UTF-8");
    }
}

/* One query through search_run and search_suggest, checked and timed. */
static void one(const char *text, const char *lang, const char *category,
                enum search_scope scope, size_t offset, size_t limit, bool prefix,
                bool verbatim)
{
    /* The caller's text as search sees it (invalid bytes replaced), folded: to tell typed
     * words from corrections. */
    char *clean = kb_text_sanitize(text, strlen(text));
    char *typed = clean ? kb_text_fold(clean) : NULL;
    free(clean);
    if (!typed)
        fail("cannot fold the query");
    bool pub = scope == SEARCH_SCOPE_PUBLIC;
    struct search_query q = {.text = text, .lang = lang, .category = category,
                             .scope = scope, .offset = offset, .limit = limit,
                             .prefix_last = prefix, .verbatim = verbatim};
    struct search_result *r = NULL;
    double t0 = now_ms();
    if (search_run(reader, &q, &r) != KB_OK)
        fail("search_run failed on a query");
    if (now_ms() - t0 > MAX_MS)
        fail("search_run too slow");
    check_result(r, limit ? limit : 10, pub, typed);
    search_result_free(r);
    r = NULL;
    t0 = now_ms();
    if (search_suggest(reader, text, lang, scope, 5, &r) == KB_OK) {
        check_result(r, 5, pub, typed);
        search_result_free(r);
    }
    if (now_ms() - t0 > MAX_MS)
        fail("search_suggest too slow");
    free(typed);
}

/* The inputs too large for the fuzzer's: many one-letter words, very long words (above the
 * length a word is indexed at), invalid UTF-8, typos repeated, in every mode. */
static void large_inputs(void)
{
    size_t n = 20000;
    char *s = malloc(n + 1);
    if (!s)
        fail("malloc");
    for (int kind = 0; kind < 6; kind++) {
        for (size_t i = 0; i < n; i++) {
            switch (kind) {
            case 0: s[i] = i % 2 ? ' ' : (char)('a' + i % 26); break;   /* 10,000 words */
            case 1: s[i] = (char)('a' + (i * 7) % 26); break;            /* 20,000 letters */
            case 2: s[i] = "garentie "[i % 9]; break;                   /* typos, repeated */
            case 3: s[i] = (char)(0x80 + i % 64); break;                 /* invalid UTF-8 */
            case 4: s[i] = i % 65 == 64 ? ' ' : "immobilisasion"[i % 14]; break;
            default: s[i] = i % 3 == 2 ? ' ' : "\xc3\xa9"[i % 3]; break; /* "é é ..." */
            }
        }
        s[n] = 0;
        for (int mode = 0; mode < 8; mode++)
            one(s, mode & 1 ? "fr" : NULL, NULL,
                mode & 4 ? SEARCH_SCOPE_INTERNAL : SEARCH_SCOPE_PUBLIC, 0, 10, mode & 2,
                mode & 4);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const langs[] = {NULL, "", "fr", "en", "de", "xx", "french", "zz-ZZ"};
    static const enum search_scope scopes[] = {SEARCH_SCOPE_PUBLIC, SEARCH_SCOPE_PUBLIC,
                                               SEARCH_SCOPE_INTERNAL, SEARCH_SCOPE_ALL};
    if (!reader)
        setup();
    if (size < 3)
        return 0;
    /* Three bytes of parameters, then the query text (any bytes, NUL-terminated). Byte 2:
     * bit 0 prefix_last, bit 1 verbatim, bits 2-3 scope, bit 4 stretch the text to 12 KB. */
    const char *lang = langs[data[0] & 7];
    size_t limit = (size_t)(data[0] >> 3) % 12;
    size_t offset = data[1] % 8;
    const char *category = data[1] & 8 ? "Garantie" : NULL;
    bool prefix = data[2] & 1, verbatim = data[2] & 2;
    enum search_scope scope = scopes[(data[2] >> 2) & 3];
    size_t n = strnlen((const char *)data + 3, size - 3);
    size_t total = data[2] & 16 && n > 0 ? n * (12000 / n + 1) : n;
    char *text = malloc(total + 1);
    if (!text)
        return 0;
    for (size_t i = 0; i < total; i += n)
        memcpy(text + i, data + 3, n);
    text[total] = 0;
    one(text, lang, category, scope, offset, limit, prefix, verbatim);
    free(text);
    return 0;
}
