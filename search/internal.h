/* search/internal.h: pieces shared inside search/ (C, callable from the C++ files). */
#ifndef SEARCH_INTERNAL_H
#define SEARCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A word inside a text: byte offset and length. */
struct search_span {
    size_t off, len;
};

/* Split text into words: maximal runs of letters, digits and combining marks (Unicode
 * categories L, N, M); everything else, apostrophes and hyphens included, separates words.
 * Writes at most max spans; returns how many words there are in total. Invalid UTF-8 bytes
 * separate words. */
size_t search_words(const char *text, size_t n, struct search_span *out, size_t max);

/* True when the folded word w (n bytes) is a stop word of language lang ("fr", "en"; other
 * languages have none): function words that carry no meaning in a help-centre query. */
bool search_is_stopword(const char *lang, const char *w, size_t n);

/* True when the folded word w is a stop word of lang or another word too common in it to
 * be a typo (the forms of its commonest verbs: "veux", "voudrait"): never corrected. */
bool search_is_common_word(const char *lang, const char *w, size_t n);

/* The stop words and the common words of lang (static arrays, sorted; none for languages
 * without lists). */
void search_lang_words(const char *lang, const char *const **stop, size_t *nstop,
                       const char *const **common, size_t *ncommon);

/* Damerau-Levenshtein distance (optimal string alignment) between the folded words a and b
 * (valid UTF-8, at most 64 code points each), as the typo corrector computes it, or max + 1
 * when it exceeds max (vocab.cc). For tests. */
unsigned search_edit_distance(const char *a, const char *b, unsigned max);

#ifdef __cplusplus
}
#endif

#endif
