/* search/vocab.cc: the in-memory vocabulary of each scope, typo correction and completion
 * (what and why: vocab.hh). */
#include "search/vocab.hh"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "search/index.hh"
#include "search/lang.hh"

extern "C" {
#include "search/internal.h"
}

const char SEARCH_CLASS_CHARS[SEARCH_CLASSES + 1] = "PID";

/* Ratio of documents from which a word the scope has is taken for a typo of a neighbour
 * (vocab.hh). See the relevance benchmark's typo figures (tests/bench/relevance). */
double SEARCH_FIX_RATIO = 20;
/* The weight of a neighbour's documents against the cost of its edits (vocab.hh). */
double SEARCH_FIX_FREQ = 0.5;

int search_doc_class(const char *audience, const char *status)
{
    if (strcmp(status, "published") != 0)
        return SEARCH_CLASS_OTHER;
    if (strcmp(audience, "public") == 0)
        return SEARCH_CLASS_PUBLIC;
    /* Unknown audiences: seen by no scope's filter but "all" (query.cc, scope_filter). */
    return strcmp(audience, "internal") == 0 ? SEARCH_CLASS_INTERNAL : SEARCH_CLASS_OTHER;
}

bool search_vocab_keeps(const search_word_stems &ws)
{
    const std::string &f = ws.folded;
    return f.size() >= 3 && !(f[0] >= '0' && f[0] <= '9') && !ws.stop;
}

namespace {

/* Longest word in code points (words are at most SEARCH_MAX_WORD bytes). */
const size_t MAX_CPS = SEARCH_MAX_WORD;

/* Decode valid UTF-8 s into code points (at most MAX_CPS); returns how many. */
size_t decode(std::string_view s, uint32_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < s.size() && n < MAX_CPS;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t k;
        if (c < 0x80) {
            cp = c;
            k = 1;
        } else if (c < 0xe0) {
            cp = c & 0x1f;
            k = 2;
        } else if (c < 0xf0) {
            cp = c & 0x0f;
            k = 3;
        } else {
            cp = c & 0x07;
            k = 4;
        }
        for (size_t j = 1; j < k && i + j < s.size(); j++)
            cp = cp << 6 | ((unsigned char)s[i + j] & 0x3f);
        out[n++] = cp;
        i += k;
    }
    return n;
}

/* A signature of a word's letter counts: for a letter c, bit c % 32 when the word has it,
 * bit 32 + c % 32 when twice or more. One edit changes the count of at most two letters
 * by one, so flips at most two bits: words within d edits differ in at most 2d bits. Letter
 * counts reject 98.5% of the words of a typo's length, the letters alone 91%. */
uint64_t letter_counts(const uint32_t *cps, size_t n)
{
    uint64_t once = 0, twice = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t bit = 1ull << (cps[i] & 31);
        twice |= once & bit;
        once |= bit;
    }
    return once | twice << 32;
}

/* ---- keyboards ---------------------------------------------------------------------- */

/* Rows of letters, each shifted right of the one above by about half a key: the key at
 * (r, c) touches (r, c +- 1), (r - 1, c), (r - 1, c + 1), (r + 1, c - 1) and (r + 1, c). */
struct keyboard {
    const char *rows[3];
};
const keyboard AZERTY = {{"azertyuiop", "qsdfghjklm", "wxcvbn"}};
const keyboard QWERTY = {{"qwertyuiop", "asdfghjkl", "zxcvbnm"}};
const keyboard QWERTZ = {{"qwertzuiop", "asdfghjkl", "yxcvbnm"}};

/* adjacent[a][b] for letters a-z, per layout. */
struct adjacency {
    bool near[26][26] = {};
    explicit adjacency(const keyboard &k)
    {
        int row[26], col[26];
        for (int i = 0; i < 26; i++)
            row[i] = -10;
        for (int r = 0; r < 3; r++)
            for (int c = 0; k.rows[r][c]; c++) {
                row[k.rows[r][c] - 'a'] = r;
                col[k.rows[r][c] - 'a'] = c;
            }
        for (int a = 0; a < 26; a++)
            for (int b = 0; b < 26; b++) {
                int dr = row[b] - row[a], dc = col[b] - col[a];
                near[a][b] = a != b && row[a] >= 0 && row[b] >= 0 &&
                             ((dr == 0 && (dc == 1 || dc == -1)) ||
                              (dr == -1 && (dc == 0 || dc == 1)) ||
                              (dr == 1 && (dc == 0 || dc == -1)));
            }
    }
    bool operator()(uint32_t a, uint32_t b) const
    {
        return a >= 'a' && a <= 'z' && b >= 'a' && b <= 'z' && near[a - 'a'][b - 'a'];
    }
};

const adjacency &keyboard_of(const std::string &lang)
{
    static const adjacency azerty(AZERTY), qwerty(QWERTY), qwertz(QWERTZ);
    if (lang == "fr" || lang == "french")
        return azerty;
    if (lang == "de" || lang == "german")
        return qwertz;
    return qwerty;
}

/* ---- distances ---------------------------------------------------------------------- */

/* Damerau-Levenshtein distance (optimal string alignment) from one word to many: Hyyrö's
 * bit-vector algorithm ("A bit-vector algorithm for computing Levenshtein and Damerau edit
 * distances", 2003), one column of the dynamic programme per letter of the other word in a
 * few word operations (words are at most 64 code points). Checked against the plain
 * dynamic programme (tests/search/test_search.c, typo_distances). */
struct pattern {
    size_t n = 0;
    uint64_t ascii[128] = {};
    std::vector<std::pair<uint32_t, uint64_t>> other; /* non-ASCII code points' masks */

    pattern(const uint32_t *a, size_t len) : n(len)
    {
        for (size_t i = 0; i < n; i++) {
            if (a[i] < 128) {
                ascii[a[i]] |= 1ull << i;
                continue;
            }
            auto it = std::find_if(other.begin(), other.end(),
                                   [&](const auto &o) { return o.first == a[i]; });
            if (it == other.end())
                other.emplace_back(a[i], 1ull << i);
            else
                it->second |= 1ull << i;
        }
    }

    uint64_t mask(uint32_t cp) const
    {
        if (cp < 128)
            return ascii[cp];
        for (const auto &o : other)
            if (o.first == cp)
                return o.second;
        return 0;
    }

    /* The distance to b, or max + 1 as soon as it must exceed max. */
    unsigned distance(const uint32_t *b, size_t m, unsigned max) const
    {
        if ((n > m ? n - m : m - n) > max)
            return max + 1;
        if (n == 0)
            return (unsigned)m;
        uint64_t vp = ~0ull, vn = 0, d0 = 0, prev = 0, last = 1ull << (n - 1);
        unsigned score = (unsigned)n;
        for (size_t j = 0; j < m; j++) {
            uint64_t pm = mask(b[j]);
            uint64_t tr = ((~d0 & pm) << 1) & prev;
            d0 = (((pm & vp) + vp) ^ vp) | pm | vn | tr;
            uint64_t hp = vn | ~(d0 | vp), hn = vp & d0;
            if (hp & last)
                score++;
            else if (hn & last)
                score--;
            /* Each letter left can take at most one off. */
            if (score > max + (m - j - 1))
                return max + 1;
            uint64_t x = (hp << 1) | 1;
            vn = x & d0;
            vp = (hn << 1) | ~(x | d0);
            prev = pm;
        }
        return score;
    }
};

/* The same alignment with typing slips at half cost, in halves: a key next to the right
 * one, two neighbours swapped, a letter doubled or undoubled. Typed a, meant b. */
unsigned slip_cost(const uint32_t *a, size_t n, const uint32_t *b, size_t m,
                   const adjacency &near)
{
    unsigned rows[3][MAX_CPS + 1];
    unsigned *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    /* Deleting a[i] (typed, not meant) is a slip when it repeats a neighbour; inserting
     * b[j] (meant, not typed) when b[j] repeats one. */
    auto del = [&](size_t i) {
        return (i > 0 && a[i] == a[i - 1]) || (i + 1 < n && a[i] == a[i + 1]) ? 1u : 2u;
    };
    auto ins = [&](size_t j) {
        return (j > 0 && b[j] == b[j - 1]) || (j + 1 < m && b[j] == b[j + 1]) ? 1u : 2u;
    };
    prev[0] = 0;
    for (size_t j = 1; j <= m; j++)
        prev[j] = prev[j - 1] + ins(j - 1);
    for (size_t i = 1; i <= n; i++) {
        cur[0] = prev[0] + del(i - 1);
        for (size_t j = 1; j <= m; j++) {
            unsigned sub = a[i - 1] == b[j - 1] ? 0 : near(a[i - 1], b[j - 1]) ? 1 : 2;
            unsigned v = std::min({prev[j] + del(i - 1), cur[j - 1] + ins(j - 1),
                                   prev[j - 1] + sub});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                a[i - 1] != a[i - 2])
                v = std::min(v, prev2[j - 2] + 1);
            cur[j] = v;
        }
        unsigned *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

/* ---- building ----------------------------------------------------------------------- */

struct raw_form {
    std::string folded, cased;
    int cls;
    uint32_t freq;
};

void build_lang(search_vocab_lang &vl, std::vector<raw_form> &forms)
{
    std::sort(forms.begin(), forms.end(), [](const raw_form &a, const raw_form &b) {
        return a.folded < b.folded || (a.folded == b.folded && a.cased < b.cased);
    });
    Xapian::Stem stem = search_stemmer(vl.lang);
    uint32_t cps[MAX_CPS];
    for (size_t i = 0; i < forms.size();) {
        search_vocab_word w;
        w.folded = forms[i].folded;
        /* Each written form's documents (all classes) to pick the one shown. */
        std::string best;
        uint32_t best_n = 0;
        size_t j = i;
        while (j < forms.size() && forms[j].folded == w.folded) {
            uint32_t n = 0;
            size_t k = j;
            while (k < forms.size() && forms[k].folded == w.folded &&
                   forms[k].cased == forms[j].cased) {
                w.freq[forms[k].cls] += forms[k].freq;
                n += forms[k].freq;
                k++;
            }
            if (n > best_n) {
                best_n = n;
                best = forms[j].cased;
            }
            j = k;
        }
        i = j;
        if (best != w.folded)
            w.shown = best;
        w.len = (uint32_t)decode(w.folded, cps);
        vl.words.push_back(std::move(w));
    }
    vl.by_len.assign(MAX_CPS + 1, {});
    for (uint32_t p = 0; p < vl.words.size(); p++) {
        const search_vocab_word &w = vl.words[p];
        vl.by_len[w.len].slots.push_back(
            {p, {w.freq[0], w.freq[1], w.freq[2]}, 0, (uint32_t)w.folded.size()});
        for (int c = 0; c < SEARCH_CLASSES; c++) {
            /* max_freq[k]: the most documents of a word for scope k. */
            uint32_t f = search_scope_freq(w.freq, (enum search_scope)c);
            vl.max_freq[c] = std::max(vl.max_freq[c], f);
        }
        std::string folded, st[2];
        size_t k = search_stems(stem, w.shown.empty() ? w.folded : w.shown, &folded, st);
        for (size_t s = 0; s < k; s++) {
            auto &f = vl.stems[st[s]];
            for (int c = 0; c < SEARCH_CLASSES; c++)
                f[c] = std::max(f[c], w.freq[c]);
        }
    }
    auto all = [](const search_vocab_lang::slot &a) {
        return search_scope_freq(a.freq, SEARCH_SCOPE_ALL);
    };
    for (auto &bucket : vl.by_len) {
        std::stable_sort(bucket.slots.begin(), bucket.slots.end(),
                         [&](const search_vocab_lang::slot &a, const search_vocab_lang::slot &b) {
                             return all(a) > all(b);
                         });
        for (auto &sl : bucket.slots) {
            sl.off = (uint32_t)vl.scan_text.size();
            vl.scan_text += vl.words[sl.pos].folded;
            size_t n = decode(vl.words[sl.pos].folded, cps);
            bucket.counts.push_back(letter_counts(cps, n));
        }
    }
    const char *const *lists[2];
    size_t sizes[2];
    search_lang_words(vl.lang.c_str(), &lists[0], &sizes[0], &lists[1], &sizes[1]);
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < sizes[l]; i++) {
            search_vocab_lang::common c;
            size_t n = decode(lists[l][i], cps);
            c.cps.assign(cps, cps + n);
            c.word = l == 1 ? vl.find(lists[l][i]) : nullptr;
            vl.commons.push_back(std::move(c));
        }
}

std::shared_ptr<const search_vocab> build(const Xapian::Database &db)
{
    auto v = std::make_shared<search_vocab>();
    std::map<std::string, std::vector<raw_form>> by_lang;
    for (auto t = db.spellings_begin(); t != db.spellings_end(); ++t) {
        const std::string &key = *t;
        const char *cls = key.empty() ? nullptr : strchr(SEARCH_CLASS_CHARS, key[0]);
        size_t colon = key.find(':');
        if (!cls || !*cls || colon == std::string::npos || colon + 1 >= key.size())
            continue; /* not a vocabulary key */
        raw_form f;
        f.cls = (int)(cls - SEARCH_CLASS_CHARS);
        f.freq = t.get_termfreq();
        f.cased = key.substr(colon + 1);
        f.folded = search_fold(f.cased);
        if (f.folded.empty() || f.freq == 0)
            continue;
        by_lang[key.substr(1, colon - 1)].push_back(std::move(f));
    }
    for (auto &kv : by_lang) {
        v->langs.emplace_back();
        v->langs.back().lang = kv.first;
        build_lang(v->langs.back(), kv.second);
        v->words += v->langs.back().words.size();
    }
    return v;
}

bool has_digit(const uint32_t *cps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cps[i] < 0x80 ? (cps[i] >= '0' && cps[i] <= '9') : false)
            return true;
    return false;
}

bool stop_in(const std::vector<std::string> &langs, const std::string &folded)
{
    for (const auto &l : langs)
        if (search_is_stopword(l.c_str(), folded.data(), folded.size()))
            return true;
    return false;
}

/* The best score (as search_vocab_fix's) of a stop word, or of a common word the scope does
 * not have, as the word meant by q; a large value when none is within maxd edits. Their
 * frequency: that of the scope's most frequent word. */
double stop_slip(const std::vector<const search_vocab_lang *> &vls, enum search_scope scope,
                 const pattern &pat, const uint32_t *q, size_t n, unsigned maxd)
{
    double best = 1e9;
    for (const search_vocab_lang *vl : vls) {
        double top = std::log10((double)std::max<uint32_t>(vl->max_freq[scope], 1));
        const adjacency &near = keyboard_of(vl->lang);
        for (const auto &c : vl->commons) {
            size_t m = c.cps.size();
            if (m + maxd < n || m > n + maxd)
                continue;
            /* A common word the scope has is a candidate like any other. */
            if (c.word && search_scope_freq(c.word->freq, scope) > 0)
                continue;
            if (pat.distance(c.cps.data(), m, maxd) > maxd)
                continue;
            best = std::min(best, slip_cost(q, n, c.cps.data(), m, near) / 2.0 -
                                      SEARCH_FIX_FREQ * top);
        }
    }
    return best;
}

/* The positions i < n where counts[i] differs from q in at most max bits, into out (room
 * for n); returns how many. The hot loop of a correction: every word of the right lengths
 * goes through it, branch-free. Built twice on x86-64, with and without the POPCNT
 * instruction (picked at load time): kb does not assume the instruction. With a portable
 * bit count and a branch per word, this loop was 60% of a correction's time; 13% now. */
/* Not under ThreadSanitizer: the clone's resolver runs while the executable is relocated,
 * before TSan's runtime is initialised, and its instrumented entry crashes every kb binary of
 * a -Db_sanitize=thread build at load. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
__attribute__((target_clones("popcnt", "default")))
#endif
size_t close_counts(const uint64_t *counts, size_t n, uint64_t q, unsigned max, uint32_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        out[k] = (uint32_t)i;
        k += (unsigned)__builtin_popcountll(counts[i] ^ q) <= max;
    }
    return k;
}

bool common_in(const std::vector<std::string> &langs, const std::string &folded)
{
    for (const auto &l : langs)
        if (search_is_common_word(l.c_str(), folded.data(), folded.size()))
            return true;
    return false;
}

} // namespace

const search_vocab_word *search_vocab_lang::find(std::string_view folded) const
{
    auto it = std::lower_bound(words.begin(), words.end(), folded,
                               [](const search_vocab_word &w, std::string_view f) {
                                   return std::string_view(w.folded) < f;
                               });
    return it != words.end() && it->folded == folded ? &*it : nullptr;
}

uint32_t search_vocab_lang::stem_freq(const std::string &stem, enum search_scope scope) const
{
    auto it = stems.find(stem);
    return it == stems.end() ? 0 : search_scope_freq(it->second.data(), scope);
}

const search_vocab_lang *search_vocab::lang(const std::string &l) const
{
    for (const auto &vl : langs)
        if (vl.lang == l)
            return &vl;
    return nullptr;
}

std::shared_ptr<const search_vocab> search_vocab_get(const Xapian::Database &db,
                                                      const std::string &key)
{
    /* Readers are per thread (one per HTTP worker), and all reopen to the same revision
     * after a commit: the first builds, the others find it here. Entries die with their
     * last reader. */
    static std::mutex mu;
    static std::map<std::string, std::weak_ptr<const search_vocab>> shared;
    if (!key.empty()) {
        std::lock_guard<std::mutex> lk(mu);
        auto it = shared.find(key);
        if (it != shared.end())
            if (auto v = it->second.lock())
                return v;
    }
    std::shared_ptr<const search_vocab> v = build(db);
    if (!key.empty()) {
        std::lock_guard<std::mutex> lk(mu);
        for (auto it = shared.begin(); it != shared.end();)
            it = it->second.expired() ? shared.erase(it) : std::next(it);
        auto &slot = shared[key];
        if (auto other = slot.lock())
            return other; /* another thread built it meanwhile */
        slot = v;
    }
    return v;
}

search_fix search_vocab_fix(const search_vocab &v, const std::vector<std::string> &langs,
                            enum search_scope scope, const std::string &word)
{
    search_fix fix;
    std::string folded = search_fold(word);
    uint32_t q[MAX_CPS];
    size_t n = decode(folded, q);
    if (n < 4 || folded.size() > SEARCH_MAX_WORD || has_digit(q, n) || common_in(langs, folded))
        return fix;
    /* Documents with the word as typed, and whether it is an inflection of a word the
     * scope has (its stem is theirs): then it is no typo. */
    uint32_t typed = 0;
    bool inflected = false;
    std::vector<std::pair<const search_vocab_lang *, std::vector<std::string>>> vls;
    std::vector<const search_vocab_lang *> scanned;
    for (const auto &l : langs) {
        const search_vocab_lang *vl = v.lang(l);
        if (!vl)
            continue;
        if (const search_vocab_word *w = vl->find(folded))
            typed = std::max(typed, search_scope_freq(w->freq, scope));
        vls.emplace_back(vl, std::vector<std::string>());
    }
    /* The stems of the word as typed: for a word the scope has, only if a neighbour is
     * worth comparing (Snowball costs a microsecond or two a word). */
    auto stems_of = [&](std::pair<const search_vocab_lang *, std::vector<std::string>> &lv)
        -> const std::vector<std::string> & {
        if (lv.second.empty()) {
            std::string f, st[2];
            size_t k = search_stems(search_stemmer(lv.first->lang), word, &f, st);
            lv.second.assign(st, st + k);
        }
        return lv.second;
    };
    if (typed == 0)
        for (auto &lv : vls)
            for (const auto &st : stems_of(lv)) {
                uint32_t sf = lv.first->stem_freq(st, scope);
                inflected = inflected || sf > 0;
                fix.freq = std::max(fix.freq, sf);
            }
    fix.freq = std::max(fix.freq, typed);
    if (typed == 0 && inflected)
        return fix;
    /* A word the scope has is only taken for a typo of a far more frequent neighbour. */
    uint64_t need = typed ? (uint64_t)(SEARCH_FIX_RATIO * typed + 0.999) : 1;
    unsigned maxd = n >= 8 ? 2 : 1;
    uint64_t qcounts = letter_counts(q, n);
    thread_local std::vector<uint32_t> close; /* close_counts' output */
    const pattern pat(q, n);
    const search_vocab_word *best = nullptr;
    double best_score = 0;
    uint32_t best_freq = 0;
    uint32_t c[MAX_CPS];
    for (auto &lv : vls) {
        const search_vocab_lang *vl = lv.first;
        scanned.push_back(vl);
        if (vl->max_freq[scope] < need)
            continue;
        const adjacency &near = keyboard_of(vl->lang);
        for (size_t len = n - maxd; len <= n + maxd && len <= MAX_CPS; len++) {
            const search_vocab_lang::bucket &b = vl->by_len[len];
            /* Only the words frequent enough (in all classes: the scope's count is checked
             * below): the first ones. */
            size_t end = (size_t)(std::partition_point(
                                      b.slots.begin(), b.slots.end(),
                                      [&](const search_vocab_lang::slot &sl) {
                                          return search_scope_freq(sl.freq, SEARCH_SCOPE_ALL) >=
                                                 need;
                                      }) -
                                  b.slots.begin());
            close.resize(std::max(close.size(), end));
            size_t nclose = close_counts(b.counts.data(), end, qcounts, 2 * maxd, close.data());
            for (size_t c_i = 0; c_i < nclose; c_i++) {
                const search_vocab_lang::slot &sl = b.slots[close[c_i]];
                uint32_t f = search_scope_freq(sl.freq, scope);
                if (f < need)
                    continue;
                std::string_view text(vl->scan_text.data() + sl.off, sl.bytes);
                size_t m = decode(text, c);
                if (text == folded || pat.distance(c, m, maxd) > maxd)
                    continue;
                const search_vocab_word &w = vl->words[sl.pos];
                if (stop_in(langs, w.folded))
                    continue;
                double score = slip_cost(q, n, c, m, near) / 2.0 -
                               SEARCH_FIX_FREQ * std::log10((double)f);
                if (best && (score > best_score || (score == best_score && f <= best_freq)))
                    continue;
                /* A neighbour with the typed word's stem is the same word. */
                std::string sf, st[2];
                size_t k = search_stems(search_stemmer(vl->lang),
                                        w.shown.empty() ? w.folded : w.shown, &sf, st);
                bool same = false;
                for (size_t s = 0; s < k; s++)
                    for (const auto &t : stems_of(lv))
                        same = same || st[s] == t;
                if (same)
                    continue;
                best = &w;
                best_score = score;
                best_freq = f;
            }
        }
    }
    /* The typed word may be a slip on a stop word ("nuos", "ddoit"), which the vocabulary
     * does not keep, or on a common word the scope does not have ("voudrrait"): no word is
     * taken for it if that explains it at least as well (their documents: the most of any
     * word). */
    if (best) {
        double common = stop_slip(scanned, scope, pat, q, n, maxd);
        if (common <= best_score)
            best = nullptr;
    }
    if (best) {
        fix.kind = typed ? search_fix::ADD : search_fix::REPLACE;
        fix.word = best->shown.empty() ? best->folded : best->shown;
    }
    return fix;
}

std::vector<std::string> search_vocab_complete(const search_vocab &v,
                                               const std::vector<std::string> &langs,
                                               enum search_scope scope,
                                               const std::string &prefix, size_t max)
{
    std::string folded = search_fold(prefix);
    uint32_t q[MAX_CPS];
    if (decode(folded, q) < 2 || folded.size() > SEARCH_MAX_WORD || max == 0)
        return {};
    std::vector<std::pair<uint32_t, const search_vocab_word *>> all;
    for (const auto &l : langs) {
        const search_vocab_lang *vl = v.lang(l);
        if (!vl)
            continue;
        auto it = std::lower_bound(vl->words.begin(), vl->words.end(), folded,
                                   [](const search_vocab_word &w, const std::string &f) {
                                       return w.folded < f;
                                   });
        for (; it != vl->words.end() && it->folded.compare(0, folded.size(), folded) == 0;
             ++it) {
            uint32_t f = search_scope_freq(it->freq, scope);
            if (f > 0)
                all.emplace_back(f, &*it);
        }
    }
    /* Enough for max distinct words even if each is in every language. */
    size_t k = std::min(all.size(), max * std::max<size_t>(langs.size(), 1));
    std::partial_sort(all.begin(), all.begin() + (long)k, all.end(),
                      [](const auto &a, const auto &b) {
                          return a.first > b.first ||
                                 (a.first == b.first && a.second->folded < b.second->folded);
                      });
    /* A word of several languages comes once. */
    std::vector<std::string> out;
    std::vector<std::string_view> seen;
    for (size_t i = 0; i < k && out.size() < max; i++) {
        const search_vocab_word *w = all[i].second;
        if (std::find(seen.begin(), seen.end(), std::string_view(w->folded)) != seen.end())
            continue;
        seen.emplace_back(w->folded);
        out.push_back(w->shown.empty() ? w->folded : w->shown);
    }
    return out;
}

extern "C" unsigned search_edit_distance(const char *a, const char *b, unsigned max)
{
    uint32_t x[MAX_CPS], y[MAX_CPS];
    size_t n = decode(a, x), m = decode(b, y);
    return pattern(x, n).distance(y, m, max);
}
