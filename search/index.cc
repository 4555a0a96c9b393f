/* search/index.cc: opening the Xapian index, and what readers keep of it in memory (layout
 * in index.hh; writing is writer.cc).
 *
 * Every extern "C" function catches every exception: nothing C++ crosses into C. */
#include "search/index.hh"

#include <algorithm>
#include <cstring>
#include <exception>
#include <new>

#include <unistd.h>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

extern "C" {
#include "kb/base/log.h"
#include "kb/base/text.h"
#include "search/internal.h"
}

#include "search/lang.hh"

enum kb_err search_fail(const char *what)
{
    try {
        throw;
    } catch (const Xapian::DatabaseLockError &e) {
        kb_log(KB_LOG_ERROR, "search: %s: index locked by another writer: %s", what,
               e.get_msg().c_str());
        return KB_EBUSY;
    } catch (const Xapian::DatabaseModifiedError &e) {
        /* A writer (kb import) moved the index past the revision this reader holds: expected
         * beside an import, and the searches reopen and try again (query.cc, retried). */
        kb_log(KB_LOG_INFO, "search: %s: the index moved on while it was read (reopened): %s",
               what, e.get_msg().c_str());
        return KB_EINDEX;
    } catch (const Xapian::Error &e) {
        kb_log(KB_LOG_ERROR, "search: %s: %s: %s", what, e.get_type(), e.get_msg().c_str());
        return KB_EINDEX;
    } catch (const std::bad_alloc &) {
        return KB_ENOMEM;
    } catch (const std::exception &e) {
        kb_log(KB_LOG_ERROR, "search: %s: %s", what, e.what());
        return KB_EINTERNAL;
    } catch (...) {
        kb_log(KB_LOG_ERROR, "search: %s: unknown exception", what);
        return KB_EINTERNAL;
    }
}

static bool is_ascii(const std::string &s)
{
    for (unsigned char c : s)
        if (c >= 0x80)
            return false;
    return true;
}

std::string search_fold(const std::string &s)
{
    if (is_ascii(s)) {
        std::string w(s);
        for (auto &c : w)
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
        return w;
    }
    char *f = kb_text_fold(s.c_str());
    if (!f)
        return std::string();
    std::string out(f);
    free(f);
    return out;
}

std::string search_casefold(const std::string &s)
{
    if (is_ascii(s))
        return search_fold(s);
    char *f = kb_text_casefold(s.c_str());
    if (!f)
        return std::string();
    std::string out(f);
    free(f);
    return out;
}

size_t search_stems(const Xapian::Stem &stem, const std::string &word, std::string *folded,
                    std::string out[2])
{
    if (is_ascii(word)) {
        *folded = word;
        out[0] = stem(word);
        return 1;
    }
    *folded = search_fold(word);
    out[0] = search_fold(stem(word));
    out[1] = stem(*folded);
    return out[1] == out[0] ? 1 : 2;
}

namespace {

/* The memo of one language on one thread: words up to SEARCH_SLOT_KEY bytes in a
 * search_word_slots table of indexes into entries (a node-based map from a "lang NUL word"
 * string was ~8% of a large import's time); longer words, rare, in a plain map. */
const size_t MEMO_ENTRIES = 100000; /* then everything is forgotten */
/* Languages with a memo (of ~150 KB at least) per thread; more are served unmemoised. Far
 * more than an index has: queries only reach the index's own languages (query.cc). */
const size_t MEMO_LANGS = 64;

struct lang_memo {
    std::string lang;
    search_word_slots<uint32_t> slots;
    std::vector<search_word_stems> entries;
    std::unordered_map<std::string, search_word_stems> long_words;
};

search_word_stems compute_stems(const Xapian::Stem &stem, const std::string &lang,
                                std::string_view word)
{
    search_word_stems ws;
    ws.cased = search_casefold(std::string(word));
    ws.k = search_stems(stem, ws.cased, &ws.folded, ws.st);
    ws.stop = search_is_stopword(lang.c_str(), ws.folded.data(), ws.folded.size());
    return ws;
}

} // namespace

const search_word_stems &search_stems_memo(const Xapian::Stem &stem, const std::string &lang,
                                           std::string_view word)
{
    /* Per thread: Snowball stemmers and this memo are not shared. */
    thread_local std::vector<lang_memo> memos;
    thread_local lang_memo *last = nullptr;
    lang_memo *m = last && last->lang == lang ? last : nullptr;
    for (size_t i = 0; !m && i < memos.size(); i++)
        if (memos[i].lang == lang)
            m = &memos[i];
    if (!m && memos.size() >= MEMO_LANGS) {
        /* Not memoised: computed again at each call (valid until the next one). */
        thread_local search_word_stems scratch;
        scratch = compute_stems(stem, lang, word);
        return scratch;
    }
    if (!m) {
        memos.emplace_back();
        memos.back().lang = lang;
        m = &memos.back(); /* the vector may have moved: last is set again below */
    }
    last = m;
    if (word.empty() || word.size() > SEARCH_SLOT_KEY) {
        std::string w(word);
        auto it = m->long_words.find(w);
        if (it != m->long_words.end())
            return it->second;
        if (m->long_words.size() >= MEMO_ENTRIES)
            m->long_words.clear();
        return m->long_words.emplace(std::move(w), compute_stems(stem, lang, word)).first->second;
    }
    uint64_t h = m->slots.hash(word);
    if (const uint32_t *e = m->slots.find(word, h))
        return m->entries[*e];
    if (m->entries.size() >= MEMO_ENTRIES) {
        m->entries.clear();
        m->slots.clear();
    }
    m->slots.insert(word, h, (uint32_t)m->entries.size());
    m->entries.push_back(compute_stems(stem, lang, word));
    return m->entries.back();
}

std::string search_synonym_key(const Xapian::Stem &stem, const std::string &lang,
                               const std::string *words, size_t n)
{
    std::string key;
    for (size_t i = 0; i < n; i++) {
        if (i)
            key += ' ';
        key += search_stems_memo(stem, lang, words[i]).st[0];
    }
    return key;
}

/* One of the static strings of set equal to v, else the first. */
static const char *static_of(const std::string &v, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v == set[i])
            return set[i];
    return set[0];
}

search_docdata search_docdata_parse(const std::string &data)
{
    static const char *const audiences[] = {"public", "internal"};
    static const char *const statuses[] = {"published", "draft", "review", "archived"};
    search_docdata d;
    std::string id, audience, status;
    std::string *fields[] = {&id, &d.slug, &d.title, &d.category, &d.lang, &audience, &status};
    const size_t n = sizeof fields / sizeof fields[0];
    size_t pos = 0;
    for (size_t i = 0; i < n && pos <= data.size(); i++) {
        size_t end = i == n - 1 ? data.size() : data.find('\0', pos);
        if (end == std::string::npos)
            end = data.size();
        fields[i]->assign(data, pos, end - pos);
        pos = end + 1;
    }
    d.id = strtoll(id.c_str(), nullptr, 10);
    d.audience = static_of(audience, audiences, 2);
    d.status = static_of(status, statuses, 4);
    return d;
}

static void load_langs(search_index *idx)
{
    idx->langs.clear();
    std::string v = idx->db.get_metadata("langs");
    size_t pos = 0;
    while (pos < v.size()) {
        size_t end = v.find(',', pos);
        if (end == std::string::npos)
            end = v.size();
        if (end > pos)
            idx->langs.insert(v.substr(pos, end - pos));
        pos = end + 1;
    }
}

static bool has_prefix(const Xapian::Database &db, const std::string &prefix)
{
    return db.allterms_begin(prefix) != db.allterms_end(prefix);
}

/* Every document's category from the XC posting lists (one pass over them per revision),
 * named by the display form a document of each stores. */
static void load_categories(search_index *idx)
{
    const Xapian::Database &db = idx->db;
    const size_t n = idx->nshards;
    idx->category_names.clear();
    idx->doc_category.assign(((size_t)db.get_lastdocid() + n - 1) / n + 1, 0);
    for (auto t = db.allterms_begin("XC"); t != db.allterms_end("XC"); ++t) {
        std::string display;
        uint32_t id = (uint32_t)idx->category_names.size() + 1;
        for (auto p = db.postlist_begin(*t); p != db.postlist_end(*t); ++p) {
            size_t local = ((size_t)*p - 1) / n + 1; /* the shard's docid: the article id */
            if (local < idx->doc_category.size())
                idx->doc_category[local] = id;
            if (display.empty())
                display = db.get_document(*p).get_value(SEARCH_VALUE_CATEGORY);
        }
        idx->category_names.push_back(display.empty() ? (*t).substr(2) : display);
    }
}

/* The name readers of this revision share a vocabulary under (vocab.hh): the directory,
 * the first shard's uuid (a rebuild changes it) and every shard's revision. */
static std::string vocab_key(const search_index *idx)
{
    std::string key = idx->dir + '\0' + idx->uuid;
    for (const auto &p : idx->parts)
        key += '\0' + std::to_string(p.get_revision());
    return key;
}

const search_vocab &search_index_vocab(search_index *idx)
{
    if (!idx->vocab) {
        idx->vocab = search_vocab_get(idx->db, idx->writable ? std::string() : vocab_key(idx));
        idx->fixes.clear();
    }
    return *idx->vocab;
}

/* What the index holds as a whole, read once per revision (see struct search_index). */
static void load_meta(search_index *idx)
{
    load_langs(idx);
    idx->docs.clear();
    idx->related.clear();
    idx->synonyms.clear();
    idx->doc_category.clear();
    idx->category_names.clear();
    idx->vocab.reset();
    idx->fixes.clear();
    if (idx->writable)
        return; /* its vocabulary: on first need (search_index_vocab) */
    (void)search_index_vocab(idx);
    idx->has_categories = has_prefix(idx->db, "XC");
    load_categories(idx);
    idx->universal.clear();
    Xapian::doccount all = idx->db.get_doccount();
    std::vector<std::string> filters = {"XSpublished", "XApublic"};
    for (const auto &l : idx->langs)
        filters.push_back("XL" + l);
    for (const auto &t : filters)
        if (all > 0 && idx->db.get_termfreq(t) == all)
            idx->universal.insert(t);
    idx->field_terms.clear();
    for (const char *prefix : {"ZS", "ZXQ", "ZK", "ZXD"})
        for (auto t = idx->db.allterms_begin(prefix); t != idx->db.allterms_end(prefix); ++t)
            idx->field_terms.push_back(std::hash<std::string>()(*t));
    std::sort(idx->field_terms.begin(), idx->field_terms.end());
    for (auto k = idx->db.synonym_keys_begin(); k != idx->db.synonym_keys_end(); ++k) {
        auto &list = idx->synonyms[*k];
        for (auto s = idx->db.synonyms_begin(*k); s != idx->db.synonyms_end(*k); ++s)
            list.push_back(*s);
    }
}

/* The top results of recent queries: about 4 KB each (2 KB of text and its words), so at
 * most 8 MB per worker thread. */
static const size_t DOC_CACHE_MAX = 2048;

const search_cached_doc &search_doc_display(search_index *idx, Xapian::docid did,
                                            const Xapian::Document *doc)
{
    thread_local search_cached_doc scratch;
    search_cached_doc *c = &scratch;
    if (!idx->writable) {
        auto it = idx->docs.find(did);
        if (it != idx->docs.end())
            return it->second;
        if (idx->docs.size() >= DOC_CACHE_MAX)
            idx->docs.clear();
        c = &idx->docs[did];
    }
    try {
        Xapian::Document d = doc ? *doc : idx->db.get_document(did);
        c->d = search_docdata_parse(d.get_value(SEARCH_VALUE_DATA));
        c->text = d.get_value(SEARCH_VALUE_TEXT);
        c->words = search_snippet_words(c->text);
        c->ids.clear();
        c->ids_epoch = 0;
    } catch (...) {
        if (!idx->writable)
            idx->docs.erase(did);
        throw;
    }
    return *c;
}

/* The read-only union of the live generation's shards (idx->dir, idx->gen). */
static void open_reader(search_index *idx)
{
    std::string gen, dir = search_live_dir(idx->root, &gen);
    Xapian::Database first(dir);
    /* An index another kb version laid out is read wrongly (empty titles, missing fields):
     * refused until a writer rebuilds it (kb serve and kb import do at start-up). */
    std::string layout = first.get_metadata("layout");
    if (first.get_doccount() > 0 && layout != SEARCH_LAYOUT)
        throw Xapian::DatabaseVersionError("index layout " + (layout.empty() ? "1" : layout) +
                                           ", this kb reads " + SEARCH_LAYOUT +
                                           ": `kb index` rebuilds it");
    size_t n = search_shard_count(first.get_metadata("shards"));
    Xapian::Database all;
    std::vector<Xapian::Database> parts{first};
    for (size_t k = 1; k < n; k++)
        parts.emplace_back(search_shard_dir(dir, k));
    for (const auto &p : parts)
        all.add_database(p);
    idx->dir = dir;
    idx->gen = gen;
    idx->db = all;
    idx->parts = parts;
    idx->nshards = n;
    idx->uuid = first.get_uuid();
}

enum kb_err search_reader_refresh(search_index *idx)
{
    try {
        open_reader(idx);
        load_meta(idx);
        return KB_OK;
    } catch (...) {
        return search_fail("reopen");
    }
}

extern "C" enum kb_err search_index_open(const char *dir, bool writable,
                                         struct search_index **out)
{
    *out = nullptr;
    search_index *idx = nullptr;
    try {
        idx = new search_index();
        idx->root = idx->dir = dir;
        idx->writable = writable;
        if (writable) {
            /* The directory's lock first: the live generation cannot change under a
             * writer, and whatever else is there (a crashed rebuild's) can go. */
            idx->lock_fd = search_dir_lock(idx->root);
            idx->dir = search_live_dir(idx->root, &idx->gen);
            search_generations_clean(idx->root, idx->gen);
            search_writer_open(idx);
        } else {
            open_reader(idx);
        }
        load_meta(idx);
        *out = idx;
        return KB_OK;
    } catch (...) {
        enum kb_err err = search_fail("open");
        search_index_free(idx);
        return err;
    }
}

extern "C" enum kb_err search_index_open_new(const char *dir, size_t expected,
                                             struct search_index **out)
{
    *out = nullptr;
    search_index *idx = nullptr;
    try {
        idx = new search_index();
        idx->root = dir;
        idx->writable = true;
        idx->lock_fd = search_dir_lock(idx->root);
        try {
            (void)search_live_dir(idx->root, &idx->replaces);
        } catch (const Xapian::Error &) {
            idx->replaces.clear(); /* a "current" naming nothing: replaced all the same */
        }
        search_generations_clean(idx->root, idx->replaces);
        idx->gen = search_generation_next(idx->root, idx->replaces);
        idx->dir = idx->root + "/" + idx->gen;
        idx->unpublished = true;
        search_writer_create(idx, expected);
        load_meta(idx);
        *out = idx;
        return KB_OK;
    } catch (...) {
        enum kb_err err = search_fail("open a new generation");
        search_index_free(idx);
        return err;
    }
}

extern "C" void search_index_free(struct search_index *idx)
{
    if (!idx)
        return;
    search_writer_free(idx);
    if (idx->lock_fd >= 0)
        close(idx->lock_fd); /* releases the directory's lock */
    delete idx;
}

extern "C" size_t search_index_count(struct search_index *idx)
{
    try {
        if (idx->writer)
            (void)search_writer_wait(idx);
        return idx->db.get_doccount();
    } catch (...) {
        (void)search_fail("count");
        return 0;
    }
}

extern "C" enum kb_err search_index_refresh(struct search_index *idx, bool *changed)
{
    *changed = false;
    if (idx->writable)
        return KB_OK;
    /* Twice at most: a rebuild may switch generations and remove the one just resolved
     * before it is opened. */
    for (int attempt = 0;; attempt++) {
        try {
            /* A rebuild publishes a new generation; an index overwritten in place (the
             * first import of a large base, a merge of shards) has a new database (uuid),
             * maybe another number of shards, and a revision count that starts again,
             * which Database::reopen() may take for "nothing changed". Either way, every
             * shard is opened again. */
            std::string gen, dir = search_live_dir(idx->root, &gen);
            bool fresh = dir != idx->dir;
            if (!fresh) {
                Xapian::Database first(dir);
                fresh = first.get_uuid() != idx->uuid ||
                        search_shard_count(first.get_metadata("shards")) != idx->nshards;
            }
            if (fresh) {
                open_reader(idx);
                load_meta(idx);
                *changed = true;
            } else if (idx->db.reopen()) {
                load_meta(idx);
                *changed = true;
            }
            return KB_OK;
        } catch (...) {
            if (attempt == 0)
                continue;
            return search_fail("reopen");
        }
    }
}

extern "C" enum kb_err search_index_reopen(struct search_index *idx)
{
    bool changed;
    return search_index_refresh(idx, &changed);
}

