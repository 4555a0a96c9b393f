/* search/lang.cc: language codes to Snowball stemmers. Xapian 1.4 accepts both English names
 * ("french") and ISO 639-1 codes ("fr") for every stemmer it ships; anything it does not know
 * is indexed unstemmed rather than refused, so an article in any language is searchable. */
#include <xapian.h>

#include <map>
#include <string>

extern "C" {
#include "search/search.h"
}

#include "search/lang.hh"

Xapian::Stem search_stemmer(const std::string &lang)
{
    /* Constructing a Stem parses the name each time: cache the result per language. A
     * Snowball stemmer keeps working buffers, so the cache is per thread. */
    thread_local std::map<std::string, Xapian::Stem> cache;
    auto it = cache.find(lang);
    if (it != cache.end())
        return it->second;
    Xapian::Stem stem;
    try {
        stem = Xapian::Stem(lang.empty() ? "none" : lang);
    } catch (const Xapian::Error &) {
        stem = Xapian::Stem(); /* unknown language: no stemming */
    }
    if (cache.size() < 256)
        cache.emplace(lang, stem);
    return stem;
}

extern "C" bool search_lang_supported(const char *lang)
{
    if (!lang || !*lang)
        return false;
    try {
        Xapian::Stem s(lang);
        return !s.is_none();
    } catch (...) {
        return false;
    }
}
