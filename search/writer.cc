/* search/writer.cc: writing the index (layout in index.hh), one thread per shard.
 *
 * Why shards: turning an article into a Xapian document and adding it (the inverter's maps,
 * then their merge into the B-trees at commit) was about 70% of a large import, and a
 * WritableDatabase is single-threaded. So an index is nshards glass databases (index.hh:
 * the first in the index directory, the others in its subdirectories), article id % nshards
 * picks the one that holds an article, and each shard has a thread that builds and writes
 * its documents. The caller (the indexer, or an import still parsing and storing the next
 * articles) only queues work: search_index_put copies the document and returns, blocking
 * only when a shard is SHARD_QUEUE_MAX documents (or SHARD_QUEUE_BYTES) behind.
 *
 * Transactions: every shard always works inside a Xapian transaction (begun at open and
 * after each commit), so there is no autoflush and search_index_free discards what was not
 * committed (WritableDatabase::close() would otherwise commit it). search_index_commit
 * waits for the queued work, then commits every shard, each in its own thread. A crash
 * between two shards' commits is repaired like any crash after a Xapian commit: the SQLite
 * queue rows are deleted only after search_index_commit returns, and replaying them puts
 * the same documents again.
 *
 * Errors: the first error of a shard sticks. search_index_put/delete report errors of
 * earlier work as soon as they are known, search_index_commit reports them all and commits
 * nothing; the handle is then only good for search_index_free. */
#include "search/index.hh"

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

extern "C" {
#include "kb/base/log.h"
#include "kb/base/text.h"
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
 * written before the layout changed is rebuilt (search_index_outdated). 2: lead field.
 * 3: shards. 4: what a result shows in value 4, no document data. 5: synonyms without their
 * stop words. 6: no terms for the stop words of bodies. 7: œ and æ folded to "oe" and "ae"
 * (kb_text_fold), synonyms keyed by stems (search_synonym_key). 8: the spelling table is the
 * vocabulary by class of document and language, kept exact (each document's words in value
 * 5); no unstemmed title words. 9: audience and status in value 4 (a result says whether it is
 * internal, or a draft). */
const char *const SEARCH_LAYOUT = "9";

/* Shards for an index of `expected` documents. A large rebuild or first import is written
 * in two, in parallel (the machines kb is sized for have two cores; with the import's own
 * thread parsing and storing, a third shard would only take turns), then merged into one
 * (search_index_merge): every shard costs each search its own posting-list reads, 15-30%
 * more time at 50,000 articles with two. Below SHARD_MIN_DOCS the merge would cost more
 * than the parallel writing saves. */
static const size_t SHARD_MIN_DOCS = 10000;

static size_t shards_for(size_t expected)
{
    return expected >= SHARD_MIN_DOCS ? 2 : 1;
}

/* Work queued per shard before search_index_put waits. The queue has to cover a shard's
 * commit (a few hundred ms at each batch): the import feeds the shards in turn, so while it
 * waits for one, the other runs dry. With 64 documents it waited 4.5 s of a 20,000-article
 * import and the two cores were 20% idle; with 1,024, 2 s and 7% less time. The byte bound
 * keeps the copies to a few tens of MB whatever the articles' size (one may be 1 MiB). */
static const size_t SHARD_QUEUE_MAX = 1024;
static const size_t SHARD_QUEUE_BYTES = 32u << 20;

namespace {

/* search_doc with every pointer copied: the caller's are borrowed for the call only. */
struct doc_copy {
    int64_t id = 0;
    std::string slug, title, lang, category, audience, status, body;
    std::vector<std::string> tags, questions;
    double popularity = 0;
    int64_t updated_at = 0;

    /* What the copy holds, roughly: for the queue's byte bound. */
    size_t bytes() const
    {
        size_t n = sizeof *this + slug.size() + title.size() + category.size() + body.size();
        for (const auto &t : tags)
            n += sizeof t + t.size();
        for (const auto &q : questions)
            n += sizeof q + q.size();
        return n;
    }
};

struct job {
    enum kind { PUT, DELETE, COMMIT } what;
    int64_t id = 0;
    std::unique_ptr<doc_copy> doc;
    /* COMMIT of the first shard: metadata to write with it. */
    std::unique_ptr<std::map<std::string, std::string>> meta;
    /* COMMIT: write the vocabulary's pending increments too, not only its decrements (see
     * search_index_flush). */
    bool spelling = true;
    size_t bytes = 0; /* of doc, counted in the shard's queue */
};

/* The vocabulary's pending changes in one shard (index.hh: the spelling table holds, per
 * class of document and language, each word's number of documents): a signed count per key
 * since the last commit that wrote them. A document put adds one for each of its distinct
 * words; the document it replaces, or one deleted, takes its own words (kept in a value)
 * away again, so that the counts stay exact whatever changes: a word leaves the public
 * vocabulary as soon as the last public article that had it changes or goes. Adding to
 * Xapian per document costs a table update each time; once per commit is enough. Each
 * entry keeps the stamp of the last document that counted it, so a word counts once per
 * document without a per-document set: a vector of the document's words, sorted and
 * deduplicated, then a string-keyed map, was 5% of an import's time. */
class vocab_deltas {
  public:
    void next_doc() { doc_++; }

    /* Count key for the current document; true the first time it does. */
    bool add(std::string_view key)
    {
        entry *e = find(key);
        if (e->last == doc_)
            return false;
        e->delta++;
        e->last = doc_;
        return true;
    }

    void sub(std::string_view key) { find(key)->delta--; }

    /* Write the changes to wdb: all of them, or only the decrements. Decrements never wait
     * for a later commit: a count must never be higher than the truth (a word of an article
     * gone from a scope would still be offered there), while a count lower for a while is
     * harmless. A decrement never exceeds the stored count: what it takes away was added
     * before, either written or pending here (and then netted). */
    void write(Xapian::WritableDatabase &wdb, bool all)
    {
        auto one = [&](const std::string &key, entry &e) {
            if (e.delta < 0)
                wdb.remove_spelling(key, (Xapian::termcount)-e.delta);
            else if (e.delta > 0 && all)
                wdb.add_spelling(key, (Xapian::termcount)e.delta);
            if (e.delta < 0 || all)
                e.delta = 0;
        };
        for (auto &sl : short_.slots)
            if (sl.len)
                one(std::string(sl.key, sl.len), sl.value);
        for (auto &kv : long_)
            one(kv.first, kv.second);
        if (all)
            clear();
    }

    void clear()
    {
        short_.clear(short_.slots.size()); /* the next batch has much the same vocabulary */
        long_.clear();
        doc_ = 1;
    }

  private:
    struct entry {
        int32_t delta = 0;
        uint32_t last = 0; /* stamp of the last document counted; doc_ starts at 1 */
    };

    entry *find(std::string_view key)
    {
        if (key.size() <= SEARCH_SLOT_KEY) {
            uint64_t h = short_.hash(key);
            entry *e = short_.find(key, h);
            if (!e) {
                short_.insert(key, h, entry{});
                e = short_.find(key, h);
            }
            return e;
        }
        return &long_[std::string(key)];
    }

    search_word_slots<entry> short_{1 << 14};
    std::unordered_map<std::string, entry> long_;
    uint32_t doc_ = 1; /* documents since clear(): far fewer than 2^32 between commits */
};

/* One document's words for the vocabulary: the key prefix of its class and language, and
 * its distinct words as they are added (they become its value SEARCH_VALUE_WORDS: what to
 * take away when it is replaced or deleted). */
struct doc_vocab {
    vocab_deltas *deltas;
    std::string key;               /* class, language, ':' (then a word, while adding) */
    size_t prefix = 0;             /* bytes of key before the word */
    std::vector<std::string> words;
};

} // namespace

struct search_shard {
    std::string dir;
    Xapian::WritableDatabase wdb;
    bool by_docid = false; /* one of several shards: docid = article id (index.hh) */
    vocab_deltas vocab; /* since the last commit that wrote them */
    std::mutex mu;
    std::condition_variable wake; /* the thread: work queued, or stop */
    std::condition_variable done; /* callers: room in the queue, or idle */
    std::deque<job> jobs;
    size_t queued_bytes = 0;
    bool busy = false, stop = false;
    bool in_transaction = false;
    enum kb_err err = KB_OK;
    std::thread thread;
};

struct search_writer {
    std::vector<std::unique_ptr<search_shard>> shards;
    /* Metadata for the next commit of the first shard. Every write to a shard's database
     * happens on its thread, in queue order, so metadata travels with the commit job. */
    std::map<std::string, std::string> meta;
};

std::string search_shard_dir(const std::string &dir, size_t k)
{
    return k == 0 ? dir : dir + "/shard" + std::to_string(k);
}

size_t search_shard_count(const std::string &meta)
{
    unsigned long n = strtoul(meta.c_str(), nullptr, 10);
    return n >= 1 && n <= 64 ? (size_t)n : 1; /* absent: an index from before shards */
}

/* ---- building documents ------------------------------------------------------------- */

/* Index the words of one field's text (as written), in one pass over its words:
 *  - in the all-text field, the stems of every word with wdf `wdf_all` per occurrence; a
 *    body's stop words (!keep_stop) get no terms at all: see below;
 *  - under `prefix`, the stems of its first `field_words` words (the lead is the start of the
 *    body; for titles, questions and tags it is all of them) with wdf 1 per occurrence;
 *  - its words into the document's vocabulary (search_vocab_keeps).
 * Each distinct word is stemmed (through the memo) and added once per field with its count
 * folded into the wdf: a text repeats its words, every add_term is an insertion into the
 * document's term map, and the memo lookup was the largest cost of indexing after Xapian's. */
static void index_words(Xapian::Document &doc, const std::string &text, const Xapian::Stem &stem,
                        const std::string &lang, unsigned wdf_all, bool keep_stop,
                        const char *prefix, size_t field_words, doc_vocab *vocab)
{
    struct counts {
        unsigned all = 0, field = 0;
    };
    thread_local std::vector<search_span> spans(256);
    thread_local std::unordered_map<std::string_view, counts> seen;
    size_t n = search_words(text.data(), text.size(), spans.data(), spans.size());
    if (n > spans.size()) {
        spans.resize(n);
        n = search_words(text.data(), text.size(), spans.data(), spans.size());
    }
    seen.clear();
    for (size_t i = 0; i < n; i++)
        if (spans[i].len <= SEARCH_MAX_WORD) {
            counts &c = seen[std::string_view(text.data() + spans[i].off, spans[i].len)];
            c.all++;
            if (i < field_words)
                c.field++;
        }
    std::string term;
    for (const auto &wc : seen) {
        const search_word_stems &ws = search_stems_memo(stem, lang, wc.first);
        if (search_vocab_keeps(ws)) {
            vocab->key.resize(vocab->prefix);
            vocab->key += ws.cased;
            if (vocab->deltas->add(vocab->key))
                vocab->words.push_back(ws.cased);
        }
        /* Queries drop their stop words (query.cc) and search them only when they have
         * nothing else: in titles, questions and tags ("Qui sommes-nous ?"). In bodies they
         * were a quarter of the terms and the longest posting lists, 12% of a 50,000-article
         * import, for no result: relevance benchmark unchanged (MRR@10 0.826 tuning,
         * 0.786 -> 0.791 held out). */
        if (ws.stop && !keep_stop)
            continue;
        for (size_t j = 0; j < ws.k; j++) {
            term = "Z";
            term += ws.st[j];
            doc.add_term(term, wdf_all * wc.second.all);
            if (wc.second.field > 0) {
                term.insert(1, prefix);
                doc.add_term(term, wc.second.field);
            }
        }
    }
}

/* Value SEARCH_VALUE_WORDS: what a document added to the vocabulary. Its class and language,
 * then its words sorted, each as the length of the prefix it shares with the one before
 * (one byte), the length of the rest (one byte) and the rest: "<class><lang>\n" then
 * (shared, n, n bytes)... Front coding halves it (about 0.7 KB per article here); a value
 * is stored as it is, where document data would be deflated, 5% of an import's time. */
static std::string words_value(const std::string &head, std::vector<std::string> &words)
{
    std::sort(words.begin(), words.end());
    std::string v = head;
    v += '\n';
    const std::string *prev = nullptr;
    for (const auto &w : words) {
        size_t shared = 0;
        if (prev)
            while (shared < prev->size() && shared < w.size() && shared < 255 &&
                   (*prev)[shared] == w[shared])
                shared++;
        size_t rest = std::min<size_t>(w.size() - shared, 255);
        v += (char)(unsigned char)shared;
        v += (char)(unsigned char)rest;
        v.append(w, shared, rest);
        prev = &w;
    }
    return v;
}

/* Take the words of the document that has id term idterm, if any, out of the vocabulary:
 * it is about to be replaced or deleted (its words_value says which). */
static void forget_old(search_shard *s, const std::string &idterm)
{
    Xapian::PostingIterator p = s->wdb.postlist_begin(idterm);
    if (p == s->wdb.postlist_end(idterm))
        return;
    std::string v = s->wdb.get_document(*p).get_value(SEARCH_VALUE_WORDS);
    size_t eol = v.find('\n');
    if (eol == std::string::npos)
        return;
    std::string key = v.substr(0, eol) + ":";
    size_t prefix = key.size();
    for (size_t pos = eol + 1; pos + 2 <= v.size();) {
        size_t shared = (unsigned char)v[pos], rest = (unsigned char)v[pos + 1];
        pos += 2;
        if (prefix + shared > key.size() || pos + rest > v.size())
            break; /* not written by words_value */
        key.resize(prefix + shared);
        key.append(v, pos, rest);
        pos += rest;
        s->vocab.sub(key);
    }
}

/* Build d's document and put it in the shard (on the shard's thread). */
static void put_doc(search_shard *s, doc_copy &d)
{
    const std::string &lang = d.lang;
    Xapian::Stem stem = search_stemmer(lang);
    Xapian::Document doc;
    std::string idterm = "Q" + std::to_string(d.id);
    forget_old(s, idterm);
    doc_vocab vocab;
    vocab.deltas = &s->vocab;
    vocab.key += SEARCH_CLASS_CHARS[search_doc_class(d.audience.c_str(), d.status.c_str())];
    vocab.key += lang;
    std::string head = vocab.key; /* class and language */
    vocab.key += ':';
    vocab.prefix = vocab.key.size();
    s->vocab.next_doc();
    const size_t ALL = SIZE_MAX;
    index_words(doc, d.title, stem, lang, WDF_TITLE, true, "S", ALL, &vocab);
    for (const auto &q : d.questions)
        index_words(doc, q, stem, lang, WDF_QUESTIONS, true, "XQ", ALL, &vocab);
    for (const auto &t : d.tags) {
        index_words(doc, t, stem, lang, WDF_TAGS, true, "K", ALL, &vocab);
        doc.add_boolean_term("XK" + search_fold(t));
    }
    std::string &body = d.body;
    if (body.size() > 256 * 1024) /* the article limit is 1 MiB of Markdown */
        body.resize(kb_text_utf8_prefix(body.data(), 256 * 1024));
    index_words(doc, body, stem, lang, WDF_BODY, false, "XD", LEAD_WORDS, &vocab);
    doc.add_value(SEARCH_VALUE_WORDS, words_value(head, vocab.words));

    doc.add_boolean_term("XL" + lang);
    doc.add_boolean_term("XA" + d.audience);
    doc.add_boolean_term("XS" + d.status);
    if (!d.category.empty())
        doc.add_boolean_term("XC" + search_fold(d.category));
    doc.add_boolean_term(idterm);
    doc.add_value(SEARCH_VALUE_CATEGORY, d.category);
    doc.add_value(SEARCH_VALUE_POPULARITY, Xapian::sortable_serialise(d.popularity));
    doc.add_value(SEARCH_VALUE_UPDATED, Xapian::sortable_serialise((double)d.updated_at));

    std::string data;
    data.reserve(512);
    data += std::to_string(d.id);
    data += '\0';
    data += d.slug;
    data += '\0';
    data += d.title;
    data += '\0';
    data += d.category;
    data += '\0';
    data += lang;
    data += '\0';
    data += d.audience;
    data += '\0';
    data += d.status;
    size_t keep = kb_text_utf8_prefix(body.data(),
                                      std::min<size_t>(body.size(), SEARCH_SNIPPET_TEXT));
    doc.add_value(SEARCH_VALUE_TEXT, body.substr(0, keep));
    doc.add_value(SEARCH_VALUE_DATA, data);

    /* In a sharded index the docid is the article id: a match spy sees a document by its
     * docid in its own shard, and that is how facet counting finds its category (query.cc).
     * A single shard (merged, see search_index_merge) has docids of its own: by id term. */
    if (s->by_docid)
        s->wdb.replace_document((Xapian::docid)d.id, doc);
    else
        s->wdb.replace_document(idterm, doc);
}

/* ---- the shard threads -------------------------------------------------------------- */

static enum kb_err apply(search_shard *s, job &j)
{
    try {
        switch (j.what) {
        case job::PUT:
            put_doc(s, *j.doc);
            break;
        case job::DELETE: {
            std::string idterm = "Q" + std::to_string(j.id);
            forget_old(s, idterm);
            s->wdb.delete_document(idterm);
            break;
        }
        case job::COMMIT:
            if (j.meta)
                for (const auto &kv : *j.meta)
                    s->wdb.set_metadata(kv.first, kv.second);
            s->vocab.write(s->wdb, j.spelling);
            s->in_transaction = false;
            s->wdb.commit_transaction(); /* a flushed transaction: durable on return */
            s->wdb.begin_transaction(true);
            s->in_transaction = true;
            break;
        }
        return KB_OK;
    } catch (...) {
        return search_fail(j.what == job::PUT ? "put" : j.what == job::DELETE ? "delete"
                                                                                : "commit");
    }
}

static void shard_run(search_shard *s)
{
    std::unique_lock<std::mutex> lk(s->mu);
    for (;;) {
        s->wake.wait(lk, [s] { return s->stop || !s->jobs.empty(); });
        if (s->stop) {
            /* Closing: a commit asked for (search_index_flush) is carried out, what was
             * queued after the last one is discarded like any uncommitted change. */
            while (!s->jobs.empty() && s->jobs.back().what != job::COMMIT) {
                s->queued_bytes -= s->jobs.back().bytes;
                s->jobs.pop_back();
            }
            if (s->jobs.empty())
                return;
        }
        job j = std::move(s->jobs.front());
        s->jobs.pop_front();
        s->queued_bytes -= j.bytes;
        s->busy = true;
        s->done.notify_all();
        bool skip = s->err != KB_OK; /* after an error, nothing more is written */
        lk.unlock();
        enum kb_err e = skip ? KB_OK : apply(s, j);
        j.doc.reset();
        j.meta.reset();
        lk.lock();
        if (e && !s->err)
            s->err = e;
        s->busy = false;
        s->done.notify_all();
    }
}

static enum kb_err enqueue(search_shard *s, job &&j)
{
    j.bytes = j.doc ? j.doc->bytes() : 0;
    std::unique_lock<std::mutex> lk(s->mu);
    s->done.wait(lk, [s] {
        return s->err || s->jobs.empty() ||
               (s->jobs.size() < SHARD_QUEUE_MAX && s->queued_bytes < SHARD_QUEUE_BYTES);
    });
    if (s->err)
        return s->err;
    s->queued_bytes += j.bytes;
    s->jobs.push_back(std::move(j));
    s->wake.notify_one();
    return KB_OK;
}

/* Wait until s has applied everything queued; its sticky error, if any. */
static enum kb_err wait_idle(search_shard *s)
{
    std::unique_lock<std::mutex> lk(s->mu);
    s->done.wait(lk, [s] { return s->jobs.empty() && !s->busy; });
    return s->err;
}

static void stop_threads(search_writer *w) noexcept
{
    for (auto &s : w->shards) {
        {
            std::lock_guard<std::mutex> lk(s->mu);
            s->stop = true;
        }
        s->wake.notify_all();
        if (s->thread.joinable())
            s->thread.join();
    }
}

/* Cancel and close every shard (nothing uncommitted is written), threads stopped first. */
static void close_shards(search_writer *w) noexcept
{
    stop_threads(w);
    for (auto &s : w->shards) {
        try {
            if (s->in_transaction)
                s->wdb.cancel_transaction();
            s->wdb.close();
        } catch (...) {
            (void)search_fail("close");
        }
    }
    w->shards.clear();
}

enum kb_err search_writer_wait(search_index *idx)
{
    enum kb_err err = KB_OK;
    for (auto &s : idx->writer->shards) {
        enum kb_err e = wait_idle(s.get());
        if (!err)
            err = e;
    }
    return err;
}

/* Open (action: Xapian::DB_CREATE_OR_OPEN or DB_CREATE_OR_OVERWRITE) the shards of idx->dir,
 * start their threads and make idx->db their union. On a new or overwritten index the
 * shard count is fresh_count, else what the index says. */
static void open_shards(search_index *idx, int action, size_t fresh_count)
{
    search_writer *w = idx->writer;
    auto first = std::make_unique<search_shard>();
    first->dir = idx->dir;
    first->wdb = Xapian::WritableDatabase(idx->dir, action);
    std::string meta = first->wdb.get_metadata("shards");
    size_t n = search_shard_count(meta);
    bool fresh = meta.empty() && first->wdb.get_doccount() == 0;
    if (fresh)
        n = fresh_count;
    w->shards.push_back(std::move(first));
    for (size_t k = 1; k < n; k++) {
        auto s = std::make_unique<search_shard>();
        s->dir = search_shard_dir(idx->dir, k);
        s->wdb = Xapian::WritableDatabase(s->dir, action);
        w->shards.push_back(std::move(s));
    }
    Xapian::Database all;
    for (auto &s : w->shards) {
        s->wdb.begin_transaction(true);
        s->in_transaction = true;
        all.add_database(s->wdb);
    }
    if (fresh)
        w->shards[0]->wdb.set_metadata("shards", std::to_string(n));
    idx->db = all;
    idx->nshards = n;
    for (auto &s : w->shards) {
        s->by_docid = n > 1;
        s->thread = std::thread(shard_run, s.get());
    }
}

void search_writer_open(search_index *idx)
{
    idx->writer = new search_writer();
    try {
        /* A generation "current" names must exist: one that went missing is not made
         * again empty, it is reported (KB_EINDEX), for the indexer to rebuild it. */
        open_shards(idx, idx->gen.empty() ? Xapian::DB_CREATE_OR_OPEN : Xapian::DB_OPEN, 1);
    } catch (...) {
        close_shards(idx->writer);
        delete idx->writer;
        idx->writer = nullptr;
        throw;
    }
}

void search_writer_create(search_index *idx, size_t expected)
{
    idx->writer = new search_writer();
    try {
        open_shards(idx, Xapian::DB_CREATE_OR_OVERWRITE, shards_for(expected));
    } catch (...) {
        close_shards(idx->writer);
        delete idx->writer;
        idx->writer = nullptr;
        throw;
    }
}

void search_writer_free(search_index *idx) noexcept
{
    if (!idx->writer)
        return;
    close_shards(idx->writer);
    delete idx->writer;
    idx->writer = nullptr;
}

/* ---- the C API ---------------------------------------------------------------------- */

/* A writer with its shards open (a failed merge may leave none). */
static bool usable(const search_index *idx)
{
    return idx->writable && idx->writer && !idx->writer->shards.empty();
}

extern "C" enum kb_err search_index_put(struct search_index *idx, const struct search_doc *d)
{
    if (!usable(idx))
        return KB_EINVAL;
    try {
        auto c = std::make_unique<doc_copy>();
        c->id = d->id;
        c->slug = d->slug ? d->slug : "";
        c->title = d->title ? d->title : "";
        c->lang = d->lang && *d->lang ? d->lang : "none";
        c->category = d->category ? d->category : "";
        c->audience = d->audience ? d->audience : "public";
        c->status = d->status ? d->status : "published";
        c->body = d->body ? d->body : "";
        for (size_t i = 0; i < d->ntags; i++)
            c->tags.emplace_back(d->tags[i]);
        for (size_t i = 0; i < d->nquestions; i++)
            c->questions.emplace_back(d->questions[i]);
        c->popularity = d->popularity;
        c->updated_at = d->updated_at;
        if (idx->langs.insert(c->lang).second) {
            std::string v;
            for (const auto &l : idx->langs)
                v += (v.empty() ? "" : ",") + l;
            idx->writer->meta["langs"] = v;
        }
        if (d->id <= 0 || d->id > (int64_t)UINT32_MAX)
            return KB_EINVAL; /* it becomes a Xapian docid */
        search_writer *w = idx->writer;
        search_shard *s = w->shards[(uint64_t)d->id % w->shards.size()].get();
        return enqueue(s, job{job::PUT, d->id, std::move(c), nullptr, true});
    } catch (...) {
        return search_fail("put");
    }
}

extern "C" enum kb_err search_index_delete(struct search_index *idx, int64_t id)
{
    if (!usable(idx))
        return KB_EINVAL;
    try {
        search_writer *w = idx->writer;
        return enqueue(w->shards[(uint64_t)id % w->shards.size()].get(),
                       job{job::DELETE, id, nullptr, nullptr, true});
    } catch (...) {
        return search_fail("delete");
    }
}

/* Queue a commit on every shard; with spelling, the vocabulary's increments gathered since
 * the last such commit go with it (its decrements always do: vocab_deltas::write). */
static enum kb_err commit_shards(search_index *idx, bool spelling)
{
    if (!usable(idx))
        return KB_EINVAL;
    search_writer *w = idx->writer;
    idx->vocab.reset(); /* read again after the commit, when a search needs it */
    try {
        w->meta["layout"] = SEARCH_LAYOUT;
        for (size_t k = 0; k < w->shards.size(); k++) {
            job j{job::COMMIT, 0, nullptr, nullptr, spelling};
            if (k == 0)
                j.meta = std::make_unique<std::map<std::string, std::string>>(std::move(w->meta));
            w->meta.clear();
            enum kb_err err = enqueue(w->shards[k].get(), std::move(j));
            if (err)
                return err;
        }
        return KB_OK;
    } catch (...) {
        return search_fail("commit");
    }
}

/* The live import's batches (under the "ahead" mark: a crash rebuilds anyway) keep their
 * vocabulary increments for the final commit: adding each batch's words to the spelling
 * table again was 5% of a 50,000-article rebuild, and a word's frequency is only a sum.
 * Decrements (documents replaced or deleted) are written at once, so a scope's vocabulary
 * never offers a word its articles no longer have. */
extern "C" enum kb_err search_index_flush(struct search_index *idx)
{
    return commit_shards(idx, false);
}

extern "C" enum kb_err search_index_commit(struct search_index *idx)
{
    enum kb_err err = commit_shards(idx, true);
    if (err)
        return err;
    return search_writer_wait(idx);
}

extern "C" enum kb_err search_index_set_ahead(struct search_index *idx, bool ahead)
{
    if (!usable(idx))
        return KB_EINVAL;
    try {
        idx->writer->meta["ahead"] = ahead ? "1" : "";
        return KB_OK;
    } catch (...) {
        return search_fail("mark");
    }
}

extern "C" bool search_index_ahead(struct search_index *idx)
{
    if (!usable(idx))
        return false;
    try {
        (void)search_writer_wait(idx);
        return !idx->writer->shards[0]->wdb.get_metadata("ahead").empty();
    } catch (...) {
        (void)search_fail("mark");
        return false;
    }
}

/* Replace the glass database in dir by the one in from, the version file last: a reader
 * opening meanwhile fails and retries (kb serve: the next second), one already open keeps
 * reading the old files. Old tables the new database lacks are removed: they would not
 * match its version file. */
static void swap_in(const std::filesystem::path &from, const std::filesystem::path &dir)
{
    namespace fs = std::filesystem;
    std::set<std::string> fresh;
    for (const auto &e : fs::directory_iterator(from))
        fresh.insert(e.path().filename().string());
    for (const auto &name : fresh)
        if (name != "iamglass" && name != "flintlock")
            fs::rename(from / name, dir / name);
    std::vector<fs::path> stale;
    for (const auto &e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().extension() == ".glass" &&
            !fresh.count(e.path().filename().string()))
            stale.push_back(e.path());
    for (const auto &p : stale)
        fs::remove(p);
    fs::rename(from / "iamglass", dir / "iamglass");
}

extern "C" enum kb_err search_index_merge(struct search_index *idx)
{
    namespace fs = std::filesystem;
    if (!usable(idx))
        return KB_EINVAL;
    if (idx->nshards < 2)
        return KB_OK;
    enum kb_err err = search_index_commit(idx);
    if (err)
        return err;
    size_t n = idx->nshards;
    fs::path dir(idx->dir), tmp = dir / "merging";
    try {
        /* Xapian's compaction merges the shards' sorted tables into new ones without
         * building anything again: about a second for 50,000 articles. Docids are
         * renumbered, which a single shard allows (it replaces by id term). */
        Xapian::Database all;
        for (size_t k = 0; k < n; k++)
            all.add_database(Xapian::Database(search_shard_dir(idx->dir, k)));
        fs::remove_all(tmp);
        all.compact(tmp.string());
        all.close();
        {
            Xapian::WritableDatabase merged(tmp.string(), Xapian::DB_OPEN);
            merged.set_metadata("shards", "1");
            merged.commit();
            merged.close();
        }
        close_shards(idx->writer);
        idx->db = Xapian::Database();
        swap_in(tmp, dir);
        fs::remove_all(tmp);
        for (size_t k = 1; k < n; k++)
            fs::remove_all(search_shard_dir(idx->dir, k));
        open_shards(idx, Xapian::DB_CREATE_OR_OPEN, 1);
        return KB_OK;
    } catch (...) {
        err = search_fail("merge");
        std::error_code ec;
        fs::remove_all(tmp, ec);
        /* Keep a usable writer on whatever is on disk (the shards, or the merged index). */
        if (idx->writer->shards.empty()) {
            try {
                open_shards(idx, Xapian::DB_CREATE_OR_OPEN, 1);
            } catch (...) {
                (void)search_fail("merge: reopen");
            }
        }
        return err;
    }
}

extern "C" enum kb_err search_index_publish(struct search_index *idx)
{
    if (!usable(idx) || !idx->unpublished)
        return KB_EINVAL;
    enum kb_err err = search_index_commit(idx);
    if (!err)
        err = search_index_merge(idx);
    if (err)
        return err;
    try {
        search_generation_switch(idx->root, idx->gen, idx->nshards);
        idx->unpublished = false;
        idx->replaces.clear();
        return KB_OK;
    } catch (...) {
        return search_fail("publish");
    }
}

extern "C" bool search_index_outdated(struct search_index *idx)
{
    if (!usable(idx))
        return false;
    try {
        (void)search_writer_wait(idx);
        return idx->db.get_doccount() > 0 &&
               idx->writer->shards[0]->wdb.get_metadata("layout") != SEARCH_LAYOUT;
    } catch (...) {
        (void)search_fail("layout");
        return false;
    }
}

extern "C" enum kb_err search_index_clear(struct search_index *idx, size_t expected)
{
    if (!usable(idx))
        return KB_EINVAL;
    try {
        /* Overwrite: documents, spelling data, synonyms and metadata go together. Pending
         * changes are dropped first, and the empty index is on disk at once (overwriting
         * cannot happen inside a transaction). The shard count is chosen again. */
        close_shards(idx->writer);
        idx->db = Xapian::Database();
        idx->vocab.reset();
        idx->langs.clear();
        idx->writer->meta.clear();
        open_shards(idx, Xapian::DB_CREATE_OR_OVERWRITE, shards_for(expected));
        return KB_OK;
    } catch (...) {
        return search_fail("clear");
    }
}

/* The words of a synonym phrase as a query sees them (query.cc, analyse): folded, without
 * its stop words ("certificat d'immatriculation" is looked up as "certificat
 * immatriculation"; a key that kept the "d" was never found). A phrase of stop words only
 * keeps them all, as a query does. */
static std::vector<std::string> synonym_words(const std::string &phrase, const char *lang)
{
    std::string f = search_fold(phrase);
    search_span spans[16];
    size_t n = std::min<size_t>(search_words(f.data(), f.size(), spans, 16), 16);
    bool all_stop = true;
    for (size_t i = 0; i < n && all_stop; i++)
        all_stop = search_is_stopword(lang, f.data() + spans[i].off, spans[i].len);
    std::vector<std::string> out;
    for (size_t i = 0; i < n; i++)
        if (all_stop || !search_is_stopword(lang, f.data() + spans[i].off, spans[i].len))
            out.emplace_back(f, spans[i].off, spans[i].len);
    return out;
}

static std::string joined(const std::vector<std::string> &words)
{
    std::string out;
    for (const auto &w : words) {
        if (!out.empty())
            out += ' ';
        out += w;
    }
    return out;
}

extern "C" enum kb_err search_synonyms_load(struct search_index *idx, const char *lang,
                                            const char *path)
{
    if (!usable(idx))
        return KB_EINVAL;
    enum kb_err err = search_writer_wait(idx);
    if (err)
        return err;
    FILE *f = fopen(path, "r");
    if (!f) {
        kb_log(KB_LOG_ERROR, "search: cannot read synonyms %s", path);
        return KB_EIO;
    }
    try {
        /* Synonyms live in the first shard (readers see the union of all shards'). */
        Xapian::WritableDatabase &wdb = idx->writer->shards[0]->wdb;
        std::string prefix = std::string(lang) + ":";
        Xapian::Stem stem = search_stemmer(lang);
        /* Forget this language's previous synonyms: the file is the whole truth. */
        std::vector<std::string> old;
        for (auto k = wdb.synonym_keys_begin(prefix); k != wdb.synonym_keys_end(prefix); ++k)
            old.push_back(*k);
        for (const auto &k : old)
            wdb.clear_synonyms(k);
        char line[4096];
        int lineno = 0;
        while (fgets(line, sizeof line, f)) {
            lineno++;
            std::string l(line);
            size_t hash = l.find('#');
            if (hash != std::string::npos)
                l.resize(hash);
            /* Each entry: its key (stems) and its words (what a query searches). */
            std::vector<std::pair<std::string, std::string>> group;
            size_t pos = 0;
            while (pos <= l.size()) {
                size_t end = l.find(',', pos);
                if (end == std::string::npos)
                    end = l.size();
                std::vector<std::string> w = synonym_words(l.substr(pos, end - pos), lang);
                if (!w.empty())
                    group.emplace_back(search_synonym_key(stem, lang, w.data(), w.size()),
                                       joined(w));
                pos = end + 1;
            }
            if (group.size() == 1)
                kb_log(KB_LOG_WARN, "%s:%d: a synonym group needs at least two entries", path,
                       lineno);
            for (const auto &a : group)
                for (const auto &b : group)
                    if (a.first != b.first)
                        wdb.add_synonym(prefix + a.first, b.second);
        }
        fclose(f);
        return KB_OK;
    } catch (...) {
        fclose(f);
        return search_fail("synonyms");
    }
}
