/* tests/search/test_words.c: search_words() (the word splitter shared by indexing, querying
 * and snippets) against a plain reference that decodes every character with utf8proc, on
 * crafted and random text: the fast paths of words.c must never change what a word is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <utf8proc.h>

#include "search/internal.h"

/* The definition words.c documents: maximal runs of letters, digits and marks (categories
 * L, N, M); any other character, and every invalid UTF-8 byte, separates words. */
static bool ref_is_word(utf8proc_int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL ||
           c == UTF8PROC_CATEGORY_LT || c == UTF8PROC_CATEGORY_LM ||
           c == UTF8PROC_CATEGORY_LO || c == UTF8PROC_CATEGORY_MN ||
           c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME ||
           c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL ||
           c == UTF8PROC_CATEGORY_NO;
}

static size_t ref_words(const char *text, size_t n, struct search_span *out, size_t max)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0, count = 0, start = 0;
    bool in = false;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
        bool w = k > 0 && ref_is_word(cp);
        if (k <= 0)
            k = 1;
        if (w && !in) {
            start = i;
            in = true;
        } else if (!w && in) {
            if (count < max)
                out[count] = (struct search_span){start, i - start};
            count++;
            in = false;
        }
        i += (size_t)k;
    }
    if (in) {
        if (count < max)
            out[count] = (struct search_span){start, n - start};
        count++;
    }
    return count;
}

static void check(const char *s, size_t n, size_t max)
{
    struct search_span a[3000], b[3000];
    assert_true(max <= 3000);
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    size_t na = search_words(s, n, a, max);
    size_t nb = ref_words(s, n, b, max);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < (na < max ? na : max); i++) {
        assert_int_equal(a[i].off, b[i].off);
        assert_int_equal(a[i].len, b[i].len);
    }
}

static void crafted(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "", " ", "a", "ab cd", "  l'école, c'est  l'été !", "véhicule-électrique 15 000 km",
        "œuvre Ωmega Здравствуйте שלום مرحبا", "日本語のテキスト", "emoji 😀 x😀y",
        "e\xcc\x81t\xc3\xa9", "bad \xff\xfe bytes \xc3", "over\xc0\xaflong", "sur\xed\xa0\x80rogate",
        "cut\xe2\x82", "x\xf4\x90\x80\x80y", "tab\tnew\nline\r", "a1_b2-c3.d4",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        check(texts[i], strlen(texts[i]), 600);
        check(texts[i], strlen(texts[i]), 1);
    }
}

/* Random text from pieces that exercise every path: ASCII letters and separators, two-,
 * three- and four-byte characters of every kind, and broken sequences. */
static void random_text(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "a", "Z", "7", " ", ",", "'", "-", "\n", "é", "É", "ç", "\xcc\x81" /* combining */,
        "\xc2\xa0" /* nbsp */, "\xc2\xab", "ß", "Ω", "ж", "א", "ع", "\xd9\xa0", "€", "…",
        "\xe2\x80\x99", "中", "\xef\xbc\x91", "😀", "\xf0\x9d\x90\x80" /* math bold A */,
        "\xff", "\x80", "\xc3", "\xe2\x82", "\xf0\x9f", "\xc0\x80", "\xed\xa0\x80", "\xf5\x80",
    };
    const size_t np = sizeof pieces / sizeof pieces[0];
    srand(42);
    char buf[6000];
    for (int round = 0; round < 20000; round++) {
        size_t n = 0;
        /* Now and then longer than the splitter's 1 KB passes. */
        size_t want = (size_t)(round % 10 ? rand() % 300 : rand() % 2500);
        while (n < want) {
            const char *p = pieces[(size_t)rand() % np];
            size_t k = strlen(p);
            if (n + k >= sizeof buf)
                break;
            memcpy(buf + n, p, k);
            n += k;
        }
        check(buf, n, 3000);
        check(buf, n, (size_t)(rand() % 8));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crafted),
        cmocka_unit_test(random_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
