/* search/index.cc: opening the Xapian index and writing documents (layout in index.hh).
 *
 * Every extern "C" function catches every exception: nothing C++ crosses into C. The writer
 * never commits on its own: it always works inside a Xapian transaction (begun at open and
 * after each commit), so there is no autoflush and search_index_free() discards what was not
 * committed (WritableDatabase::close() would otherwise commit it). The indexer decides when a
 * batch is durable, after which it deletes the SQLite queue rows; it commits every few
 * thousand documents, which keeps the transaction's memory bounded. */
#include "search/index.hh"

#include <algorithm>
#include <cstring>
#include <exception>
#include <new>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

extern "C" {
#include "kb/log.h"
#include "kb/text.h"
#include "search/internal.h"
}

#include "search/lang.hh"

/* wdf multipliers per field: how much one occurrence counts in the all-text field. */
static const unsigned WDF_TITLE = 3, WDF_QUESTIONS = 2, WDF_TAGS = 2, WDF_BODY = 1;

/* Words at the start of the body indexed again as the lead field. An article opens with what
 * it is about (the short answer to its title), then goes into cases, exceptions and
 * procedures that name many neighbouring subjects: a query word found in the opening says
 * more than the same word further down. 120 words is about a first paragraph; the relevance
 * benchmark is flat from 100 to 150 (tests/bench/relevance). */
static const size_t LEAD_WORDS = 120;

/* The version of the layout described in index.hh, stamped at every commit. An index
 * written before the layout changed is rebuilt (search_index_outdated). 2: lead field. */
static const char *const LAYOUT = "2";

enum kb_err search_fail(const char *what)
{
    try {
        throw;
    } catch (const Xapian::DatabaseLockError &e) {
        kb_log(KB_LOG_ERROR, "search: %s: index locked by another writer: %s", what,
               e.get_msg().c_str());
        return KB_EBUSY;
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

const search_word_stems &search_stems_memo(const Xapian::Stem &stem, const std::string &lang,
                                           const std::string &word)
{
    /* Per thread: Snowball stemmers and this cache are not shared. Emptied when full. */
    thread_local std::unordered_map<std::string, search_word_stems> memo;
    thread_local std::string key;
    key.assign(lang);
    key.push_back('\0');
    key.append(word);
    auto it = memo.find(key);
    if (it != memo.end())
        return it->second;
    if (memo.size() >= 100000)
        memo.clear();
    search_word_stems ws;
    ws.k = search_stems(stem, search_casefold(word), &ws.folded, ws.st);
    return memo.emplace(key, std::move(ws)).first->second;
}

search_docdata search_docdata_parse(const std::string &data)
{
    search_docdata d;
    std::string id;
    std::string *fields[] = {&id, &d.slug, &d.title, &d.category, &d.lang};
    size_t pos = 0;
    for (size_t i = 0; i < 5 && pos <= data.size(); i++) {
        size_t end = i == 4 ? data.size() : data.find('\0', pos);
        if (end == std::string::npos)
            end = data.size();
        fields[i]->assign(data, pos, end - pos);
        pos = end + 1;
    }
    d.id = strtoll(id.c_str(), nullptr, 10);
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
    idx->category_names.clear();
    idx->doc_category.assign((size_t)db.get_lastdocid() + 1, 0);
    for (auto t = db.allterms_begin("XC"); t != db.allterms_end("XC"); ++t) {
        std::string display;
        uint32_t id = (uint32_t)idx->category_names.size() + 1;
        for (auto p = db.postlist_begin(*t); p != db.postlist_end(*t); ++p) {
            if (*p < idx->doc_category.size())
                idx->doc_category[*p] = id;
            if (display.empty())
                display = db.get_document(*p).get_value(SEARCH_VALUE_CATEGORY);
        }
        idx->category_names.push_back(display.empty() ? (*t).substr(2) : display);
    }
}

/* What the index holds as a whole, read once per revision (see struct search_index). */
static void load_meta(search_index *idx)
{
    load_langs(idx);
    idx->docs.clear();
    idx->synonyms.clear();
    idx->doc_category.clear();
    idx->category_names.clear();
    if (idx->writable)
        return;
    idx->has_questions = has_prefix(idx->db, "ZXQ");
    idx->has_tags = has_prefix(idx->db, "ZK");
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
        c->d = search_docdata_parse(d.get_data());
        c->text = d.get_value(SEARCH_VALUE_TEXT);
        c->words = search_snippet_words(c->text);
    } catch (...) {
        if (!idx->writable)
            idx->docs.erase(did);
        throw;
    }
    return *c;
}

extern "C" enum kb_err search_index_open(const char *dir, bool writable,
                                         struct search_index **out)
{
    *out = nullptr;
    search_index *idx = nullptr;
    try {
        idx = new search_index();
        idx->dir = dir;
        idx->writable = writable;
        if (writable) {
            idx->wdb = Xapian::WritableDatabase(dir, Xapian::DB_CREATE_OR_OPEN);
            idx->db = idx->wdb;
            idx->wdb.begin_transaction(true);
        } else {
            idx->db = Xapian::Database(dir);
        }
        load_meta(idx);
        *out = idx;
        return KB_OK;
    } catch (...) {
        delete idx;
        return search_fail("open");
    }
}

extern "C" void search_index_free(struct search_index *idx)
{
    if (!idx)
        return;
    try {
        /* Cancel first: close() commits pending changes when no transaction is active. */
        if (idx->writable) {
            idx->wdb.cancel_transaction();
            idx->wdb.close();
        }
    } catch (...) {
        (void)search_fail("close");
    }
    delete idx;
}

extern "C" size_t search_index_count(struct search_index *idx)
{
    try {
        return idx->db.get_doccount();
    } catch (...) {
        (void)search_fail("count");
        return 0;
    }
}

extern "C" enum kb_err search_index_reopen(struct search_index *idx)
{
    try {
        if (idx->db.reopen())
            load_meta(idx);
        return KB_OK;
    } catch (...) {
        return search_fail("reopen");
    }
}

/* Index the words of text (as written): their stems under prefix, the folded words themselves
 * when all_words (titles, questions and tags only: suggestions complete those, and leaving
 * them out of bodies halves the terms to write), and the words into *spelling when given.
 * Each distinct word is looked up and added once, with its count folded into the wdf: a text
 * repeats its words, and every add_term is an insertion into the document's term map. */
static void index_words(Xapian::Document &doc, const std::string &text, const Xapian::Stem &stem,
                        const std::string &lang, const char *prefix, unsigned wdf,
                        bool all_words, std::set<std::string> *spelling)
{
    thread_local std::vector<search_span> spans(256);
    thread_local std::unordered_map<std::string_view, unsigned> counts;
    size_t n = search_words(text.data(), text.size(), spans.data(), spans.size());
    if (n > spans.size()) {
        spans.resize(n);
        n = search_words(text.data(), text.size(), spans.data(), spans.size());
    }
    counts.clear();
    for (size_t i = 0; i < n; i++)
        if (spans[i].len <= SEARCH_MAX_WORD)
            counts[std::string_view(text.data() + spans[i].off, spans[i].len)]++;
    std::string term, word;
    for (const auto &wc : counts) {
        word.assign(wc.first);
        const search_word_stems &ws = search_stems_memo(stem, lang, word);
        const std::string &folded = ws.folded;
        if (all_words)
            doc.add_term(folded, wdf * wc.second);
        if (spelling && folded.size() >= 3 && !(folded[0] >= '0' && folded[0] <= '9'))
            spelling->insert(folded);
        for (size_t j = 0; j < ws.k; j++) {
            term = "Z";
            term += prefix;
            term += ws.st[j];
            doc.add_term(term, wdf * wc.second);
        }
    }
}

/* Bytes of body that hold its first LEAD_WORDS words (the whole body when shorter). Only the
 * start is scanned: a word rarely takes more than 24 bytes with what separates it. */
static size_t lead_bytes(const std::string &body)
{
    size_t scan = kb_text_utf8_prefix(body.data(), std::min(body.size(), LEAD_WORDS * 24));
    search_span spans[LEAD_WORDS];
    size_t n = search_words(body.data(), scan, spans, LEAD_WORDS);
    if (n >= LEAD_WORDS)
        return spans[LEAD_WORDS - 1].off + spans[LEAD_WORDS - 1].len;
    if (scan == body.size())
        return scan;
    return n > 0 ? spans[n - 1].off : 0; /* the last word may have been cut: leave it out */
}

extern "C" enum kb_err search_index_put(struct search_index *idx, const struct search_doc *d)
{
    if (!idx->writable)
        return KB_EINVAL;
    try {
        std::string lang = d->lang && *d->lang ? d->lang : "none";
        Xapian::Stem stem = search_stemmer(lang);
        Xapian::Document doc;
        std::set<std::string> spelling;
        std::string title = d->title ? d->title : "";
        index_words(doc, title, stem, lang, "S", 1, false, nullptr);
        index_words(doc, title, stem, lang, "", WDF_TITLE, true, &spelling);
        for (size_t i = 0; i < d->nquestions; i++) {
            std::string q = d->questions[i];
            index_words(doc, q, stem, lang, "XQ", 1, false, nullptr);
            index_words(doc, q, stem, lang, "", WDF_QUESTIONS, true, &spelling);
        }
        for (size_t i = 0; i < d->ntags; i++) {
            std::string t = d->tags[i];
            index_words(doc, t, stem, lang, "K", 1, false, nullptr);
            index_words(doc, t, stem, lang, "", WDF_TAGS, true, &spelling);
            doc.add_boolean_term("XK" + search_fold(t));
        }
        std::string body = d->body ? d->body : "";
        if (body.size() > 256 * 1024) /* the article limit is 1 MiB of Markdown */
            body.resize(kb_text_utf8_prefix(body.data(), 256 * 1024));
        index_words(doc, body, stem, lang, "", WDF_BODY, false, &spelling);
        index_words(doc, body.substr(0, lead_bytes(body)), stem, lang, "XD", 1, false, nullptr);

        std::string category = d->category ? d->category : "";
        doc.add_boolean_term("XL" + lang);
        doc.add_boolean_term(std::string("XA") + (d->audience ? d->audience : "public"));
        doc.add_boolean_term(std::string("XS") + (d->status ? d->status : "published"));
        if (!category.empty())
            doc.add_boolean_term("XC" + search_fold(category));
        std::string idterm = "Q" + std::to_string(d->id);
        doc.add_boolean_term(idterm);
        doc.add_value(SEARCH_VALUE_CATEGORY, category);
        doc.add_value(SEARCH_VALUE_POPULARITY, Xapian::sortable_serialise(d->popularity));
        doc.add_value(SEARCH_VALUE_UPDATED, Xapian::sortable_serialise((double)d->updated_at));

        std::string data;
        data.reserve(512);
        data += std::to_string(d->id);
        data += '\0';
        data += d->slug ? d->slug : "";
        data += '\0';
        data += d->title ? d->title : "";
        data += '\0';
        data += category;
        data += '\0';
        data += lang;
        size_t keep = kb_text_utf8_prefix(body.data(),
                                          std::min<size_t>(body.size(), SEARCH_SNIPPET_TEXT));
        doc.add_value(SEARCH_VALUE_TEXT, body.substr(0, keep));
        doc.set_data(data);

        idx->wdb.replace_document(idterm, doc);
        for (const auto &w : spelling)
            idx->pending_spelling[w]++;
        if (idx->langs.insert(lang).second) {
            std::string v;
            for (const auto &l : idx->langs)
                v += (v.empty() ? "" : ",") + l;
            idx->wdb.set_metadata("langs", v);
        }
        return KB_OK;
    } catch (...) {
        return search_fail("put");
    }
}

extern "C" enum kb_err search_index_delete(struct search_index *idx, int64_t id)
{
    if (!idx->writable)
        return KB_EINVAL;
    try {
        idx->wdb.delete_document("Q" + std::to_string(id));
        return KB_OK;
    } catch (...) {
        return search_fail("delete");
    }
}

extern "C" enum kb_err search_index_commit(struct search_index *idx)
{
    if (!idx->writable)
        return KB_EINVAL;
    try {
        for (const auto &w : idx->pending_spelling)
            idx->wdb.add_spelling(w.first, w.second);
        idx->pending_spelling.clear();
        if (idx->wdb.get_metadata("layout") != LAYOUT)
            idx->wdb.set_metadata("layout", LAYOUT);
        idx->wdb.commit_transaction(); /* a flushed transaction: durable on return */
        idx->wdb.begin_transaction(true);
        return KB_OK;
    } catch (...) {
        enum kb_err err = search_fail("commit");
        /* Keep the invariant (a transaction is open) for the next batch when we can. */
        try {
            idx->wdb.begin_transaction(true);
        } catch (...) {
        }
        return err;
    }
}

extern "C" bool search_index_outdated(struct search_index *idx)
{
    try {
        return idx->writable && idx->wdb.get_doccount() > 0 &&
               idx->wdb.get_metadata("layout") != LAYOUT;
    } catch (...) {
        (void)search_fail("layout");
        return false;
    }
}

extern "C" enum kb_err search_index_clear(struct search_index *idx)
{
    if (!idx->writable)
        return KB_EINVAL;
    try {
        /* Overwrite: documents, spelling data, synonyms and metadata go together. Pending
         * changes are dropped first, and the empty index is on disk at once (overwriting
         * cannot happen inside a transaction). */
        idx->wdb.cancel_transaction();
        idx->wdb.close();
        idx->wdb = Xapian::WritableDatabase(idx->dir, Xapian::DB_CREATE_OR_OVERWRITE);
        idx->db = idx->wdb;
        idx->langs.clear();
        idx->wdb.begin_transaction(true);
        return KB_OK;
    } catch (...) {
        return search_fail("clear");
    }
}

/* The synonym key of a phrase: folded words joined by single spaces. */
static std::string synonym_words(const std::string &phrase)
{
    std::string f = search_fold(phrase);
    search_span spans[16];
    size_t n = search_words(f.data(), f.size(), spans, 16);
    std::string out;
    for (size_t i = 0; i < n && i < 16; i++) {
        if (!out.empty())
            out += ' ';
        out.append(f, spans[i].off, spans[i].len);
    }
    return out;
}

extern "C" enum kb_err search_synonyms_load(struct search_index *idx, const char *lang,
                                            const char *path)
{
    if (!idx->writable)
        return KB_EINVAL;
    FILE *f = fopen(path, "r");
    if (!f) {
        kb_log(KB_LOG_ERROR, "search: cannot read synonyms %s", path);
        return KB_EIO;
    }
    try {
        std::string prefix = std::string(lang) + ":";
        /* Forget this language's previous synonyms: the file is the whole truth. */
        std::vector<std::string> old;
        for (auto k = idx->wdb.synonym_keys_begin(prefix); k != idx->wdb.synonym_keys_end(prefix);
             ++k)
            old.push_back(*k);
        for (const auto &k : old)
            idx->wdb.clear_synonyms(k);
        char line[4096];
        int lineno = 0;
        while (fgets(line, sizeof line, f)) {
            lineno++;
            std::string l(line);
            size_t hash = l.find('#');
            if (hash != std::string::npos)
                l.resize(hash);
            std::vector<std::string> group;
            size_t pos = 0;
            while (pos <= l.size()) {
                size_t end = l.find(',', pos);
                if (end == std::string::npos)
                    end = l.size();
                std::string w = synonym_words(l.substr(pos, end - pos));
                if (!w.empty())
                    group.push_back(w);
                pos = end + 1;
            }
            if (group.size() == 1)
                kb_log(KB_LOG_WARN, "%s:%d: a synonym group needs at least two entries", path,
                       lineno);
            for (const auto &a : group)
                for (const auto &b : group)
                    if (a != b)
                        idx->wdb.add_synonym(prefix + a, b);
        }
        fclose(f);
        return KB_OK;
    } catch (...) {
        fclose(f);
        return search_fail("synonyms");
    }
}
