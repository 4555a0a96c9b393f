/* search/search.h: the C API over Xapian (the only C++ in kb lives behind it).
 *
 * One index is a directory derived from the SQLite store; it can always be rebuilt from it,
 * beside the live index that readers go on using (search_index_open_new). One writer at a
 * time holds the directory (its lock: KB_EBUSY for a second one); it puts and deletes
 * documents by article id (replace_document on a unique id term, so replaying a change is
 * harmless) and commits.
 * Readers are cheap; each HTTP worker thread owns one, replaced by a newer one when the index
 * changed (kb/http/server.c); the chat's workers call search_index_reopen(). No C++
 * exception ever crosses this API: every failure is an enum kb_err, with a message in the
 * log.
 *
 * Text handling: terms are accent- and case-folded (kb_text_fold) and stemmed with the
 * Snowball stemmer of the document's language (every language Xapian ships; unknown
 * languages are indexed unstemmed). Boolean filter terms for lang, audience, status,
 * category and tags; values for category (facets), popularity and updated time. The words
 * of the documents, counted per scope, are the vocabulary that typo correction and
 * completion draw on (search/vocab.hh); readers keep it in memory, one per index revision
 * shared by the readers of a process. */
#ifndef SEARCH_SEARCH_H
#define SEARCH_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"

struct search_index; /* opaque */

/* A document to index. Every pointer is borrowed for the duration of the call only. */
struct search_doc {
    int64_t id;                  /* article id in the store: the document's identity */
    const char *slug;
    const char *title;
    const char *lang;            /* ISO 639-1 code ("fr", "en", "de", ...) */
    const char *category;        /* may be NULL or "" */
    const char *audience;        /* "public" | "internal" */
    const char *status;          /* "draft" | "review" | "published" | "archived" */
    const char *const *tags;     /* ntags strings */
    size_t ntags;
    const char *const *questions; /* alternative questions from the front matter */
    size_t nquestions;
    const char *body;            /* plain text of the Markdown body */
    double popularity;           /* e.g. view count; used as a tie-breaker only */
    int64_t updated_at;          /* unix seconds */
};

/* Open (creating when writable) the index in directory dir.
 * On success *out is owned by the caller: free with search_index_free(). */
enum kb_err search_index_open(const char *dir, bool writable, struct search_index **out) KB_MUST_CHECK;
/* No-op on NULL. A writer's uncommitted changes are discarded (commit first). */
void search_index_free(struct search_index *idx);
/* Writer only. Both only queue the change (the document is copied) for the thread of its
 * shard and return; an error of earlier queued work is reported here or by the next
 * commit, after which the handle is only good for search_index_free. */
enum kb_err search_index_put(struct search_index *idx, const struct search_doc *doc) KB_MUST_CHECK;
enum kb_err search_index_delete(struct search_index *idx, int64_t id) KB_MUST_CHECK;
/* Writer only: make everything put or deleted so far durable, and wait for it. */
enum kb_err search_index_commit(struct search_index *idx) KB_MUST_CHECK;
/* Writer only: start that commit without waiting (an import goes on parsing meanwhile);
 * its errors come back from a later call, at the latest search_index_commit. Once asked
 * for, it is carried out even if the handle is freed before it finished. The words it adds
 * to the vocabulary (what corrections and completions can offer) wait for the next
 * search_index_commit; the words of replaced or deleted documents leave it at once. */
enum kb_err search_index_flush(struct search_index *idx) KB_MUST_CHECK;
/* Writer only: mark the index as possibly ahead of the database (it holds documents of a
 * store transaction that may still roll back), or clear the mark; the next commit writes
 * it. search_index_ahead: the committed mark. */
enum kb_err search_index_set_ahead(struct search_index *idx, bool ahead) KB_MUST_CHECK;
bool search_index_ahead(struct search_index *idx);
/* Writer only: true when the index holds documents written by an older version of kb (the
 * layout of index.hh changed since): it must be rebuilt from the database. */
bool search_index_outdated(struct search_index *idx);
/* Writer only: commit, and when the index is in several shards (a large rebuild or first
 * import, written in parallel), merge them into one: searching one shard is faster. */
enum kb_err search_index_merge(struct search_index *idx) KB_MUST_CHECK;
/* Writer only: remove every document, and lay the index out for about `expected`
 * documents (a large one is split into shards written in parallel); commit afterwards.
 * Readers see the index empty from then on: a rebuild uses search_index_open_new. */
enum kb_err search_index_clear(struct search_index *idx, size_t expected) KB_MUST_CHECK;
/* A rebuild that readers never see half done: a writer of a new, empty generation of the
 * index in dir, laid out for about `expected` documents, written beside the live one (which
 * readers and search_index_open keep using) until search_index_publish makes it the live one
 * at once. Takes dir's writer lock as a writable search_index_open does (KB_EBUSY when
 * another writer has it); generations left by a rebuild that never published (a crash) are
 * removed first. Commit in batches as usual; freed without publishing, it is discarded
 * (by the next writer). On success *out is the caller's: free with search_index_free(). */
enum kb_err search_index_open_new(const char *dir, size_t expected,
                                  struct search_index **out) KB_MUST_CHECK;
/* Writer of search_index_open_new only: commit, merge the shards, make this generation the
 * live one (an atomic rename, durable before anything is removed), then remove the
 * generation it replaced. Readers pick it up at their next search_index_reopen; one that
 * still has the old generation open reads it until then. The handle stays a writer of the
 * now live index. KB_EINVAL for any other handle. */
enum kb_err search_index_publish(struct search_index *idx) KB_MUST_CHECK;
/* Reader: see the latest committed state. Cheap when nothing changed; when something did,
 * the reader's in-memory data is loaded again (the vocabulary of every scope, categories,
 * field terms: 45-55 ms at 50,000 articles, which is why kb serve's workers get new readers
 * from a thread of their own: kb/http/server.c). */
enum kb_err search_index_reopen(struct search_index *idx) KB_MUST_CHECK;
/* search_index_reopen, and *changed says whether the reader now reads another revision. */
enum kb_err search_index_refresh(struct search_index *idx, bool *changed) KB_MUST_CHECK;
/* Number of documents in the index. */
size_t search_index_count(struct search_index *idx);

/* Synonyms for one language, from a text file: one group per line, comma-separated, every
 * entry of a group equivalent to the first ("sav, après-vente, service après-vente").
 * Blank lines and lines starting with '#' are ignored. Writer only; stored in the index
 * (takes effect at the next commit). Returns KB_EIO / KB_EPARSE with the line in the log. */
enum kb_err search_synonyms_load(struct search_index *idx, const char *lang, const char *path) KB_MUST_CHECK;

/* Who is asking (mirrors the store's kb_store_scope). Scope decides everything a caller gets:
 * the articles, and everything derived from the index's words (spelling corrections and
 * did_you_mean, completions, suggestions, related articles, facets, counts) comes from the
 * articles of that scope only. Any other value is taken as SEARCH_SCOPE_PUBLIC. */
enum search_scope {
    SEARCH_SCOPE_PUBLIC = 0,   /* customers, anonymous API, the chat: public + published */
    SEARCH_SCOPE_INTERNAL = 1, /* agents: public + internal, published only */
    SEARCH_SCOPE_ALL = 2,      /* editors: every article, drafts, review and archived too */
};

struct search_query {
    const char *text;      /* raw user text: any bytes; never an error because of content */
    const char *lang;      /* NULL or "" = all languages (each text term stemmed per language) */
    const char *category;  /* NULL or "" = all */
    /* Filters narrowing the caller's scope, never widening it (NULL or "" = all): articles
     * carrying this tag (compared folded, as the tags are indexed), and articles of this
     * audience ("public" or "internal"; any other value matches nothing). */
    const char *tag;
    const char *audience;
    enum search_scope scope;
    size_t offset;
    size_t limit;          /* clamped to 1..100; 0 means 10 */
    /* Search as you type: when the text ends inside a word (no space or punctuation after
     * it), that word also matches as a prefix: it stands for itself and the PREFIX_MAX (8)
     * most frequent words of the scope that begin with it ("garantie constr" finds
     * "constructeur"). Not corrected then. Needs 2 letters. */
    bool prefix_last;
    /* Search the words as typed: no typo correction (corrected_query stays NULL; a
     * did_you_mean is still offered). For "search instead for <what I typed>". */
    bool verbatim;
    /* For callers that show neither snippets nor facets (the chat's answers): > 0 gives each
     * hit a `lead` instead of a `snippet`, and counts no facets (they need FACET_CHECK
     * candidates where ten would do, and a snippet marks every word of a hit's text). */
    size_t lead;
};

struct search_hit {
    int64_t id;
    char *slug;
    char *title;
    char *category;
    char *lang;
    char *snippet;   /* HTML-escaped excerpt with matches wrapped in <mark>...</mark> */
    /* With search_query.lead: the start of the article's plain text (not escaped), leading
     * blanks skipped, at most `lead` bytes cut on a UTF-8 boundary; else NULL. */
    char *lead;
    double score;    /* relevance, higher is better (Xapian weight) */
    /* The article's audience ("public" | "internal") and status ("draft" | "review" |
     * "published" | "archived"): static strings, never freed. */
    const char *audience;
    const char *status;
};

struct search_facet {
    char *value;     /* category name */
    size_t count;    /* matching documents in that category (estimate for large sets) */
};

/* Typo tolerance (search_run): each query word the caller's scope does not have (in no form
 * and no inflection) is replaced by the closest word of the scope at most one edit away (two
 * from 8 letters), accents and case aside; a word the scope has, but far more rarely than
 * such a neighbour (an article's own typo), is searched beside that neighbour, weighted
 * less. Stop words and the commonest words of the language are never corrected, and
 * nothing is corrected into a stop word (search/vocab.hh). The search runs with the
 * corrections, and:
 *  - corrected_query is the query as searched when some word was replaced: the words
 *    case-folded, separated by one space, each replaced word by its correction
 *    ("garentie vehicule" -> "garantie vehicule"). Show "results for <corrected_query>;
 *    search instead for <text>", the latter searched with verbatim set. NULL when no word
 *    was replaced (a word searched beside its neighbour is still searched as typed), and
 *    always with verbatim;
 *  - did_you_mean keeps its meaning: a spelling offered when the query as typed finds
 *    (almost) nothing, fewer than 3 articles of the scope and category: the query with all
 *    its corrections (replacements and neighbours). So a misspelt word alone ("garentie")
 *    sets both, equal; a misspelt word beside words that find articles by themselves
 *    ("garentie vehicule") sets corrected_query only; with verbatim, did_you_mean alone
 *    says what the correction would be.
 * Both are valid UTF-8 and only ever name words of the caller's scope. */
struct search_result {
    struct search_hit *hits;
    size_t nhits;
    size_t total;            /* estimated number of matches */
    struct search_facet *facets;
    size_t nfacets;
    char *did_you_mean;      /* a spelling for a query that finds almost nothing, or NULL */
    char *corrected_query;   /* the query as searched when a word was replaced, or NULL */
    double took_ms;
};

/* Run a query. On success *out is owned by the caller: free with search_result_free().
 * Any text gives results or an empty list (parse errors fall back to plain terms).
 * Ranking (search/query.cc): BM25+ over the fields (title, alternative questions, tags, the
 * first words, all the text); the query's stop words ("comment", "pourquoi", "pas") count in
 * titles only and never make an article match or count in total by themselves (a query of
 * stop words alone is searched as plain words); the first 20 results are ranked again by the
 * share of the query's words their title has. Pages (offset, limit) always follow one order. */
enum kb_err search_run(struct search_index *idx, const struct search_query *q,
                       struct search_result **out) KB_MUST_CHECK;
void search_result_free(struct search_result *r);

/* Title suggestions for search-as-you-type: every word of prefix must match (a misspelt one
 * through its correction, as in search_run) and, unless the text ends with a space or
 * punctuation, its last word is completed with the most frequent words of the scope that
 * begin with it. Returns up to `limit` hits (slug, title, ...; snippet NULL) in *out;
 * did_you_mean and corrected_query stay NULL. */
enum kb_err search_suggest(struct search_index *idx, const char *prefix, const char *lang,
                           enum search_scope scope, size_t limit,
                           struct search_result **out) KB_MUST_CHECK;

/* Articles like article `id` (more-like-this over its top terms, chosen by their rarity in
 * the scope), same language and scope, excluding itself; none when article `id` is not in
 * the scope itself. */
enum kb_err search_related(struct search_index *idx, int64_t id, enum search_scope scope,
                           size_t limit, struct search_result **out) KB_MUST_CHECK;

/* True when Xapian has a Snowball stemmer for that language code or name. */
bool search_lang_supported(const char *lang);

#endif
