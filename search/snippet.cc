/* search/snippet.cc: the excerpt shown under a result: the stretch of the article's text
 * with the most query words, HTML-escaped, each match wrapped in <mark>.
 *
 * Xapian's MSet::snippet() cannot be used: our terms are accent-folded, and the excerpt must
 * show the text as written ("véhicule", not "vehicule"). So each word of the original text
 * is folded and stemmed like the index does, and compared with the query's stems. */
#include "search/index.hh"

#include <string>
#include <vector>

extern "C" {
#include "kb/buf.h"
#include "kb/text.h"
#include "search/internal.h"
}

#include "search/lang.hh"

static const size_t SNIPPET_WORDS = 32;       /* words shown */
std::string search_snippet(const std::string &text, const std::string &lang,
                           const std::set<std::string> &stems)
{
    /* The stored text is at most SEARCH_SNIPPET_TEXT bytes, cut on a UTF-8 boundary. */
    size_t scan = std::min<size_t>(text.size(), SEARCH_SNIPPET_TEXT);
    std::vector<search_span> words(scan / 2 + 1);
    size_t n = search_words(text.data(), scan, words.data(), words.size());
    n = std::min(n, words.size());
    std::vector<char> hit(n, 0);
    Xapian::Stem stem = search_stemmer(lang);
    /* Folding and stemming every word of ten articles costs more than the search itself,
     * so words are first screened on their first two letters: a word can only stem to a
     * query stem if it starts like one (Snowball only rewrites endings). */
    std::vector<bool> starts(65536, false);
    bool screen = true;
    for (const auto &st : stems) {
        if (st.size() < 2)
            screen = false;
        else
            starts[(unsigned char)st[0] << 8 | (unsigned char)st[1]] = true;
    }
    for (size_t i = 0; i < n && !stems.empty(); i++) {
        if (words[i].len > SEARCH_MAX_WORD)
            continue;
        const char *w = text.data() + words[i].off;
        if (screen && words[i].len >= 2 && (unsigned char)w[0] < 0x80 &&
            (unsigned char)w[1] < 0x80) {
            unsigned a = (unsigned char)w[0], b = (unsigned char)w[1];
            a = a >= 'A' && a <= 'Z' ? a + 32 : a;
            b = b >= 'A' && b <= 'Z' ? b + 32 : b;
            if (!starts[a << 8 | b])
                continue;
        }
        const search_word_stems &m = search_stems_memo(stem, lang, std::string(w, words[i].len));
        hit[i] = stems.count(m.st[0]) || (m.k == 2 && stems.count(m.st[1]));
    }
    /* The window of SNIPPET_WORDS words with the most matches (first one on ties). */
    size_t best = 0, best_count = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        count += hit[i];
        if (i >= SNIPPET_WORDS)
            count -= hit[i - SNIPPET_WORDS];
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
    size_t end = std::min(n, best + SNIPPET_WORDS);
    struct kb_buf b;
    kb_buf_init(&b, 64 * 1024);
    std::string out;
    if (n == 0)
        return out;
    size_t from = best ? words[best].off : 0;
    size_t to = end < n ? words[end - 1].off + words[end - 1].len : scan;
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
    for (auto &c : out)
        if (c == '\n')
            c = ' ';
    return out;
}
