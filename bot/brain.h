/* bot/brain.h: the engine's internal data model, shared by its files (not public).
 *
 *   parse.c  RiveScript text -> topics, triggers, definitions; syntax diagnostics
 *   sort.c   WD trigger order per topic (weights, includes/inherits); duplicate and
 *            unreachable-trigger warnings
 *   match.c  message normalisation, substitutions, the trigger matcher
 *   reply.c  reply fetching: begin block, %previous, redirects, conditions, tags, <call>
 *   user.c   per-user state (hash table, locks, JSON export/import)
 *   brain.c  the brain's life cycle, variables, macros, diagnostics
 *
 * Ownership: the brain owns every string below. Triggers are allocated one by one so that
 * the sorted lists of several topics (includes/inherits) can point at the same trigger. */
#ifndef BOT_BRAIN_H
#define BOT_BRAIN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bot/rivescript.h"
#include "kb/base/buf.h"

#define BOT_MAX_STARS 32
#define BOT_OUT_MAX (1u << 20) /* bytes of one reply, tags expanded */
#define BOT_HISTORY 9
#define BOT_MAX_STEPS 200000u /* matcher backtracking steps per trigger */
/* ... and per message over all triggers tried (redirects included), and per sort for the
 * unreachable-trigger check: a brain of many pathological triggers stays bounded too. */
#define BOT_MAX_MESSAGE_STEPS 2000000ul
#define BOT_MAX_SORT_STEPS 20000000ul

struct bot_kv {
    char *k, *v;
};

/* A small map; lookups are linear, which beats hashing for the few dozen keys a brain or a
 * user has. Keys are unique. */
struct bot_kvs {
    struct bot_kv *a;
    size_t n, cap;
};

const char *bot_kvs_get(const struct bot_kvs *m, const char *k);
enum kb_err bot_kvs_set(struct bot_kvs *m, const char *k, const char *v) KB_MUST_CHECK;
void bot_kvs_del(struct bot_kvs *m, const char *k);
void bot_kvs_free(struct bot_kvs *m);
size_t bot_kvs_bytes(const struct bot_kvs *m);

struct bot_topic;

struct bot_rtext {
    char *text;
    unsigned weight; /* {weight=N} of a random reply, 1 by default */
};

struct bot_trig {
    char *pat;      /* folded trigger text, {weight} removed */
    char *prev;     /* folded %previous text or NULL */
    char *redirect; /* @ target or NULL */
    struct bot_rtext *rep;
    size_t nrep;
    unsigned wsum; /* sum of the replies' weights */
    char **cond;
    size_t ncond;
    int weight; /* {weight=N} of the trigger: sort priority */
    const char *file;
    unsigned line;
    size_t order; /* load order, the last tie-breaker */
    const struct bot_topic *topic;
};

struct bot_topic {
    char *name;
    struct bot_trig **t; /* owned triggers, load order */
    size_t n, cap;
    char **incl, **inh; /* names of included / inherited topics */
    size_t nincl, ninh;
    struct bot_trig **sorted; /* matchable triggers without %previous, WD order */
    size_t nsorted;
    struct bot_trig **sprev; /* triggers with %previous, same order */
    size_t nsprev;
};

struct bot_macro {
    char *name;
    bot_macro_fn *fn;
    void *ctx;
};

struct bot_user {
    char *name;
    struct bot_kvs vars;
    char *topic;
    char *in[BOT_HISTORY], *out[BOT_HISTORY]; /* newest first */
    pthread_mutex_t lock;                     /* held during a reply */
    unsigned refs;                            /* under the table lock */
    bool forgotten;
    uint32_t hash;
    struct bot_user *next;
};

struct bot_brain {
    unsigned flags;
    struct bot_kvs bot, global, sub, person, arrays;
    struct bot_topic **topics;
    size_t ntopics;
    struct bot_macro *macros;
    size_t nmacros;
    char **files; /* interned source names, for trigger locations */
    size_t nfiles;
    bot_diag_fn *diag;
    void *diag_ctx;
    unsigned nerr, nwarn;
    bool sorted;
    /* set by the first reply: from then on replies read the macro table without a lock, so
     * bot_macro_register refuses (atomic: a misusing thread reads it while replies run) */
    atomic_bool serving;
    size_t seq;
    /* bot and global variables can change at reply time (<bot x=y>, <env x=y>) */
    pthread_rwlock_t vars_lock;
    pthread_mutex_t sort_lock;
    pthread_mutex_t users_lock;
    struct bot_user **ub; /* hash buckets */
    unsigned char users_key[16]; /* crypto_shorthash_KEYBYTES, random per brain */
    size_t nub, nusers;
};

/* brain.c */
void bot_diag(struct bot_brain *b, enum bot_severity sev, const char *file, unsigned line,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
struct bot_topic *bot_topic_get(struct bot_brain *b, const char *name, bool create);
const char *bot_intern_file(struct bot_brain *b, const char *name);
const struct bot_macro *bot_macro_find(const struct bot_brain *b, const char *name);
int bot_depth_limit(struct bot_brain *b);
/* Folds case (Unicode in UTF-8 mode, ASCII otherwise); malloc'd, NULL when out of memory. */
char *bot_fold(const struct bot_brain *b, const char *s);

/* sort.c */
enum kb_err bot_sort_topics(struct bot_brain *b) KB_MUST_CHECK;

/* match.c */
struct bot_match {
    const char *star[BOT_MAX_STARS];
    size_t starlen[BOT_MAX_STARS];
    int nstar;
    unsigned steps, limit;
    const struct bot_brain *b;
};
/* Normalises a message for matching: substitutions, case folding, punctuation removed. */
char *bot_normalise(const struct bot_brain *b, const char *in);
/* Whole-word phrase substitution of text through map (longest key first) into out. */
enum kb_err bot_subst(const struct bot_kvs *map, const char *text, struct kb_buf *out) KB_MUST_CHECK;
/* Matches a (tag-free, folded) pattern against a normalised message; captures in m. At most
 * BOT_MAX_STEPS steps, and at most *budget when budget is given (decreased by the steps
 * taken; a spent budget matches nothing). */
bool bot_match(const struct bot_brain *b, const char *pat, const char *msg, struct bot_match *m,
               unsigned long *budget);

/* Accent-free matching key of a normalised text, with the way back to it for captures. */
struct bot_key {
    char *s;
    size_t *map;
    size_t len;
};
enum kb_err bot_key_make(const struct bot_brain *b, const char *src, struct bot_key *k) KB_MUST_CHECK;
void bot_key_free(struct bot_key *k);
/* Moves m's captures (pointers into k->s) to the same words in src (k's source). */
void bot_key_captures(const struct bot_key *k, const char *src, struct bot_match *m);
/* The key alone (malloc'd), for trigger text at load time. */
char *bot_key_string(const struct bot_brain *b, const char *src);

/* user.c */
struct bot_user *bot_user_acquire(struct bot_brain *b, const char *name);
void bot_user_release(struct bot_brain *b, struct bot_user *u);
void bot_users_free(struct bot_brain *b);
void bot_user_push_history(struct bot_user *u, char *in, char *out);
/* u's state as bot_user_export gives it, in *json (malloc'd, caller frees); the caller holds
 * u's lock. */
enum kb_err bot_user_state_json(const struct bot_user *u, char **json) KB_MUST_CHECK;

/* reply.c: expands tags of a text in the context of a user (used by sort.c for samples) */

#endif
