/* bot/sort.c: the order in which a topic's triggers are tried, as the WD defines it, and
 * the warnings only a sorted brain can give (duplicates, unreachable triggers).
 *
 * Order, most significant first:
 *   1. {weight} of the trigger, highest first;
 *   2. inheritance level: the topic's own triggers and those of the topics it includes
 *      (recursively) form level 0; topics it inherits come after, at level 1, theirs at 2...
 *   3. kind: atomic (plain words, alternations) > with [optionals] > with _ > with # > with *
 *      > triggers made only of _ , then only of # , then "*" itself at the very bottom;
 *   4. atomic and optional triggers: more words first, then longer, then alphabetical;
 *      wildcard triggers: more words that are not wildcards first, then longer, then
 *      alphabetical; load order breaks what ties remain.
 *
 * Optionals made of wildcards. The WD ("Sorting +Triggers") reads: "Sort triggers containing
 * wildcards next. Sort them by the number of words that aren't wildcards." An optional
 * wildcard such as [*] matches anything or nothing: it is a wildcard, not a word, so
 * "[*] you *" has one word and "you remember *" two, and "you remember *" comes first, as
 * "most specific first" wants. The WD does not say where a trigger with both optionals and
 * wildcards goes (step 2 "contain optionals", step 3 "containing wildcards"); there we
 * follow the reference implementations (rivescript-js, rivescript-python), which look for
 * _ # * before [ and so sort it with the wildcards. On counting they disagree with each
 * other and with the WD: rivescript-js splits words on spaces and wildcard characters,
 * which leaves the "[" and "]" of a [*] as two words ("[*] you *" counts 3 there and beats
 * "you remember *"); rivescript-python's sort by attributes puts fewer * first, whatever
 * the words. We follow the WD's words. Where the WD is silent, how many words an
 * alternation with spaces in it makes, a word is still what spaces separate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/brain.h"

#define INHERIT_DEPTH 32

struct entry {
    struct bot_trig *t;
    int level;
    int kind;
    int words;
    size_t len;
};

enum { K_ATOMIC, K_OPTION, K_ALPHA, K_NUMBER, K_WILD, K_ONLY_ALPHA, K_ONLY_NUMBER, K_STAR };

/* A word that is only wildcards, bracketed or not ("*", "[*]", "[_]", "(#)"): no word for
 * the WD's "words that aren't wildcards". */
static bool wild_word(const char *s, size_t n)
{
    bool wild = false;
    for (size_t i = 0; i < n; i++) {
        if (!strchr("*#_[]()|", s[i]))
            return false;
        wild |= s[i] == '*' || s[i] == '#' || s[i] == '_';
    }
    return wild;
}

/* Kind and word count of a pattern (a <tag> counts as one word). */
static void classify(const char *pat, int *kind, int *words)
{
    bool under = false, pound = false, star = false, opt = false;
    int all = 0, plain = 0;
    const char *p = pat;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *s = p;
        int angle = 0;
        while (*p && (*p != ' ' || angle > 0)) {
            angle += *p == '<';
            angle -= *p == '>';
            p++;
        }
        size_t n = (size_t)(p - s);
        all++;
        if (!wild_word(s, n))
            plain++;
        for (const char *q = s; q < p; q++) {
            under |= *q == '_';
            pound |= *q == '#';
            star |= *q == '*';
            opt |= *q == '[';
        }
    }
    if (under || pound || star) {
        *words = plain;
        if (!plain)
            *kind = under ? K_ONLY_ALPHA : pound ? K_ONLY_NUMBER : K_STAR;
        else
            *kind = under ? K_ALPHA : pound ? K_NUMBER : K_WILD;
    } else {
        *words = all;
        *kind = opt ? K_OPTION : K_ATOMIC;
    }
}

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->t->weight != y->t->weight)
        return x->t->weight > y->t->weight ? -1 : 1;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->words != y->words)
        return x->words > y->words ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    int c = strcmp(x->t->pat, y->t->pat);
    if (c)
        return c;
    return x->t->order < y->t->order ? -1 : x->t->order > y->t->order;
}

struct collect {
    struct bot_brain *b;
    struct entry *e;
    size_t n, cap;
    const struct bot_topic *root;
    bool failed;
};

static void add_entry(struct collect *c, struct bot_trig *t, int level)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].t == t) { /* reached twice (diamond): the nearer level wins */
            if (level < c->e[i].level)
                c->e[i].level = level;
            return;
        }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        struct entry *ne = realloc(c->e, nc * sizeof *ne);
        if (!ne) {
            c->failed = true;
            return;
        }
        c->e = ne;
        c->cap = nc;
    }
    struct entry *e = &c->e[c->n++];
    e->t = t;
    e->level = level;
    classify(t->pat, &e->kind, &e->words);
    e->len = strlen(t->pat);
}

/* Adds topic tp's triggers at level, then its includes (same level) and inherits (below).
 * path holds the topics being visited, so that a cycle stops instead of looping. */
static void collect(struct collect *c, struct bot_topic *tp, int level,
                    const struct bot_topic **path, int depth)
{
    for (int i = 0; i < depth; i++)
        if (path[i] == tp)
            return;
    if (depth >= INHERIT_DEPTH)
        return;
    path[depth] = tp;
    for (size_t i = 0; i < tp->n; i++)
        add_entry(c, tp->t[i], level);
    for (int pass = 0; pass < 2; pass++) {
        char **names = pass ? tp->inh : tp->incl;
        size_t n = pass ? tp->ninh : tp->nincl;
        for (size_t i = 0; i < n; i++) {
            struct bot_topic *o = bot_topic_get(c->b, names[i], false);
            if (!o) {
                if (tp == c->root)
                    bot_diag(c->b, BOT_DIAG_WARNING, NULL, 0,
                             "topic \"%s\" %s unknown topic \"%s\"", tp->name,
                             pass ? "inherits" : "includes", names[i]);
                continue;
            }
            collect(c, o, level + pass, path, depth + 1);
        }
    }
}

static const char *where(const struct bot_trig *t, char *buf, size_t n)
{
    snprintf(buf, n, "%s:%u", t->file ? t->file : "stream", t->line);
    return buf;
}

/* A trigger is exact when one message only can match it: plain words, no tags. */
static bool exact(const char *pat)
{
    return !strpbrk(pat, "*#_()[]@<{");
}

static void check_topic(struct bot_brain *b, struct bot_topic *tp, unsigned long *budget)
{
    char w1[300];
    for (size_t i = 0; i < tp->n; i++) {
        const struct bot_trig *t = tp->t[i];
        if (!t->nrep && !t->ncond && !t->redirect)
            bot_diag(b, BOT_DIAG_WARNING, t->file, t->line,
                     "trigger \"%s\" has no reply (- line), condition or @redirect", t->pat);
        for (size_t j = 0; j < i; j++) {
            const struct bot_trig *o = tp->t[j];
            if (strcmp(o->pat, t->pat) == 0 &&
                (o->prev == t->prev || (o->prev && t->prev && strcmp(o->prev, t->prev) == 0))) {
                bot_diag(b, BOT_DIAG_WARNING, t->file, t->line,
                         "duplicate trigger \"%s\" in topic \"%s\" (also at %s): only one of "
                         "them is ever used (the higher {weight}, else the first loaded)", t->pat, tp->name, where(o, w1, sizeof w1));
                break;
            }
        }
        for (size_t r = 0; r < t->nrep; r++) {
            const char *tt = strstr(t->rep[r].text, "{topic=");
            if (!tt)
                continue;
            char name[128];
            const char *end = strchr(tt, '}');
            size_t n = end ? (size_t)(end - tt - 7) : 0;
            if (!end || n >= sizeof name || memchr(tt + 7, '<', n))
                continue;
            memcpy(name, tt + 7, n);
            name[n] = 0;
            if (strcmp(name, "random") && !bot_topic_get(b, name, false))
                bot_diag(b, BOT_DIAG_WARNING, t->file, t->line,
                         "reply moves to topic \"%s\", which has no trigger", name);
        }
    }
    /* Shadowing: an exact trigger that an earlier trigger of the sorted list also matches
     * can never be reached from this topic. Duplicates were reported above. */
    for (size_t i = 0; i < tp->nsorted && *budget; i++) {
        const struct bot_trig *t = tp->sorted[i];
        if (t->topic != tp || !exact(t->pat))
            continue;
        for (size_t j = 0; j < i; j++) {
            const struct bot_trig *o = tp->sorted[j];
            struct bot_match m;
            if (strcmp(o->pat, t->pat) == 0)
                break;
            if (!strchr(o->pat, '<') && bot_match(b, o->pat, t->pat, &m, budget)) {
                bot_diag(b, BOT_DIAG_WARNING, t->file, t->line,
                         "trigger \"%s\" can never match in topic \"%s\": \"%s\" (%s) is tried "
                         "first and matches the same message", t->pat, tp->name, o->pat,
                         where(o, w1, sizeof w1));
                break;
            }
        }
    }
}

enum kb_err bot_sort_topics(struct bot_brain *b)
{
    enum kb_err err = KB_OK;
    for (size_t i = 0; i < b->ntopics && !err; i++) {
        struct bot_topic *tp = b->topics[i];
        struct collect c = {.b = b, .root = tp};
        const struct bot_topic *path[INHERIT_DEPTH];
        collect(&c, tp, 0, path, 0);
        if (c.failed) {
            free(c.e);
            return KB_ENOMEM;
        }
        if (c.n)
            qsort(c.e, c.n, sizeof *c.e, entry_cmp);
        free(tp->sorted);
        free(tp->sprev);
        tp->nsorted = tp->nsprev = 0;
        tp->sorted = malloc((c.n + 1) * sizeof *tp->sorted);
        tp->sprev = malloc((c.n + 1) * sizeof *tp->sprev);
        if (!tp->sorted || !tp->sprev)
            err = KB_ENOMEM;
        for (size_t j = 0; j < c.n && !err; j++) {
            if (c.e[j].t->prev)
                tp->sprev[tp->nsprev++] = c.e[j].t;
            else
                tp->sorted[tp->nsorted++] = c.e[j].t;
        }
        free(c.e);
    }
    /* The shadowing check compares pairs of triggers: bounded for the whole brain, past
     * which it is skipped rather than delaying the load. */
    unsigned long budget = BOT_MAX_SORT_STEPS;
    for (size_t i = 0; i < b->ntopics && !err; i++)
        check_topic(b, b->topics[i], &budget);
    return err;
}

enum kb_err bot_brain_sort(struct bot_brain *b)
{
    pthread_mutex_lock(&b->sort_lock);
    enum kb_err e = KB_OK;
    if (!b->sorted) {
        e = bot_sort_topics(b);
        b->sorted = !e;
    }
    pthread_mutex_unlock(&b->sort_lock);
    return e;
}
