/* search/lang.hh: the stemmer for a language code (C++ side of search/ only). */
#ifndef SEARCH_LANG_HH
#define SEARCH_LANG_HH

#include <string>

#include <xapian.h>

/* The Snowball stemmer for lang; a no-op stemmer for unknown languages. The object is this
 * thread's own (Snowball keeps working buffers): never share it between threads. */
Xapian::Stem search_stemmer(const std::string &lang);

#endif
