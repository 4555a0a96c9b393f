/* search/query.cc: turning user text into a Xapian query, and running it.
 *
 * User text never reaches Xapian's QueryParser: we fold it, split it into words, drop stop
 * words, group words that have synonyms (content/synonyms/<lang>.txt) and build the query
 * ourselves, so quotes, parentheses, NEAR, '*' or '-' are just characters and no input can
 * make a query error. Each query word becomes OP_SYNONYM(word, its synonyms), searched in
 * five fields whose weights are the constants below (tuned on tests/bench/relevance).
 * A phrase of the synonyms table found in the query ("prêt immobilier") keeps its words, each
 * searched alone, and adds its group (any of the group's entries, all words present) as one
 * more query word:
 *
 *   AND_MAYBE( OR over words of  OR( body, SCALE(W_TITLE, title),
 *                                    SCALE(W_QUESTIONS, questions), SCALE(W_TAGS, tags),
 *                                    SCALE(W_LEAD, lead) ),
 *              OR over stop words of  SCALE(W_STOP_TITLE * W_TITLE, title) )
 *
 * "body" is all the text of the article (title, questions and tags included, with more wdf);
 * "lead" is the first words of the body (see LEAD_WORDS in writer.cc). Of a long query, only
 * the QUERY_MAX_MATCHED rarest words are matched (keep_rarest); all of them are highlighted.
 * The query's stop words ("comment", "pourquoi", "plus", "pas"...) decide no match, but rank
 * the articles whose title has them higher (W_STOP_TITLE). The first COVER_TOP results are
 * then ranked again by title coverage: the share of the query's words that their title has
 * (title_coverage, W_COVER).
 *
 * Before that, each word goes through the typo corrector (vocab.hh, plan_query): a word the
 * caller's scope does not have is replaced by its correction; a rare word the scope has
 * keeps its place and its far more frequent neighbour is one more query word, at W_FIX, in
 * the all-text field only. With prefix_last, the word being typed is one query word whose
 * alternatives are itself and its completions. The query as typed is only built again to
 * count it, when did_you_mean depends on that count (search.h).
 *
 * When the query names no language, it is built once per language present in the index,
 * each part stemmed in its language and filtered to it. The scope filter (audience, status)
 * is always applied here, never left to callers, and everything else derived from the
 * index's words (corrections, completions, related articles' terms, which words of a long
 * query are the rarest) counts the caller's scope only, through the vocabulary. */
#include "search/index.hh"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

extern "C" {
#include "kb/base/log.h"
#include "kb/base/text.h"
#include "search/internal.h"
}

#include "search/lang.hh"

/* Field weights, relative to the all-text field, and BM25+ parameters (tuned on the
 * relevance benchmark, tests/bench/relevance). BM25+ (Lv and Zhai, 2011) is BM25 plus
 * delta * idf for each matching term: with plain BM25 length normalisation, a word found once
 * in a long article scores almost nothing, barely more than a missing word, so long articles
 * lost to short ones that match fewer of the query's words. (Xapian's BM25+ also takes idf as
 * log((N + 1) / n), which gives words found in many articles a little more weight than its
 * BM25 does; with delta 0 the benchmark's MRR@10 is the same as BM25's.) With these values:
 * MRR@10 0.826 on the tuning questions (plain FTS5 0.704) and 0.791 on the held-out ones
 * (FTS5 0.587). */
static double W_TITLE = 0.5, W_QUESTIONS = 0.6, W_TAGS = 0.3, W_LEAD = 1.0;
static double BM25_K1 = 1.2, BM25_B = 0.75, BM25_DELTA = 0.5;
/* Weight of a correction searched beside a word the scope has (search/vocab.hh: a word far
 * rarer than a neighbour); a word the scope does not have is replaced, at full weight. */
static double W_FIX = 0.5;

static const size_t QUERY_MAX_BYTES = 1000;
static const size_t QUERY_MAX_WORDS = 32;
static const size_t QUERY_MAX_MATCHED = 10; /* words matched, the rarest (keep_rarest) */
static const Xapian::doccount FACET_CHECK = 200; /* documents looked at for facet counts */

/* The query's stop words, searched in titles only (bodies have no terms for them), at
 * W_STOP_TITLE times a title match of any other word; they decide no match (AND_MAYBE). Stop
 * words find nothing by themselves, but in a help centre whose titles are questions they say
 * what kind of answer the customer wants: "pourquoi ma facture est élevée" is "Pourquoi ma
 * facture est-elle plus élevée ?", not "Comment payer ma facture ?"; "je n'ai plus internet"
 * is "Je n'ai plus internet, que faire ?". The question words alone (comment, pourquoi,
 * combien, quand, quoi, qui, quel, où) were tried first; every stop word at the same weight
 * helps every question set of tests/bench/relevance, the question words included (README
 * there): MRR@10 +0.03 to +0.05 on the FAQ bases, +0.00 to +0.02 on service-public.
 * A stop word found in the titles of more than STOP_TITLE_MAX articles is left out: its
 * posting list was most of the cost (customers' questions at 50,000 articles took 25% more
 * instructions with every stop word, 15% with this bound; 2-4 common title words at 535
 * articles, 2%), and so common a word tells few titles apart. Below that many articles it
 * changes nothing. */
static double W_STOP_TITLE = 1.5;
static const Xapian::doccount STOP_TITLE_MAX = 5000;

/* Title coverage: the first COVER_TOP results of the ranking above are ranked again, each
 * adding W_COVER x (the first one's weight) x (the share of the query's words its title has,
 * title_coverage). BM25 scores each word of a title on its own, and its length
 * normalisation is the whole article's: a short title holding all the query's words ranked
 * below long bodies repeating one of them. It costs the title terms' posting lists and 20
 * results fetched instead of 10: 4% more instructions for customers' questions at 50,000
 * articles, 6% for 2-4 common title words at 535 (3% with COVER_TOP 10, which loses 0.001
 * to 0.002 of MRR@10 on four question sets: tests/bench/relevance). */
static double W_COVER = 0.25;
static double COVER_TOP = 20; /* a count; a double for KB_SEARCH_TUNE */

/* Tuning hooks for the relevance benchmark only (tests/bench/relevance/fit.py):
 * KB_SEARCH_TUNE="name=value,..." with names title, questions, tags, lead, k1, b, delta, fix
 * (W_FIX), fix_ratio, fix_freq (vocab.hh), stop (W_STOP_TITLE), cover (W_COVER) and
 * cover_top (COVER_TOP); and the older KB_SEARCH_WEIGHTS="title,questions,tags[,lead]",
 * KB_SEARCH_BM25="k1,b[,delta]" and KB_SEARCH_TYPO="ratio[,weight[,freq]]". They override
 * the constants above; read once per process. */
static void load_weights(void)
{
    static bool done = false;
    if (done)
        return;
    done = true;
    const char *bm = getenv("KB_SEARCH_BM25");
    if (bm) {
        char *end = nullptr;
        double k1 = strtod(bm, &end);
        if (end && *end == ',') {
            BM25_K1 = k1;
            BM25_B = strtod(end + 1, &end);
            if (end && *end == ',')
                BM25_DELTA = strtod(end + 1, nullptr);
        }
    }
    const char *typo = getenv("KB_SEARCH_TYPO");
    if (typo) {
        char *end = nullptr;
        SEARCH_FIX_RATIO = strtod(typo, &end);
        if (end && *end == ',') {
            W_FIX = strtod(end + 1, &end);
            if (end && *end == ',')
                SEARCH_FIX_FREQ = strtod(end + 1, nullptr);
        }
    }
    const char *w = getenv("KB_SEARCH_WEIGHTS");
    if (w) {
        char *end = nullptr;
        double t = strtod(w, &end);
        if (end && *end == ',') {
            double q = strtod(end + 1, &end);
            if (end && *end == ',') {
                double k = strtod(end + 1, &end);
                W_TITLE = t;
                W_QUESTIONS = q;
                W_TAGS = k;
                if (end && *end == ',')
                    W_LEAD = strtod(end + 1, nullptr);
            }
        }
    }
    static const struct {
        const char *name;
        double *value;
    } knobs[] = {{"title", &W_TITLE},
                 {"questions", &W_QUESTIONS},
                 {"tags", &W_TAGS},
                 {"lead", &W_LEAD},
                 {"k1", &BM25_K1},
                 {"b", &BM25_B},
                 {"delta", &BM25_DELTA},
                 {"fix", &W_FIX},
                 {"fix_ratio", &SEARCH_FIX_RATIO},
                 {"fix_freq", &SEARCH_FIX_FREQ},
                 {"stop", &W_STOP_TITLE},
                 {"cover", &W_COVER},
                 {"cover_top", &COVER_TOP}};
    const char *tune = getenv("KB_SEARCH_TUNE");
    for (const char *p = tune; p && *p;) {
        const char *eq = strchr(p, '='), *comma = strchr(p, ',');
        if (!comma)
            comma = p + strlen(p);
        if (eq && eq < comma) {
            bool known = false;
            for (const auto &k : knobs)
                if ((size_t)(eq - p) == strlen(k.name) && !strncmp(p, k.name, (size_t)(eq - p))) {
                    *k.value = strtod(eq + 1, nullptr);
                    known = true;
                }
            if (!known)
                kb_log(KB_LOG_WARN, "KB_SEARCH_TUNE: unknown name in %.*s", (int)(comma - p), p);
        }
        p = *comma ? comma + 1 : comma;
    }
}

namespace {

/* One query word with its alternatives (synonyms, or the completions of a prefix); each
 * alternative is one or more words. */
struct qword {
    std::vector<std::vector<std::string>> alts;    /* alts[0] is the word itself */
    double weight = 1.0;                           /* of its whole clause */
    bool all_text_only = false;                    /* not in the title, questions... fields */
    bool stop = false;                             /* a stop word: in titles only */
};

/* The words of folded text (at most max; longer than SEARCH_MAX_WORD bytes dropped). *open
 * (when given) tells whether the text ends inside its last word kept: it is being typed. */
std::vector<std::string> split_words(const std::string &folded, size_t max,
                                     bool *open = nullptr)
{
    std::vector<search_span> spans(max);
    size_t n = search_words(folded.data(), folded.size(), spans.data(), spans.size());
    std::vector<std::string> out;
    if (open)
        *open = false;
    for (size_t i = 0; i < n && i < max; i++)
        if (spans[i].len <= SEARCH_MAX_WORD) {
            out.emplace_back(folded, spans[i].off, spans[i].len);
            if (open)
                *open = spans[i].off + spans[i].len == folded.size();
        }
    return out;
}

/* Clean user text: valid UTF-8 (invalid bytes replaced), at most QUERY_MAX_BYTES, case-folded
 * (accents kept: see search_stems). */
std::string clean_query(const char *text)
{
    if (!text)
        return std::string();
    size_t n = strnlen(text, QUERY_MAX_BYTES * 4);
    char *s = kb_text_sanitize(text, n);
    if (!s)
        return std::string();
    std::string t(s);
    free(s);
    if (t.size() > QUERY_MAX_BYTES)
        t.resize(kb_text_utf8_prefix(t.data(), QUERY_MAX_BYTES));
    return search_casefold(t);
}

/* The synonyms of a key ("<lang>:<folded words>"): from memory on read-only handles. */
std::vector<std::string> synonyms_of(const search_index *idx, const std::string &key)
{
    if (!idx->writable) {
        auto it = idx->synonyms.find(key);
        return it == idx->synonyms.end() ? std::vector<std::string>() : it->second;
    }
    return std::vector<std::string>(idx->db.synonyms_begin(key), idx->db.synonyms_end(key));
}

/* Words of the query, stop words removed (unless nothing else is left and alone), grouped
 * with their synonyms for language lang (multi-word keys first, longest match); then the stop
 * words, once each, as words of the titles only (W_STOP_TITLE), unless no other word is
 * left or too many titles have them (STOP_TITLE_MAX). */
std::vector<qword> analyse(const search_index *idx, const std::vector<std::string> &words,
                           const Xapian::Stem &stem, const std::string &lang, bool alone)
{
    std::vector<std::string> kept, folded, stops;
    for (const auto &w : words) {
        std::string f = search_fold(w);
        if (!search_is_stopword(lang.c_str(), f.data(), f.size())) {
            kept.push_back(w);
            folded.push_back(f);
        } else if (std::find(stops.begin(), stops.end(), f) == stops.end()) {
            stops.push_back(f);
        }
    }
    if (kept.empty() && alone) {
        kept = words;
        for (const auto &w : words)
            folded.push_back(search_fold(w));
    }
    if (kept.empty() || W_STOP_TITLE <= 0)
        stops.clear();
    std::vector<qword> out;
    std::string prefix = lang + ":";
    for (size_t i = 0; i < kept.size();) {
        size_t used = 1;
        qword q;
        for (size_t n = std::min<size_t>(3, kept.size() - i); n >= 1; n--) {
            std::string key = search_synonym_key(stem, lang, &folded[i], n);
            std::vector<std::string> syn = synonyms_of(idx, prefix + key);
            if (syn.empty() && n > 1)
                continue;
            q.alts.emplace_back(kept.begin() + (long)i, kept.begin() + (long)(i + n));
            for (const auto &alt : syn)
                q.alts.push_back(split_words(alt, 8));
            used = n;
            break;
        }
        /* A synonym phrase's words also count alone. When the group replaced them,
         * "rembourser mon prêt immobilier" ranked the article on repaying a loan early below
         * every article on loans (the group is one frequent term, and an article with both
         * words no longer scored them twice), and an article with one of the words was not
         * found. Relevance benchmark with its synonyms file: MRR@10 0.830 -> 0.844 on the
         * tuning questions, 0.799 -> 0.820 held out. */
        if (used > 1)
            for (size_t k = 0; k < used; k++) {
                qword one;
                one.alts.push_back({kept[i + k]});
                out.push_back(std::move(one));
            }
        out.push_back(std::move(q));
        i += used;
    }
    for (const auto &f : stops) {
        const search_word_stems &ws = search_stems_memo(stem, lang, f);
        if (ws.k == 0 || idx->db.get_termfreq("ZS" + ws.st[0]) > STOP_TITLE_MAX)
            continue;
        qword q;
        q.alts.push_back({f});
        q.weight = W_STOP_TITLE;
        q.stop = true;
        out.push_back(std::move(q));
    }
    return out;
}

/* False when a field's term is known to be absent (read-only handles: field_terms). The
 * all-text field is not checked: a query's words are nearly always there. */
bool present(const search_index *idx, const std::string &field, const std::string &term)
{
    if (idx->writable || field.empty())
        return true;
    return std::binary_search(idx->field_terms.begin(), idx->field_terms.end(),
                              (uint64_t)std::hash<std::string>()(term));
}

/* One word in one field: its stem, or both stems when accents make them differ; empty when
 * the field has neither. The stems come from the per-thread memo: a query asks for each
 * word's stems once per field. */
Xapian::Query word_query(const search_index *idx, const std::string &word,
                         const Xapian::Stem &stem, const std::string &lang,
                         const std::string &field)
{
    const search_word_stems &ws = search_stems_memo(stem, lang, word);
    std::vector<Xapian::Query> terms;
    for (size_t i = 0; i < ws.k; i++) {
        std::string t = "Z" + field + ws.st[i];
        if (present(idx, field, t))
            terms.emplace_back(t);
    }
    if (terms.size() <= 1)
        return terms.empty() ? Xapian::Query() : terms[0];
    return Xapian::Query(Xapian::Query::OP_SYNONYM, terms.begin(), terms.end());
}

/* A word and its synonyms in one field; empty when none of them can match there (an
 * alternative of several words needs all of them). */
Xapian::Query field_query(const search_index *idx, const qword &w, const Xapian::Stem &stem,
                          const std::string &lang, const std::string &field)
{
    std::vector<Xapian::Query> alts;
    for (const auto &alt : w.alts) {
        std::vector<Xapian::Query> parts;
        bool all = true;
        for (const auto &word : alt) {
            parts.push_back(word_query(idx, word, stem, lang, field));
            all = all && !parts.back().empty();
        }
        if (!all || parts.empty())
            continue;
        if (parts.size() == 1)
            alts.push_back(parts[0]);
        else
            alts.emplace_back(Xapian::Query::OP_AND, parts.begin(), parts.end());
    }
    if (alts.size() <= 1)
        return alts.empty() ? Xapian::Query() : alts[0];
    return Xapian::Query(Xapian::Query::OP_SYNONYM, alts.begin(), alts.end());
}

/* A field term the index does not have is left out (field_query, on read-only handles): it
 * would match nothing, and looking it up still costs reads of the table. A field no document
 * uses (questions, tags) drops out the same way. Stop words only add to the weight of
 * articles the other words match. */
Xapian::Query lang_query(const search_index *idx, const std::vector<qword> &words,
                         const Xapian::Stem &stem, const std::string &lang)
{
    std::vector<Xapian::Query> per_word, stops;
    for (const auto &w : words) {
        std::vector<Xapian::Query> fields;
        auto add = [&](const char *field, double weight) {
            Xapian::Query q = field_query(idx, w, stem, lang, field);
            if (!q.empty())
                fields.emplace_back(Xapian::Query::OP_SCALE_WEIGHT, q, weight);
        };
        if (w.stop) {
            add("S", W_TITLE);
        } else {
            Xapian::Query all = field_query(idx, w, stem, lang, "");
            if (!all.empty())
                fields.push_back(all);
            if (!w.all_text_only) {
                add("S", W_TITLE);
                add("XQ", W_QUESTIONS);
                add("K", W_TAGS);
                add("XD", W_LEAD);
            }
        }
        if (fields.empty())
            continue;
        Xapian::Query one(Xapian::Query::OP_OR, fields.begin(), fields.end());
        if (w.weight != 1.0)
            one = Xapian::Query(Xapian::Query::OP_SCALE_WEIGHT, one, w.weight);
        (w.stop ? stops : per_word).push_back(one);
    }
    Xapian::Query q(Xapian::Query::OP_OR, per_word.begin(), per_word.end());
    if (q.empty() || stops.empty())
        return q;
    return Xapian::Query(Xapian::Query::OP_AND_MAYBE, q,
                         Xapian::Query(Xapian::Query::OP_OR, stops.begin(), stops.end()));
}

/* The filter on term t: none when every document has it (read-only handles only). */
bool needed(const search_index *idx, const std::string &t)
{
    return idx->writable || idx->universal.count(t) == 0;
}

/* Audience and status filter; an empty query when it lets every document through. The
 * classes of the vocabulary (search_doc_class) are the same: a scope sees the words of the
 * documents its filter lets through, and no other. */
Xapian::Query scope_filter(const search_index *idx, enum search_scope scope)
{
    std::vector<Xapian::Query> parts;
    if (scope == SEARCH_SCOPE_ALL)
        return Xapian::Query();
    if (needed(idx, "XSpublished"))
        parts.emplace_back("XSpublished");
    if (scope == SEARCH_SCOPE_INTERNAL)
        parts.emplace_back(Xapian::Query::OP_OR, Xapian::Query("XApublic"),
                           Xapian::Query("XAinternal"));
    else if (needed(idx, "XApublic"))
        parts.emplace_back("XApublic");
    return Xapian::Query(Xapian::Query::OP_AND, parts.begin(), parts.end());
}

/* Filters are built from parts that may be empty, meaning "no constraint" (for Xapian an
 * empty query matches nothing, so they never reach it as such). */
Xapian::Query filtered(const Xapian::Query &q, const Xapian::Query &f)
{
    return f.empty() ? q : Xapian::Query(Xapian::Query::OP_FILTER, q, f);
}

Xapian::Query both(const Xapian::Query &a, const Xapian::Query &b)
{
    if (a.empty())
        return b;
    return b.empty() ? a : Xapian::Query(Xapian::Query::OP_AND, a, b);
}

/* A long query (a customer's e-mail pasted into the agents' search box) keeps its
 * QUERY_MAX_MATCHED rarest words. Every word is an OR of five fields, and when many of them
 * are frequent the matcher cannot skip any article: at 50,000 articles, 16 frequent words
 * took 16.8 ms (p50; p99 23.9), 32 words 39 ms. The rarest words are the ones that tell the
 * articles apart, and they keep the ranking: relevance benchmark unchanged at 10 (four
 * question sets), 0.833 -> 0.831 on the editors' questions at 8; 16 words then take 6.5-8.9 ms.
 * Words no article has cost nothing and are all kept. */
void keep_rarest(const search_index *idx, std::vector<qword> &qw, const Xapian::Stem &stem,
                 const std::string &lang, enum search_scope scope)
{
    if (qw.size() <= QUERY_MAX_MATCHED)
        return;
    /* Rarity in the caller's scope, from the vocabulary's stems (no table read); a word the
     * vocabulary does not keep (a number, a word of two letters) by its index-wide count. */
    const search_vocab_lang *vl = idx->vocab ? idx->vocab->lang(lang) : nullptr;
    std::vector<std::pair<Xapian::doccount, size_t>> df; /* (articles, position) */
    for (size_t i = 0; i < qw.size(); i++) {
        Xapian::doccount n = 0;
        if (qw[i].stop) { /* stop words go last: the first to be left out */
            df.emplace_back(std::numeric_limits<Xapian::doccount>::max(), i);
            continue;
        }
        for (size_t k = 0; k < qw[i].alts[0].size(); k++) {
            const search_word_stems &ws = search_stems_memo(stem, lang, qw[i].alts[0][k]);
            Xapian::doccount f = vl && search_vocab_keeps(ws)
                                     ? vl->stem_freq(ws.st[0], scope)
                                     : idx->db.get_termfreq("Z" + ws.st[0]);
            n = k == 0 ? f : std::min(n, f); /* a phrase is as rare as its rarest word */
        }
        df.emplace_back(n, i);
    }
    std::stable_sort(df.begin(), df.end());
    std::vector<bool> keep(qw.size(), false);
    size_t matched = 0;
    for (const auto &d : df)
        if (d.first == 0 || matched++ < QUERY_MAX_MATCHED)
            keep[d.second] = true;
    std::vector<qword> out;
    for (size_t i = 0; i < qw.size(); i++)
        if (keep[i])
            out.push_back(std::move(qw[i]));
    qw.swap(out);
}

/* Documents of language l. */
Xapian::Query lang_filter(const search_index *idx, const std::string &l)
{
    return needed(idx, "XL" + l) ? Xapian::Query("XL" + l) : Xapian::Query();
}

/* The languages a query is analysed in: the one asked for, or every language of the index.
 * A language no document has matches nothing and is left out: it is the caller's string
 * (?lang= of any request), and each language analysed gets per-thread memos of its own:
 * 3,000 searches with made-up languages grew a server from 12 to 364 MB. */
std::vector<std::string> query_langs(const search_index *idx, const char *lang)
{
    if (lang && *lang) {
        if (idx->langs.count(lang) == 0)
            return {};
        return {std::string(lang)};
    }
    std::vector<std::string> v(idx->langs.begin(), idx->langs.end());
    return v;
}

/* What is searched for a query: its words, with their corrections and completions. */
struct query_plan {
    std::vector<std::string> words;  /* as searched: words replaced by their correction */
    /* Corrections searched beside the word typed (W_FIX): (position in words, correction). */
    std::vector<std::pair<size_t, std::string>> extra;
    std::string last;                /* the word being typed, when completed */
    std::vector<std::string> completions; /* of last, in the caller's scope */
};

/* The caller's filters (category, tag, audience: search.h), within the scope filter; an
 * empty query when there are none. */
Xapian::Query query_filters(const search_query *q)
{
    Xapian::Query f;
    if (q->category && *q->category)
        f = Xapian::Query("XC" + search_fold(q->category));
    if (q->tag && *q->tag)
        f = both(f, Xapian::Query("XK" + search_fold(q->tag)));
    if (q->audience && *q->audience)
        f = both(f, Xapian::Query("XA" + std::string(q->audience)));
    return f;
}

/* The query words of each language, as analysed (for title coverage). */
typedef std::map<std::string, std::vector<qword>> lang_words;

/* The whole query in the given languages, filtered by scope and the caller's filters. The
 * stems each language contributes go to stems[lang] (for snippets), its words to
 * words[lang] when words is given. */
Xapian::Query build(const search_index *idx, const query_plan &plan,
                    const std::vector<std::string> &langs, const search_query *sq,
                    enum search_scope scope, std::map<std::string, std::set<std::string>> *stems,
                    lang_words *words = nullptr)
{
    std::vector<Xapian::Query> parts;
    for (const auto &l : langs) {
        Xapian::Stem stem = search_stemmer(l);
        std::vector<qword> qw = analyse(idx, plan.words, stem, l, plan.last.empty());
        for (const auto &e : plan.extra) {
            qword q;
            q.alts.push_back({e.second});
            q.weight = W_FIX;
            /* A recall aid beside a word the scope has: in the all-text field only, one
             * posting list instead of five (all five cost random 2-4 word queries about
             * 8% of their speed at 50,000 articles, for no gain on the relevance
             * benchmark's typos). */
            q.all_text_only = true;
            qw.push_back(std::move(q));
        }
        if (!plan.last.empty()) {
            /* The word being typed, and the words of the scope it begins. */
            qword q;
            q.alts.push_back({plan.last});
            for (const auto &c : plan.completions)
                if (c != plan.last)
                    q.alts.push_back({c});
            qw.push_back(std::move(q));
        }
        if (qw.empty())
            continue;
        if (words)
            (*words)[l] = qw;
        if (stems) {
            auto &set = (*stems)[l];
            for (const auto &w : qw)
                for (const auto &alt : w.alts)
                    for (const auto &word : alt) {
                        if (w.stop) /* "comment" is not what an answer is about */
                            continue;
                        const search_word_stems &ws = search_stems_memo(stem, l, word);
                        for (size_t k = 0; k < ws.k; k++)
                            set.insert(ws.st[k]);
                    }
        }
        keep_rarest(idx, qw, stem, l, scope); /* after the stems: snippets show every word */
        /* Stems of one language only mean something in documents of that language. */
        parts.push_back(filtered(lang_query(idx, qw, stem, l), lang_filter(idx, l)));
    }
    if (parts.empty())
        return Xapian::Query();
    Xapian::Query q(Xapian::Query::OP_OR, parts.begin(), parts.end());
    return filtered(q, both(scope_filter(idx, scope), query_filters(sq)));
}

char *dup(const std::string &s)
{
    char *p = static_cast<char *>(malloc(s.size() + 1));
    if (!p)
        throw std::bad_alloc();
    memcpy(p, s.data(), s.size());
    p[s.size()] = 0;
    return p;
}

/* Documents and their weights, best first. */
typedef std::vector<std::pair<Xapian::docid, double>> ranking;

ranking ranked(const Xapian::MSet &mset)
{
    ranking out;
    out.reserve(mset.size());
    for (auto it = mset.begin(); it != mset.end(); ++it)
        out.emplace_back(*it, it.get_weight());
    return out;
}

/* The first `max` bytes of text, leading blanks skipped, cut on a UTF-8 boundary. */
static char *text_lead(const std::string &text, size_t max)
{
    size_t b = text.find_first_not_of(" \n\t");
    if (b == std::string::npos)
        b = text.size();
    size_t n = std::min(max, text.size() - b);
    if (n < text.size() - b)
        while (n > 0 && ((unsigned char)text[b + n] & 0xC0) == 0x80)
            n--; /* text[b + n] continues a character: cut before that character */
    return dup(text.substr(b, n));
}

/* Fill r->hits from hits (snippets when stems is given, leads of `lead` bytes when > 0). */
void fill_hits(search_index *idx, search_result *r, const ranking &hits,
               const std::map<std::string, std::set<std::string>> *stems, size_t lead = 0)
{
    r->hits = static_cast<search_hit *>(calloc(hits.size() ? hits.size() : 1, sizeof(search_hit)));
    if (!r->hits)
        throw std::bad_alloc();
    static const std::set<std::string> none;
    for (const auto &hit : hits) {
        const search_cached_doc &c = search_doc_display(idx, hit.first, nullptr);
        const search_docdata &d = c.d;
        search_hit *h = &r->hits[r->nhits++];
        h->id = d.id;
        h->slug = dup(d.slug);
        h->title = dup(d.title);
        h->category = dup(d.category);
        h->lang = dup(d.lang);
        h->audience = d.audience;
        h->status = d.status;
        h->score = hit.second;
        if (stems) {
            auto s = stems->find(d.lang);
            h->snippet = dup(search_snippet(c, d.lang, s != stems->end() ? s->second : none));
        }
        if (lead)
            h->lead = text_lead(c.text, lead);
    }
}

/* Facet counts by category. A read-only handle knows every document's category from memory
 * (search_index::doc_category): reading each candidate's value instead was a table lookup per
 * document, a third of a search's time at 50,000 articles. A writer reads the values. */
class category_spy : public Xapian::MatchSpy {
  public:
    explicit category_spy(const search_index *idx)
        : idx_(idx), counts_(idx->category_names.size() + 1, 0)
    {
    }

    void operator()(const Xapian::Document &doc, double) override
    {
        if (!idx_->writable) {
            Xapian::docid d = doc.get_docid(); /* in its shard: the article id (writer.cc) */
            counts_[d < idx_->doc_category.size() ? idx_->doc_category[d] : 0]++;
        } else {
            std::string v = doc.get_value(SEARCH_VALUE_CATEGORY);
            if (!v.empty())
                by_value_[v]++;
        }
    }

    /* Categories seen, most frequent first, then by name (as Xapian's value counts). */
    std::vector<std::pair<std::string, Xapian::doccount>> top(size_t max) const
    {
        std::map<std::string, Xapian::doccount> all = by_value_;
        for (size_t i = 1; i < counts_.size(); i++)
            if (counts_[i])
                all[idx_->category_names[i - 1]] += counts_[i];
        std::vector<std::pair<std::string, Xapian::doccount>> v(all.begin(), all.end());
        std::stable_sort(v.begin(), v.end(),
                         [](const auto &a, const auto &b) { return a.second > b.second; });
        if (v.size() > max)
            v.resize(max);
        return v;
    }

  private:
    const search_index *idx_;
    std::vector<Xapian::doccount> counts_;
    std::map<std::string, Xapian::doccount> by_value_;
};

void fill_facets(search_result *r, const category_spy &spy)
{
    auto top = spy.top(30);
    r->facets = static_cast<search_facet *>(calloc(top.size() ? top.size() : 1,
                                                   sizeof(search_facet)));
    if (!r->facets)
        throw std::bad_alloc();
    for (const auto &c : top) {
        search_facet *f = &r->facets[r->nfacets++];
        f->value = dup(c.first);
        f->count = c.second;
    }
}

/* Code points in valid UTF-8 s. */
size_t utf8_chars(const std::string &s)
{
    size_t n = 0;
    for (unsigned char c : s)
        n += (c & 0xc0) != 0x80;
    return n;
}

/* Corrections of recent words, per reader (search_index::fixes): users type the same words
 * again, and a miss costs a scan of the vocabulary. */
const size_t FIXES_MAX = 4096;
/* Query words looked up for a correction at most: a pasted e-mail full of names costs at
 * most this many scans (see the fuzzer's long inputs). */
const size_t FIX_MAX_WORDS = 16;
/* Completions of the word being typed, the most frequent in the caller's scope. */
const size_t PREFIX_MAX = 8;

/* search_vocab_fix of one word, remembered. */
search_fix fix_of(search_index *idx, const std::vector<std::string> &langs,
                  enum search_scope scope, const std::string &word)
{
    const search_vocab &v = search_index_vocab(idx);
    std::string key(1, (char)('0' + (int)scope));
    for (const auto &l : langs)
        key += l + ",";
    key += '\n';
    key += word;
    auto it = idx->fixes.find(key);
    if (it != idx->fixes.end())
        return it->second;
    search_fix f = search_vocab_fix(v, langs, scope, word);
    if (idx->fixes.size() >= FIXES_MAX)
        idx->fixes.clear();
    idx->fixes.emplace(std::move(key), f);
    return f;
}

std::string joined(const std::vector<std::string> &words)
{
    std::string out;
    for (const auto &w : words) {
        if (!out.empty())
            out += ' ';
        out += w;
    }
    return out;
}

/* How the words of a query are searched (see search.h for what the caller sees). */
struct planned {
    query_plan as_typed;  /* no correction (completions still) */
    query_plan corrected; /* with the corrections */
    std::string replaced; /* the query with the words searched instead of typed ones, or "" */
    std::string shown;    /* the query with all its corrections, "" when there is none */
    bool common = false;  /* a word as typed is in at least 3 documents of the scope */
};

/* Plan the search of words (case-folded; open: the text ends inside the last one). With
 * prefix, the last word being typed is completed from the scope's vocabulary when it
 * begins any of its words (it is not corrected then: "constr" is no typo), else it is a
 * word like the others. */
planned plan_query(search_index *idx, const std::vector<std::string> &words, bool open,
                   bool prefix, const std::vector<std::string> &langs,
                   enum search_scope scope)
{
    planned p;
    size_t n = words.size();
    if (prefix && open && n > 0) {
        std::vector<std::string> c =
            search_vocab_complete(search_index_vocab(idx), langs, scope, words.back(),
                                  PREFIX_MAX);
        if (!c.empty()) {
            n--;
            for (query_plan *qp : {&p.as_typed, &p.corrected}) {
                qp->last = words.back();
                qp->completions = c;
            }
        }
    }
    std::vector<std::string> shown(words.begin(), words.end()), replaced(shown);
    bool changed = false, replacing = false;
    for (size_t i = 0; i < n; i++) {
        p.as_typed.words.push_back(words[i]);
        search_fix f = i < FIX_MAX_WORDS ? fix_of(idx, langs, scope, words[i]) : search_fix();
        p.common = p.common || f.freq >= 3;
        if (f.kind == search_fix::NONE) {
            p.corrected.words.push_back(words[i]);
            continue;
        }
        shown[i] = f.word;
        changed = true;
        if (f.kind == search_fix::REPLACE) {
            p.corrected.words.push_back(f.word);
            replaced[i] = f.word;
            replacing = true;
        } else {
            p.corrected.extra.emplace_back(p.corrected.words.size(), f.word);
            p.corrected.words.push_back(words[i]);
        }
    }
    if (changed)
        p.shown = joined(shown);
    if (replacing)
        p.replaced = joined(replaced);
    return p;
}

/* A caller's scope as one of the three: anything else is public, the narrowest. */
enum search_scope valid_scope(enum search_scope s)
{
    return s == SEARCH_SCOPE_INTERNAL || s == SEARCH_SCOPE_ALL ? s : SEARCH_SCOPE_PUBLIC;
}

/* For each of docs (sorted), whether its title has one of stems ("S" field terms): skips
 * along the terms' posting lists, which the match has just read. */
std::vector<bool> in_titles(const search_index *idx, const search_word_stems &ws,
                            const std::vector<std::pair<Xapian::docid, size_t>> &docs)
{
    std::vector<bool> in(docs.size(), false);
    for (size_t k = 0; k < ws.k; k++) {
        std::string t = "ZS" + ws.st[k];
        if (!present(idx, "S", t))
            continue;
        Xapian::PostingIterator p = idx->db.postlist_begin(t), end = idx->db.postlist_end(t);
        for (const auto &d : docs) {
            p.skip_to(d.first);
            if (p == end)
                break;
            if (*p == d.first)
                in[d.second] = true;
        }
    }
    return in;
}

/* Rank the first COVER_TOP of hits again by title coverage (W_COVER): the share of the
 * query's words (stop words and corrections searched beside a word aside; a word with
 * synonyms counts once, covered by any of them) that each title has, in the language whose
 * words cover it best. */
void title_coverage(const search_index *idx, ranking &hits, const lang_words &words)
{
    size_t n = std::min((size_t)COVER_TOP, hits.size());
    if (n < 2 || W_COVER <= 0)
        return;
    std::vector<std::pair<Xapian::docid, size_t>> docs; /* (docid, position), by docid */
    for (size_t i = 0; i < n; i++)
        docs.emplace_back(hits[i].first, i);
    std::sort(docs.begin(), docs.end());
    std::vector<double> best(n, 0.0);
    for (const auto &lw : words) {
        Xapian::Stem stem = search_stemmer(lw.first);
        std::vector<size_t> covered(n, 0);
        size_t total = 0;
        for (const auto &q : lw.second) {
            if (q.stop || q.all_text_only)
                continue;
            total++;
            std::vector<bool> any(n, false);
            for (const auto &alt : q.alts) {
                std::vector<bool> all(n, true); /* an alternative of several words: all */
                for (const auto &word : alt) {
                    std::vector<bool> in =
                        in_titles(idx, search_stems_memo(stem, lw.first, word), docs);
                    for (size_t i = 0; i < n; i++)
                        all[i] = all[i] && in[i];
                }
                for (size_t i = 0; i < n; i++)
                    any[i] = any[i] || all[i];
            }
            for (size_t i = 0; i < n; i++)
                covered[i] += any[i];
        }
        for (size_t i = 0; total && i < n; i++)
            best[i] = std::max(best[i], (double)covered[i] / (double)total);
    }
    double top = hits[0].second;
    for (size_t i = 0; i < n; i++)
        hits[i].second += W_COVER * top * best[i];
    std::stable_sort(hits.begin(), hits.begin() + (long)n,
                     [](const auto &a, const auto &b) { return a.second > b.second; });
}

double ms_since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
        .count();
}

} // namespace

extern "C" void search_result_free(struct search_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nhits; i++) {
        free(r->hits[i].slug);
        free(r->hits[i].title);
        free(r->hits[i].category);
        free(r->hits[i].lang);
        free(r->hits[i].snippet);
        free(r->hits[i].lead);
    }
    free(r->hits);
    for (size_t i = 0; i < r->nfacets; i++)
        free(r->facets[i].value);
    free(r->facets);
    free(r->did_you_mean);
    free(r->corrected_query);
    free(r);
}

static search_result *new_result(void)
{
    search_result *r = static_cast<search_result *>(calloc(1, sizeof *r));
    if (!r)
        throw std::bad_alloc();
    return r;
}

static enum kb_err search_run_once(struct search_index *idx, const struct search_query *q,
                                  struct search_result **out)
{
    if (idx->writer)
        (void)search_writer_wait(idx); /* read what was queued */
    auto t0 = std::chrono::steady_clock::now();
    *out = nullptr;
    search_result *r = nullptr;
    load_weights();
    try {
        r = new_result();
        enum search_scope scope = valid_scope(q->scope);
        size_t limit = q->limit == 0 ? 10 : std::min<size_t>(q->limit, 100);
        size_t offset = std::min<size_t>(q->offset, 10000);
        std::string folded = clean_query(q->text);
        bool open = false;
        std::vector<std::string> words = split_words(folded, QUERY_MAX_WORDS, &open);
        std::vector<std::string> langs = query_langs(idx, q->lang);
        if (words.empty() || langs.empty()) {
            r->took_ms = ms_since(t0);
            *out = r;
            return KB_OK;
        }
        planned plan = plan_query(idx, words, open, q->prefix_last, langs, scope);
        bool correct = !q->verbatim && !plan.shown.empty();
        std::map<std::string, std::set<std::string>> stems;
        Xapian::Enquire enq(idx->db);
        enq.set_weighting_scheme(
            Xapian::BM25PlusWeight(BM25_K1, 0, 1, BM25_B, 0.5, BM25_DELTA));
        /* Facets need the category of each candidate, and at least FACET_CHECK of them;
         * an index without categories needs neither (nor the reads they cost). */
        category_spy spy(idx);
        bool facets = idx->has_categories && q->lead == 0;
        Xapian::doccount check = facets ? FACET_CHECK : 0;
        if (facets)
            enq.add_matchspy(&spy);
        lang_words qwords;
        enq.set_query(build(idx, correct ? plan.corrected : plan.as_typed, langs, q, scope,
                            &stems, &qwords));
        /* The first COVER_TOP are ranked again (title_coverage): whatever page is asked
         * for, they are fetched with it, so that pages follow the same order. */
        size_t top = (size_t)COVER_TOP;
        bool cover = offset < top && W_COVER > 0;
        Xapian::MSet mset = cover ? enq.get_mset(0, std::max(top, offset + limit), check)
                                  : enq.get_mset(offset, limit, check);
        r->total = mset.get_matches_estimated();
        ranking hits = ranked(mset);
        if (cover) {
            title_coverage(idx, hits, qwords);
            hits.erase(hits.begin(), hits.begin() + (long)std::min(offset, hits.size()));
            if (hits.size() > limit)
                hits.resize(limit);
        }
        fill_hits(idx, r, hits, q->lead ? nullptr : &stems, q->lead);
        fill_facets(r, spy);
        if (!plan.shown.empty()) {
            if (correct && !plan.replaced.empty())
                r->corrected_query = dup(plan.replaced);
            /* did_you_mean keeps its meaning: the query as typed finds (almost) nothing.
             * Either that is what ran, or a word as typed is common enough to say no
             * without asking, or a count of the typed query (no spy, no weights) says. */
            bool few;
            if (!correct) {
                few = mset.get_matches_lower_bound() < 3;
            } else if (plan.common && query_filters(q).empty()) {
                few = false;
            } else {
                Xapian::Enquire count(idx->db);
                count.set_weighting_scheme(Xapian::BoolWeight());
                count.set_query(build(idx, plan.as_typed, langs, q, scope, nullptr));
                few = count.get_mset(0, 0, 3).get_matches_lower_bound() < 3;
            }
            if (few)
                r->did_you_mean = dup(plan.shown);
        }
        r->took_ms = ms_since(t0);
        *out = r;
        return KB_OK;
    } catch (...) {
        search_result_free(r);
        return search_fail("query");
    }
}

static enum kb_err search_suggest_once(struct search_index *idx, const char *prefix,
                                      const char *lang, enum search_scope scope, size_t limit,
                                      struct search_result **out)
{
    if (idx->writer)
        (void)search_writer_wait(idx); /* read what was queued */
    *out = nullptr;
    search_result *r = nullptr;
    try {
        r = new_result();
        scope = valid_scope(scope);
        std::string folded = clean_query(prefix);
        bool open = false;
        std::vector<std::string> words = split_words(folded, 8, &open);
        std::vector<std::string> langs = query_langs(idx, lang);
        if (words.empty() || langs.empty()) {
            *out = r;
            return KB_OK;
        }
        /* The last word is being typed: completed unless the text ends with a space; its
         * first letter alone begins too many words to mean anything yet. */
        if (open && utf8_chars(words.back()) < 2) {
            words.pop_back();
            open = false;
        }
        if (words.empty()) {
            *out = r;
            return KB_OK;
        }
        planned plan = plan_query(idx, words, open, true, langs, scope);
        const query_plan &qp = plan.corrected;
        std::vector<Xapian::Query> parts;
        for (const auto &l : langs) {
            Xapian::Stem stem = search_stemmer(l);
            /* Each word must match (title matches count double); a correction searched
             * beside a rare word is one of its alternatives. */
            std::vector<qword> must;
            for (size_t i = 0; i < qp.words.size(); i++) {
                std::string f = search_fold(qp.words[i]);
                if (search_is_stopword(l.c_str(), f.data(), f.size()))
                    continue;
                qword q;
                q.alts.push_back({qp.words[i]});
                for (const auto &e : qp.extra)
                    if (e.first == i)
                        q.alts.push_back({e.second});
                must.push_back(std::move(q));
            }
            if (!qp.last.empty()) {
                qword q;
                q.alts.push_back({qp.last});
                for (const auto &c : qp.completions)
                    if (c != qp.last)
                        q.alts.push_back({c});
                must.push_back(std::move(q));
            }
            std::vector<Xapian::Query> all;
            for (const auto &q : must) {
                Xapian::Query title = field_query(idx, q, stem, l, "S");
                Xapian::Query body = field_query(idx, q, stem, l, "");
                all.push_back(title.empty()
                                  ? body
                                  : Xapian::Query(Xapian::Query::OP_OR, body,
                                                  Xapian::Query(Xapian::Query::OP_SCALE_WEIGHT,
                                                                title, 2.0)));
            }
            if (all.empty())
                continue;
            Xapian::Query q(Xapian::Query::OP_AND, all.begin(), all.end());
            parts.push_back(filtered(q, lang_filter(idx, l)));
        }
        if (!parts.empty()) {
            Xapian::Enquire enq(idx->db);
            enq.set_query(filtered(Xapian::Query(Xapian::Query::OP_OR, parts.begin(), parts.end()),
                                   scope_filter(idx, scope)));
            Xapian::MSet mset = enq.get_mset(0, std::min<size_t>(limit ? limit : 8, 20));
            r->total = mset.get_matches_estimated();
            fill_hits(idx, r, ranked(mset), nullptr);
        }
        *out = r;
        return KB_OK;
    } catch (...) {
        search_result_free(r);
        return search_fail("suggest");
    }
}

/* More-like-this terms: the article's body stems (titles and filters would drag in noise)
 * that the scope's vocabulary has, the RELATED_TERMS best by wdf and rarity in the scope
 * (as Xapian's expansion weights them, but with the caller's counts: Enquire::get_eset
 * counts every article of the index). */
static const size_t RELATED_TERMS = 16;

static enum kb_err search_related_once(struct search_index *idx, int64_t id,
                                      enum search_scope scope, size_t limit,
                                      struct search_result **out)
{
    if (idx->writer)
        (void)search_writer_wait(idx); /* read what was queued */
    *out = nullptr;
    search_result *r = nullptr;
    try {
        r = new_result();
        scope = valid_scope(scope);
        std::string idterm = "Q" + std::to_string(id);
        /* The article itself must be in the scope: its words are the question. */
        Xapian::Enquire in(idx->db);
        in.set_weighting_scheme(Xapian::BoolWeight());
        in.set_query(filtered(Xapian::Query(idterm), scope_filter(idx, scope)));
        Xapian::MSet self = in.get_mset(0, 1);
        if (self.empty()) {
            *out = r;
            return KB_OK;
        }
        Xapian::docid did = *self.begin();
        Xapian::Document doc = idx->db.get_document(did);
        search_docdata d = search_docdata_parse(doc.get_value(SEARCH_VALUE_DATA));
        const search_vocab_lang *vl = search_index_vocab(idx).lang(d.lang);
        double n = (double)idx->db.get_doccount() + 1;
        std::vector<std::pair<double, std::string>> best;
        for (auto t = doc.termlist_begin(); vl && t != doc.termlist_end(); ++t) {
            const std::string &term = *t;
            if (term.size() <= 4 || term[0] != 'Z' || term[1] < 'a' || term[1] > 'z')
                continue;
            uint32_t df = vl->stem_freq(term.substr(1), scope);
            if (df == 0)
                continue;
            best.emplace_back(std::log1p((double)t.get_wdf()) * std::log(n / df), term);
        }
        size_t k = std::min(best.size(), RELATED_TERMS);
        std::partial_sort(best.begin(), best.begin() + (long)k, best.end(),
                          [](const auto &a, const auto &b) {
                              return a.first > b.first || (a.first == b.first && a.second < b.second);
                          });
        std::vector<Xapian::Query> terms;
        for (size_t i = 0; i < k; i++)
            terms.emplace_back(best[i].second);
        if (!terms.empty()) {
            Xapian::Enquire enq(idx->db);
            Xapian::Query q(Xapian::Query::OP_OR, terms.begin(), terms.end());
            q = Xapian::Query(Xapian::Query::OP_AND_NOT, q, Xapian::Query(idterm));
            enq.set_query(filtered(q, both(scope_filter(idx, scope), lang_filter(idx, d.lang))));
            Xapian::MSet mset = enq.get_mset(0, std::min<size_t>(limit ? limit : 5, 20));
            r->total = mset.size();
            fill_hits(idx, r, ranked(mset), nullptr);
        }
        *out = r;
        return KB_OK;
    } catch (...) {
        search_result_free(r);
        return search_fail("related");
    }
}

/* A reader whose files a rebuild replaced under it fails with a Xapian::DatabaseError ("EOF
 * reading block"): open it again and try once more, so that a search during a rebuild
 * answers instead of failing. */
template <class Run> static enum kb_err retried(search_index *idx, Run run)
{
    enum kb_err err = run();
    if (err == KB_EINDEX && !idx->writable && search_reader_refresh(idx) == KB_OK)
        err = run();
    return err;
}

extern "C" enum kb_err search_run(struct search_index *idx, const struct search_query *q,
                                  struct search_result **out)
{
    return retried(idx, [&] { return search_run_once(idx, q, out); });
}

extern "C" enum kb_err search_suggest(struct search_index *idx, const char *prefix,
                                      const char *lang, enum search_scope scope, size_t limit,
                                      struct search_result **out)
{
    return retried(idx, [&] { return search_suggest_once(idx, prefix, lang, scope, limit, out); });
}

/* The key of search_index::related: article id, scope and limit (at most 20, see
 * search_related_once). */
static uint64_t related_key(int64_t id, enum search_scope scope, size_t limit)
{
    return (uint64_t)id << 8 | (uint64_t)scope << 5 | std::min<size_t>(limit ? limit : 5, 20);
}

static const size_t RELATED_CACHE_MAX = 4096;

extern "C" enum kb_err search_related(struct search_index *idx, int64_t id,
                                      enum search_scope scope, size_t limit,
                                      struct search_result **out)
{
    *out = nullptr;
    scope = valid_scope(scope);
    uint64_t key = related_key(id, scope, limit);
    if (!idx->writable) {
        auto it = idx->related.find(key);
        if (it != idx->related.end()) {
            search_result *r = nullptr;
            try {
                r = new_result();
                const auto &hits = it->second;
                r->hits = static_cast<search_hit *>(calloc(hits.size() ? hits.size() : 1,
                                                           sizeof(search_hit)));
                if (!r->hits)
                    throw std::bad_alloc();
                for (const auto &c : hits) {
                    search_hit *h = &r->hits[r->nhits++];
                    h->id = c.id;
                    h->slug = dup(c.slug);
                    h->title = dup(c.title);
                    h->category = dup(c.category);
                    h->lang = dup(c.lang);
                    h->score = c.score;
                    h->audience = c.audience;
                    h->status = c.status;
                }
                r->total = r->nhits;
                *out = r;
                return KB_OK;
            } catch (...) {
                search_result_free(r);
                return search_fail("related");
            }
        }
    }
    enum kb_err err =
        retried(idx, [&] { return search_related_once(idx, id, scope, limit, out); });
    if (err || idx->writable)
        return err;
    try {
        if (idx->related.size() >= RELATED_CACHE_MAX)
            idx->related.clear();
        std::vector<search_related_hit> hits;
        for (size_t i = 0; i < (*out)->nhits; i++) {
            const search_hit &h = (*out)->hits[i];
            hits.push_back(search_related_hit{h.id, h.slug, h.title, h.category, h.lang,
                                              h.score, h.audience, h.status});
        }
        idx->related[key] = std::move(hits);
    } catch (...) {
        idx->related.erase(key); /* not remembered: the answer stands */
    }
    return KB_OK;
}
