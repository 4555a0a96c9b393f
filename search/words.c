/* search/words.c: word splitting and stop words, shared by indexing, querying and snippets so
 * that the three always agree on what a word is. */
#include "search/internal.h"

#include <string.h>

#include <utf8proc.h>

static bool is_word_cp(utf8proc_int32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

size_t search_words(const char *text, size_t n, struct search_span *out, size_t max)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0, count = 0, start = 0;
    bool in = false;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k;
        if (p[i] < 0x80) {
            cp = p[i];
            k = 1;
        } else {
            k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
            if (k <= 0) {
                cp = ' ';
                k = 1;
            }
        }
        bool w = is_word_cp(cp);
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

/* Sorted lists, folded (no accents), so bsearch works. */
static const char *const stop_fr[] = {
    "a", "afin", "ai", "as", "au", "aussi", "aux", "avec", "avoir", "ca", "ce", "ceci", "cela",
    "celle", "celui", "ces", "cet", "cette", "ceux", "combien", "comment", "d", "dans", "de",
    "deja", "des", "dois", "doit", "dont", "du", "elle", "en", "es", "est", "et", "etc", "ete",
    "etes", "etre", "faut", "il", "ils", "j", "je", "l", "la", "le", "les", "leur", "leurs",
    "lorsque", "lui", "m", "ma", "mais", "me", "mes", "moi", "mon", "n", "ne", "nos", "notre",
    "nous", "on", "ou", "par", "pas", "peut", "peux", "plus", "pour", "pourquoi", "puis", "qu",
    "quand", "que", "quel", "quelle", "quelles", "quels", "qui", "quoi", "s", "sa", "se", "ses",
    "sommes", "son", "sont", "suis", "sur", "t", "ta", "te", "tes", "ton", "tres", "tu", "un",
    "une", "vos", "votre", "vous", "y",
};

static const char *const stop_en[] = {
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "being", "by", "can",
    "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "him", "his",
    "how", "i", "if", "in", "is", "it", "its", "many", "me", "much", "must", "my", "of", "on", "or",
    "our", "s", "she", "should", "so", "some", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "to", "us", "was", "we", "were", "what", "when",
    "where", "which", "who", "why", "will", "with", "would", "you", "your",
};

static int cmp_word(const void *key, const void *item)
{
    return strcmp((const char *)key, *(const char *const *)item);
}

bool search_is_stopword(const char *lang, const char *w, size_t n)
{
    char buf[16];
    if (!lang || n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, w, n);
    buf[n] = 0;
    const char *const *list;
    size_t count;
    if (strcmp(lang, "fr") == 0) {
        list = stop_fr;
        count = sizeof stop_fr / sizeof stop_fr[0];
    } else if (strcmp(lang, "en") == 0) {
        list = stop_en;
        count = sizeof stop_en / sizeof stop_en[0];
    } else {
        return false;
    }
    return bsearch(buf, list, count, sizeof *list, cmp_word) != NULL;
}
