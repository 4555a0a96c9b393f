/* search/snippet.cc: the excerpt shown under a result: the stretch of the article's text
 * with the most query words, HTML-escaped, each match wrapped in <mark>.
 *
 * Xapian's MSet::snippet() cannot be used: our terms are accent-folded, and the excerpt must
 * show the text as written ("véhicule", not "vehicule"). So each word of the original text
 * is folded and stemmed like the index does, and compared with the query's stems.
 *
 * Cost: every search renders up to ten snippets, each scanning SEARCH_SNIPPET_TEXT bytes
 * (a few hundred words), and this used to cost more than the Xapian match itself. Two things
 * keep it cheap without changing a byte of the output:
 *   - a word is only looked up when its first two letters start some query stem (Snowball
 *     only rewrites endings), as before;
 *   - the lookup goes to a per-thread open-addressing table from the word as written to
 *     small integer ids of its stems (struct word_table), so that a word costs one hash and
 *     one probe in a compact array, and matching is a test of a mark per stem id, instead
 *     of building a key string, a node-based hash map lookup and string set searches.
 * The table only caches search_stems_memo(), a pure function of (language, word): what a
 * snippet shows never depends on it. */
#include "search/index.hh"

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

const uint32_t NO_STEM = UINT32_MAX;
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
    std::vector<uint32_t> mark;                    /* id -> generation of the call using it */
    uint32_t gen = 0;
    uint64_t starts[65536 / 64] = {};              /* two-byte prefixes of query stems */
};

uint32_t intern(snippet_cache &c, const std::string &stem)
{
    auto it = c.ids.find(stem);
    if (it != c.ids.end())
        return it->second;
    uint32_t id = (uint32_t)c.ids.size();
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

/* A word to look up: its index and hash. */
struct candidate {
    size_t word;
    uint64_t hash;
};

/* Everything forgotten when a table or the stem ids are full: only ever between calls, so
 * that ids taken during a call stay meaningful. */
void trim(snippet_cache &c)
{
    bool full = c.ids.size() >= STEMS_MAX;
    for (const auto &t : c.tables)
        full = full || t.words.full(TABLE_MAX);
    if (!full)
        return;
    c.tables.clear();
    c.ids.clear();
    c.mark.clear();
    c.gen = 0;
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
    const unsigned char *u = (const unsigned char *)text.data();
    for (size_t i = 0; i < n; i++) {
        unsigned a = u[spans[i].off], b = spans[i].len >= 2 ? u[spans[i].off + 1] : 0x80;
        a += (a - 'A' < 26u) * 32;
        b += (b - 'A' < 26u) * 32;
        uint16_t key = a < 0x80 && b < 0x80 ? (uint16_t)(a << 8 | b) : 0;
        out[i] = search_word16{(uint16_t)spans[i].off, (uint16_t)spans[i].len, key};
    }
    return out;
}

std::string search_snippet(const std::string &text, const std::vector<search_word16> &words,
                           const std::string &lang, const std::set<std::string> &stems)
{
    thread_local snippet_cache cache;
    thread_local std::vector<char> hit;
    thread_local std::vector<candidate> cand;
    snippet_cache &c = cache;

    size_t scan = std::min<size_t>(text.size(), SEARCH_SNIPPET_TEXT);
    size_t n = words.size();
    if (hit.size() < n) {
        hit.resize(n);
        cand.resize(n);
    }
    std::fill(hit.begin(), hit.begin() + (long)n, 0);

    if (!stems.empty()) {
        trim(c);
        Xapian::Stem stem = search_stemmer(lang);
        word_table &t = table_for(c, lang);
        /* This call's stems: marked with a new generation, so no clearing is needed. */
        if (++c.gen == 0) {
            std::fill(c.mark.begin(), c.mark.end(), 0);
            c.gen = 1;
        }
        /* Folding and stemming every word of ten articles costs more than the search
         * itself, so words are first screened on their first two letters: a word can only
         * stem to a query stem if it starts like one (Snowball only rewrites endings). */
        bool screen = true;
        for (const auto &st : stems) {
            uint32_t id = intern(c, st);
            c.mark[id] = c.gen;
            if (st.size() < 2) {
                screen = false;
            } else {
                unsigned k = (unsigned char)st[0] << 8 | (unsigned char)st[1];
                c.starts[k >> 6] |= 1ull << (k & 63);
            }
        }
        /* In passes: the words that pass the screen, with no branch per word (which way a
         * word goes is unpredictable); their hashes and a prefetch of their slots; then the
         * lookups. The table is larger than the first cache levels, and one miss after the
         * other was most of the snippet time; this way the misses of a text overlap. */
        size_t nc = 0;
        /* The words' keys were taken when the text was split (search_snippet_words): this
         * loop reads one array, not two bytes of the text at each word (cache misses, a
         * fifth of the snippet time). */
        for (size_t i = 0; i < n; i++) {
            unsigned k = words[i].key;
            unsigned ascii = (unsigned)screen & (k != 0);
            unsigned starts = (unsigned)(c.starts[k >> 6] >> (k & 63)) & 1;
            cand[nc].word = i;
            nc += (words[i].len <= SEARCH_MAX_WORD) & ((ascii ^ 1u) | starts);
        }
        for (size_t j = 0; j < nc; j++) {
            size_t len = words[cand[j].word].len;
            if (len > SEARCH_SLOT_KEY)
                continue;
            const char *w = text.data() + words[cand[j].word].off;
            cand[j].hash = t.words.hash(std::string_view(w, len));
            __builtin_prefetch(t.words.home(cand[j].hash));
        }
        for (size_t j = 0; j < nc; j++) {
            size_t i = cand[j].word, len = words[i].len;
            const char *w = text.data() + words[i].off;
            if (len <= SEARCH_SLOT_KEY) {
                stem_ids ids = word_ids(c, t, stem, w, len, cand[j].hash);
                hit[i] = c.mark[ids.id0] == c.gen ||
                         (ids.id1 != NO_STEM && c.mark[ids.id1] == c.gen);
            } else {
                const search_word_stems &m =
                    search_stems_memo(stem, lang, std::string_view(w, len));
                hit[i] = stems.count(m.st[0]) || (m.k == 2 && stems.count(m.st[1]));
            }
        }
        for (const auto &st : stems) {
            if (st.size() >= 2) {
                unsigned k = (unsigned char)st[0] << 8 | (unsigned char)st[1];
                c.starts[k >> 6] &= ~(1ull << (k & 63));
            }
        }
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
