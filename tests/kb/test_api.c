/* tests/kb/test_api.c: the search response the HTTP API writes directly
 * (kb_api_search_write) is byte for byte the JSON of the jansson tree the CLI dumps
 * (kb_api_search_json + json_dumps JSON_COMPACT), and fails where the tree fails, on crafted
 * and random results: quotes, backslashes, control characters, every UTF-8 length, invalid
 * UTF-8, repeated facet keys, scores that are not finite. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kb/api.h"
#include "kb/buf.h"

static void same(const struct search_result *r, int64_t id)
{
    json_t *o = kb_api_search_json(r, id);
    char *want = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    struct kb_buf b;
    kb_buf_init(&b, 8 * 1024 * 1024);
    enum kb_err err = kb_api_search_write(&b, r, id);
    if (!want) {
        assert_int_not_equal(err, KB_OK);
    } else {
        assert_int_equal(err, KB_OK);
        assert_string_equal(b.data, want);
    }
    free(want);
    kb_buf_release(&b);
}

static char *s(const char *v)
{
    return v ? strdup(v) : NULL;
}

static void crafted(void **state)
{
    (void)state;
    struct search_hit hits[3] = {
        {1, s("rendez-vous"), s("Comment prendre « rendez-vous » ?"), s("Après-vente"),
         s("fr"), s("… la <mark>révision</mark> du véhicule &amp; l&#39;atelier …"), 7.25},
        {2, s("x"), s("quote \" back \\ slash / tab \t nl \n bell \x07 del \x7f"), NULL, NULL,
         NULL, 1.0},
        {3, s("emoji"), s("😀 中文 Ω \xe2\x80\xa8"), s(""), s("en"), s("plain"), 1e-300},
    };
    struct search_facet facets[4] = {
        {s("Après-vente"), 12}, {s("Garantie"), 3}, {s("Après-vente"), 5}, {s("a\"b"), 1}};
    struct search_result r = {.hits = hits, .nhits = 3, .total = 123456789, .facets = facets,
                              .nfacets = 4, .did_you_mean = s("véhicule"), .took_ms = 0.5};
    same(&r, 0);
    same(&r, 987654321012345);
    free(r.did_you_mean);
    r.did_you_mean = NULL;
    same(&r, 1);
    r.nhits = 0;
    r.nfacets = 0;
    same(&r, 0);
    r.nhits = 3;
    r.nfacets = 4;
    /* Where the tree fails, the writer fails too. */
    char *keep = hits[1].title;
    hits[1].title = s("bad \xff utf-8");
    same(&r, 0);
    free(hits[1].title);
    hits[1].title = keep;
    hits[0].score = NAN;
    same(&r, 0);
    hits[0].score = INFINITY;
    same(&r, 0);
    hits[0].score = 2.0;
    char *bad = facets[1].value;
    facets[1].value = s("bad \xc3");
    same(&r, 0);
    free(facets[1].value);
    facets[1].value = bad;
    char longslug[600];
    memset(longslug, 'a', sizeof longslug - 1);
    longslug[sizeof longslug - 1] = 0;
    keep = hits[2].slug;
    for (size_t n = 505; n < 515; n++) {
        longslug[n] = 0;
        hits[2].slug = longslug;
        same(&r, 0);
        longslug[n] = 'a';
    }
    hits[2].slug = keep;
    r.took_ms = 12345678.0;
    same(&r, 0);
    for (size_t i = 0; i < 3; i++) {
        free(hits[i].slug);
        free(hits[i].title);
        free(hits[i].category);
        free(hits[i].lang);
        free(hits[i].snippet);
    }
    for (size_t i = 0; i < 4; i++)
        free(facets[i].value);
}

static char *random_string(void)
{
    static const char *const pieces[] = {
        "a", "Z", " ", "é", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f", "\x7f", "€", "😀",
        "&amp;", "<mark>", "\xff", "\xc3", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80",
    };
    const size_t np = sizeof pieces / sizeof pieces[0];
    char buf[256];
    size_t n = 0, want = (size_t)(rand() % 40);
    /* Mostly valid text, as real results are; now and then anything. */
    size_t limit = rand() % 4 ? 16 : np;
    while (n < want) {
        const char *p = pieces[(size_t)rand() % limit];
        size_t k = strlen(p);
        if (n + k >= sizeof buf)
            break;
        memcpy(buf + n, p, k);
        n += k;
    }
    buf[n] = 0;
    return strdup(buf);
}

static void random_results(void **state)
{
    (void)state;
    srand(7);
    for (int round = 0; round < 3000; round++) {
        struct search_hit hits[5];
        struct search_facet facets[5];
        size_t nh = (size_t)(rand() % 6), nf = (size_t)(rand() % 6);
        for (size_t i = 0; i < nh; i++) {
            hits[i] = (struct search_hit){
                (int64_t)i, random_string(), random_string(),
                rand() % 5 ? random_string() : NULL, rand() % 5 ? random_string() : NULL,
                rand() % 5 ? random_string() : NULL,
                (double)rand() / (double)(rand() | 1) * (rand() % 2 ? 1e-5 : 1e5)};
        }
        for (size_t i = 0; i < nf; i++)
            facets[i] = (struct search_facet){rand() % 3 ? random_string() : strdup("dup"),
                                              (size_t)rand()};
        struct search_result r = {.hits = hits, .nhits = nh, .total = (size_t)rand(),
                                  .facets = facets, .nfacets = nf,
                                  .did_you_mean = rand() % 2 ? random_string() : NULL,
                                  .took_ms = (double)rand() / 1000.0};
        same(&r, rand() % 2 ? (int64_t)rand() : 0);
        for (size_t i = 0; i < nh; i++) {
            free(hits[i].slug);
            free(hits[i].title);
            free(hits[i].category);
            free(hits[i].lang);
            free(hits[i].snippet);
        }
        for (size_t i = 0; i < nf; i++)
            free(facets[i].value);
        free(r.did_you_mean);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crafted),
        cmocka_unit_test(random_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
