/* search/index.hh: the layout of a kb search index, shared by the C++ files of search/.
 *
 * Terms (all words are folded: lower case, no accents; see kb_text_fold):
 *   Z<stem>           stems of all the text (the body field of the query); each word gives
 *                     one or two stems, see search_stems()
 *   ZS<stem>          stems of the title
 *   ZXQ<stem>         stems of the alternative questions
 *   ZK<stem>          stems of the tags
 *   ZXD<stem>         stems of the lead: the first words of the body (LEAD_WORDS, writer.cc)
 *   Q<id>             the article id (delete_document, search_related)
 *   XL<lang> XA<audience> XS<status> XC<category> XK<tag>   boolean filters
 * Values: 0 category (display form, for facets), 1 popularity, 2 updated time (both
 * sortable_serialise), 3 the first SEARCH_SNIPPET_TEXT bytes of the text, for snippets,
 * 4 what a result shows: id NUL slug NUL title NUL category NUL lang NUL audience NUL status, 5 the document's
 * vocabulary words, for the writer only: what replacing or deleting the document takes away
 * from the vocabulary (format: writer.cc, words_value). No document data: glass
 * zlib-compresses it, and inflating it for every hit cost more than the search, while
 * deflating the words (1-2 KB) cost 5% of an import.
 * Spelling table: the vocabulary (vocab.hh), not Xapian's spelling data: key
 * "<class><lang>:<word>" (class P, I or D: search_doc_class; word case-folded, accents kept),
 * frequency the number of documents of that class and language with the word, kept exact
 * by the writer (vocab_deltas in writer.cc). Xapian sums it over shards and compaction.
 * Metadata "langs": the languages present, comma-separated. Synonym keys: "<lang>:<words>"
 * with words folded and joined by one space.
 *
 * Shards: the index is "shards" (metadata, 1 when absent) glass databases, the first in the
 * index directory and shard k in its subdirectory shard<k>. Several only while a large
 * rebuild or first import writes them in parallel, then they are merged into one (why:
 * writer.cc). In several shards, the article with id i lives in shard i % shards as docid i
 * there; a single shard numbers its documents itself. Metadata and synonyms are in the
 * first; readers open them all as one Xapian::Database, which interleaves their docids and
 * merges spelling and synonyms.
 *
 * Generations: all of the above lives in the index directory itself, or in its generation
 * subdirectory g<N> that the file "current" names; a rebuild writes the next generation
 * beside the live one and switches "current" when it is complete (generations.cc). */
#ifndef SEARCH_INDEX_HH
#define SEARCH_INDEX_HH

#include <cstdint>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <xapian.h>

extern "C" {
#include "search/search.h"
}

#include "search/vocab.hh"

enum {
    SEARCH_VALUE_CATEGORY = 0,
    SEARCH_VALUE_POPULARITY = 1,
    SEARCH_VALUE_UPDATED = 2,
    SEARCH_VALUE_TEXT = 3,
    SEARCH_VALUE_DATA = 4, /* search_docdata, serialised (search_docdata_parse) */
    SEARCH_VALUE_WORDS = 5, /* the document's vocabulary words, for the writer (writer.cc) */
};

/* The version of this layout, stamped in metadata "layout" at every commit (writer.cc says
 * what each version changed). Writers rebuild an index of another layout; readers refuse it. */
extern const char *const SEARCH_LAYOUT;

#define SEARCH_MAX_WORD 64 /* longer "words" (hashes, URLs) are not indexed */
/* Bytes of an article's text kept in value 3, cut on a UTF-8 boundary: snippets are taken
 * from them. Small on purpose: every hit shown reads it. */
#define SEARCH_SNIPPET_TEXT 2048

/* The fields of a document's data. */
struct search_docdata {
    int64_t id = 0;
    std::string slug, title, category, lang;
    const char *audience = "public"; /* static strings (search_hit's), from the data's */
    const char *status = "published";
};

/* A word of a snippet text (at most SEARCH_SNIPPET_TEXT bytes, so 16 bits suffice). */
struct search_word16 {
    uint16_t off, len;
};

/* The stems of a snippet text's word as small integers of the snippet code's per-thread
 * table (snippet.cc): id1 is 0 for a word of one stem, both are for a word never matched
 * (longer than SEARCH_MAX_WORD). */
struct search_word_ids {
    uint32_t id0, id1;
};

/* What a result shows of a document: its data, the text snippets are cut from, the words of
 * that text (splitting it was a third of the snippet time) and, once a snippet was cut from
 * it on this thread, their stem ids, so that the next snippets of this document compare
 * integers instead of looking every word up again (snippet.cc). */
struct search_cached_doc {
    search_docdata d;
    std::string text; /* value SEARCH_VALUE_TEXT */
    std::vector<search_word16> words;
    /* Filled by search_snippet; valid while ids_epoch is its table's epoch (0: never). */
    mutable std::vector<search_word_ids> ids;
    mutable uint64_t ids_epoch = 0;
};

/* A related article as search_related found it (search_hit's fields, snippet aside). */
struct search_related_hit {
    int64_t id;
    std::string slug, title, category, lang;
    double score;
    const char *audience, *status; /* static strings */
};

struct search_writer; /* writer.cc: the shards' writable databases and their threads */

struct search_index {
    Xapian::Database db;            /* every shard as one database (the writer's too) */
    /* Reader: each shard alone, sharing db's internals (their revisions name the vocabulary
     * readers share, vocab.hh). */
    std::vector<Xapian::Database> parts;
    search_writer *writer = nullptr; /* owned; set when writable */
    bool writable = false;
    size_t nshards = 1;
    std::string uuid; /* of the first shard, as a reader opened it: changes on a rebuild */
    std::string root; /* the index directory, as search_index_open was given it */
    std::string dir;  /* the generation this handle reads or writes: root, or root/<gen> */
    std::string gen;  /* its name ("g<N>"), "" for root itself */
    int lock_fd = -1; /* writers: root's lock (generations.cc), held until freed */
    /* Writer of search_index_open_new: the generation it replaces once published. */
    bool unpublished = false;
    std::string replaces;
    std::set<std::string> langs;    /* languages present in the index */

    /* Read-only handles keep in memory what every query would otherwise read again from the
     * tables (each read is a pread of an 8 KB block: about half of a search's time went to
     * them). Loaded at open, refreshed when search_index_reopen() sees a new revision, so
     * they never show stale data; a writable handle reads the tables directly. */
    std::unordered_map<std::string, std::vector<std::string>> synonyms; /* key -> synonyms */
    bool has_categories = true;                 /* some document has a category */
    /* Every document's category, for facet counts: doc_category[docid in its shard, that
     * is the article id] is 0 (none) or 1 + an index into category_names (display forms). */
    std::vector<uint32_t> doc_category;
    std::vector<std::string> category_names;
    /* Filter terms every document has (published, public, the only language): filtering
     * on them changes nothing, and their posting lists are the longest of the index. */
    std::set<std::string> universal;
    /* The terms of the title, questions, tags and lead fields (prefixes ZS, ZXQ, ZK, ZXD:
     * see writer.cc) as sorted hashes. A query word absent from a field is left out of the
     * query (query.cc): for random queries that was a third of their terms (most title ones),
     * and Xapian looks each term up twice, for its statistics, then its posting list. */
    std::vector<uint64_t> field_terms;
    /* The vocabulary of every scope (vocab.hh): loaded with the rest on read-only handles,
     * on first need after each commit on a writer (search_index_vocab). */
    std::shared_ptr<const search_vocab> vocab;
    /* Corrections of recent query words: "<scope><langs>\n<word>" -> fix. Emptied with a
     * new vocabulary, or when full (FIXES_MAX, query.cc). */
    std::unordered_map<std::string, search_fix> fixes;
    /* Display data of documents recently shown (data fields and snippet text): top results
     * recur across queries. At most DOC_CACHE_MAX entries, emptied when full. */
    std::unordered_map<Xapian::docid, search_cached_doc> docs;
    /* The related articles of articles recently shown (search_related), by article id, scope
     * and limit (related_key): every view of an article asks for the same ones until the
     * index changes, and at 50,000 articles finding them was half the CPU of a page view
     * (5 ms). At most RELATED_CACHE_MAX entries, emptied when full and at each reopen. */
    std::unordered_map<uint64_t, std::vector<search_related_hit>> related;
};

search_docdata search_docdata_parse(const std::string &data);

/* Shards (writer.cc): shard k's directory, and the count metadata "shards" says. */
std::string search_shard_dir(const std::string &dir, size_t k);
size_t search_shard_count(const std::string &meta);
/* Generations of the index directory (generations.cc; all throw Xapian errors):
 * the live generation's directory under root (*gen its name, "" for root itself); */
std::string search_live_dir(const std::string &root, std::string *gen);
/* root's writer lock (root created if missing): a file descriptor to close to release it;
 * Xapian::DatabaseLockError when another writer holds it; */
int search_dir_lock(const std::string &root);
/* remove every generation but live (and root's own index files when live is one), under
 * the lock; the name of the generation after live; */
void search_generations_clean(const std::string &root, const std::string &live);
std::string search_generation_next(const std::string &root, const std::string &live);
/* make generation gen (committed, in nshards shards) the live one, then remove the rest. */
void search_generation_switch(const std::string &root, const std::string &gen, size_t nshards);

/* Open idx->dir's shards for writing, with their threads, and make idx->db their union
 * (throws on failure); free them, discarding what was not committed. search_writer_create
 * creates idx->dir empty instead (overwriting), laid out for about `expected` documents. */
void search_writer_open(search_index *idx);
void search_writer_create(search_index *idx, size_t expected);
void search_writer_free(search_index *idx) noexcept;
/* Open a reader's shards again from scratch and reload what it keeps in memory (after a
 * rebuild replaced the files under it). */
enum kb_err search_reader_refresh(search_index *idx);
/* idx's vocabulary, loaded when missing (throws on Xapian errors). */
const search_vocab &search_index_vocab(search_index *idx);
/* Wait until the writer has applied every queued change: reading idx->db of a writer goes
 * through here first (the shard threads write to it). Returns a shard's error, if any. */
enum kb_err search_writer_wait(search_index *idx);

/* The display data of document did: from idx->docs when the handle is read-only, else read
 * (from doc when given). The reference is valid until the next call on idx. */
const search_cached_doc &search_doc_display(search_index *idx, Xapian::docid did,
                                            const Xapian::Document *doc);

/* Folded copy of s (NUL-free UTF-8 in; "" when s is not valid UTF-8). ASCII takes a fast
 * path. */
std::string search_fold(const std::string &s);
/* Case-folded copy of s, accents kept (NFC). */
std::string search_casefold(const std::string &s);

/* The stems of one case-folded word (accents kept): fold(stem(word)) and, when it differs,
 * stem(fold(word)). Snowball stems accented French better ("payé" and "payer" both give
 * "pai", "paye" gives "pay"), while customers often type without accents: indexing and
 * querying both forms lets either spelling meet the text. *folded receives fold(word).
 * Returns how many stems were written to out (1 or 2). */
size_t search_stems(const Xapian::Stem &stem, const std::string &word, std::string *folded,
                    std::string out[2]);

/* The synonyms table's key for a phrase of folded words, stop words already removed: the
 * words' stems (search_stems_memo, first stem) joined by single spaces. Written by
 * search_synonyms_load, looked up by queries: keyed by stems, "loyers impayés" in a query
 * finds the group of "loyer impayé". */
std::string search_synonym_key(const Xapian::Stem &stem, const std::string &lang,
                               const std::string *words, size_t n);

/* The words of a snippet text (its first SEARCH_SNIPPET_TEXT bytes), for search_snippet. */
std::vector<search_word16> search_snippet_words(const std::string &text);

/* The HTML snippet of doc's text (whose words are doc.words): the window with the most words
 * whose stem (in lang) is in stems, escaped, matches in <mark>. Fills doc.ids on the first
 * call for doc on this thread (the document must not be shared between threads). */
std::string search_snippet(const search_cached_doc &doc, const std::string &lang,
                           const std::set<std::string> &stems);

/* search_stems() of a word as written (case-folded here), remembered per thread: a knowledge
 * base uses a few tens of thousands of distinct words, and folding and stemming each
 * occurrence again was most of the indexing and snippet time. The reference is valid until
 * the next call on this thread. */
struct search_word_stems {
    std::string cased; /* case-folded, accents kept (NFC) */
    std::string folded, st[2];
    size_t k = 0;
    bool stop = false; /* a stop word of the memo's language (search_is_stopword) */
};
const search_word_stems &search_stems_memo(const Xapian::Stem &stem, const std::string &lang,
                                           std::string_view word);

/* A per-thread table from short words (as written, at most SEARCH_SLOT_KEY bytes) to a small
 * value V: open addressing over 32-byte slots holding the word inline, so a lookup is one
 * hash and, nearly always, one cache line. The stem memo (index.cc) and the snippet's word
 * ids (snippet.cc) are both read for every word of every text they see; node-based maps cost
 * a key string and two or three cache misses per lookup. Longer words go elsewhere. */
#define SEARCH_SLOT_KEY 19
template <typename V> struct search_word_slots {
    struct slot {
        uint32_t hash; /* upper half of the 64-bit hash */
        V value;
        uint8_t len; /* 0: empty */
        char key[SEARCH_SLOT_KEY];
    };
    std::vector<slot> slots;
    size_t used = 0;

    explicit search_word_slots(size_t n = 4096) : slots(n) {} /* n: a power of two */

    static uint64_t hash(std::string_view w) { return std::hash<std::string_view>()(w); }
    /* Where the lookup of hash h starts (to prefetch it). */
    const slot *home(uint64_t h) const { return &slots[h & (slots.size() - 1)]; }

    const V *find(std::string_view w, uint64_t h) const
    {
        size_t mask = slots.size() - 1;
        for (size_t i = h & mask; slots[i].len; i = (i + 1) & mask)
            if (slots[i].hash == (uint32_t)(h >> 32) && slots[i].len == w.size() &&
                memcmp(slots[i].key, w.data(), w.size()) == 0)
                return &slots[i].value;
        return nullptr;
    }
    V *find(std::string_view w, uint64_t h)
    {
        return const_cast<V *>(static_cast<const search_word_slots *>(this)->find(w, h));
    }
    /* True when one more word would need more than max slots. */
    bool full(size_t max) const
    {
        return slots.size() >= max && (used + 1) * 10 > slots.size() * 7;
    }
    /* Add w (absent, 1 <= size <= SEARCH_SLOT_KEY), doubling the table past 70% load. */
    void insert(std::string_view w, uint64_t h, const V &v)
    {
        if ((used + 1) * 10 > slots.size() * 7) {
            std::vector<slot> old(slots.size() * 2);
            old.swap(slots);
            for (const auto &s : old)
                if (s.len)
                    slots[free_slot(hash(std::string_view(s.key, s.len)))] = s;
        }
        slot &s = slots[free_slot(h)];
        s.hash = (uint32_t)(h >> 32);
        s.value = v;
        s.len = (uint8_t)w.size();
        memcpy(s.key, w.data(), w.size());
        used++;
    }
    void clear(size_t n = 4096)
    {
        slots.assign(n, slot{});
        used = 0;
    }

  private:
    size_t free_slot(uint64_t h) const
    {
        size_t mask = slots.size() - 1, i = h & mask;
        while (slots[i].len)
            i = (i + 1) & mask;
        return i;
    }
};

/* Log and map a Xapian or other C++ exception (call inside catch). */
enum kb_err search_fail(const char *what);

#endif
