/* search/dict.hh: the words of a language, from the system's word list, for the typo
 * corrector (vocab.cc).
 *
 * Why: a small base (a help centre of a few hundred short answers) has few words, and a
 * customer's question is full of ordinary words that no article uses. Taken for typos, they
 * were "corrected" into the nearest word of the articles: "impossible" into "possible",
 * "incomplet" into "complet", "vacances" into "avancés", "revendre" into "rendre", and the
 * search ran for a word the customer never meant. A word of the language is no typo: it is
 * searched as typed (and finds nothing, or the articles that have it).
 *
 * Source: the plain word lists of Debian's w* packages (wfrench, wamerican, ngerman...), one
 * word per line in /usr/share/dict (KB_DICT_DIR overrides the folder, for tests). Without
 * the list of a language, its words are corrected as before. Each list is read once per
 * process, on first use, folded (search_fold), and kept sorted in one block of memory
 * (about 5 MB for French's 346,000 words); lookups are binary searches. */
#ifndef SEARCH_DICT_HH
#define SEARCH_DICT_HH

#include <string>

/* True when folded (search_fold) is a word of lang's word list. Thread-safe. */
bool search_dict_has(const std::string &lang, const std::string &folded);

#endif
