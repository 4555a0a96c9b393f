/* kb/articles/import.c: kb import / kb check over a folder of Markdown articles.
 *
 * Path conventions (each only a default the front matter overrides):
 *   <dir>/.../<lang>/<category-folder>/<slug>.md   lang: a 2-3 letter folder name
 *   <dir>/synonyms/<lang>.txt                      synonym groups for the search index
 *
 * Beside a running server the import shares SQLite's write lock with the server's writer
 * thread (chat messages, page views), and runs at a lower CPU priority (kb/cli). So the lock
 * is only held to write: files are read and parsed (Markdown rendered) outside it, up to
 * IMPORT_PARSE_MAX articles or IMPORT_PARSE_MS of parsing, then written in one transaction
 * (cut every IMPORT_BATCH_MS), and only then handed to the live indexer. Parsing inside the
 * transaction held the lock for the whole parse, and at nice 10 the import was preempted by
 * the server's own threads while holding it: the writer waited behind a process that was not
 * running (chat messages acked 85-290 ms late during a 5,000-article import,
 * tests/bench/chat/README.md). The index queue rows commit with their articles. */
#define _XOPEN_SOURCE 700
#include "kb/articles/import.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kb/articles/article.h"
#include "kb/base/buf.h"
#include "kb/base/log.h"
#include "kb/store/synonyms.h"

#define IMPORT_MAX_FILES 1000000
#define IMPORT_BATCH_MS 20   /* the longest the import holds the write lock at a time */
#define IMPORT_PARSE_MS 20   /* parsing ahead of a write, at most */
#define IMPORT_YIELD_US 2000 /* the pause between two batches, for the other writers */
#define IMPORT_PARSE_MAX 256 /* articles parsed ahead of their write */

/* An article parsed and waiting for its write (see the file's comment). */
struct parsed {
    struct kb_article *a;
    char *data; /* the file's bytes */
    size_t n;
    const char *path; /* walk.paths' */
    struct kb_put_info put;
    bool stored; /* written: the hook is owed */
};

/* nftw has no user pointer; the walk is single-threaded, so a static list is enough. */
static struct {
    char **paths;
    size_t n, cap;
    int overflow;
} walk;

static int walk_visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    size_t len = strlen(path);
    if (type != FTW_F || len < 4 || strcmp(path + len - 3, ".md") != 0)
        return 0;
    if (strstr(path, "/.") || strstr(path, "/node_modules/"))
        return 0; /* hidden files and folders, editor backups */
    if (walk.n >= IMPORT_MAX_FILES) {
        walk.overflow = 1;
        return 1;
    }
    if (walk.n == walk.cap) {
        size_t cap = walk.cap ? walk.cap * 2 : 256;
        char **p = realloc(walk.paths, cap * sizeof *p);
        if (!p)
            return -1;
        walk.paths = p;
        walk.cap = cap;
    }
    if (!(walk.paths[walk.n] = strdup(path)))
        return -1;
    walk.n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_release(void)
{
    for (size_t i = 0; i < walk.n; i++)
        free(walk.paths[i]);
    free(walk.paths);
    memset(&walk, 0, sizeof walk);
}

/* Read a whole file, at most max bytes (KB_ETOOBIG past that). */
static enum kb_err read_file(const char *path, size_t max, char **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    struct kb_buf b;
    kb_buf_init(&b, max);
    enum kb_err err = kb_buf_append_file(&b, path);
    if (err == KB_ENOTFOUND)
        err = KB_EIO;
    if (err) {
        kb_buf_release(&b);
        return err;
    }
    *n = b.len;
    *data = kb_buf_detach(&b);
    return *data ? KB_OK : KB_ENOMEM;
}

static int is_lang_dir(const char *s, size_t n)
{
    if (n < 2 || n > 3)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 'a' || s[i] > 'z')
            return 0;
    return 1;
}

/* Defaults from the path relative to the import root: slug from the file name, language
 * from a 2-3 letter folder, category from the folder that holds the file. */
static void path_defaults(const char *rel, char *slug, size_t slugsz, char *lang, char *cat,
                          size_t catsz)
{
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    snprintf(slug, slugsz, "%.*s", (int)(strlen(base) - 3), base);
    lang[0] = 0;
    cat[0] = 0;
    const char *p = rel;
    const char *prev = NULL;
    size_t prevn = 0;
    while (p < base) {
        const char *slash = strchr(p, '/');
        if (!slash || slash >= base)
            break;
        size_t n = (size_t)(slash - p);
        if (is_lang_dir(p, n) && !lang[0])
            snprintf(lang, 4, "%.*s", (int)n, p);
        prev = p;
        prevn = n;
        p = slash + 1;
    }
    if (prev && !is_lang_dir(prev, prevn) && !(prevn == 8 && strncmp(prev, "articles", 8) == 0))
        snprintf(cat, catsz, "%.*s", (int)prevn, prev);
}

/* content/synonyms/<lang>.txt into the store. */
static enum kb_err import_synonyms(struct kb_store *st, const char *dir, FILE *out,
                                   struct kb_import_report *rep)
{
    static const char *const langs[] = {"ar", "ca", "da", "de", "el", "en", "es", "eu", "fi",
                                        "fr", "ga", "hu", "hy", "id", "it", "lt", "ne", "nl",
                                        "no", "pt", "ro", "ru", "sr", "sv", "ta", "tr", NULL};
    enum kb_err err = KB_OK;
    for (size_t i = 0; langs[i] && !err; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/synonyms/%s.txt", dir, langs[i]);
        char *data = NULL;
        size_t n = 0;
        if (access(path, R_OK) != 0)
            continue;
        err = read_file(path, 1024 * 1024, &data, &n);
        if (err) {
            fprintf(out, "%s:0: cannot read: %s\n", path, kb_strerror(err));
            rep->failed++;
            err = KB_OK;
            continue;
        }
        if (st) {
            bool changed = false;
            err = kb_store_synonyms_put(st, langs[i], data, &changed);
            rep->synonyms += changed;
        }
        free(data);
    }
    return err;
}

/* Slugs seen in this run, for duplicate and translation checks that need every file. */
struct seen {
    char *slug, *path, *translation_of;
};

static int cmp_seen(const void *a, const void *b)
{
    return strcmp(((const struct seen *)a)->slug, ((const struct seen *)b)->slug);
}

/* Report slugs used by two files of this folder, and translation_of links to no article
 * of this folder (a warning: the target may live elsewhere). Returns the error count. */
static size_t cross_check(struct seen *v, size_t n, bool dups, FILE *out, size_t *warnings)
{
    size_t errors = 0;
    qsort(v, n, sizeof *v, cmp_seen);
    for (size_t i = 1; dups && i < n; i++) {
        if (strcmp(v[i].slug, v[i - 1].slug) == 0) {
            fprintf(out, "%s:1: slug '%s' is also used by %s\n", v[i].path, v[i].slug,
                    v[i - 1].path);
            errors++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!v[i].translation_of)
            continue;
        struct seen key = {.slug = v[i].translation_of};
        if (!bsearch(&key, v, n, sizeof *v, cmp_seen)) {
            fprintf(out, "%s: warning: translation_of '%s' is not an article of this folder\n",
                    v[i].path, v[i].translation_of);
            (*warnings)++;
        }
    }
    return errors;
}

static void seen_free(struct seen *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].slug);
        free(v[i].translation_of);
    }
    free(v);
}

/* Commit the import's transaction when it has held the write lock for IMPORT_BATCH_MS, and
 * begin the next after a short pause: the writer thread of a running server (chat messages,
 * page views) gets the lock between two batches, so that it never waits for the whole
 * import. Batches commit without syncing (synchronous=NORMAL); after the last one the files
 * are synced (kb_store_sync) before anything is indexed from the queue. A crash in between loses batches
 * consistently (articles with their queue rows); the live indexer's "ahead" mark covers what
 * it committed of them. An import that fails keeps the batches it committed. */
static enum kb_err next_batch(struct kb_store *st, struct timespec *batch0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (long)(now.tv_sec - batch0->tv_sec) * 1000 + (now.tv_nsec - batch0->tv_nsec) / 1000000;
    if (ms < IMPORT_BATCH_MS)
        return KB_OK;
    enum kb_err err = kb_store_commit(st);
    if (err)
        return err;
    struct timespec pause = {0, IMPORT_YIELD_US * 1000L};
    nanosleep(&pause, NULL);
    err = kb_store_begin(st);
    clock_gettime(CLOCK_MONOTONIC, batch0);
    return err;
}

static void parsed_free(struct parsed *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kb_article_free(p[i].a);
        free(p[i].data);
    }
}

static long ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Write the parsed articles p[0..n) (freed, whatever happens) in transactions of at most
 * IMPORT_BATCH_MS, then hand the new ones to the hook, outside the lock. */
static enum kb_err write_parsed(struct kb_store *st, struct parsed *p, size_t n, int64_t run,
                                const struct kb_import_hook *hook, FILE *out,
                                struct kb_import_report *rep)
{
    enum kb_err err = n ? kb_store_begin(st) : KB_OK;
    struct timespec batch0;
    clock_gettime(CLOCK_MONOTONIC, &batch0);
    for (size_t i = 0; i < n && !err; i++) {
        const struct kb_article *a = p[i].a;
        struct kb_store_article sa = {
            .slug = a->slug, .title = a->title, .lang = a->lang, .category = a->category,
            .audience = a->audience, .status = a->status,
            .translation_of = a->translation_of, .extra = a->extra, .tags = a->tags,
            .ntags = a->ntags, .questions = a->questions, .nquestions = a->nquestions,
            .see_also = a->see_also, .nsee_also = a->nsee_also};
        enum kb_err e = kb_store_put_article(st, &sa, p[i].path, p[i].data, p[i].n, run,
                                             &p[i].put);
        if (e == KB_EEXISTS) {
            fprintf(out, "%s:1: slug '%s' is already used by another file\n", p[i].path,
                    a->slug);
            rep->failed++;
        } else if (e) {
            err = e;
        } else {
            p[i].stored = p[i].put.res != KB_PUT_UNCHANGED;
            rep->created += p[i].put.res == KB_PUT_CREATED;
            rep->updated += p[i].put.res == KB_PUT_UPDATED;
            rep->unchanged += p[i].put.res == KB_PUT_UNCHANGED;
        }
        if (!err)
            err = next_batch(st, &batch0);
    }
    if (n && !err)
        err = kb_store_commit(st);
    if (n && err)
        kb_store_rollback(st);
    for (size_t i = 0; i < n && !err && hook; i++)
        if (p[i].stored)
            err = hook->stored(hook->ud, p[i].a, &p[i].put);
    parsed_free(p, n);
    return err;
}

enum kb_err kb_import_dir(struct kb_store *st, const char *dir, const char *default_lang,
                          FILE *out, struct kb_import_report *rep,
                          const struct kb_import_hook *hook)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(rep, 0, sizeof *rep);
    char root[PATH_MAX];
    if (!realpath(dir, root)) {
        fprintf(out, "%s: %s\n", dir, strerror(errno));
        return KB_ENOTFOUND;
    }
    walk_release();
    if (nftw(root, walk_visit, 32, FTW_PHYS) < 0) {
        walk_release();
        return KB_ENOMEM;
    }
    if (walk.overflow)
        fprintf(out, "%s: more than %d files, the rest is ignored\n", root, IMPORT_MAX_FILES);
    if (walk.n)
        qsort(walk.paths, walk.n, sizeof *walk.paths, cmp_str);
    rep->files = walk.n;

    enum kb_err err = KB_OK;
    int64_t run = 0;
    struct seen *seen = NULL;
    size_t nseen = 0, np = 0;
    struct parsed *pending = NULL;
    if (st) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        run = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    }
    if (st && hook && hook->planned) {
        err = hook->planned(hook->ud, walk.n);
        if (err)
            goto out;
    }
    int tty = isatty(STDERR_FILENO) && walk.n > 1000;
    struct timespec parse0;
    clock_gettime(CLOCK_MONOTONIC, &parse0);
    seen = calloc(walk.n ? walk.n : 1, sizeof *seen);
    pending = st ? calloc(IMPORT_PARSE_MAX, sizeof *pending) : NULL;
    if (!seen || (st && !pending)) {
        err = KB_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < walk.n; i++) {
        const char *path = walk.paths[i];
        const char *rel = path + strlen(root) + 1;
        char slug[256], lang[4], cat[256];
        path_defaults(rel, slug, sizeof slug, lang, cat, sizeof cat);
        struct kb_article_defaults def = {slug, lang[0] ? lang : default_lang, cat};
        char *data = NULL;
        size_t n = 0;
        struct kb_article *a = NULL;
        struct kb_article_error perr = {0, ""};
        enum kb_err e = read_file(path, KB_ARTICLE_MAX_BYTES, &data, &n);
        if (e) {
            fprintf(out, "%s:0: %s\n", path,
                    e == KB_ETOOBIG ? "file larger than 1 MiB" : strerror(errno));
            rep->failed++;
            continue;
        }
        e = kb_article_parse(data, n, &def, &a, &perr);
        if (e == KB_ENOMEM) {
            free(data);
            err = e;
            goto out;
        }
        if (e) {
            fprintf(out, "%s:%d: %s\n", path, perr.line, perr.reason);
            rep->failed++;
            free(data);
            continue;
        }
        seen[nseen].slug = strdup(a->slug);
        seen[nseen].path = walk.paths[i];
        seen[nseen].translation_of = a->translation_of ? strdup(a->translation_of) : NULL;
        if (!seen[nseen].slug) {
            kb_article_free(a);
            free(data);
            err = KB_ENOMEM;
            goto out;
        }
        nseen++;
        for (size_t w = 0; w < a->nwarnings; w++) {
            fprintf(out, "%s: warning: %s\n", path, a->warnings[w]);
            rep->warnings++;
        }
        if (st) {
            pending[np++] = (struct parsed){.a = a, .data = data, .n = n, .path = path};
            if (np == IMPORT_PARSE_MAX || ms_since(&parse0) >= IMPORT_PARSE_MS) {
                err = write_parsed(st, pending, np, run, hook, out, rep);
                np = 0;
                clock_gettime(CLOCK_MONOTONIC, &parse0);
                if (err)
                    goto out;
            }
        } else {
            kb_article_free(a);
            free(data);
        }
        if (tty && (i + 1) % 1000 == 0)
            fprintf(stderr, "\rimporting: %zu/%zu", i + 1, walk.n);
    }
    if (st) {
        err = write_parsed(st, pending, np, run, hook, out, rep);
        np = 0;
        if (err)
            goto out;
    }
    if (tty)
        fputc('\n', stderr);
    /* kb import reports duplicate slugs as the store refuses them; kb check here. */
    rep->failed += cross_check(seen, nseen, !st, out, &rep->warnings);
    if (st && (err = kb_store_begin(st)))
        goto out;
    err = import_synonyms(st, root, out, rep);
    if (err)
        goto out;
    if (st) {
        char prefix[PATH_MAX + 1];
        snprintf(prefix, sizeof prefix, "%s/", root);
        err = kb_store_archive_unseen(st, prefix, run, &rep->archived);
        if (!err)
            err = kb_store_commit(st);
        /* Every batch reaches the disk before the index is told about any of them: see
         * next_batch. */
        if (!err)
            err = kb_store_sync(st);
    }
out:
    if (err && st)
        kb_store_rollback(st); /* nothing when no transaction is open */
    if (pending)
        parsed_free(pending, np);
    free(pending);
    seen_free(seen, nseen);
    walk_release();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rep->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return err;
}
