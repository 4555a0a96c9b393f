/* search/vocab.hh: the words of each scope's articles, in memory, for typo correction and
 * for completing the word being typed (query.cc).
 *
 * Source: the index's spelling table, which the writer keeps as the vocabulary (writer.cc):
 * key <class><lang>:<word>, the number of documents of that class and language that have
 * the word. Classes (search_doc_class): P public and published, I internal and published,
 * D any other (draft, review, archived). Scope k sees classes 0..k: public P; internal P
 * and I; all P, I and D. So every count a caller sees is of its own scope's articles only:
 * nothing here can offer, or prefer, a word because of an article the caller may not see.
 * Words are case-folded with their accents (what a correction shows), folded (lower case,
 * no accents: what it is matched on), at least 3 bytes folded, not starting with a digit,
 * not a stop word of their language (search_vocab_keeps).
 *
 * Corrections (search_vocab_fix), per query word, accents and case aside:
 *  - never of a stop word of a query language or of its commonest words (the forms of
 *    its commonest verbs: search_is_common_word), of a word shorter than 4 letters or with
 *    a digit; never into a stop word;
 *  - a word the scope does not have, in any form or inflection (no word of the scope has its
 *    stem), is replaced by the best word at most 1 edit away (4 to 7 letters) or 2 (8 and
 *    more: Algolia's defaults); an edit is an insertion, a deletion, a substitution or the
 *    transposition of two neighbours (Damerau-Levenshtein, optimal string alignment);
 *  - a word the scope has, but SEARCH_FIX_RATIO times rarer than such a neighbour (an
 *    article's own typo: "garentie" once, "garantie" in 40 articles), keeps its place and
 *    the neighbour is searched beside it, weighted less (query.cc);
 *  - the best neighbour, as a noisy channel would have it: the lowest cost of its edits
 *    less SEARCH_FIX_FREQ x log10(its documents in the scope). Typing slips cost half an
 *    edit: a key next to the right one (AZERTY for French, QWERTZ for German, QWERTY
 *    otherwise), two letters swapped, a letter doubled or undoubled; other edits one;
 *  - no neighbour when a stop word, or a common word the scope does not have, explains the
 *    typo as well ("nuos" is "nous", never "nus").
 * Constants set before measuring, flat on every question set (tests/bench/relevance).
 *
 * Cost: a word is looked up by binary search; neighbours are searched only for words with
 * no form in the scope or rare ones, over the words of the right lengths (most frequent
 * first: a search for a far more frequent one stops early), most rejected by a 64-bit
 * signature of their letter counts before a bit-parallel distance is computed. Against the
 * 10,400 words of the service-public corpus: 20-30 us a word corrected, 15-18 us a rare
 * word searched beside its neighbour, 1-3 us a word left alone (release build). */
#ifndef SEARCH_VOCAB_HH
#define SEARCH_VOCAB_HH

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <xapian.h>

extern "C" {
#include "search/search.h"
}

struct search_word_stems;

/* Classes of documents: every document is in exactly one. */
enum { SEARCH_CLASS_PUBLIC = 0, SEARCH_CLASS_INTERNAL = 1, SEARCH_CLASS_OTHER = 2 };
#define SEARCH_CLASSES 3
extern const char SEARCH_CLASS_CHARS[SEARCH_CLASSES + 1]; /* "PID": the key's first byte */

/* The class of a document of that audience and status. */
int search_doc_class(const char *audience, const char *status);
/* True when a word of a document (its stems through the memo) goes into the vocabulary. */
bool search_vocab_keeps(const search_word_stems &ws);

/* Documents per class as one count for a scope (classes 0..scope). */
inline uint32_t search_scope_freq(const uint32_t *f, enum search_scope scope)
{
    uint32_t n = 0;
    for (int c = 0; c <= (int)scope && c < SEARCH_CLASSES; c++)
        n += f[c];
    return n;
}

struct search_vocab_word {
    std::string folded;                 /* accents and case aside: what is matched */
    std::string shown;                  /* its most frequent written form (case-folded) */
    uint32_t freq[SEARCH_CLASSES] = {}; /* documents by class (its forms summed) */
    uint32_t len = 0;                   /* code points of folded */
};

/* A language's vocabulary. */
struct search_vocab_lang {
    std::string lang;
    std::vector<search_vocab_word> words; /* sorted by folded */
    /* by_len[n]: the words of n code points, the most frequent (in all classes) first: a
     * scan for neighbours at least k times as frequent as a word stops early. Each word's
     * letter counts (search_letter_counts) are apart, in the same order: what a scan reads
     * first, for every word of the length, 8 bytes each. */
    struct slot {
        uint32_t pos;                     /* in words */
        uint32_t freq[SEARCH_CLASSES];    /* the word's */
        uint32_t off, bytes;              /* its folded form in scan_text */
    };
    struct bucket {
        std::vector<uint64_t> counts;
        std::vector<slot> slots;
    };
    std::vector<bucket> by_len;
    /* The folded forms, in the order of by_len's slots: a scan reads memory in order, where
     * reaching each word in words was a cache miss (a quarter of a correction's time). */
    std::string scan_text;
    /* The stop words and common words of the language (search_lang_words) in code points,
     * with the word of the vocabulary that a common word is (null for stop words, which it
     * never has): what a typo may have meant besides the words of the scope. */
    struct common {
        std::vector<uint32_t> cps;
        const search_vocab_word *word;
    };
    std::vector<common> commons;
    /* The stems of the words (search_stems of the shown form), with documents by class: the
     * most of any of its words (a word of the scope has the stem when non-zero). */
    std::unordered_map<std::string, std::array<uint32_t, SEARCH_CLASSES>> stems;
    uint32_t max_freq[SEARCH_CLASSES] = {}; /* the most documents of a word, per scope */

    const search_vocab_word *find(std::string_view folded) const;
    uint32_t stem_freq(const std::string &stem, enum search_scope scope) const;
};

struct search_vocab {
    std::vector<search_vocab_lang> langs;
    size_t words = 0; /* over all languages */

    const search_vocab_lang *lang(const std::string &l) const;
};

/* The vocabulary of db's spelling table. With a non-empty key (the index directory, its
 * uuid and its revisions), readers of the same revision in this process share one: it is
 * built once. Throws on Xapian errors. */
std::shared_ptr<const search_vocab> search_vocab_get(const Xapian::Database &db,
                                                      const std::string &key);

/* What becomes of one query word. */
struct search_fix {
    enum kind { NONE, REPLACE, ADD } kind = NONE;
    std::string word;  /* the correction as shown (case-folded, accents kept) */
    uint32_t freq = 0; /* documents of the scope with the word as typed (a form of it, or
                        * one of its stems; the most over the languages) */
};

/* The correction of word (case-folded) in the given languages and scope (see above). */
search_fix search_vocab_fix(const search_vocab &v, const std::vector<std::string> &langs,
                            enum search_scope scope, const std::string &word);

/* At most max words of the scope that start with prefix (case-folded; accents and case
 * aside), the most frequent first, as shown; none for a prefix of fewer than 2 letters. */
std::vector<std::string> search_vocab_complete(const search_vocab &v,
                                               const std::vector<std::string> &langs,
                                               enum search_scope scope,
                                               const std::string &prefix, size_t max);

/* Knobs for the relevance benchmark only (KB_SEARCH_TYPO="ratio,weight,freq" and
 * KB_SEARCH_TUNE: query.cc). */
extern double SEARCH_FIX_RATIO, SEARCH_FIX_FREQ;

#endif
