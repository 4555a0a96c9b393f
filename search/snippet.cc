/* search/snippet.cc: the excerpt shown under a result: the stretch of the article's text
 * with the most query words, HTML-escaped, each match wrapped in <mark>.
 *
 * Xapian's MSet::snippet() cannot be used: our terms are accent-folded, and the excerpt must
 * show the text as written ("véhicule", not "vehicule"). So each word of the original text
 * is folded and stemmed like the index does, and compared with the query's stems.
 *
 * Cost: every search renders up to ten snippets, each of a text of SEARCH_SNIPPET_TEXT bytes
 * (a few hundred words), and this used to cost more than the Xapian match itself. What keeps
 * it cheap without changing a byte of the output:
 *   - the stems of a word as written are small integer ids of a per-thread table (struct
 *     snippet_cache: stems interned, and an open-addressing table from the word to its ids);
 *   - a document's words get their ids once per thread (search_cached_doc::ids, kept with the
 *     document in the reader's cache of recent results), so that a snippet of a document
 *     seen before marks the query's stem ids and tests one mark per word: no hashing, no
 *     string compared. With the queries customers type (common words, the same popular
 *     articles in many results) nearly every snippet is of a document seen before; the
 *     first one costs every word's lookup (before, a screen on the first two letters let
 *     only the words that might match be looked up, at every snippet).
 * The ids cache search_stems_memo(), a pure function of (language, word): what a snippet
 * shows never depends on them. They are only valid with the table that gave them: the table
 * is forgotten when full (between two calls), and each table has its own epoch, unique in
 * the process, which a document's ids carry. */
#include "search/index.hh"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

extern "C" {
#include "kb/base/buf.h"
#include "search/internal.h"
}

#include "search/lang.hh"

static const size_t SNIPPET_WORDS = 32; /* words shown */

namespace {

/* Id 0 stands for no stem: its mark is never set, so a match is two loads and compares with
 * no branch per word. */
const uint32_t NO_STEM = 0;
/* Words up to SEARCH_SLOT_KEY bytes live in the table (nearly all words); longer ones take
 * the slow path. */
const size_t TABLE_MAX = 65536;  /* slots: 2 MB per language and thread at most */
const size_t STEMS_MAX = 200000; /* interned stems before everything is forgotten */

struct stem_ids {
    uint32_t id0, id1; /* interned stems; id1 is NO_STEM for a word with one stem */
};

struct word_table {
    std::string lang;
    search_word_slots<stem_ids> words;
};

/* One per thread: Snowball stemmers and search_stems_memo() are per thread anyway. */
struct snippet_cache {
    std::vector<word_table> tables;                /* one per language seen */
    std::unordered_map<std::string, uint32_t> ids; /* stem -> id */
    std::vector<uint32_t> mark = {0};              /* id -> generation of the call using it */
    uint32_t gen = 0;
    uint64_t epoch = 0; /* of these ids: documents' ids of another epoch are recomputed */
};

/* Epochs of the snippet caches of every thread, so that ids taken on one thread are never
 * taken for another's. */
std::atomic<uint64_t> epochs{0};

uint32_t intern(snippet_cache &c, const std::string &stem)
{
    auto it = c.ids.find(stem);
    if (it != c.ids.end())
        return it->second;
    uint32_t id = (uint32_t)c.mark.size(); /* from 1: mark[NO_STEM] is there from the start */
    c.ids.emplace(stem, id);
    c.mark.push_back(0);
    return id;
}

word_table &table_for(snippet_cache &c, const std::string &lang)
{
    for (auto &t : c.tables)
        if (t.lang == lang)
            return t;
    c.tables.emplace_back();
    c.tables.back().lang = lang;
    return c.tables.back();
}

/* The stem ids of word w (len <= SEARCH_SLOT_KEY, hash h): from the table, else computed
 * and remembered (unless the table is full: then just computed). */
stem_ids word_ids(snippet_cache &c, word_table &t, const Xapian::Stem &stem, const char *w,
                  size_t len, uint64_t h)
{
    std::string_view word(w, len);
    if (const stem_ids *known = t.words.find(word, h))
        return *known;
    const search_word_stems &m = search_stems_memo(stem, t.lang, word);
    stem_ids ids = {intern(c, m.st[0]), m.k == 2 ? intern(c, m.st[1]) : NO_STEM};
    if (!t.words.full(TABLE_MAX)) /* else forgotten at the start of the next call */
        t.words.insert(word, h, ids);
    return ids;
}

/* Everything forgotten when a table or the stem ids are full: only ever between calls, so
 * that ids taken during a call stay meaningful; a new epoch makes documents' ids stale. */
void trim(snippet_cache &c)
{
    bool full = c.ids.size() >= STEMS_MAX;
    for (const auto &t : c.tables)
        full = full || t.words.full(TABLE_MAX);
    if (c.epoch && !full)
        return;
    c.tables.clear();
    c.ids.clear();
    c.mark.assign(1, 0);
    c.gen = 0;
    c.epoch = ++epochs;
}

/* The stem ids of every word of doc (in lang). */
void fill_ids(snippet_cache &c, const search_cached_doc &doc, const std::string &lang)
{
    Xapian::Stem stem = search_stemmer(lang);
    word_table &t = table_for(c, lang);
    const std::vector<search_word16> &words = doc.words;
    size_t n = words.size();
    std::vector<search_word_ids> &ids = doc.ids;
    ids.assign(n, search_word_ids{NO_STEM, NO_STEM});
    thread_local std::vector<uint64_t> hashes;
    if (hashes.size() < n)
        hashes.resize(n);
    /* In passes: the hashes and a prefetch of their slots, then the lookups. The table is
     * larger than the first cache levels, and one miss after the other was most of the
     * lookup time; this way the misses of a text overlap. */
    for (size_t i = 0; i < n; i++) {
        if (words[i].len > SEARCH_SLOT_KEY)
            continue;
        hashes[i] = t.words.hash(std::string_view(doc.text.data() + words[i].off, words[i].len));
        __builtin_prefetch(t.words.home(hashes[i]));
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = words[i].len;
        const char *w = doc.text.data() + words[i].off;
        if (len > SEARCH_MAX_WORD)
            continue; /* never matched (nor indexed) */
        if (len <= SEARCH_SLOT_KEY) {
            stem_ids si = word_ids(c, t, stem, w, len, hashes[i]);
            ids[i] = search_word_ids{si.id0, si.id1};
        } else {
            const search_word_stems &m = search_stems_memo(stem, lang, std::string_view(w, len));
            ids[i] = search_word_ids{intern(c, m.st[0]), m.k == 2 ? intern(c, m.st[1]) : NO_STEM};
        }
    }
    doc.ids_epoch = c.epoch;
}

} // namespace

std::vector<search_word16> search_snippet_words(const std::string &text)
{
    /* Stored texts are at most SEARCH_SNIPPET_TEXT bytes, cut on a UTF-8 boundary. */
    size_t scan = std::min<size_t>(text.size(), SEARCH_SNIPPET_TEXT);
    /* Words are separated by at least one byte: scan / 2 + 1 spans always suffice. */
    thread_local std::vector<search_span> spans;
    if (spans.size() < scan / 2 + 1)
        spans.resize(scan / 2 + 1);
    size_t n = std::min(search_words(text.data(), scan, spans.data(), scan / 2 + 1),
                        scan / 2 + 1);
    std::vector<search_word16> out(n);
    for (size_t i = 0; i < n; i++)
        out[i] = search_word16{(uint16_t)spans[i].off, (uint16_t)spans[i].len};
    return out;
}

std::string search_snippet(const search_cached_doc &doc, const std::string &lang,
                           const std::set<std::string> &stems)
{
    thread_local snippet_cache cache;
    thread_local std::vector<char> hit;
    snippet_cache &c = cache;
    const std::string &text = doc.text;
    const std::vector<search_word16> &words = doc.words;

    size_t scan = std::min<size_t>(text.size(), SEARCH_SNIPPET_TEXT);
    size_t n = words.size();
    if (hit.size() < n)
        hit.resize(n);
    std::fill(hit.begin(), hit.begin() + (long)n, 0);

    if (!stems.empty()) {
        trim(c);
        if (doc.ids_epoch != c.epoch || doc.ids.size() != n)
            fill_ids(c, doc, lang);
        /* This call's stems: marked with a new generation, so no clearing is needed. */
        if (++c.gen == 0) {
            std::fill(c.mark.begin(), c.mark.end(), 0);
            c.gen = 1;
        }
        for (const auto &st : stems)
            c.mark[intern(c, st)] = c.gen;
        /* A query stem the table did not know is interned after the document's ids were
         * taken: it cannot be one of theirs, and its mark is past them. */
        const uint32_t *mark = c.mark.data();
        uint32_t gen = c.gen;
        const search_word_ids *ids = doc.ids.data();
        char *h = hit.data(); /* not hit[i]: its data pointer would be loaded at each word */
        for (size_t i = 0; i < n; i++)
            h[i] = (char)((mark[ids[i].id0] == gen) | (mark[ids[i].id1] == gen));
    }

    /* The window of SNIPPET_WORDS words with the most matches (first one on ties). */
    size_t best = 0, best_count = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        count += (size_t)hit[i];
        if (i >= SNIPPET_WORDS)
            count -= (size_t)hit[i - SNIPPET_WORDS];
        size_t start = i + 1 >= SNIPPET_WORDS ? i + 1 - SNIPPET_WORDS : 0;
        if (count > best_count) {
            best_count = count;
            best = start;
        }
    }
    /* Start a little before the first match so it reads as a sentence. */
    if (best_count) {
        size_t first = best;
        while (first < n && !hit[first])
            first++;
        best = first > 3 ? first - 3 : 0;
    }
    std::string out;
    if (n == 0)
        return out;
    size_t end = std::min(n, best + SNIPPET_WORDS);
    size_t from = best ? words[best].off : 0;
    size_t to = end < n ? words[end - 1].off + words[end - 1].len : scan;
    struct kb_buf b;
    kb_buf_init(&b, 64 * 1024);
    enum kb_err err = best ? kb_buf_puts(&b, "… ") : KB_OK;
    size_t pos = from;
    for (size_t i = best; i < end && !err; i++) {
        if (!hit[i])
            continue;
        err = kb_buf_put_html_n(&b, text.data() + pos, words[i].off - pos);
        if (!err)
            err = kb_buf_puts(&b, "<mark>");
        if (!err)
            err = kb_buf_put_html_n(&b, text.data() + words[i].off, words[i].len);
        if (!err)
            err = kb_buf_puts(&b, "</mark>");
        pos = words[i].off + words[i].len;
    }
    if (!err)
        err = kb_buf_put_html_n(&b, text.data() + pos, to - pos);
    if (!err && (end < n || scan < text.size()))
        err = kb_buf_puts(&b, " …");
    if (!err && b.data)
        out.assign(b.data, b.len);
    kb_buf_release(&b);
    /* Newlines between paragraphs read as spaces in one line of excerpt. */
    for (auto &ch : out)
        if (ch == '\n')
            ch = ' ';
    return out;
}
